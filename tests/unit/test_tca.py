"""The post-trade decomposition (engine/tca.py) on a case worked by hand."""

from __future__ import annotations

import pytest

from engine.clock import NS
from engine.tca import analyse
from strategies.schedule import Side

# A buy of 1,000: decided at mid 100.00 (t 0), first child at t 10 (mid 100.10), 400 at 100.15
# at t 20 (mid 100.10: 0.05 of spread paid), mid 100.20 from t 30, 300 at 100.18 at t 40 (mid
# 100.20: 0.02 earned resting), ended at t 50 with mid 100.30 and 300 unfilled.
MIDS = [(0, 100.00), (10 * NS, 100.10), (30 * NS, 100.20), (50 * NS, 100.30)]
FILLS = [(20 * NS, 400, 100.15), (40 * NS, 300, 100.18)]
TAPE = [(5 * NS, 1_000, 100.05), (20 * NS, 400, 100.15), (25 * NS, 600, 100.12),
        (40 * NS, 300, 100.18), (45 * NS, 700, 100.22), (60 * NS, 100, 100.40)]  # fmt: skip


def _case(side: Side = Side.BUY, **kw: float) -> object:
    return analyse(
        side=side,
        qty=1_000,
        fills=FILLS,
        mids=MIDS,
        tape=TAPE,
        decision_ns=0,
        start_ns=10 * NS,
        end_ns=50 * NS,
        **kw,  # type: ignore[arg-type]
    )


def test_the_shortfall_decomposes_into_delay_timing_spread_fees_and_opportunity() -> None:
    t = _case(fee_bps=1.0)
    # One basis point of the order at the decision mid is 1,000 x 100.00 / 1e4 = 10.
    assert t.delay_bps == pytest.approx(7.0)  # (100.10 - 100.00) x 700 = 70
    assert t.timing_bps == pytest.approx(3.0)  # 400 x 0 + 300 x 0.10 = 30
    assert t.spread_bps == pytest.approx(1.4)  # 400 x 0.05 - 300 x 0.02 = 14
    assert t.opportunity_bps == pytest.approx(9.0)  # (100.30 - 100.00) x 300 = 90
    assert t.fees_bps == pytest.approx(0.70114)  # 1 bp of 70,114 over 100,000
    assert t.shortfall_bps == pytest.approx(21.10114)
    # The execution part is the fills against the decision mid: 400 x 0.15 + 300 x 0.18 = 114.
    execution = t.delay_bps + t.timing_bps + t.spread_bps
    assert execution == pytest.approx(11.4)
    assert t.filled == 700 and t.avg_price == pytest.approx(70_114 / 700)


def test_benchmarks_participation_and_markouts() -> None:
    t = _case()
    avg = 70_114 / 700
    # Interval [10, 50]: prints at 20, 25, 40, 45 (ours among them).
    vwap = (400 * 100.15 + 600 * 100.12 + 300 * 100.18 + 700 * 100.22) / 2_000
    assert t.interval_vwap == pytest.approx(vwap) and t.market_volume == 2_000
    assert t.vs_vwap_bps == pytest.approx((avg - vwap) / vwap * 1e4)
    assert t.interval_twap == pytest.approx(100.15)  # 100.10 for 20 s, 100.20 for 20 s
    assert t.vs_twap_bps == pytest.approx((avg - 100.15) / 100.15 * 1e4)
    assert t.close == 100.40 and t.vs_close_bps == pytest.approx((avg - 100.40) / 100.40 * 1e4)
    assert t.participation == pytest.approx(700 / 2_000)
    # After 1 s both fills' mids are unchanged; after 10 s they moved up 0.10 (a buyer's gain).
    one = (400 * (100.10 - 100.15) / 100.15 + 300 * (100.20 - 100.18) / 100.18) / 700 * 1e4
    assert t.markouts_bps[1.0] == pytest.approx(one)
    later = analyse(
        side=Side.BUY, qty=1_000, fills=FILLS, mids=MIDS, tape=TAPE,
        decision_ns=0, start_ns=10 * NS, end_ns=50 * NS, horizons_s=(10.0,),
    )  # fmt: skip
    ten = (400 * (100.20 - 100.15) / 100.15 + 300 * (100.30 - 100.18) / 100.18) / 700 * 1e4
    assert later.markouts_bps == {10.0: pytest.approx(ten)}


def test_a_sell_has_the_signs_turned() -> None:
    buy, sell = _case(), _case(Side.SELL)
    for name in ("delay_bps", "timing_bps", "spread_bps", "opportunity_bps", "shortfall_bps"):
        assert getattr(sell, name) == pytest.approx(-getattr(buy, name)), name
    assert sell.vs_vwap_bps == pytest.approx(-buy.vs_vwap_bps)  # type: ignore[operator]
    assert sell.markouts_bps[1.0] == pytest.approx(-buy.markouts_bps[1.0])  # type: ignore[operator]


def test_without_fills_the_whole_cost_is_opportunity_and_there_is_no_benchmark() -> None:
    t = analyse(
        side=Side.SELL, qty=500, fills=[], mids=MIDS, tape=TAPE,
        decision_ns=0, start_ns=0, end_ns=50 * NS,
    )  # fmt: skip
    # The price rose 0.30 while a sell waited: the remainder was spared 0.30 x 500 = 150.
    assert t.opportunity_bps == pytest.approx(-0.30 * 500 / (500 * 100.0 / 1e4))
    assert t.shortfall_bps == t.opportunity_bps
    assert t.vs_vwap_bps is None and t.markouts_bps[1.0] is None


def test_market_data_that_starts_after_the_decision_is_refused() -> None:
    with pytest.raises(ValueError, match="no mid at or before the decision"):
        analyse(
            side=Side.BUY, qty=100, fills=[], mids=MIDS[1:], tape=[],
            decision_ns=0, start_ns=0, end_ns=NS,
        )  # fmt: skip
