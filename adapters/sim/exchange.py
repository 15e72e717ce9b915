"""An exchange: order books per symbol, FIX-like order handling per session, market data out.

Pure and synchronous. Time comes from an injected ``now`` callable (simulated or wall clock).
Instructions are processed when called: latency, when wanted, is the caller's (the simulator
delays delivery on its event queue; the FIX simulator receives at wire time).

Order handling follows FIX 4.4 semantics (one :class:`~engine.events.ExecutionReport` shape):

* ``submit`` -> ``NEW`` (or ``REJECTED`` with a reason), then a ``TRADE`` per fill, then
  ``CANCELED`` for an IOC/market rest or a self-trade-prevented rest;
* ``cancel`` -> ``CANCELED`` on the new ClOrdID, or a :class:`CancelReject` (unknown order, too
  late to cancel);
* ``replace`` -> ``REPLACED`` on the new ClOrdID (``qty`` is the new total order quantity, as
  FIX OrderQty; quantity down at the same price keeps priority), then fills if it now crosses;
  refused with a CancelReject when the new quantity is not above what has already filled;
* ``request_status`` -> ``ORDER_STATUS`` (``REJECTED`` with "unknown order" if unknown).

Market data to subscribers after every change: ``Trade`` per fill (with aggressor side),
``BookUpdate`` per displayed level changed, and ``Quote`` when the top of book changed. A new
subscriber first receives a ``BookSnapshot``.

Anonymous flow (the simulator's background traders and adversaries) enters through
:meth:`Exchange.add_order` / :meth:`Exchange.cancel_order` with a plain owner name, and gets
no execution reports: those agents read the book directly.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

from adapters.sim.book import AddResult, Fill, OrderBook
from engine.events import (
    BookSnapshot,
    BookUpdate,
    CancelOrder,
    CancelReject,
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
    TradingStatus,
    VenueEvent,
    order_report,
    rejected_new_order,
    unknown_order_status,
)

__all__ = ["Exchange", "ExchangeSession", "Instrument"]

FINAL = frozenset({OrdStatus.FILLED, OrdStatus.CANCELED, OrdStatus.REJECTED, OrdStatus.EXPIRED})
MarketSink = Callable[[MarketEvent], None]
VenueSink = Callable[[VenueEvent], None]


@dataclass(frozen=True, slots=True)
class Instrument:
    symbol: str
    tick: int = 100  # price units: 100 = one cent
    lot: int = 1


@dataclass(slots=True)
class _Order:
    owner: str
    cl_ord_id: str
    venue_order_id: str
    book_id: int
    symbol: str
    side: Side
    order_qty: int
    price: int | None
    cum_qty: int = 0
    notional: int = 0  # sum of last_qty * last_price, for avg_price
    status: OrdStatus = OrdStatus.PENDING_NEW
    history: list[str] = field(default_factory=list)  # every ClOrdID this order has had

    @property
    def leaves(self) -> int:
        return 0 if self.status in FINAL else self.order_qty - self.cum_qty

    @property
    def avg_price(self) -> float:
        return self.notional / self.cum_qty if self.cum_qty else 0.0


class ExchangeSession:
    """One participant's venue port on an :class:`Exchange`."""

    def __init__(self, exchange: Exchange, owner: str) -> None:
        self._x = exchange
        self.owner = owner
        self._sink: VenueSink | None = None

    def connect(self, sink: VenueSink) -> None:
        self._sink = sink

    def _emit(self, event: VenueEvent) -> None:
        if self._sink is None:
            raise RuntimeError(f"session {self.owner!r} has no sink: call connect() first")
        self._sink(event)

    def submit(self, order: NewOrder) -> None:
        self._x._submit(self, order)

    def cancel(self, request: CancelOrder) -> None:
        self._x._cancel(self, request)

    def replace(self, request: ReplaceOrder) -> None:
        self._x._replace(self, request)

    def request_status(self, request: StatusRequest) -> None:
        self._x._status(self, request)


class Exchange:
    """Books, sessions and market data for a set of instruments (see the module docstring)."""

    def __init__(
        self, instruments: list[Instrument], now: Callable[[], int], *, name: str = "SIM"
    ) -> None:
        self.books = {i.symbol: OrderBook(i.symbol, tick=i.tick, lot=i.lot) for i in instruments}
        self._now = now
        self._name = name
        self._sessions: dict[str, ExchangeSession] = {}
        self._orders: dict[tuple[str, str], _Order] = {}  # (owner, ClOrdID) -> order
        self._by_book: dict[tuple[str, int], _Order] = {}  # (symbol, book id) -> order
        self._subs: dict[str, list[MarketSink]] = {s: [] for s in self.books}
        self._top: dict[str, tuple] = {s: (None, None) for s in self.books}
        self._state = dict.fromkeys(self.books, TradingState.TRADING)
        self._exec_ids = itertools.count(1)
        self._trade_ids = itertools.count(1)
        self.trade_listeners: list[Callable[[str, Fill, int], None]] = []
        # While one matching step's fills are being reported: how many of them are still to
        # be (a fill's reports go out before the next fill's). An observer reading it as a
        # report leaves knows whether a burst of fills is under way (the crash tests).
        self.fills_to_report = 0

    # --- ports --------------------------------------------------------------------------------

    def session(self, owner: str) -> ExchangeSession:
        """Return the venue port for ``owner`` (created on first use)."""
        s = self._sessions.get(owner)
        if s is None:
            s = self._sessions[owner] = ExchangeSession(self, owner)
        return s

    def subscribe(self, symbol: str, sink: MarketSink) -> None:
        if symbol not in self.books:
            raise KeyError(f"unknown symbol {symbol!r}; this exchange lists {sorted(self.books)}")
        self._subs[symbol].append(sink)
        book, now = self.books[symbol], self._now()
        sink(BookSnapshot(symbol, book.depth(Side.BUY, 50), book.depth(Side.SELL, 50), now, now))

    def unsubscribe(self, symbol: str, sink: MarketSink) -> None:
        subs = self._subs.get(symbol, [])
        if sink in subs:
            subs.remove(sink)

    def trading_state(self, symbol: str) -> TradingState:
        return self._state[symbol]

    def set_trading_state(self, symbol: str, state: TradingState, reason: str = "") -> None:
        """Halt or resume a symbol. While halted, new orders and replaces are rejected."""
        if self._state[symbol] is state:
            return
        self._state[symbol] = state
        now = self._now()
        self._publish(symbol, [TradingStatus(symbol, state, reason, now, now)])

    # --- anonymous flow -----------------------------------------------------------------------

    def add_order(
        self,
        symbol: str,
        side: Side,
        qty: int,
        *,
        price: int | None = None,
        order_type: OrderType = OrderType.LIMIT,
        tif: TimeInForce = TimeInForce.DAY,
        display: int | None = None,
        owner: str | None = None,
    ) -> AddResult:
        """Enter an order for a background agent; fills against sessions are reported to them."""
        if self._state[symbol] is TradingState.HALTED:
            return AddResult(order_id=0, reject_reason="trading halted")
        r = self.books[symbol].add(
            side, qty, price=price, order_type=order_type, tif=tif, display=display, owner=owner
        )
        self._after(symbol, r.fills, aggressor=None)
        return r

    def cancel_order(self, symbol: str, order_id: int) -> int:
        n = self.books[symbol].cancel(order_id)
        if n:
            self._after(symbol, (), aggressor=None)
        return n

    def order_state(self, owner: str, cl_ord_id: str) -> _Order | None:
        """The exchange's view of a session order (for tests and reconciliation checks)."""
        return self._orders.get((owner, cl_ord_id))

    # --- session order handling ---------------------------------------------------------------

    def _report(
        self,
        s: ExchangeSession,
        o: _Order,
        exec_type: ExecType,
        *,
        last_qty: int = 0,
        last_price: int | None = None,
        orig: str | None = None,
        text: str = "",
        liquidity: Liquidity | None = None,
    ) -> None:
        s._emit(
            order_report(
                o,
                exec_type,
                exec_id=self._new_exec_id(),
                symbol=o.symbol,
                ts=self._now(),
                last_qty=last_qty,
                last_price=last_price,
                orig=orig,
                text=text,
                liquidity=liquidity,
            )
        )

    def _reject_new(self, s: ExchangeSession, order: NewOrder, reason: str) -> None:
        s._emit(
            rejected_new_order(order, exec_id=self._new_exec_id(), reason=reason, ts=self._now())
        )

    def _new_exec_id(self) -> str:
        return f"{self._name}-E{next(self._exec_ids)}"

    def _submit(self, s: ExchangeSession, order: NewOrder) -> None:
        book = self.books.get(order.symbol)
        if book is None:
            return self._reject_new(s, order, f"unknown symbol {order.symbol!r}")
        if (s.owner, order.cl_ord_id) in self._orders:
            return self._reject_new(s, order, f"duplicate ClOrdID {order.cl_ord_id!r}")
        if self._state[order.symbol] is TradingState.HALTED:
            return self._reject_new(s, order, "trading halted")
        if order.order_type is OrderType.LIMIT and order.price is None:
            return self._reject_new(s, order, "a limit order needs a price")
        book_id = book.new_order_id()
        o = _Order(
            s.owner,
            order.cl_ord_id,
            f"{order.symbol}-{book_id}",
            book_id,
            order.symbol,
            order.side,
            order.qty,
            order.price,
            history=[order.cl_ord_id],
        )
        # Check the grid before acknowledging: a rejected order is never NEW.
        reason = book.validate(order.qty, order.price, order.order_type, order.display_qty)
        if reason is not None:
            return self._reject_new(s, order, reason)
        self._orders[(s.owner, order.cl_ord_id)] = o
        self._by_book[(order.symbol, book_id)] = o
        o.status = OrdStatus.NEW
        self._report(s, o, ExecType.NEW)
        r = book.add(
            order.side,
            order.qty,
            price=order.price,
            order_type=order.order_type,
            tif=order.tif,
            display=order.display_qty,
            owner=s.owner,
            order_id=book_id,
        )
        self._after(order.symbol, r.fills, aggressor=o)
        if r.canceled:
            o.status = OrdStatus.CANCELED
            why = (
                "self-trade prevented"
                if r.self_trade_prevented
                else ("unfilled rest of an IOC/market order")
            )
            self._report(s, o, ExecType.CANCELED, text=why)
            self._forget(o)

    def _find(self, s: ExchangeSession, cl_ord_id: str) -> _Order | None:
        return self._orders.get((s.owner, cl_ord_id))

    def _cancel_reject(
        self,
        s: ExchangeSession,
        req: CancelOrder | ReplaceOrder,
        o: _Order | None,
        what: str,
        reason: str,
    ) -> None:
        now = self._now()
        s._emit(
            CancelReject(
                req.cl_ord_id,
                req.orig_cl_ord_id,
                None if o is None else o.venue_order_id,
                None if o is None else o.status,
                what,
                reason,
                now,
                now,
            )
        )

    def _cancel(self, s: ExchangeSession, req: CancelOrder) -> None:
        o = self._find(s, req.orig_cl_ord_id)
        if o is None:
            return self._cancel_reject(s, req, None, "cancel", "unknown order")
        if o.status in FINAL:
            return self._cancel_reject(s, req, o, "cancel", f"too late to cancel: {o.status}")
        if (s.owner, req.cl_ord_id) in self._orders:
            return self._cancel_reject(s, req, o, "cancel", "duplicate ClOrdID")
        self.books[o.symbol].cancel(o.book_id)
        self._rekey(o, req.cl_ord_id)
        o.status = OrdStatus.CANCELED
        self._report(s, o, ExecType.CANCELED, orig=req.orig_cl_ord_id)
        self._forget(o)
        self._after(o.symbol, (), aggressor=None)

    def _replace(self, s: ExchangeSession, req: ReplaceOrder) -> None:
        o = self._find(s, req.orig_cl_ord_id)
        if o is None:
            return self._cancel_reject(s, req, None, "replace", "unknown order")
        if o.status in FINAL:
            return self._cancel_reject(s, req, o, "replace", f"too late to replace: {o.status}")
        if self._state[o.symbol] is TradingState.HALTED:
            return self._cancel_reject(s, req, o, "replace", "trading halted")
        if (s.owner, req.cl_ord_id) in self._orders:
            return self._cancel_reject(s, req, o, "replace", "duplicate ClOrdID")
        if req.qty <= o.cum_qty:
            return self._cancel_reject(
                s,
                req,
                o,
                "replace",
                f"new quantity {req.qty} is not above the {o.cum_qty} already filled",
            )
        book = self.books[o.symbol]
        price = o.price if req.price is None else req.price
        reason = book.validate(req.qty - o.cum_qty, price, OrderType.LIMIT, None)
        if reason is not None:
            return self._cancel_reject(s, req, o, "replace", reason)
        r = book.replace(o.book_id, req.qty - o.cum_qty, price)
        if r.reject_reason is not None:
            return self._cancel_reject(s, req, o, "replace", r.reject_reason)
        self._rekey(o, req.cl_ord_id)
        o.order_qty, o.price = req.qty, price
        o.status = OrdStatus.PARTIALLY_FILLED if o.cum_qty else OrdStatus.NEW
        self._report(s, o, ExecType.REPLACED, orig=req.orig_cl_ord_id)
        self._after(o.symbol, r.fills, aggressor=o)
        if r.canceled:
            o.status = OrdStatus.CANCELED
            self._report(s, o, ExecType.CANCELED, text="self-trade prevented")
            self._forget(o)

    def _status(self, s: ExchangeSession, req: StatusRequest) -> None:
        o = self._find(s, req.cl_ord_id)
        if o is None:
            s._emit(unknown_order_status(req, exec_id=self._new_exec_id(), ts=self._now()))
            return
        # Under its latest ClOrdID, with the one before as OrigClOrdID (41), as FIX reports an
        # order that was cancelled or replaced: an asker who lost track of the cancel (a
        # restart) still knows which order it is.
        orig = o.history[-2] if len(o.history) > 1 else None
        self._report(s, o, ExecType.ORDER_STATUS, orig=orig)

    def _rekey(self, o: _Order, new_id: str) -> None:
        # Old ClOrdIDs keep pointing at the order, so a late status request still resolves.
        self._orders[(o.owner, new_id)] = o
        o.cl_ord_id = new_id
        o.history.append(new_id)

    def _forget(self, o: _Order) -> None:
        self._by_book.pop((o.symbol, o.book_id), None)

    # --- fills and market data ----------------------------------------------------------------

    def _fill(self, o: _Order, qty: int, price: int, liquidity: Liquidity) -> None:
        o.cum_qty += qty
        o.notional += qty * price
        o.status = OrdStatus.FILLED if o.cum_qty >= o.order_qty else OrdStatus.PARTIALLY_FILLED
        self._report(
            self._sessions[o.owner],
            o,
            ExecType.TRADE,
            last_qty=qty,
            last_price=price,
            liquidity=liquidity,
        )
        if o.status is OrdStatus.FILLED:
            self._forget(o)

    def _after(
        self, symbol: str, fills: tuple[Fill, ...] | list[Fill], aggressor: _Order | None
    ) -> None:
        now = self._now()
        events: list[MarketEvent] = []
        for i, f in enumerate(fills):
            self.fills_to_report = len(fills) - i - 1
            passive = self._by_book.get((symbol, f.passive_id))
            if passive is not None:
                self._fill(passive, f.qty, f.price, Liquidity.ADDED)
            if aggressor is not None:
                self._fill(aggressor, f.qty, f.price, Liquidity.REMOVED)
            events.append(
                Trade(
                    symbol,
                    f.price,
                    f.qty,
                    f.aggressor_side,
                    f"{self._name}-T{next(self._trade_ids)}",
                    now,
                    now,
                )
            )
            for listener in self.trade_listeners:
                listener(symbol, f, now)
        self.fills_to_report = 0
        book = self.books[symbol]
        touched = book.touched()
        if not self._subs[symbol]:
            return
        for side, price, size in touched:
            events.append(BookUpdate(symbol, side, price, size, now, now))
        bid, ask = book.best(Side.BUY), book.best(Side.SELL)
        if (bid, ask) != self._top[symbol]:
            self._top[symbol] = (bid, ask)
            events.append(
                Quote(
                    symbol,
                    bid[0] if bid else None,
                    bid[1] if bid else 0,
                    ask[0] if ask else None,
                    ask[1] if ask else 0,
                    now,
                    now,
                )
            )
        self._publish(symbol, events)

    def _publish(self, symbol: str, events: list[MarketEvent]) -> None:
        for sink in list(self._subs[symbol]):
            for e in events:
                sink(e)
