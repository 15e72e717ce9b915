"""``unwind tca --parent ID --png``: a simulated parent's report, read back from its journal."""

from __future__ import annotations

import logging
from pathlib import Path

import matplotlib.image
import matplotlib.pyplot as plt
import pytest
import structlog

from adapters.sim.config import AdversaryConfig, MarketConfig, VolatilityConfig
from engine.cli import main
from engine.config import EngineConfig, SymbolConfig
from engine.events import PRICE_SCALE
from engine.journal import Journal, Kind, read_records
from engine.plotting import tca_figure
from engine.tca_parent import parent_trace
from engine.tca_trace import planned_at
from strategies.schedule import Side
from tests.kit.journaled import run_journaled_parent

structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.CRITICAL))


def test_the_png_report_of_a_journaled_parent_draws_the_engines_fills_plans_and_regimes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "j.sqlite"
    cfg = EngineConfig(symbols={"XYZ": SymbolConfig(daily_volume=6_000_000)}, seed=3)
    # Regimes that switch within the parent, and a predator: its children see LV, HV and ADV.
    market = MarketConfig(
        seed=3,  # chosen for children in all three regimes (measured: LV 57, HV 21, ADV 5)
        volatility=VolatilityConfig(lv_to_hv_per_hour=3.0, hv_to_lv_per_hour=3.0),
        adversaries=(AdversaryConfig(sensitivity=0.8, aggressiveness=0.8),),
    )
    journal = Journal(path, flush_interval_s=0)
    _, p = run_journaled_parent(journal, cfg, Side.SELL, 20_000, "adaptive", 1200, market=market)
    assert p.filled > 0 and len(p.plans) > 1, "no fill or no re-plan: the test shows nothing"
    out = tmp_path / "report.png"
    assert main(["tca", "--journal", str(path), "--parent", p.id, "--png", str(out)]) == 0
    assert capsys.readouterr().out.startswith(f"parent {p.id}\nfilled           {p.filled:,}")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert matplotlib.image.imread(out).shape[:2] == (1000, 1000)

    trace = parent_trace(path, p.id)
    # Its fills are the engine's, in order: each child's, by when the venue made them.
    books = sorted((ts, q, px / PRICE_SCALE) for c in p.children.values() for ts, q, px in c.fills)
    assert [(q, px) for _, q, px in trace.fills] == [(q, px) for _, q, px in books]
    assert trace.filled == p.filled and trace.qty == p.qty and trace.cap == p.cap
    assert (trace.order_start_ns, trace.order_end_ns) == (p.start_ns, p.end_ns)
    # Every plan the engine made, and the plan line is the one in force when a child went out.
    made = [(pl.start_ns, pl.bucket_ns, pl.cum_targets, pl.filled_at_start) for pl in p.plans]
    got = [(pl.start_ns, pl.bucket_ns, pl.cum_targets, pl.filled_at_start) for pl in trace.plans]
    assert got == made
    for child in p.children.values():
        plan = [pl for pl in p.plans if pl.start_ns <= child.sent_ns][-1]
        ended = min((child.sent_ns - plan.start_ns) // plan.bucket_ns, len(plan.cum_targets))
        target = plan.cum_targets[ended - 1] if ended else 0
        assert planned_at(trace, child.sent_ns) == plan.filled_at_start + target
    # The rebuilt detector calls the regime the engine acted on when each child was sent: the
    # last bar's that ended before it. A bar ending at the very time of the child may have been
    # closed after it (a bucket's timer and the bar's end coincide): then either will do.
    called = []
    for r in read_records(path, parent=p.id):
        if r.kind is Kind.CHILD:
            before = [label for ts, label in trace.regimes if ts < r.ts_ns]
            now = [label for ts, label in trace.regimes if ts == r.ts_ns]
            assert before and r.extra()["regime"] in {before[-1], *now}, r.child
            called.append(r.extra()["regime"])
    assert len(called) == len(p.children) and set(called) == {"LV", "HV", "ADV"}
    # The figure: four panels, the filled line ending at the parent's fills.
    fig = tca_figure(trace, trace.tca())
    try:
        assert len(fig.axes) == 4
        filled_line = next(ln for ln in fig.axes[1].lines if ln.get_label() == "filled")
        assert filled_line.get_ydata()[-1] == p.filled
    finally:
        plt.close(fig)
