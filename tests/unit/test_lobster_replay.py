"""Replay venue: our orders against small hand-built LOBSTER days, and one real fixture.

Every synthetic day is written by :class:`Tape`, which keeps an order-level book so the
orderbook rows always agree with the messages (as LOBSTER's do). Venue time is the file's own
clock (``origin_ns=0``): seconds after midnight times 10**9. Prices: 1_000_000 = $100.00 and the
tick is 100 (one cent).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from adapters.lobster.loader import (
    ENV_VAR,
    LobsterDay,
    default_data_dir,
    find_files,
    load_day,
    market_events,
)
from adapters.lobster.replay import ReplayConfig, ReplayVenue
from engine.events import (
    BookSnapshot,
    CancelOrder,
    CancelReject,
    ExecType,
    ExecutionReport,
    Liquidity,
    MarketEvent,
    NewOrder,
    OrderType,
    OrdStatus,
    Quote,
    ReplaceOrder,
    Side,
    StatusRequest,
    TimeInForce,
    Trade,
    TradingState,
    TradingStatus,
    VenueEvent,
)
from engine.ports import SimulatedMarket

S = 1_000_000_000  # one second in ns
P = 1_000_000  # $100.00
SYM = "TEST"
EMPTY_BID, EMPTY_ASK = -9_999_999_999, 9_999_999_999


@dataclass
class Tape:
    """Writes a consistent LOBSTER day: messages plus the book after each (``levels`` deep).

    ``before`` holds orders resting before the file starts: they appear in the book but no
    message submitted them, like the real files' pre-09:30 orders.
    """

    levels: int = 3
    before: dict[int, tuple[int, int, int]] = field(default_factory=dict)  # id: dir, px, size
    _live: dict[int, list[int]] = field(default_factory=dict)
    _msgs: list[str] = field(default_factory=list)
    _rows: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._live = {i: list(v) for i, v in self.before.items()}

    def _emit(self, t: int, kind: int, oid: int, size: int, price: int, direction: int) -> None:
        self._msgs.append(f"{t // S}.{t % S:09d},{kind},{oid},{size},{price},{direction}")
        bids: dict[int, int] = {}
        asks: dict[int, int] = {}
        for d, px, sz in self._live.values():
            book = bids if d == 1 else asks
            book[px] = book.get(px, 0) + sz
        b = sorted(bids.items(), reverse=True)[: self.levels]
        a = sorted(asks.items())[: self.levels]
        b += [(EMPTY_BID, 0)] * (self.levels - len(b))
        a += [(EMPTY_ASK, 0)] * (self.levels - len(a))
        cells = [f"{ap},{az},{bp},{bz}" for (ap, az), (bp, bz) in zip(a, b, strict=True)]
        self._rows.append(",".join(cells))

    def add(self, t: int, oid: int, side: Side, price: int, size: int) -> Tape:
        d = 1 if side is Side.BUY else -1
        self._live[oid] = [d, price, size]
        self._emit(t, 1, oid, size, price, d)
        return self

    def _reduce(self, t: int, kind: int, oid: int, size: int) -> Tape:
        d, px, sz = self._live[oid]
        if size >= sz:
            del self._live[oid]
        else:
            self._live[oid][2] = sz - size
        self._emit(t, kind, oid, size, px, d)
        return self

    def cancel(self, t: int, oid: int, size: int) -> Tape:
        return self._reduce(t, 2, oid, size)

    def delete(self, t: int, oid: int) -> Tape:
        return self._reduce(t, 3, oid, self._live[oid][2])

    def execute(self, t: int, oid: int, size: int) -> Tape:
        return self._reduce(t, 4, oid, size)

    def hidden(self, t: int, side: Side, price: int, size: int) -> Tape:
        self._emit(t, 5, 0, size, price, 1 if side is Side.BUY else -1)
        return self

    def halt(self, t: int, code: int) -> Tape:
        self._emit(t, 7, 0, 0, code, -1)
        return self

    def day(self, folder: Path) -> LobsterDay:
        stem = f"{SYM}_2012-06-21_34200000_57600000"
        m = folder / f"{stem}_message_{self.levels}.csv"
        o = folder / f"{stem}_orderbook_{self.levels}.csv"
        m.write_text("".join(x + "\n" for x in self._msgs))
        o.write_text("".join(x + "\n" for x in self._rows))
        return load_day(m, o)


def standard_tape(**kw: object) -> Tape:
    """At 1 s: asks 100.01 x100 (id 11), 100.02 x200 (12), 100.03 x300 (13); bids 100.00 x100
    (21), 99.99 x200 (22), 99.98 x300 (23)."""
    tape = Tape(**kw)  # type: ignore[arg-type]
    for oid, side, px, sz in [
        (11, Side.SELL, P + 100, 100),
        (12, Side.SELL, P + 200, 200),
        (13, Side.SELL, P + 300, 300),
        (21, Side.BUY, P, 100),
        (22, Side.BUY, P - 100, 200),
        (23, Side.BUY, P - 200, 300),
    ]:
        tape.add(1 * S, oid, side, px, sz)
    return tape


class Harness:
    """A replay venue with recording sinks."""

    def __init__(self, day: LobsterDay, subscribe: bool = False) -> None:
        self.venue = ReplayVenue(day, ReplayConfig(origin_ns=0))
        self.events: list[VenueEvent] = []
        self.market: list[MarketEvent] = []
        self.venue.connect(self.events.append)
        if subscribe:
            self.venue.subscribe(SYM, self.market.append)
        self._n = 0

    def send(
        self,
        side: Side,
        qty: int,
        price: int | None = None,
        *,
        tif: TimeInForce = TimeInForce.DAY,
        cl: str | None = None,
        display: int | None = None,
    ) -> str:
        self._n += 1
        cl = cl or f"c{self._n}"
        kind = OrderType.MARKET if price is None else OrderType.LIMIT
        t = self.venue.now_ns
        self.venue.submit(NewOrder(cl, SYM, side, qty, kind, price, tif, t, display))
        return cl

    def reports(self, cl: str | None = None) -> list[ExecutionReport]:
        out = [e for e in self.events if isinstance(e, ExecutionReport)]
        return out if cl is None else [e for e in out if e.cl_ord_id == cl]

    def fills(self, cl: str | None = None) -> list[tuple[int, int]]:
        return [
            (e.last_qty, e.last_price or 0)
            for e in self.reports(cl)
            if e.exec_type is ExecType.TRADE
        ]

    def last(self) -> VenueEvent:
        return self.events[-1]


def _fill_invariants(reports: Iterable[ExecutionReport]) -> None:
    """cum_qty is the running sum of fills, avg_price their VWAP, exec ids unique."""
    seen: set[str] = set()
    cum: dict[str, int] = {}
    notional: dict[str, int] = {}
    for r in reports:
        assert r.exec_id not in seen
        seen.add(r.exec_id)
        key = r.venue_order_id
        if r.exec_type is ExecType.TRADE:
            cum[key] = cum.get(key, 0) + r.last_qty
            notional[key] = notional.get(key, 0) + r.last_qty * (r.last_price or 0)
        assert r.cum_qty == cum.get(key, 0)
        if r.cum_qty:
            assert r.avg_price == pytest.approx(notional[key] / r.cum_qty, rel=1e-15)
        if r.ord_status not in (OrdStatus.CANCELED, OrdStatus.EXPIRED, OrdStatus.REJECTED):
            assert r.leaves_qty == r.order_qty - r.cum_qty


# --- walking and deficits ---------------------------------------------------------------------


def test_market_buy_when_it_walks_two_levels_then_each_fill_pays_its_level_price(tmp_path):
    h = Harness(standard_tape().day(tmp_path))
    cl = h.send(Side.BUY, 150)
    kinds = [r.exec_type for r in h.reports(cl)]
    assert kinds == [ExecType.NEW, ExecType.TRADE, ExecType.TRADE]
    assert h.fills(cl) == [(100, P + 100), (50, P + 200)]
    done = h.reports(cl)[-1]
    assert done.ord_status is OrdStatus.FILLED and done.leaves_qty == 0 and done.cum_qty == 150
    assert done.avg_price == (100 * (P + 100) + 50 * (P + 200)) / 150
    assert all(r.liquidity is Liquidity.REMOVED for r in h.reports(cl)[1:])
    assert h.venue.deficit(Side.SELL, P + 100) == 100
    assert h.venue.deficit(Side.SELL, P + 200) == 50
    _fill_invariants(h.reports())


def test_order_when_sent_between_two_rows_then_it_trades_at_its_own_time(tmp_path):
    # A backtest fires the engine's timers between historical rows. Stamped at the last row's
    # time instead, a child's fills came before it was sent and fell in a cap window the engine
    # had already left: a GOOG window showed 15.1% participation against the 15% cap.
    h = Harness(standard_tape().add(10 * S, 14, Side.SELL, P + 400, 100).day(tmp_path))
    h.venue.submit(
        NewOrder("c1", SYM, Side.BUY, 150, OrderType.MARKET, None, TimeInForce.IOC, 4 * S)
    )
    assert [r.ts_event for r in h.reports("c1")] == [4 * S] * 3  # NEW and both fills
    assert h.venue.now_ns == 4 * S
    # An instruction stamped past the next row does not skip it: the clock stops at the row.
    h.venue.submit(
        NewOrder("c2", SYM, Side.BUY, 50, OrderType.MARKET, None, TimeInForce.IOC, 30 * S)
    )
    assert h.venue.now_ns == 10 * S and h.venue.next_event_ns == 10 * S
    assert h.fills("c2") == [(50, P + 200)]  # the book before the 10-s row


def test_limit_buy_when_crossing_then_never_pays_beyond_limit_and_rests_the_rest(tmp_path):
    h = Harness(standard_tape().day(tmp_path))
    cl = h.send(Side.BUY, 400, P + 200)
    assert h.fills(cl) == [(100, P + 100), (200, P + 200)]
    last = h.reports(cl)[-1]
    assert last.ord_status is OrdStatus.PARTIALLY_FILLED and last.leaves_qty == 100
    assert h.venue.queue_ahead(cl) == 0  # no historical bid at 100.02: we are alone there


def test_market_order_when_book_runs_out_then_rest_canceled_never_rests(tmp_path):
    h = Harness(standard_tape().day(tmp_path))
    cl = h.send(Side.SELL, 1_000)
    assert h.fills(cl) == [(100, P), (200, P - 100), (300, P - 200)]
    last = h.reports(cl)[-1]
    assert last.exec_type is ExecType.CANCELED and last.ord_status is OrdStatus.CANCELED
    assert last.cum_qty == 600 and last.leaves_qty == 0
    assert h.venue.queue_ahead(cl) is None


def test_second_order_when_sent_right_after_then_consumed_liquidity_is_gone(tmp_path):
    h = Harness(standard_tape().day(tmp_path))
    h.send(Side.BUY, 150)
    cl = h.send(Side.BUY, 400, P + 200, tif=TimeInForce.IOC)
    # 100.01 is used up; 100.02 has 200 - 50 left.
    assert h.fills(cl) == [(150, P + 200)]
    last = h.reports(cl)[-1]
    assert last.exec_type is ExecType.CANCELED and last.cum_qty == 150
    assert h.venue.deficit(Side.SELL, P + 200) == 200


def test_new_historical_size_when_added_at_a_consumed_level_then_deficit_shrinks_by_it(tmp_path):
    tape = (
        standard_tape()
        .add(2 * S, 14, Side.SELL, P + 100, 60)
        .add(3 * S, 15, Side.SELL, P + 100, 40)
    )
    h = Harness(tape.day(tmp_path))
    h.send(Side.BUY, 100)  # takes all of 100.01
    assert h.venue.deficit(Side.SELL, P + 100) == 100
    h.venue.advance_to(2 * S)
    assert h.venue.deficit(Side.SELL, P + 100) == 40  # 60 new shares refill the hole
    h.venue.advance_to(3 * S)
    assert h.venue.deficit(Side.SELL, P + 100) == 0  # as much new size as we took: history again
    cl = h.send(Side.BUY, 500, P + 100, tif=TimeInForce.IOC)
    assert h.fills(cl) == [(200, P + 100)]  # the full historical 100 + 60 + 40


def test_deficit_when_level_leaves_the_book_then_cleared_and_new_size_fully_available(tmp_path):
    tape = standard_tape().delete(2 * S, 12).add(3 * S, 14, Side.SELL, P + 200, 30)
    h = Harness(tape.day(tmp_path))
    h.send(Side.BUY, 150)  # 100 at 100.01, 50 at 100.02
    h.venue.advance_to(2 * S)
    assert h.venue.deficit(Side.SELL, P + 200) == 0
    h.venue.advance_to(3 * S)
    cl = h.send(Side.BUY, 30, P + 200, tif=TimeInForce.IOC)
    assert h.fills(cl) == [(30, P + 200)]


def test_deficit_when_historical_size_drops_below_it_then_cut_to_what_is_shown(tmp_path):
    tape = standard_tape().cancel(2 * S, 12, 180)  # 100.02 shows 20 after this
    h = Harness(tape.day(tmp_path))
    h.send(Side.BUY, 150)  # deficit 50 at 100.02
    h.venue.advance_to(2 * S)
    assert h.venue.deficit(Side.SELL, P + 200) == 20
    cl = h.send(Side.BUY, 10, P + 200, tif=TimeInForce.IOC)
    assert h.fills(cl) == []


# --- queue position ---------------------------------------------------------------------------


def test_passive_sell_when_queue_ahead_not_yet_consumed_then_no_fill(tmp_path):
    tape = (
        standard_tape()
        .add(2 * S, 14, Side.SELL, P + 100, 100)  # behind us
        .execute(3 * S, 11, 60)
        .execute(4 * S, 11, 40)
        .execute(5 * S, 14, 30)
    )
    h = Harness(tape.day(tmp_path))
    cl = h.send(Side.SELL, 50, P + 100)
    assert h.venue.queue_ahead(cl) == 100
    h.venue.advance_to(3 * S)
    assert h.venue.queue_ahead(cl) == 40 and h.fills(cl) == []
    h.venue.advance_to(4 * S)
    assert h.venue.queue_ahead(cl) == 0 and h.fills(cl) == []
    h.venue.advance_to(5 * S)  # an execution of an order behind us: we were first
    assert h.fills(cl) == [(30, P + 100)]
    fill = h.reports(cl)[-1]
    assert fill.liquidity is Liquidity.ADDED and fill.ts_event == 5 * S
    assert (fill.cum_qty, fill.leaves_qty, fill.ord_status) == (30, 20, OrdStatus.PARTIALLY_FILLED)
    _fill_invariants(h.reports())


def test_execution_when_larger_than_queue_ahead_then_the_excess_fills_us(tmp_path):
    tape = (
        standard_tape()
        .add(2 * S, 14, Side.SELL, P + 100, 150)  # behind us
        .execute(3 * S, 11, 60)
        .execute(4 * S, 14, 150)  # 40 still ahead of us: the print goes through them, then us
    )
    h = Harness(tape.day(tmp_path))
    cl = h.send(Side.SELL, 50, P + 100)
    h.venue.advance_to(3 * S)
    assert h.venue.queue_ahead(cl) == 40
    h.venue.advance_to(4 * S)
    assert h.fills(cl) == [(50, P + 100)]
    assert h.reports(cl)[-1].ord_status is OrdStatus.FILLED


def test_execution_when_order_predates_the_file_then_counts_against_our_queue(tmp_path):
    tape = standard_tape(before={99: (-1, P + 100, 500)}).execute(2 * S, 99, 450)
    h = Harness(tape.day(tmp_path))
    # Ahead of us at 100.01: 100 (id 11) + 500 (id 99, resting before the file started).
    cl = h.send(Side.SELL, 1_000, P + 100)
    assert h.venue.queue_ahead(cl) == 600
    h.venue.advance_to(2 * S)
    assert h.venue.queue_ahead(cl) == 150 and h.fills(cl) == []


def test_cancel_when_behind_or_ahead_of_us_then_only_ahead_ones_advance_us(tmp_path):
    tape = (
        standard_tape(before={98: (-1, P + 100, 70)})
        .add(2 * S, 14, Side.SELL, P + 100, 50)  # arrives after us: behind
        .delete(3 * S, 14)
        .cancel(4 * S, 11, 40)  # ahead: submitted before us
        .delete(5 * S, 98)  # ahead: predates the file, an id never seen in it
    )
    h = Harness(tape.day(tmp_path))
    cl = h.send(Side.SELL, 50, P + 100)
    assert h.venue.queue_ahead(cl) == 170
    h.venue.advance_to(3 * S)
    assert h.venue.queue_ahead(cl) == 170
    h.venue.advance_to(4 * S)
    assert h.venue.queue_ahead(cl) == 130
    h.venue.advance_to(5 * S)
    assert h.venue.queue_ahead(cl) == 60


def test_one_print_when_two_of_our_orders_share_a_price_then_split_in_queue_order(tmp_path):
    # Queue at 100.01, front to back: 11 (100), A (50), 14 (30), B (40), 15 (100).
    tape = (
        standard_tape()
        .add(2 * S, 14, Side.SELL, P + 100, 30)
        .add(3 * S, 15, Side.SELL, P + 100, 100)
        .execute(4 * S, 11, 100)
        .execute(5 * S, 14, 30)
        .execute(6 * S, 15, 60)
    )
    h = Harness(tape.day(tmp_path))
    a = h.send(Side.SELL, 50, P + 100)
    h.venue.advance_to(2 * S)
    b = h.send(Side.SELL, 40, P + 100)
    assert (h.venue.queue_ahead(a), h.venue.queue_ahead(b)) == (100, 130)
    h.venue.advance_to(4 * S)
    assert (h.venue.queue_ahead(a), h.venue.queue_ahead(b)) == (0, 30)
    h.venue.advance_to(5 * S)  # the print of 14 is A's: in our world 14 is still ahead of B
    assert h.fills(a) == [(30, P + 100)] and h.venue.queue_ahead(b) == 30
    h.venue.advance_to(6 * S)  # 60 shares: A's last 20, then 30 of "14", then 10 for B
    assert h.fills(a) == [(30, P + 100), (20, P + 100)]
    assert h.fills(b) == [(10, P + 100)] and h.venue.queue_ahead(b) == 0
    _fill_invariants(h.reports())


def test_resting_order_when_its_price_comes_into_view_then_queue_is_what_is_shown(tmp_path):
    tape = standard_tape(before={97: (1, P - 300, 70)}).delete(2 * S, 21)
    h = Harness(tape.day(tmp_path))
    cl = h.send(Side.BUY, 10, P - 300)  # below the three displayed bid levels
    assert h.venue.queue_ahead(cl) is None
    h.venue.advance_to(2 * S)
    assert h.venue.queue_ahead(cl) == 70


def test_queue_when_book_shows_less_than_we_count_ahead_then_cut_to_what_is_shown(tmp_path):
    tape = standard_tape().add(2 * S, 14, Side.SELL, P + 100, 50).cancel(3 * S, 14, 10)
    # Make the last book row disagree with its message, as damaged data might: 100.01 shows
    # 30 although only 10 of the 150 shares left.
    tape._rows[-1] = tape._rows[-1].replace(f"{P + 100},140", f"{P + 100},30")
    h = Harness(tape.day(tmp_path))
    cl = h.send(Side.SELL, 5, P + 100)
    h.venue.advance_to(3 * S)
    assert h.venue.queue_ahead(cl) == 30


def test_replace_when_quantity_down_then_keeps_queue_position(tmp_path):
    tape = standard_tape().add(2 * S, 14, Side.SELL, P + 100, 50).delete(3 * S, 14)
    h = Harness(tape.day(tmp_path))
    cl = h.send(Side.SELL, 50, P + 100)
    h.venue.advance_to(2 * S)  # 14 joins behind us: 150 displayed, 100 ahead
    h.venue.replace(ReplaceOrder("r1", cl, SYM, Side.SELL, 30, None, 2 * S))
    rep = h.last()
    assert isinstance(rep, ExecutionReport) and rep.exec_type is ExecType.REPLACED
    assert (rep.cl_ord_id, rep.orig_cl_ord_id, rep.order_qty, rep.leaves_qty) == ("r1", cl, 30, 30)
    assert h.venue.queue_ahead("r1") == 100
    h.venue.advance_to(3 * S)  # 14 was behind us: its delete does not move us
    assert h.venue.queue_ahead("r1") == 100


def test_replace_when_quantity_up_then_loses_priority_behind_later_orders(tmp_path):
    tape = standard_tape().add(2 * S, 14, Side.SELL, P + 100, 50).delete(3 * S, 14)
    h = Harness(tape.day(tmp_path))
    cl = h.send(Side.SELL, 50, P + 100)
    h.venue.advance_to(2 * S)
    h.venue.replace(ReplaceOrder("r1", cl, SYM, Side.SELL, 80, None, 2 * S))
    assert h.venue.queue_ahead("r1") == 150  # now behind 11 and 14
    h.venue.advance_to(3 * S)  # 14 is now ahead of us: its delete moves us up
    assert h.venue.queue_ahead("r1") == 100


def test_replace_when_price_changes_then_new_queue_at_new_price(tmp_path):
    h = Harness(standard_tape().day(tmp_path))
    cl = h.send(Side.SELL, 50, P + 100)
    h.venue.replace(ReplaceOrder("r1", cl, SYM, Side.SELL, 50, P + 200, 1 * S))
    assert h.venue.queue_ahead("r1") == 200
    rep = h.last()
    assert isinstance(rep, ExecutionReport) and rep.price == P + 200


def test_replace_when_new_price_crosses_then_trades_at_once(tmp_path):
    h = Harness(standard_tape().day(tmp_path))
    cl = h.send(Side.BUY, 150, P - 100)
    h.venue.replace(ReplaceOrder("r1", cl, SYM, Side.BUY, 150, P + 100, 1 * S))
    assert h.fills("r1") == [(100, P + 100)]
    assert h.venue.queue_ahead("r1") == 0  # the rest now bids 100.01, alone
    assert h.reports("r1")[-1].leaves_qty == 50


# --- trade-through, hidden prints, crossing liquidity -------------------------------------------


def _wide_tape() -> Tape:
    """Bid 100.00 x100 (21), ask 100.03 x300 (13): room to bid inside the spread."""
    return Tape().add(1 * S, 21, Side.BUY, P, 100).add(1 * S, 13, Side.SELL, P + 300, 300)


def test_execution_when_it_trades_through_our_bid_then_we_were_filled_first(tmp_path):
    h = Harness(_wide_tape().execute(2 * S, 21, 40).day(tmp_path))
    cl = h.send(Side.BUY, 100, P + 100)
    assert h.venue.queue_ahead(cl) == 0
    h.venue.advance_to(2 * S)  # someone sold at 100.00 while we bid 100.01
    assert h.fills(cl) == [(40, P + 100)]


def test_hidden_execution_when_at_or_through_our_price_then_fills_only_through(tmp_path):
    tape = _wide_tape().hidden(2 * S, Side.BUY, P + 100, 25).hidden(3 * S, Side.BUY, P, 10)
    h = Harness(tape.day(tmp_path))
    cl = h.send(Side.BUY, 100, P + 100)
    h.venue.advance_to(2 * S)
    assert h.fills(cl) == [] and h.venue.queue_ahead(cl) == 0
    h.venue.advance_to(3 * S)
    assert h.fills(cl) == [(10, P + 100)]


def test_new_sell_when_priced_through_our_resting_bid_then_trades_with_us_at_our_price(tmp_path):
    h = Harness(_wide_tape().add(2 * S, 14, Side.SELL, P + 100, 30).day(tmp_path), subscribe=True)
    cl = h.send(Side.BUY, 100, P + 200)
    h.venue.advance_to(2 * S)
    assert h.fills(cl) == [(30, P + 200)]
    assert h.reports(cl)[-1].liquidity is Liquidity.ADDED
    assert h.venue.deficit(Side.SELL, P + 100) == 30
    prints = [e for e in h.market if isinstance(e, Trade)]
    assert [(t.price, t.size, t.aggressor) for t in prints] == [(P + 200, 30, Side.SELL)]
    quote = h.market[-1]
    assert isinstance(quote, Quote) and quote.ask_price == P + 300  # the 30 at 100.01 is ours now
    assert (quote.bid_price, quote.bid_size) == (P + 200, 70)


# --- instructions, rejects, lifecycle ---------------------------------------------------------


def test_cancel_when_order_unknown_then_cancel_reject_with_reason(tmp_path):
    h = Harness(standard_tape().day(tmp_path))
    h.venue.cancel(CancelOrder("x2", "nope", SYM, Side.BUY, 1 * S))
    rej = h.last()
    assert isinstance(rej, CancelReject)
    assert (rej.cl_ord_id, rej.orig_cl_ord_id, rej.response_to) == ("x2", "nope", "cancel")
    assert rej.reason == "unknown order" and rej.ord_status is None


def test_cancel_when_resting_then_canceled_and_later_executions_ignore_it(tmp_path):
    h = Harness(standard_tape().execute(2 * S, 11, 100).day(tmp_path))
    cl = h.send(Side.SELL, 50, P + 100)
    h.venue.cancel(CancelOrder("x1", cl, SYM, Side.SELL, 1 * S))
    done = h.last()
    assert isinstance(done, ExecutionReport)
    assert (done.exec_type, done.ord_status, done.cl_ord_id, done.leaves_qty) == (
        ExecType.CANCELED,
        OrdStatus.CANCELED,
        "x1",
        0,
    )
    h.venue.advance_to(2 * S)
    assert h.fills(cl) == []
    h.venue.cancel(CancelOrder("x3", "x1", SYM, Side.SELL, 2 * S))
    late = h.last()
    assert isinstance(late, CancelReject) and "too late" in late.reason


def test_replace_when_order_filled_then_cancel_reject(tmp_path):
    h = Harness(standard_tape().day(tmp_path))
    cl = h.send(Side.BUY, 50, P + 100)
    h.venue.replace(ReplaceOrder("r1", cl, SYM, Side.BUY, 80, None, 1 * S))
    rej = h.last()
    assert isinstance(rej, CancelReject) and rej.response_to == "replace"
    assert rej.ord_status is OrdStatus.FILLED and "too late" in rej.reason


@pytest.mark.parametrize(
    "qty,price,kind,reason",
    [
        (0, P, OrderType.LIMIT, "quantity must be > 0"),
        (10, None, OrderType.LIMIT, "needs a price"),
        (10, P + 50, OrderType.LIMIT, "not on the tick grid"),
        (10, -P, OrderType.LIMIT, "price must be > 0"),
    ],
)
def test_submit_when_invalid_then_rejected_with_reason(tmp_path, qty, price, kind, reason):
    h = Harness(standard_tape().day(tmp_path))
    h.venue.submit(NewOrder("bad", SYM, Side.BUY, qty, kind, price, TimeInForce.DAY, 1 * S))
    rej = h.last()
    assert isinstance(rej, ExecutionReport)
    assert rej.exec_type is ExecType.REJECTED and rej.ord_status is OrdStatus.REJECTED
    assert reason in rej.text and len(h.events) == 1


def test_submit_when_data_has_ended_then_rejected_and_resting_orders_expire(tmp_path):
    h = Harness(standard_tape().add(2 * S, 14, Side.SELL, P + 300, 5).day(tmp_path))
    cl = h.send(Side.BUY, 10, P - 300)
    h.venue.advance_to(3 * S)
    expired = h.reports(cl)[-1]
    assert expired.exec_type is ExecType.EXPIRED and expired.ts_event == 3 * S
    h.send(Side.BUY, 10, P, cl="late")
    assert "replay data ended" in h.reports("late")[-1].text


def test_submit_when_halted_then_rejected_until_trading_resumes(tmp_path):
    tape = standard_tape().halt(2 * S, -1).halt(3 * S, 0).halt(4 * S, 1)
    h = Harness(tape.day(tmp_path), subscribe=True)
    h.venue.advance_to(3 * S)
    assert h.venue.trading_state is TradingState.HALTED
    h.send(Side.BUY, 10, P, cl="h1")
    assert h.reports("h1")[-1].text == "trading halted"
    h.venue.advance_to(4 * S)
    h.send(Side.BUY, 10, P, cl="h2")
    assert h.reports("h2")[-1].ord_status is OrdStatus.NEW
    states = [e.state for e in h.market if isinstance(e, TradingStatus)]
    assert states == [TradingState.HALTED, TradingState.HALTED, TradingState.TRADING]


def test_submit_when_it_would_cross_our_own_resting_order_then_rejected(tmp_path):
    h = Harness(standard_tape().day(tmp_path))
    h.send(Side.SELL, 10, P + 100)
    h.send(Side.BUY, 10, P + 100, cl="self")
    assert "self-trade" in h.reports("self")[-1].text


def test_status_request_when_known_and_unknown_then_order_status_reports(tmp_path):
    h = Harness(standard_tape().day(tmp_path))
    cl = h.send(Side.BUY, 150)
    h.venue.request_status(StatusRequest(cl, SYM, Side.BUY, 1 * S))
    known = h.last()
    assert isinstance(known, ExecutionReport) and known.exec_type is ExecType.ORDER_STATUS
    assert known.ord_status is OrdStatus.FILLED and known.cum_qty == 150
    h.venue.request_status(StatusRequest("ghost", SYM, Side.BUY, 1 * S))
    ghost = h.last()
    assert isinstance(ghost, ExecutionReport) and ghost.ord_status is OrdStatus.REJECTED


def test_venue_when_misused_then_raises(tmp_path):
    venue = ReplayVenue(standard_tape().day(tmp_path), ReplayConfig(origin_ns=0))
    assert isinstance(venue, SimulatedMarket)
    with pytest.raises(RuntimeError, match="connect"):
        venue.submit(NewOrder("a", SYM, Side.BUY, 1, OrderType.MARKET, None, TimeInForce.IOC, 0))
    venue.advance_to(2 * S)
    with pytest.raises(ValueError, match="time goes back"):
        venue.advance_to(1 * S)
    with pytest.raises(KeyError):
        venue.subscribe("MSFT", lambda e: None)


# --- market data, determinism, real data ------------------------------------------------------


def test_subscriber_when_we_take_the_best_ask_then_published_book_shows_it_gone(tmp_path):
    h = Harness(standard_tape().day(tmp_path), subscribe=True)
    snap = h.market[0]
    assert isinstance(snap, BookSnapshot)
    assert snap.asks == ((P + 100, 100), (P + 200, 200), (P + 300, 300))
    assert snap.bids == ((P, 100), (P - 100, 200), (P - 200, 300))
    h.send(Side.BUY, 120)
    prints = [(e.price, e.size, e.aggressor) for e in h.market if isinstance(e, Trade)]
    assert prints == [(P + 100, 100, Side.BUY), (P + 200, 20, Side.BUY)]
    quote = h.market[-1]
    assert isinstance(quote, Quote) and (quote.ask_price, quote.ask_size) == (P + 200, 180)
    h.send(Side.BUY, 40, P + 100)  # rests at 100.01 and shows as our bid
    quote = h.market[-1]
    assert isinstance(quote, Quote) and (quote.bid_price, quote.bid_size) == (P + 100, 40)
    assert h.venue.snapshot().bids[0] == (P + 100, 40)


def _scenario(folder: Path) -> tuple[list[VenueEvent], list[MarketEvent]]:
    tape = (
        standard_tape()
        .add(2 * S, 14, Side.SELL, P + 100, 80)
        .add(2 * S, 24, Side.BUY, P - 100, 100)  # behind our bid
        .execute(3 * S, 21, 100)
        .execute(4 * S, 22, 200)
        .execute(4 * S, 24, 70)
    )
    h = Harness(tape.day(folder), subscribe=True)
    h.send(Side.BUY, 130)
    bid = h.send(Side.BUY, 60, P - 100)
    h.venue.advance_to(5 * S)
    assert h.fills(bid) == [(60, P - 100)]
    return h.events, h.market


def test_replay_when_run_twice_then_identical_events(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first, second = _scenario(tmp_path / "a"), _scenario(tmp_path / "b")
    assert first == second
    _fill_invariants(e for e in first[0] if isinstance(e, ExecutionReport))
    assert any(isinstance(e, ExecutionReport) and e.liquidity is Liquidity.ADDED for e in first[0])


def _real_day() -> LobsterDay:
    path = default_data_dir()
    if not path.is_dir():
        pytest.skip(f"LOBSTER data not found at {path}; set {ENV_VAR}")
    return load_day(*find_files(path, "AAPL", 10))


def test_replay_when_no_orders_on_aapl_first999_then_feed_equals_normalised_events():
    day = _real_day()
    venue = ReplayVenue(day, ReplayConfig(origin_ns=0))
    seen: list[MarketEvent] = []
    venue.subscribe("AAPL", seen.append)
    venue.advance_to(int(day.ts_ns[-1]))
    t0 = int(day.ts_ns[0])
    expected = [e for e in market_events(day) if e.ts_event > t0]
    assert seen[1:] == expected
    assert isinstance(seen[0], BookSnapshot) and seen[0].asks[0] == (5_859_400, 200)


def test_replay_when_orders_on_aapl_first999_then_fills_add_up():
    day = _real_day()
    venue = ReplayVenue(day, ReplayConfig(origin_ns=0))
    events: list[VenueEvent] = []
    venue.connect(events.append)
    t = venue.now_ns

    def send(cl: str, side: Side, qty: int, price: int | None) -> None:
        kind = OrderType.MARKET if price is None else OrderType.LIMIT
        venue.submit(NewOrder(cl, "AAPL", side, qty, kind, price, TimeInForce.DAY, t))

    # Book after the first row: asks 58.594 x200, 58.598 x200; best bid 58.533 x18.
    send("m", Side.BUY, 300, None)  # walks both ask levels
    send("p", Side.SELL, 500, 5_859_800)  # behind the 100 left at 58.598
    send("q", Side.BUY, 300, 5_853_300)  # behind the 18 at the best bid
    assert (venue.queue_ahead("p"), venue.queue_ahead("q")) == (100, 18)
    venue.advance_to(int(day.ts_ns[-1]) + 1)
    reports = [e for e in events if isinstance(e, ExecutionReport)]
    _fill_invariants(reports)
    assert [r.ts_event for r in reports] == sorted(r.ts_event for r in reports)

    def fills(cl: str) -> list[tuple[int, int | None, Liquidity | None]]:
        return [
            (r.last_qty, r.last_price, r.liquidity)
            for r in reports
            if r.cl_ord_id == cl and r.exec_type is ExecType.TRADE
        ]

    assert fills("m") == [(200, 5_859_400, Liquidity.REMOVED), (100, 5_859_800, Liquidity.REMOVED)]
    q = fills("q")
    assert sum(f[0] for f in q) == 300  # the bid queue moves within the fixture's 49 seconds
    assert all(f[1:] == (5_853_300, Liquidity.ADDED) for f in q)
    last_p = [r for r in reports if r.cl_ord_id == "p"][-1]
    assert last_p.exec_type is ExecType.EXPIRED and last_p.ts_event == int(day.ts_ns[-1]) + 1
