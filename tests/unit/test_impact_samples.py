"""Walk-the-book costs and signed flow from LOBSTER rows (adapters/lobster/impact_samples.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from adapters.lobster.impact_samples import book_rows, cost_curves, flow_windows, walk_cost_bps
from adapters.lobster.loader import load_day


def test_walk_cost_when_an_order_spans_two_levels_then_it_pays_their_average() -> None:
    # Asks 100.10 x 100 and 100.30 x 200, mid 100.00 (price units 1/10,000 dollar).
    px = np.array([[1_001_000.0, 1_003_000.0]])
    sz = np.array([[100.0, 200.0]])
    mid = np.array([1_000_000.0])
    c = walk_cost_bps(px, sz, mid, [50, 100, 200, 300, 400], side=1)
    # 200 shares: 100 at +10 bps and 100 at +30 bps -> 20 bps.
    np.testing.assert_allclose(c[0, :4], [10.0, 10.0, 20.0, 70.0 / 3.0])
    assert np.isnan(c[0, 4])  # beyond the displayed depth
    ext = walk_cost_bps(px, sz, mid, [400], side=1, extend=True)
    assert ext[0, 0] == pytest.approx((10 * 100 + 30 * 300) / 400)
    # A sell walks the bids: a bid 10 bps under the mid costs 10 bps.
    bid = walk_cost_bps([[999_000.0]], [[100.0]], mid, [100], side=-1)
    assert bid[0, 0] == pytest.approx(10.0)


def _day(tmp_path: Path):  # type: ignore[no-untyped-def]
    msgs = [
        "34200.0,1,1,100,1000000,1",
        "34230.0,4,9,50,1000200,-1",  # a sell order executed: a buyer took 50
        "34260.5,1,3,100,1000100,1",
        "34290.0,4,1,30,1000000,1",  # a buy order executed: a seller took 30
        "34330.0,1,4,100,1000300,-1",
    ]
    book = [
        "1000200,100,1000000,100,1000400,100,999800,100",
        "1000200,50,1000000,100,1000400,100,999800,100",
        "1000200,50,1000100,100,1000400,100,1000000,100",
        "1000200,50,1000100,100,1000400,100,1000000,70",
        "1000200,50,1000100,100,1000300,100,1000000,70",
    ]
    stem = "TEST_2012-06-21_34200000_57600000"
    m, o = tmp_path / f"{stem}_message_2.csv", tmp_path / f"{stem}_orderbook_2.csv"
    m.write_text("".join(x + "\n" for x in msgs))
    o.write_text("".join(x + "\n" for x in book))
    return load_day(m, o)


def test_flow_windows_sign_the_aggressor_and_measure_the_mid_move(tmp_path: Path) -> None:
    day = _day(tmp_path)
    fw = flow_windows(day, window_s=60.0, start_s=34_200.0, end_s=34_320.0)
    np.testing.assert_array_equal(fw.t_s, [34_200.0, 34_260.0])
    np.testing.assert_array_equal(fw.signed_volume, [50.0, -30.0])
    np.testing.assert_array_equal(fw.volume, [50.0, 30.0])
    # Mid 100.01 at 34200 and at 34260 (row 1), 100.015 at 34320 (row 3).
    assert fw.mid_change_bps[0] == pytest.approx(0.0)
    assert fw.mid_change_bps[1] == pytest.approx(np.log(1_000_150 / 1_000_100) * 1e4)


def test_book_rows_and_cost_curves_use_the_book_in_force_at_each_time(tmp_path: Path) -> None:
    day = _day(tmp_path)
    np.testing.assert_array_equal(book_rows(day, [34_100.0, 34_230.0, 34_259.0, 40_000.0]),
                                  [0, 1, 1, 4])  # fmt: skip
    bps, mid = cost_curves(day, [34_240.0], [50, 100], side=1)
    assert mid[0] == 1_000_100.0
    # 50 at 100.02 (+1 bp of 100.01 ... exactly (100.02 - 100.01) / 100.01)
    assert bps[0, 0] == pytest.approx(100 / 1_000_100 * 1e4)
    assert bps[0, 1] == pytest.approx((50 * 100 + 50 * 300) / 100 / 1_000_100 * 1e4)
