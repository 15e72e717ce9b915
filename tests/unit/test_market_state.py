"""The engine's view of one symbol's tape: volume counted by the prints' own times."""

from __future__ import annotations

from engine.events import Side, Trade
from engine.market_state import SymbolMarket

NS = 1_000_000_000


def _print(m: SymbolMarket, ts_s: float, size: int, arrived_s: float) -> None:
    ts = round(ts_s * NS)
    m.on_event(Trade("XYZ", 1_000_000, size, Side.BUY, "", ts, ts), round(arrived_s * NS))


def test_a_print_that_happened_before_a_time_but_arrived_after_it_is_not_volume_after_it() -> None:
    m = SymbolMarket("XYZ", tape_window_ns=60 * NS)
    assert m.volume_printed_after(100 * NS) == 0  # nothing printed yet
    _print(m, 99.5, 300, arrived_s=100.2)  # happened before 100 s, delivered after
    _print(m, 100.1, 200, arrived_s=100.3)
    _print(m, 130.0, 500, arrived_s=130.0)
    assert m.volume_printed_after(100 * NS) == 700
    assert m.total_volume == 1000  # a running total since 100 s would have said 1,000


def test_once_the_tape_no_longer_reaches_back_the_count_is_unknown() -> None:
    m = SymbolMarket("XYZ", tape_window_ns=60 * NS)
    _print(m, 100.0, 300, arrived_s=100.0)
    _print(m, 200.0, 200, arrived_s=200.0)  # the tape now keeps only from 140 s
    assert m.volume_printed_after(150 * NS) == 200
    assert m.volume_printed_after(120 * NS) is None
