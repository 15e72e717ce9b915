"""A venue where our child orders meet the historical LOBSTER book at the instant they arrive.

:class:`ReplayVenue` implements :class:`~engine.ports.SimulatedMarket` (venue port, market-data
port, ``advance_to``/``now_ns``) for one symbol-day. History is replayed as recorded: our
orders never change what the other traders did. What they change is what *we* can get, through
three pieces of bookkeeping (docs/replay.md states each rule precisely):

* **Walking.** A marketable order (market, or limit crossing the opposite best) takes the
  displayed levels best first, paying each level's price, never beyond its limit. A market or
  IOC remainder is canceled; a DAY limit remainder rests.
* **Deficits.** What we take is remembered per side and price and subtracted from what later
  orders of ours can take, until the book replenishes (:mod:`adapters.lobster._view`).
* **Queue position.** A resting order joins the back of the displayed queue at its price:
  ``queue_ahead`` = available displayed size there on arrival. Historical executions at that
  price, and cancels of orders that arrived before ours (or predate the file), reduce it;
  cancels of later orders do not. Executions beyond ``queue_ahead`` fill us at our price. An
  execution at a price worse for the aggressor than ours (a trade-through) means we would have
  been hit first: it counts as if at our price. Hidden executions (type 5) fill us only when
  they trade through our price; at our price they neither fill nor advance us (a hidden order
  cannot be ahead of displayed ones, so such a print says nothing about our queue). Opposite
  liquidity that appears at or through our resting price trades with us, at our price.

Time is the day's clock: ``ts = origin_ns + ns after midnight``. ``advance_to(ts)`` applies every
historical row with a time ``<= ts`` and delivers, per row, our execution reports then the market
events. Instructions act at once on the state as of ``now_ns`` (no latency). Subscribers see the
book we would see: historical displayed size minus deficits, plus our own displayed orders,
with a Trade for every historical print and for each of our fills that history lacks.
"""

from __future__ import annotations

import bisect
import itertools
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from adapters.lobster._orders import FINAL, ReplayOrder, Reports, crosses
from adapters.lobster._view import BookView, Levels
from adapters.lobster.loader import (
    CANCEL,
    DELETE,
    EXECUTE,
    EXECUTE_HIDDEN,
    HALT,
    NEW,
    LobsterDay,
    halt_status,
    session_origin_ns,
    submission_rows,
)
from engine.events import (
    BookSnapshot,
    CancelOrder,
    ExecType,
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
    VenueEvent,
)
from engine.ports import MarketEventSink, VenueEventSink

__all__ = ["ReplayConfig", "ReplayVenue"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplayConfig:
    """How a :class:`ReplayVenue` is set up.

    Attributes
    ----------
    tick
        Price grid in price units; 100 (one cent) for the LOBSTER sample stocks.
    origin_ns
        Added to the day's nanoseconds after midnight to give venue time. ``None`` (default):
        epoch nanoseconds of exchange-local midnight (``loader.session_origin_ns``), so venue
        time is absolute; 0 makes venue time the file's own clock.
    start_ns
        Venue time at which the replay starts; rows up to it are applied silently (only their
        halts are kept). ``None`` (default): the first row's time.
    name
        Prefix of venue order, execution and trade ids.
    """

    tick: int = 100
    origin_ns: int | None = None
    start_ns: int | None = None
    name: str = "LOBSTER"


class ReplayVenue:
    """A LOBSTER day as a venue and a feed (see the module docstring and docs/replay.md)."""

    def __init__(self, day: LobsterDay, config: ReplayConfig | None = None) -> None:
        if len(day) == 0:
            raise ValueError("a replay needs at least one row")
        cfg = config or ReplayConfig()
        if cfg.tick <= 0:
            raise ValueError(f"tick must be > 0, got {cfg.tick}")
        self._day = day
        self.symbol = day.symbol
        self._cfg = cfg
        self._origin = session_origin_ns(day.date) if cfg.origin_ns is None else cfg.origin_ns
        # Python lists: the replay reads one row at a time, and list indexing beats numpy's.
        self._t = [self._origin + t for t in day.ts_ns.tolist()]
        self._type = day.event_type.tolist()
        self._size = day.size.tolist()
        self._price = day.price.tolist()
        self._side = [Side.BUY if d > 0 else Side.SELL for d in day.direction.tolist()]
        self._sub = submission_rows(day).tolist()
        # Top of the historical book per row: the feed's fast path when nothing of ours is in it.
        self._hist_top = list(
            zip(
                day.bid_px[:, 0].tolist(),
                day.bid_sz[:, 0].tolist(),
                day.ask_px[:, 0].tolist(),
                day.ask_sz[:, 0].tolist(),
                strict=True,
            )
        )
        self._book = BookView(day)
        self._end_ns = self._t[-1]
        self._state = TradingState.TRADING
        start = self._t[0] if cfg.start_ns is None else cfg.start_ns
        self._cursor = bisect.bisect_right(self._t, start)
        for r in range(self._cursor):
            if self._type[r] == HALT:
                self._state = TradingState.TRADING if self._price[r] == 1 else TradingState.HALTED
        self._book.row = self._cursor - 1
        self._clock = start
        self._orders: dict[str, ReplayOrder] = {}
        self._resting: list[ReplayOrder] = []
        self._venue_sink: VenueEventSink | None = None
        self._subs: list[MarketEventSink] = []
        self._top: tuple[int | None, int, int | None, int] | None = None
        self._outbox: deque[tuple[Callable[[Any], None], VenueEvent | MarketEvent]] = deque()
        self._flushing = False
        self._advancing = False
        self._prints: list[MarketEvent] = []
        self._seq = itertools.count(1)
        self._reports = Reports(cfg.name, day.symbol)
        self._order_ids = itertools.count(1)
        self._trade_ids = itertools.count(1)

    # --- clock ---------------------------------------------------------------------------------

    @property
    def now_ns(self) -> int:
        """Venue time of the last advance (the row being applied, inside a callback)."""
        return self._clock

    @property
    def next_event_ns(self) -> int | None:
        """Venue time of the next historical row (``None`` past the last): lets a driver
        interleave its own timers with the replay in time order."""
        return self._t[self._cursor] if self._cursor < len(self._t) else None

    @property
    def end_ns(self) -> int:
        """Venue time of the last historical row; orders after it are rejected."""
        return self._end_ns

    @property
    def trading_state(self) -> TradingState:
        return self._state

    def advance_to(self, ts_ns: int) -> None:
        """Apply every historical row with a time ``<= ts_ns`` and deliver what follows from it.

        Past the last row, resting orders expire. Raises ``ValueError`` if ``ts_ns`` is earlier
        than :attr:`now_ns`, and ``RuntimeError`` if called from inside one of our callbacks.
        """
        if self._advancing:
            raise RuntimeError("advance_to called from a callback of this replay")
        if ts_ns < self._clock:
            raise ValueError(f"time goes back: advance_to({ts_ns}) after {self._clock}")
        self._advancing = True
        try:
            t, n = self._t, len(self._t)
            while self._cursor < n and t[self._cursor] <= ts_ns:
                r = self._cursor
                self._cursor += 1
                self._clock = t[r]
                self._apply_row(r)
                self._flush()
            self._clock = ts_ns
            if ts_ns > self._end_ns and self._resting:
                for o in list(self._resting):
                    self._finish(o, OrdStatus.EXPIRED)
                    self._report(o, ExecType.EXPIRED, text="replay data ended")
                self._after_change()
            self._flush()
        finally:
            self._advancing = False

    # --- market-data port ----------------------------------------------------------------------

    def subscribe(self, symbol: str, sink: MarketEventSink) -> None:
        """Send ``sink`` a BookSnapshot now, then Quote/Trade/TradingStatus as the replay moves.

        Raises ``KeyError`` for a symbol other than the day's.
        """
        if symbol != self.symbol:
            raise KeyError(f"unknown symbol {symbol!r}; this replay is {self.symbol!r}")
        if sink not in self._subs:
            self._subs.append(sink)
        if self._top is None:
            self._top = self._current_top()
        bids, asks = self._published(Side.BUY), self._published(Side.SELL)
        snap = BookSnapshot(self.symbol, tuple(bids), tuple(asks), self._clock, self._clock)
        self._outbox.append((sink, snap))
        self._flush()

    def unsubscribe(self, symbol: str, sink: MarketEventSink) -> None:
        if sink in self._subs:
            self._subs.remove(sink)
        if not self._subs:
            self._top = None

    def snapshot(self) -> BookSnapshot:
        """The book a subscriber would be shown now."""
        bids, asks = self._published(Side.BUY), self._published(Side.SELL)
        return BookSnapshot(self.symbol, tuple(bids), tuple(asks), self._clock, self._clock)

    # --- venue port ----------------------------------------------------------------------------

    def connect(self, sink: VenueEventSink) -> None:
        self._venue_sink = sink

    def _arrive(self, ts_init: int) -> None:
        """Bring the venue's clock to an instruction's time. A driver fires its timers between
        historical rows, so an order can arrive seconds after the last row applied; its fills
        happen at its own time (stamped at the row's, they came before the order was sent and
        fell in a cap window the engine had already left). No row is skipped: the clock never
        passes the next one, and inside our own callbacks it is already the row's time."""
        nxt = self.next_event_ns
        if ts_init > self._clock and not self._advancing:
            self._clock = ts_init if nxt is None else min(ts_init, nxt)

    def submit(self, order: NewOrder) -> None:
        self._require_sink()
        self._arrive(order.ts_init)
        reason = self._check_new(order)
        if reason is not None:
            self._emit(self._reports.reject_new(order, reason, self._clock))
            return self._flush()
        o = ReplayOrder(
            order.cl_ord_id,
            f"{self._cfg.name}-{next(self._order_ids)}",
            order.side,
            order.order_type,
            order.tif,
            order.qty,
            order.price if order.order_type is OrderType.LIMIT else None,
            order.display_qty,
            history=[order.cl_ord_id],
        )
        self._orders[o.cl_ord_id] = o
        self._report(o, ExecType.NEW)
        self._walk(o)
        if o.leaves:
            if o.order_type is OrderType.MARKET or o.tif is TimeInForce.IOC:
                self._finish(o, OrdStatus.CANCELED)
                why = "market" if o.order_type is OrderType.MARKET else "IOC"
                self._report(o, ExecType.CANCELED, text=f"unfilled rest of a {why} order")
            else:
                self._rest(o)
        self._after_change()
        self._flush()

    def cancel(self, request: CancelOrder) -> None:
        self._require_sink()
        self._arrive(request.ts_init)
        o = self._orders.get(request.orig_cl_ord_id)
        if o is None:
            self._cancel_reject(request, None, "unknown order")
        elif o.status in FINAL:
            self._cancel_reject(request, o, f"too late to cancel: {o.status}")
        elif request.cl_ord_id in self._orders:
            self._cancel_reject(request, o, f"duplicate ClOrdID {request.cl_ord_id!r}")
        else:
            self._rekey(o, request.cl_ord_id)
            self._finish(o, OrdStatus.CANCELED)
            self._report(o, ExecType.CANCELED, orig=request.orig_cl_ord_id)
            self._after_change()
        self._flush()

    def replace(self, request: ReplaceOrder) -> None:
        """Change quantity (``qty`` = new total, FIX OrderQty) and/or price (``None`` = keep).

        Quantity down at the same price keeps the queue position; a price change or quantity up
        loses it. A new price that crosses the book trades at once, like a new order.
        """
        self._require_sink()
        self._arrive(request.ts_init)
        o = self._orders.get(request.orig_cl_ord_id)
        reason = self._check_replace(request, o)
        if reason is not None:
            self._cancel_reject(request, o, reason)
            return self._flush()
        assert o is not None  # _check_replace refuses unknown orders
        price = o.price if request.price is None else request.price
        keeps = price == o.price and request.qty <= o.order_qty
        self._rekey(o, request.cl_ord_id)
        o.order_qty, o.price = request.qty, price
        o.status = OrdStatus.PARTIALLY_FILLED if o.cum_qty else OrdStatus.NEW
        self._report(o, ExecType.REPLACED, orig=request.orig_cl_ord_id)
        if not keeps:
            self._resting.remove(o)
            self._walk(o)
            if o.leaves:
                self._rest(o)
        self._after_change()
        self._flush()

    def request_status(self, request: StatusRequest) -> None:
        self._require_sink()
        self._arrive(request.ts_init)
        o = self._orders.get(request.cl_ord_id)
        if o is not None:
            self._report(o, ExecType.ORDER_STATUS)
        else:
            self._emit(self._reports.unknown_status(request, self._clock))
        self._flush()

    # --- inspection (tests, reconciliation) ----------------------------------------------------

    def queue_ahead(self, cl_ord_id: str) -> int | None:
        """Displayed shares ahead of a resting order (``None`` if unknown or not resting)."""
        o = self._orders.get(cl_ord_id)
        return None if o is None or o not in self._resting else o.queue_ahead

    def deficit(self, side: Side, price: int) -> int:
        """Shares our orders took at a displayed ``side`` level that history still shows."""
        return self._book.deficit[side].get(price, 0)

    # --- instructions --------------------------------------------------------------------------

    def _require_sink(self) -> None:
        if self._venue_sink is None:
            raise RuntimeError("the replay venue has no sink: call connect() first")

    def _check_price(self, price: int) -> str | None:
        if price <= 0:
            return f"price must be > 0, got {price}"
        if price % self._cfg.tick:
            return f"price {price} is not on the tick grid of {self._cfg.tick}"
        return None

    def _check_open(self) -> str | None:
        if self._state is TradingState.HALTED:
            return "trading halted"
        if self._clock > self._end_ns:
            return f"replay data ended at {self._end_ns}"
        return None

    def _self_cross(
        self, side: Side, limit: int | None, skip: ReplayOrder | None = None
    ) -> str | None:
        # Self-trade prevention, cancel-newest: refuse what could trade with our own order.
        for r in self._resting:
            crossing = r.price is not None and crosses(side, limit, r.price)
            if crossing and r is not skip and r.side is not side:
                return f"self-trade: would cross our resting order {r.cl_ord_id!r}"
        return None

    def _check_new(self, order: NewOrder) -> str | None:
        if order.symbol != self.symbol:
            return f"unknown symbol {order.symbol!r}"
        if order.cl_ord_id in self._orders:
            return f"duplicate ClOrdID {order.cl_ord_id!r}"
        if (closed := self._check_open()) is not None:
            return closed
        if order.qty <= 0:
            return f"quantity must be > 0, got {order.qty}"
        if order.display_qty is not None and order.display_qty < 0:
            return f"display quantity must be >= 0, got {order.display_qty}"
        limit = None
        if order.order_type is OrderType.LIMIT:
            if order.price is None:
                return "a limit order needs a price"
            if (bad := self._check_price(order.price)) is not None:
                return bad
            limit = order.price
        return self._self_cross(order.side, limit)

    def _check_replace(self, req: ReplaceOrder, o: ReplayOrder | None) -> str | None:
        if o is None:
            return "unknown order"
        if o.status in FINAL:
            return f"too late to replace: {o.status}"
        if req.cl_ord_id in self._orders:
            return f"duplicate ClOrdID {req.cl_ord_id!r}"
        if (closed := self._check_open()) is not None:
            return closed
        if req.qty <= o.cum_qty:
            return f"new quantity {req.qty} is not above the {o.cum_qty} already filled"
        if req.price is not None and (bad := self._check_price(req.price)) is not None:
            return bad
        price = o.price if req.price is None else req.price
        return self._self_cross(o.side, price, skip=o)

    def _walk(self, o: ReplayOrder) -> None:
        """Take available displayed liquidity up to the order's limit, best level first."""
        opp = o.side.opposite
        for price, avail in self._book.available_levels(opp):
            if not crosses(o.side, o.price, price) or not o.leaves:
                break
            take = min(avail, o.leaves)
            self._book.take(opp, price, take)
            self._fill(o, take, price, Liquidity.REMOVED)
            self._print(price, take, o.side)

    def _rest(self, o: ReplayOrder) -> None:
        assert o.price is not None  # market orders never rest
        o.seq = next(self._seq)
        o.arrival = self._cursor
        o.queue_ahead = (
            self._book.available(o.side, o.price) if self._book.visible(o.side, o.price) else None
        )
        self._resting.append(o)

    # --- history -------------------------------------------------------------------------------

    def _apply_row(self, r: int) -> None:
        kind, side, price, size = self._type[r], self._side[r], self._price[r], self._size[r]
        book = self._book
        if kind == NEW:
            if book.deficit[side]:
                book.replenish(side, price, size)
        elif kind in (CANCEL, DELETE):
            # Only orders that arrived before ours (or predate the file) were ahead of us.
            ahead_of = self._sub[r]
            for o in self._resting:
                at_ours = o.side is side and o.price == price and o.queue_ahead is not None
                if at_ours and ahead_of < o.arrival:
                    o.queue_ahead = max(0, (o.queue_ahead or 0) - size)
        elif kind in (EXECUTE, EXECUTE_HIDDEN):
            self._print(price, size, side.opposite, trade_id=f"{self.symbol}-{r}")
            if self._resting:
                self._execution(side, price, size, hidden=kind == EXECUTE_HIDDEN)
        elif kind == HALT:
            status = halt_status(self.symbol, price, self._clock, self._clock)
            self._state = status.state
            self._prints.append(status)
        book.row = r
        if self._resting or book.has_deficits():
            self._reconcile()
        self._after_change()

    def _execution(self, side: Side, price: int, size: int, *, hidden: bool) -> None:
        """A historical order on ``side`` executed ``size`` at ``price``: who of ours goes first.

        Our orders on that side at a price at least as good for the aggressor (strictly better
        for a hidden execution) are filled in priority order. Within one price, the execution
        first consumes the historical shares ahead of each order, then the order itself.
        """
        better = (lambda p: p > price) if side is Side.BUY else (lambda p: p < price)
        eligible = [
            o
            for o in self._resting
            if o.side is side
            and o.queue_ahead is not None
            and o.price is not None
            and (better(o.price) or (o.price == price and not hidden))
        ]
        if not eligible:
            return
        sign = -1 if side is Side.BUY else 1
        eligible.sort(key=lambda o: (sign * (o.price or 0), o.seq))
        left = size
        for _, grp in itertools.groupby(eligible, key=lambda o: o.price):
            group = list(grp)
            consumed = 0  # historical shares at this price taken by the execution
            for o in group:
                need = max(0, (o.queue_ahead or 0) - consumed)
                step = min(left, need)
                left -= step
                consumed += step
                qty = min(left, o.leaves)
                if qty:
                    left -= qty
                    self._fill(o, qty, o.price or 0, Liquidity.ADDED)
            for o in group:
                o.queue_ahead = max(0, (o.queue_ahead or 0) - consumed)
            if not left:
                break

    def _reconcile(self) -> None:
        """After a row: clamp deficits and queues to the book, then let crossing liquidity in."""
        book = self._book
        book.clamp()
        for o in self._resting:
            if o.price is None or not book.visible(o.side, o.price):
                continue
            avail = book.available(o.side, o.price)
            o.queue_ahead = avail if o.queue_ahead is None else min(o.queue_ahead, avail)
        for side in (Side.BUY, Side.SELL):
            mine = sorted(
                (o for o in self._resting if o.side is side),
                key=lambda o: ((-1 if side is Side.BUY else 1) * (o.price or 0), o.seq),
            )
            for o in mine:
                for price, avail in book.available_levels(side.opposite):
                    if not crosses(side, o.price, price) or not o.leaves:
                        break
                    # Liquidity arriving at or through our resting price trades with us there.
                    take = min(avail, o.leaves)
                    book.take(side.opposite, price, take)
                    o.queue_ahead = 0
                    self._fill(o, take, o.price or 0, Liquidity.ADDED)
                    self._print(o.price or 0, take, side.opposite)

    # --- reports -------------------------------------------------------------------------------

    def _fill(self, o: ReplayOrder, qty: int, price: int, liquidity: Liquidity) -> None:
        o.cum_qty += qty
        o.notional += qty * price
        if o.cum_qty >= o.order_qty:
            self._finish(o, OrdStatus.FILLED)
        else:
            o.status = OrdStatus.PARTIALLY_FILLED
        self._report(o, ExecType.TRADE, last_qty=qty, last_price=price, liquidity=liquidity)

    def _finish(self, o: ReplayOrder, status: OrdStatus) -> None:
        o.status = status
        if o in self._resting:
            self._resting.remove(o)

    def _rekey(self, o: ReplayOrder, new_id: str) -> None:
        # Earlier ClOrdIDs keep resolving, so a late status request or cancel still finds it.
        self._orders[new_id] = o
        o.cl_ord_id = new_id
        o.history.append(new_id)

    def _report(self, o: ReplayOrder, exec_type: ExecType, **kw: Any) -> None:
        self._emit(self._reports.report(o, exec_type, self._clock, **kw))

    def _cancel_reject(
        self, req: CancelOrder | ReplaceOrder, o: ReplayOrder | None, reason: str
    ) -> None:
        self._emit(self._reports.cancel_reject(req, o, reason, self._clock))

    # --- market data ---------------------------------------------------------------------------

    def _print(self, price: int, size: int, aggressor: Side, trade_id: str | None = None) -> None:
        if self._subs:
            tid = trade_id or f"{self._cfg.name}-T{next(self._trade_ids)}"
            self._prints.append(
                Trade(self.symbol, price, size, aggressor, tid, self._clock, self._clock)
            )

    def _published(self, side: Side) -> Levels:
        """Depth we would see: available historical size plus our own displayed orders."""
        levels = dict(self._book.available_levels(side))
        for o in self._resting:
            if o.side is side and o.price is not None and o.shown:
                levels[o.price] = levels.get(o.price, 0) + o.shown
        return sorted(levels.items(), reverse=side is Side.BUY)

    def _best(self, side: Side) -> tuple[int | None, int]:
        avail = self._book.available_levels(side)
        prices = [avail[0][0]] if avail else []
        prices += [o.price for o in self._resting if o.side is side and o.price and o.shown]
        if not prices:
            return None, 0
        best = max(prices) if side is Side.BUY else min(prices)
        mine = sum(o.shown for o in self._resting if o.side is side and o.price == best)
        return best, self._book.available(side, best) + mine

    def _current_top(self) -> tuple[int | None, int, int | None, int]:
        if not self._resting and not self._book.has_deficits():
            r = self._book.row
            if r < 0:
                return None, 0, None, 0
            bp, bs, ap, az = self._hist_top[r]
            return (bp if bs else None), bs, (ap if az else None), az
        bid, bid_size = self._best(Side.BUY)
        ask, ask_size = self._best(Side.SELL)
        return bid, bid_size, ask, ask_size

    def _after_change(self) -> None:
        """Publish this step's prints and, if the top of book moved, a Quote."""
        if not self._subs:
            self._prints.clear()
            return
        events, self._prints = self._prints, []
        top = self._current_top()
        if top != self._top:
            self._top = top
            t = self._clock
            events.append(Quote(self.symbol, top[0], top[1], top[2], top[3], t, t))
        for e in events:
            for sink in self._subs:
                self._outbox.append((sink, e))

    def _emit(self, event: VenueEvent) -> None:
        assert self._venue_sink is not None  # orders exist only after connect()
        self._outbox.append((self._venue_sink, event))

    def _flush(self) -> None:
        # One delivery loop: an instruction sent from inside a callback queues its events
        # behind the ones being delivered, so every sink sees events in venue order.
        if self._flushing:
            return
        self._flushing = True
        try:
            while self._outbox:
                sink, event = self._outbox.popleft()
                if sink is self._venue_sink or sink in self._subs:
                    sink(event)
        finally:
            self._flushing = False
