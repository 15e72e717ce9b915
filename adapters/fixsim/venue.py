"""The FIX venue core: FIX messages in, FIX messages out, over a market in simulated time.

Sans-I/O and single-threaded. :class:`FixVenue` never touches a socket or a QuickFIX engine:
it receives decoded-ready ``quickfix.Message`` copies and session events from its caller (the
asyncio shell in :mod:`.server`, on the loop thread) and sends through a :class:`Transport`
(QuickFIX ``sendToTarget`` in the shell; a list in unit tests). Because every call arrives on
one thread, the exchange, the market and the fault injector need no locks.

Each FIX session is one exchange session (owner = the QuickFIX session id, e.g.
``FIX.4.4:SIM->CLIENT1``). Instructions go straight to the exchange at the market's current
simulated time; the exchange's reports come back synchronously, pass through the
:class:`~.faults.FaultInjector` and are encoded in the session's dialect.

Market data: the venue subscribes once per symbol to the exchange and fans out to FIX
subscriptions. Within one entry point (a message, a time step) events are batched: trades in
order, then the displayed levels that changed, computed by diffing each subscription's last
published view (top ``MarketDepth`` levels, or the whole book) against the book now, so
levels that move in or out of a limited depth are published as new/delete. Anything that
changes the book outside an entry point (a test adding liquidity) is published at once.

Timestamps on the wire are the market's simulated time plus ``wire_origin_ns`` (the
simulated clock of :mod:`adapters.sim` counts from midnight; the origin puts it on a date).

Given a :class:`VenueRecord`, the venue keeps the truth a client's record is checked against
(:mod:`engine.invariants`): every report as the exchange made it, before any delivery fault,
every print and when each order arrived, all on the wire's clock.

Given a :class:`VenueObserver`, the venue tells it, synchronously and on its own thread, when
a new order arrives (before the exchange has seen it) and when each ExecutionReport has gone
out: a test's hook to act at exact moments of the venue's traffic (the crash tests kill an
engine process there, tests/e2e/test_crash_restart.py). It changes nothing the venue does.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Protocol

import quickfix as fix

from adapters.fix.codec import (
    BusinessReject,
    decode_cancel,
    decode_new_order,
    decode_replace,
    decode_status_request,
    encode_business_reject,
    encode_cancel_reject,
    encode_execution_report,
    reject_cancel_message,
    reject_order_message,
)
from adapters.fix.mdcodec import (
    REJ_DUPLICATE_ID,
    REJ_UNKNOWN_SYMBOL,
    LevelChange,
    MarketDataReject,
    MDEntryType,
    SubscriptionType,
    UpdateAction,
    decode_md_request,
    encode_incremental,
    encode_md_reject,
    encode_security_status,
    encode_snapshot,
)
from adapters.fix.wire import FixDecodeError, FixVersion, get_field, msg_type
from adapters.fixsim.faults import (
    FaultAction,
    FaultConfig,
    FaultInjector,
    FaultSchedule,
    FaultStats,
    Outbound,
    ScheduledAction,
)
from adapters.fixsim.metrics import VenueCounts
from adapters.sim.exchange import Exchange, ExchangeSession
from engine.events import (
    BookSnapshot,
    BookUpdate,
    ExecType,
    ExecutionReport,
    MarketEvent,
    NewOrder,
    Side,
    Trade,
    TradingState,
    TradingStatus,
    VenueEvent,
    rejected_new_order,
)

__all__ = [
    "SUPPORTED_MSG_TYPES",
    "DrivenMarket",
    "FixVenue",
    "Transport",
    "VenueObserver",
    "VenueRecord",
]

log = logging.getLogger("unwind.fixsim")

SUPPORTED_MSG_TYPES = frozenset({"D", "F", "G", "H", "V"})
_FULL_BOOK = 1_000_000  # "MarketDepth 0": every displayed level
View = tuple[tuple[tuple[int, int], ...], tuple[tuple[int, int], ...]]


class DrivenMarket(Protocol):
    """A market in simulated time (``adapters.sim.market.MarketSimulator`` or a test stand-in)."""

    @property
    def exchange(self) -> Exchange: ...

    @property
    def now_ns(self) -> int: ...

    @property
    def start_ns(self) -> int: ...

    @property
    def end_ns(self) -> int: ...

    def advance_to(self, ts_ns: int) -> None: ...


class Transport(Protocol):
    """Where the venue's FIX messages go (QuickFIX in the server, a recorder in tests)."""

    def send(self, session: str, message: fix.Message, *, possdup: bool = False) -> None: ...

    def disconnect(self, session: str) -> None: ...


class VenueObserver(Protocol):
    """Told of the venue's traffic as it happens (module docstring). Calls come on the venue's
    thread, inside its handling: an observer must not raise, and whatever it does (block,
    kill a client process) happens exactly between the two steps named."""

    def new_order(self, session: str, order: NewOrder) -> None:
        """A NewOrderSingle from ``session`` decoded; the exchange has not seen it (no ack)."""
        ...

    def report_sent(self, session: str, report: ExecutionReport, fills_to_come: int) -> None:
        """``report`` has just been handed to ``session``'s transport. ``fills_to_come``: fills
        of the exchange's current matching step still to be reported (> 0: inside a burst;
        a fill's reports, the passive side's first, go out before the next fill's)."""
        ...


@dataclass(slots=True)
class VenueRecord:
    """What the venue did, before any fault touched its delivery, with wire timestamps (the
    market's simulated time plus the wire origin: the clock a client's engine runs on).

    ``reports``: every ExecutionReport the exchange made (and each fault-injected reject), on
    every session, in the order made. ``tape``: every print as ``(ts, size)``, ours included.
    ``arrivals``: when each new order reached the venue, by ClOrdID (the first arrival).
    """

    reports: list[ExecutionReport] = field(default_factory=list)
    tape: list[tuple[int, int]] = field(default_factory=list)
    arrivals: dict[str, int] = field(default_factory=dict)


@dataclass(slots=True)
class _Subscription:
    session: str
    md_req_id: str
    symbols: tuple[str, ...]
    depth: int
    types: frozenset[MDEntryType]
    views: dict[str, View] = field(default_factory=dict)

    @property
    def wants_book(self) -> bool:
        return MDEntryType.BID in self.types or MDEntryType.OFFER in self.types


@dataclass(slots=True)
class _Session:
    key: str
    version: FixVersion
    port: ExchangeSession
    logged_on: bool = False
    subs: dict[str, _Subscription] = field(default_factory=dict)


class FixVenue:
    """A FIX venue in front of a :class:`DrivenMarket` (see the module docstring)."""

    def __init__(
        self,
        market: DrivenMarket,
        transport: Transport,
        *,
        faults: FaultConfig | None = None,
        wire_origin_ns: int = 0,
        name: str = "FIXSIM",
        record: VenueRecord | None = None,
        counts: VenueCounts | None = None,
        observer: VenueObserver | None = None,
    ) -> None:
        self.market = market
        self.record = record
        # Totals for the simulator's /metrics; owned by the server so they outlive this venue.
        self.counts = counts if counts is not None else VenueCounts()
        self.observer = observer
        self.faults = FaultInjector(faults or FaultConfig())
        self._x = market.exchange
        self._transport = transport
        self._origin = wire_origin_ns
        self._name = name
        self._symbols = sorted(self._x.books)
        self._schedule = FaultSchedule(self.faults.config, self._symbols, market.now_ns)
        self._sessions: dict[str, _Session] = {}
        self._subs: dict[str, list[_Subscription]] = {s: [] for s in self._symbols}
        self._ids = itertools.count(1)
        self._batch = 0
        self._dirty: set[str] = set()
        self._trades: dict[str, list[Trade]] = {}
        self._statuses: list[TradingStatus] = []
        self._halted_by_us: set[str] = set()
        self._status_req_id: str | None = None
        self.errors: list[str] = []
        self._sinks: dict[str, Callable[[MarketEvent], None]] = {}
        for symbol in self._symbols:
            sink = self._sinks[symbol] = partial(self._on_market, symbol)
            self._x.subscribe(symbol, sink)

    # --- sessions ------------------------------------------------------------------------------

    def add_session(self, key: str, version: FixVersion, *, logged_on: bool = False) -> None:
        """Declare a FIX session (from the acceptor's settings) and its exchange session."""
        port = self._x.session(key)
        port.connect(partial(self._on_venue_event, key))
        self._sessions[key] = _Session(key, version, port, logged_on)

    @property
    def logged_on(self) -> frozenset[str]:
        return frozenset(k for k, s in self._sessions.items() if s.logged_on)

    @property
    def stats(self) -> FaultStats:
        return self.faults.stats

    def on_logon(self, key: str) -> None:
        self._session(key).logged_on = True

    def on_logout(self, key: str) -> None:
        """The session ended: its market data stops (orders stay live, as on most venues)."""
        s = self._session(key)
        s.logged_on = False
        for sub in s.subs.values():
            self._unregister(sub)
        s.subs.clear()

    def close(self) -> None:
        """Stop listening to the exchange and deliver whatever faults still hold."""
        self.drain()
        for symbol, sink in self._sinks.items():
            self._x.unsubscribe(symbol, sink)

    def drain(self) -> None:
        """Send everything held or delayed now (at shutdown: no fill is ever lost)."""
        for out in self.faults.drain():
            self._send(out)

    # --- inbound -------------------------------------------------------------------------------

    def on_message(self, key: str, msg: fix.Message) -> None:
        """Handle one application message from session ``key``."""
        s = self._session(key)
        kind = msg_type(msg)
        handler = {
            "D": self._on_new_order,
            "F": self._on_cancel,
            "G": self._on_replace,
            "H": self._on_status,
            "V": self._on_md_request,
        }.get(kind)
        with self._batching():
            if handler is None:
                self._business_reject(s, msg, f"MsgType {kind!r} is not supported", code=3)
                return
            try:
                handler(s, msg)
            except Exception as exc:  # a bug must not take the session down: say so, go on
                log.exception("fixsim: error handling %s from %s", kind, key)
                self.errors.append(f"{kind} from {key}: {exc!r}")
                self._business_reject(s, msg, f"internal error: {exc}", code=0)

    def advance(self, to_ns: int) -> None:
        """Advance the market to ``to_ns``, firing fault timers at their simulated times."""
        with self._batching():
            while True:
                deadlines = [self.faults.next_deadline(), self._schedule.next_time(), to_ns]
                t = min(d for d in deadlines if d is not None)
                if t > self.market.now_ns:
                    self.market.advance_to(t)
                now = max(self.market.now_ns, t)
                for out in self.faults.due(now):
                    self._send(out)
                for action in self._schedule.pop_due(now):
                    self._apply(action)
                if t >= to_ns:
                    return

    # --- orders ---------------------------------------------------------------------------------

    def _on_new_order(self, s: _Session, msg: fix.Message) -> None:
        now = self.market.now_ns
        try:
            order = decode_new_order(msg, now)
        except FixDecodeError as e:
            reply = reject_order_message(
                msg,
                s.version,
                exec_id=self._exec_id(),
                reason=e.reason,
                ts_ns=now + self._origin,
                code=e.code,
            )
            self._transport.send(s.key, reply)
            return
        if self.record is not None:
            self.record.arrivals.setdefault(order.cl_ord_id, now + self._origin)
        self.counts.orders[order.symbol] += 1
        if self.observer is not None:
            self.observer.new_order(s.key, order)
        reason = self.faults.new_order_reject()
        if reason is not None:
            self._on_venue_event(s.key, self._rejected(order, reason))
            return
        s.port.submit(order)

    def _on_cancel(self, s: _Session, msg: fix.Message) -> None:
        self._cancel_or_replace(s, msg, decode_cancel, s.port.cancel)

    def _on_replace(self, s: _Session, msg: fix.Message) -> None:
        self._cancel_or_replace(s, msg, decode_replace, s.port.replace)

    def _cancel_or_replace(
        self, s: _Session, msg: fix.Message, decode: Callable, act: Callable
    ) -> None:
        now = self.market.now_ns
        try:
            request = decode(msg, now)
        except FixDecodeError as e:
            reply = reject_cancel_message(msg, s.version, reason=e.reason, ts_ns=now + self._origin)
            self._transport.send(s.key, reply)
            return
        act(request)

    def _on_status(self, s: _Session, msg: fix.Message) -> None:
        try:
            request = decode_status_request(msg, self.market.now_ns)
        except FixDecodeError as e:
            self._business_reject(s, msg, e.reason, code=0)
            return
        # The exchange answers synchronously; the id rides along with that answer.
        self._status_req_id = get_field(msg, 790)
        try:
            s.port.request_status(request)
        finally:
            self._status_req_id = None

    def _rejected(self, order: NewOrder, reason: str) -> ExecutionReport:
        return rejected_new_order(
            order, exec_id=self._exec_id(), reason=reason, ts=self.market.now_ns
        )

    def _exec_id(self) -> str:
        return f"{self._name}-R{next(self._ids)}"

    def _business_reject(self, s: _Session, msg: fix.Message, text: str, *, code: int) -> None:
        header = msg.getHeader()
        seq = header.getField(34) if header.isSetField(34) else None
        ref = get_field(msg, 11) or get_field(msg, 262)
        rej = BusinessReject(msg_type(msg), None if seq is None else int(seq), ref, code, text)
        self._transport.send(s.key, encode_business_reject(rej, s.version))

    # --- outbound reports ------------------------------------------------------------------------

    def _on_venue_event(self, key: str, event: VenueEvent) -> None:
        req_id = None
        if isinstance(event, ExecutionReport):
            if event.exec_type is ExecType.ORDER_STATUS:
                req_id = self._status_req_id
            elif event.exec_type is ExecType.TRADE:
                self.counts.fills[event.symbol] += 1
            if self.record is not None:
                self.record.reports.append(replace(event, ts_event=event.ts_event + self._origin))
        for out in self.faults.route(Outbound(key, event, req_id), self.market.now_ns):
            self._send(out)

    def _send(self, out: Outbound) -> None:
        s = self._sessions[out.session]
        e = out.event
        ts = e.ts_event + self._origin
        if isinstance(e, ExecutionReport):
            msg = encode_execution_report(
                replace(e, ts_event=ts, ts_init=ts),
                s.version,
                ord_status_req_id=out.ord_status_req_id,
            )
        else:
            msg = encode_cancel_reject(replace(e, ts_event=ts, ts_init=ts), s.version)
        self._transport.send(out.session, msg, possdup=out.possdup)
        if self.observer is not None and isinstance(e, ExecutionReport):
            self.observer.report_sent(out.session, e, self._x.fills_to_report)

    # --- timed faults ----------------------------------------------------------------------------

    def _apply(self, action: ScheduledAction) -> None:
        if action.kind is FaultAction.DISCONNECT:
            self.faults.stats.disconnects += 1
            for key in sorted(self.logged_on):
                log.info("fixsim: fault injection drops session %s", key)
                self._transport.disconnect(key)
            return
        symbol = action.symbol
        assert symbol is not None
        if action.kind is FaultAction.HALT:
            if self._x.trading_state(symbol) is TradingState.TRADING:
                self.faults.stats.halts += 1
                self._halted_by_us.add(symbol)
                secs = self.faults.config.halt_duration_ns / 1e9
                reason = f"trading halt (fault injection) for {secs:g}s"
                self._x.set_trading_state(symbol, TradingState.HALTED, reason)
        elif symbol in self._halted_by_us:
            self._halted_by_us.discard(symbol)
            self._x.set_trading_state(symbol, TradingState.TRADING, "halt over: trading resumes")

    # --- market data -----------------------------------------------------------------------------

    def _on_md_request(self, s: _Session, msg: fix.Message) -> None:
        try:
            req = decode_md_request(msg)
        except FixDecodeError as e:
            code = None if e.code is None else str(e.code)
            self._md_reject(s, get_field(msg, 262) or "", code, e.reason)
            return
        if req.subscription is SubscriptionType.UNSUBSCRIBE:
            sub = s.subs.pop(req.md_req_id, None)
            if sub is None:
                text = f"no subscription with MDReqID {req.md_req_id!r} on this session"
                self._md_reject(s, req.md_req_id, None, text)
            else:
                self._unregister(sub)
            return
        unknown = [sym for sym in req.symbols if sym not in self._subs]
        if unknown:
            text = f"unknown symbol {unknown[0]!r}; this venue lists {self._symbols}"
            self._md_reject(s, req.md_req_id, REJ_UNKNOWN_SYMBOL, text)
            return
        live = req.subscription is SubscriptionType.SUBSCRIBE
        if live and req.md_req_id in s.subs:
            text = f"MDReqID {req.md_req_id!r} is already subscribed; unsubscribe (263=2) first"
            self._md_reject(s, req.md_req_id, REJ_DUPLICATE_ID, text)
            return
        sub = _Subscription(
            s.key, req.md_req_id, req.symbols, req.depth, frozenset(req.entry_types)
        )
        now = self.market.now_ns + self._origin
        for symbol in req.symbols:
            view = self._view(symbol, req.depth)
            sub.views[symbol] = view
            snap = BookSnapshot(symbol, view[0], view[1], now, now)
            self._transport.send(
                s.key,
                encode_snapshot(
                    snap, s.version, md_req_id=req.md_req_id, entry_types=req.entry_types
                ),
            )
            # The symbol's state after its snapshot, halted or not: a client resubscribing
            # after an outage cannot otherwise learn of a halt or a resume it missed.
            state = self._x.trading_state(symbol)
            reason = "halted" if state is TradingState.HALTED else "ready to trade"
            status = TradingStatus(symbol, state, reason, now, now)
            self._transport.send(s.key, encode_security_status(status, s.version, solicited=True))
        if live:
            s.subs[req.md_req_id] = sub
            for symbol in req.symbols:
                self._subs[symbol].append(sub)

    def _md_reject(self, s: _Session, req_id: str, code: str | None, text: str) -> None:
        self._transport.send(
            s.key, encode_md_reject(MarketDataReject(req_id, code, text), s.version)
        )

    def _unregister(self, sub: _Subscription) -> None:
        for symbol in sub.symbols:
            subs = self._subs[symbol]
            if sub in subs:
                subs.remove(sub)

    def _view(self, symbol: str, depth: int) -> View:
        book = self._x.books[symbol]
        n = depth or _FULL_BOOK
        return book.depth(Side.BUY, n), book.depth(Side.SELL, n)

    def _on_market(self, symbol: str, event: MarketEvent) -> None:
        if isinstance(event, BookSnapshot):
            return  # the exchange greets each subscriber with one; views come from the book
        if isinstance(event, Trade):
            self._trades.setdefault(symbol, []).append(event)
            self.counts.traded_shares[symbol] += event.size
            if self.record is not None:
                self.record.tape.append((event.ts_event + self._origin, event.size))
        elif isinstance(event, TradingStatus):
            self._statuses.append(event)
        else:
            self._dirty.add(symbol)
        if not self._batch:
            self._flush_market()

    @contextlib.contextmanager
    def _batching(self) -> Iterator[None]:
        self._batch += 1
        try:
            yield
        finally:
            self._batch -= 1
            if not self._batch:
                self._flush_market()

    def _flush_market(self) -> None:
        trades, dirty, statuses = self._trades, self._dirty, self._statuses
        self._trades, self._dirty, self._statuses = {}, set(), []
        now = self.market.now_ns + self._origin
        for symbol in sorted(set(trades) | dirty):
            prints = [
                replace(t, ts_event=t.ts_event + self._origin, ts_init=now)
                for t in trades.get(symbol, ())
            ]
            for sub in list(self._subs.get(symbol, ())):
                items: list[LevelChange | Trade] = []
                if MDEntryType.TRADE in sub.types:
                    items.extend(prints)
                if symbol in dirty and sub.wants_book:
                    view = self._view(symbol, sub.depth)
                    items.extend(_diff(symbol, sub.views[symbol], view, sub.types, now))
                    sub.views[symbol] = view
                if items:
                    s = self._sessions[sub.session]
                    msg = encode_incremental(items, s.version, md_req_id=sub.md_req_id)
                    self._transport.send(sub.session, msg)
        for status in statuses:
            wire = replace(status, ts_event=status.ts_event + self._origin, ts_init=now)
            for key in sorted({sub.session for sub in self._subs.get(status.symbol, ())}):
                self._transport.send(key, encode_security_status(wire, self._sessions[key].version))

    def _session(self, key: str) -> _Session:
        s = self._sessions.get(key)
        if s is None:
            raise KeyError(
                f"unknown FIX session {key!r}; the acceptor settings declare {list(self._sessions)}"
            )
        return s


def _diff(
    symbol: str, old: View, new: View, types: frozenset[MDEntryType], ts: int
) -> list[LevelChange]:
    """New/change/delete entries turning the published ``old`` view into ``new``."""
    out: list[LevelChange] = []
    for side, entry, before, after in (
        (Side.BUY, MDEntryType.BID, old[0], new[0]),
        (Side.SELL, MDEntryType.OFFER, old[1], new[1]),
    ):
        if entry not in types:
            continue
        was, now = dict(before), dict(after)
        for price, _ in before:
            if price not in now:
                out.append(
                    LevelChange(UpdateAction.DELETE, BookUpdate(symbol, side, price, 0, ts, ts))
                )
        for price, size in after:
            if price not in was:
                action = UpdateAction.NEW
            elif was[price] != size:
                action = UpdateAction.CHANGE
            else:
                continue
            out.append(LevelChange(action, BookUpdate(symbol, side, price, size, ts, ts)))
    return out
