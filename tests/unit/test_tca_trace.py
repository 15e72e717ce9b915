"""The TCA report's data (engine/tca_trace.py) and its figure (engine/plotting.py) on a trace
made by hand."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib.image
import matplotlib.pyplot as plt
import pytest

from engine.clock import NS
from engine.plotting import plot_tca, tca_figure
from engine.tca_trace import ParentTrace, PlanLine, participation_series, plan_steps, planned_at
from strategies.schedule import Side

# A plan from t 0 in buckets of 10 s wanting 100, 200, 300; at t 15 (120 filled) a re-plan in
# buckets of 10 s wanting 50 then 150 more.
FIRST = PlanLine(start_ns=0, bucket_ns=10 * NS, cum_targets=(100, 200, 300), filled_at_start=0)
REPLAN = PlanLine(
    start_ns=15 * NS, bucket_ns=10 * NS, cum_targets=(50, 150), filled_at_start=120,
    reason="off plan",
)  # fmt: skip
# The market: prints of 100 at t 0, 300 at t 5, 100 at t 12 and 100 at t 15; ours 20 at t 5,
# 30 at t 12 and 10 at t 15, in a cap window of 10 s.
TAPE = [(0, 100, 10.00), (5 * NS, 300, 10.01), (12 * NS, 100, 10.02), (15 * NS, 100, 10.00)]
FILLS = [(12 * NS, 30, 10.02), (5 * NS, 20, 10.01), (15 * NS, 10, 10.00)]  # any order


def _trace(**kw: object) -> ParentTrace:
    base: dict[str, object] = dict(
        parent_id="P1", symbol="XYZ", side=Side.BUY, qty=300, strategy="adaptive",
        cap=0.25, cap_window_ns=10 * NS, order_start_ns=0, order_end_ns=40 * NS,
        decision_ns=0, start_ns=5 * NS, end_ns=40 * NS,
        mids=[(0, 10.00), (10 * NS, 10.02), (30 * NS, 10.01)], tape=TAPE, fills=FILLS,
        plans=[FIRST, REPLAN], regimes=[(0, "LV"), (10 * NS, "HV"), (20 * NS, "ADV")],
    )  # fmt: skip
    base.update(kw)
    return ParentTrace(**base)  # type: ignore[arg-type]


def test_the_plan_line_follows_the_plan_in_force_and_after_a_replan_the_new_one() -> None:
    t = _trace()
    # The first plan: nothing due before its first bucket ends, then 100.
    assert planned_at(t, 5 * NS) == 0 and planned_at(t, 10 * NS) == 100
    assert planned_at(t, 15 * NS - 1) == 100
    # From the re-plan: 120 already filled, then 120 + 50 and 120 + 150; not the first plan's
    # 200 at t 20.
    assert planned_at(t, 15 * NS) == 120 and planned_at(t, 20 * NS) == 120
    assert planned_at(t, 25 * NS) == 170 and planned_at(t, 35 * NS) == 270
    assert planned_at(t, 100 * NS) == 270  # held after its last bucket
    assert planned_at(_trace(plans=[REPLAN]), 5 * NS) is None  # before any plan
    # The step line's corners: the first plan's bucket end at 10, the re-plan at 15, its
    # bucket ends at 25 and 35, held to the end at 40.
    assert plan_steps(t) == [
        (0, 0), (10 * NS, 100), (15 * NS, 120), (25 * NS, 170), (35 * NS, 270), (40 * NS, 270),
    ]  # fmt: skip


def test_participation_is_ours_over_the_markets_in_the_trailing_window_to_each_fill() -> None:
    part = participation_series(_trace())
    assert [ts for ts, _ in part] == [5 * NS, 12 * NS, 15 * NS]  # fills in time order
    # To t 5: 20 of (-5, 5] = 100 + 300. To t 12: 20 + 30 of 300 + 100. To t 15: the window
    # (5, 15] leaves out the fill and the print at t 5 exactly: 30 + 10 of 100 + 100.
    assert [v for _, v in part] == pytest.approx([20 / 400, 50 / 400, 40 / 200])
    # A fill with no print in its window (its own print not on the tape yet): no ratio.
    lone = participation_series(_trace(tape=[(0, 100, 10.0)], fills=[(30 * NS, 10, 10.0)]))
    assert len(lone) == 1 and math.isnan(lone[0][1])


def test_the_trace_keeps_its_values_and_analyses_them() -> None:
    t = _trace(fills=list(FILLS))
    assert t.fills == tuple(sorted(FILLS)) and t.filled == 60
    tca = t.tca()
    assert tca.filled == 60 and tca.decision_mid == 10.00
    with pytest.raises(ValueError, match="cap"):
        _trace(cap=0.0)
    with pytest.raises(ValueError, match="target"):
        PlanLine(start_ns=0, bucket_ns=NS, cum_targets=(), filled_at_start=0)


def test_the_report_has_four_panels_on_one_axis_and_is_written_as_a_png(tmp_path: Path) -> None:
    t = _trace()
    fig = tca_figure(t, t.tca())
    try:
        price, plan, part, regimes = fig.axes
        assert len(fig.axes) == 4 and price.get_shared_x_axes().joined(price, regimes)
        line = {ln.get_label(): ln for ln in plan.lines}
        assert list(line["plan in force"].get_ydata()) == [v for _, v in plan_steps(t)]
        assert list(line["filled"].get_ydata()) == [0, 20, 50, 60, 60]
        assert [ln.get_ydata()[0] for ln in part.lines if ln.get_label() == "cap 25%"] == [0.25]
        assert len(regimes.patches) == 3  # one band per bar: LV, HV, ADV
        assert f"shortfall {t.tca().shortfall_bps:+.2f} bps" in fig.get_suptitle()
    finally:
        plt.close(fig)
    out = tmp_path / "r.png"
    plot_tca(t, t.tca(), out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert matplotlib.image.imread(out).shape == (1000, 1000, 4)
    with pytest.raises(OSError):
        plot_tca(t, t.tca(), tmp_path / "missing" / "r.png")
