"""The engine core: parents in from the OMS, children out to the venue, reports back.

Sans-I/O and single-threaded: every method runs on the loop thread (or inside a simulated
clock's ``advance_to``), and everything it sends goes through the ports it was given. The
daemon (:mod:`engine.daemon`) wires it to FIX and REST; tests and backtests wire it to the
market simulator and a :class:`~engine.clock.SimClock`, and the decisions are the same.

Inputs: :meth:`Engine.on_parent_command` (OMS or REST), :meth:`Engine.on_market_event`,
:meth:`Engine.on_venue_event` and :meth:`Engine.on_venue_session` (the venue adapter).
Outputs: child instructions on the :class:`~engine.ports.VenuePort`, parent reports on the
:class:`OmsOut`.

Reports from the venue are deduplicated by ExecID, and a child's fills are counted from its
cumulative quantity, so a duplicate, a resend or a missed report can neither double-count nor
drop a fill.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from time import perf_counter
from typing import Any, Protocol, TypeVar

import structlog

from engine.clock import NS, Clock
from engine.config import EngineConfig
from engine.events import (
    PRICE_SCALE,
    BookUpdate,
    CancelOrder,
    CancelReject,
    ExecType,
    ExecutionReport,
    MarketEvent,
    NewOrder,
    OrderType,
    OrdStatus,
    Quote,
    Side,
    StatusRequest,
    TimeInForce,
    Trade,
    VenueEvent,
    refused_report,
    unknown_order_status,
)
from engine.executor import SHORTFALL_BREAKER, ParentExecutor, PlanState, volume_forecast
from engine.input_clock import InputClock
from engine.journal import Journal, JournalError, Kind
from engine.market_state import SymbolMarket
from engine.orders import (
    ChildEvent,
    ChildOrder,
    ChildState,
    IllegalTransition,
    ParentEvent,
    ParentState,
)
from engine.parent_events import (
    PARENT_STRATEGIES,
    ParentCancel,
    ParentCommand,
    ParentOrder,
    ParentReplace,
    ParentStatusRequest,
    PendingReplace,
    RejectReason,
)
from engine.ports import VenuePort
from engine.regime_feed import RegimeFeed
from engine.stats import EngineStats, reject_reason
from engine.window import TrailingSum
from risk.gate import Action, Verdict
from risk.ratelimit import TokenBucket
from risk.states import Scope, TradingState, TradingStates
from strategies.regime import RegimeDetector

__all__ = ["IDS_IN_FLIGHT", "VERDICTS_KEPT", "Engine", "OmsOut", "ParentRejected"]

_M = TypeVar("_M", bound=Callable[..., Any])

log = structlog.get_logger("unwind.engine")

VERDICTS_KEPT = 100  # latest gate non-approvals kept per parent
# ClOrdIDs (children and their cancels) that may be used before the journal has committed
# them; recovery asks the venue about this many past a parent's last committed id.
IDS_IN_FLIGHT = 64
_REGIME_HISTORY = 64  # bars (and observations of our fills) a detector keeps
_PARENT_STATUS = {
    ParentState.PENDING_NEW: OrdStatus.PENDING_NEW,
    ParentState.NEW: OrdStatus.NEW,
    ParentState.PARTIALLY_FILLED: OrdStatus.PARTIALLY_FILLED,
    ParentState.FILLED: OrdStatus.FILLED,
    ParentState.PENDING_CANCEL: OrdStatus.PENDING_CANCEL,
    ParentState.CANCELED: OrdStatus.CANCELED,
    ParentState.PENDING_REPLACE: OrdStatus.PENDING_REPLACE,
    ParentState.REJECTED: OrdStatus.REJECTED,
    ParentState.DONE_FOR_DAY: OrdStatus.DONE_FOR_DAY,
    ParentState.EXPIRED: OrdStatus.EXPIRED,
}


class OmsOut(Protocol):
    """Where parent reports go (the FIX acceptor, the REST layer, a test)."""

    def send_report(
        self, session: str, report: ExecutionReport, reject_reason: RejectReason | None = None
    ) -> object: ...

    def send_cancel_reject(self, session: str, reject: CancelReject) -> object: ...


class ParentRejected(ValueError):
    def __init__(self, reason: RejectReason, text: str) -> None:
        super().__init__(text)
        self.reason = reason
        self.text = text


@dataclass(slots=True)
class _Symbol:
    market: SymbolMarket
    detector: RegimeDetector
    feed: RegimeFeed
    parents: list[ParentExecutor] = field(default_factory=list)
    # Our fills on the symbol (ts, qty), every parent's, kept for the cap window: a parent
    # that finished a minute ago still counts toward the symbol's participation.
    fills: TrailingSum = field(default_factory=TrailingSum)


def _input(method: _M) -> _M:
    """An engine input: the engine's clock stands still while it is handled (an input nested in
    another's handling keeps the outer one's time)."""

    @functools.wraps(method)
    def handle(self: Engine, *args: Any, **kwargs: Any) -> Any:
        outer = self.clock.begin()
        t0 = perf_counter()
        try:
            return method(self, *args, **kwargs)
        finally:
            if outer:
                self.clock.end()
                # Wall time, for the metrics only: the decision latency of one input.
                self.stats.input_seconds.observe(perf_counter() - t0)

    return handle  # type: ignore[return-value]


class Engine:
    """See the module docstring."""

    def __init__(
        self,
        cfg: EngineConfig,
        clock: Clock,
        venue: VenuePort,
        oms: OmsOut,
        *,
        run_tag: str | None = None,
        on_note: Callable[[ParentExecutor, str, dict[str, object]], None] | None = None,
        journal: Journal | None = None,
    ) -> None:
        self.cfg = cfg
        # Time stands still while an input is handled (engine/input_clock.py): decisions are a
        # function of the inputs and their times, which the journal records for replay.
        self.clock = InputClock(clock)
        self._deferred: deque[VenueEvent] = deque()
        # After a restart: ClOrdIDs the crash may have used, asked about at the next logon.
        self._probing: dict[str, ParentExecutor] = {}
        self.clock.on_idle = self._handle_deferred
        self.venue = venue
        self.oms = oms
        self.on_note = on_note
        # Every input that affects a decision and every decision (engine/journal.py).
        self.journal = journal
        if journal is not None:
            self.clock.on_timer = self._on_timer
        # ClOrdIDs must be unique across restarts: the run tag is the start time in ms, base 36.
        self.run_tag = run_tag or _base36(clock.now_ns() // 1_000_000)
        if journal is not None:  # what a replay needs to build the same engine
            journal.set_meta({"engine_config": cfg.model_dump_json(), "run_tag": self.run_tag})
        window = round(max(cfg.cap_window_s, cfg.child_ttl_s) * NS) * 2
        self.symbols: dict[str, _Symbol] = {}
        for name in cfg.symbols:
            det = RegimeDetector(history_limit=_REGIME_HISTORY)
            self.symbols[name] = _Symbol(SymbolMarket(name, window), det, RegimeFeed(det, name))
        self.parents: dict[str, ParentExecutor] = {}  # by parent id
        self._by_clordid: dict[str, ParentExecutor] = {}  # OMS ClOrdIDs (all of them)
        self._children: dict[str, ChildOrder] = {}  # child and cancel ClOrdIDs
        self._parent_seq = itertools.count(1)
        self._exec_seq = itertools.count(1)
        self.reports: dict[str, list[ExecutionReport]] = {}
        self.verdicts: dict[str, deque[Verdict]] = {}  # the latest non-approvals per parent
        self.verdict_counts: dict[str, int] = {}  # all non-approvals per parent
        self.forgotten_children: Counter[ChildState] = Counter()  # of parents forgotten
        self.verdict_totals: Counter[tuple[str, str, str]] = Counter()  # (check, action, reason)
        self.gate_outcomes: Counter[str] = Counter()  # gate runs: approved / denied
        self.breaker_trips: Counter[str] = Counter()  # by breaker
        self.alerts: Counter[str] = Counter()  # by name
        self.stats = EngineStats()  # counts for the metrics (engine/stats.py)
        self.venue_up = True
        self.trading = TradingStates()
        self.venue_rate = TokenBucket(cfg.risk.orders_per_s, cfg.risk.orders_burst, clock.now_ns())
        self._held_notes: list[tuple[ParentExecutor, str, str, dict[str, object]]] | None = None
        venue.connect(self.on_venue_event)

    # --- EngineContext (used by the executors) -------------------------------------------------

    def new_child_id(self, parent: ParentExecutor) -> str:
        j = self.journal
        if j is not None:
            # Recovery asks the venue about the ids a crash may have lost, up to this many
            # past the last committed one: never let more be in flight. Half way, the writer
            # is asked to commit early (no wait); at the bound the loop waits for it.
            uncommitted = j.ids_uncommitted
            if uncommitted >= IDS_IN_FLIGHT:
                j.flush()
            elif uncommitted >= IDS_IN_FLIGHT // 2:
                j.commit_soon()
        parent.ids_issued += 1
        return f"{parent.id}-{parent.ids_issued}"

    def child_id_used(self, cl_ord_id: str) -> bool:
        return cl_ord_id in self._children

    def symbol_load(self, symbol: str, since_ns: int) -> tuple[int, int, int]:
        """Our fills on ``symbol`` after ``since_ns`` (every parent's, finished ones too), what
        every working child on it may still fill, and the latest time one can expire."""
        sym = self.symbols[symbol]
        working, expiry = 0, 0
        for p in sym.parents:
            for c in p.live_children:
                working += c.leaves
                expiry = max(expiry, c.expires_ns)
        return sym.fills.after(since_ns), working, expiry

    @property
    def ids_to_ask(self) -> int:
        """ClOrdIDs a restart left to ask the venue about (see :meth:`on_restart`)."""
        return len(self._probing)

    @property
    def halted(self) -> bool:
        """The engine-wide kill switch: HALTED at the global scope (no new parents either)."""
        return self.trading.get(Scope.GLOBAL).state is TradingState.HALTED

    def send_child(self, parent: ParentExecutor, child: ChildOrder) -> None:
        self.venue_rate.take(self.clock.now_ns())
        self._children[child.cl_ord_id] = child
        if not self.venue_up:
            child.apply(ChildEvent.LOST)  # resolved by status request once the venue is back
        # Handed over first, logged after: the log line is not on the decision's critical path.
        child.sent_wall = perf_counter()
        self.venue.submit(child.order)
        self.stats.children_sent[parent.symbol] += 1
        if self.journal is not None:
            self.journal.record(
                Kind.CHILD,
                self.clock.now_ns(),
                child.order,
                parent=parent.id,
                child=child.cl_ord_id,
                data={
                    "why": child.reason,
                    "regime": parent.regime,
                    "policy": asdict(parent.policy),
                },
            )
        self.note(
            parent,
            "child",
            child=child.cl_ord_id,
            qty=child.qty,
            price=child.order.price,
            tif=child.order.tif.value,
            why=child.reason,
        )

    def send_cancel(self, parent: ParentExecutor, request: CancelOrder) -> None:
        child = self._children[request.orig_cl_ord_id]
        self._children[request.cl_ord_id] = child
        self.venue_rate.take(self.clock.now_ns())  # counted, never refused: it reduces risk
        self.venue.cancel(request)
        if self.journal is not None:
            self.journal.record(
                Kind.CANCEL,
                self.clock.now_ns(),
                request,
                parent=parent.id,
                child=request.orig_cl_ord_id,
            )

    def send_status(self, parent: ParentExecutor, request: StatusRequest) -> None:
        if self.venue_up:
            self.venue.request_status(request)
            if self.journal is not None:
                self.journal.record(
                    Kind.STATUS,
                    self.clock.now_ns(),
                    request,
                    parent=parent.id,
                    child=request.cl_ord_id,
                )

    def on_verdicts(
        self,
        parent: ParentExecutor,
        verdicts: list[Verdict],
        *,
        cl_ord_id: str = "",
        asked: int = 0,
        granted: int = 0,
    ) -> None:
        # A parent held back by the cap is denied on every market event: the latest few are
        # kept for people, all are counted (per parent, and engine-wide for the metrics by
        # check and reason), and every gate run is journaled.
        # The verdicts are the clips and denials (approvals leave none).
        denied = bool(verdicts) and verdicts[-1].action is Action.DENY
        self.gate_outcomes["denied" if denied else "approved"] += 1
        if self.journal is not None:
            self.journal.record(
                Kind.VERDICTS,
                self.clock.now_ns(),
                parent=parent.id,
                child=cl_ord_id or None,
                data={
                    "asked": asked,
                    "granted": granted,
                    "verdicts": [
                        [v.check, v.action.value, v.qty, v.reason, v.text] for v in verdicts
                    ],
                },
            )
        if not verdicts:
            return
        kept = self.verdicts.get(parent.id)
        if kept is None:
            kept = self.verdicts[parent.id] = deque(maxlen=VERDICTS_KEPT)
        for v in verdicts:
            self.verdict_totals[(v.check, v.action.value, v.reason)] += 1
            kept.append(v)
        self.verdict_counts[parent.id] = self.verdict_counts.get(parent.id, 0) + len(verdicts)

    def parent_finished(self, parent: ParentExecutor) -> None:
        self._drop_pending_replace(parent, f"too late: the order is {parent.state.value}")
        self.stats.parent_outcomes[(parent.strategy, parent.state.value)] += 1
        self.stats.finished_ns[parent.id] = self.clock.now_ns()
        exec_type = {
            ParentState.FILLED: None,  # the last Trade report already said FILLED
            ParentState.CANCELED: ExecType.CANCELED,
            ParentState.DONE_FOR_DAY: ExecType.DONE_FOR_DAY,
            ParentState.EXPIRED: ExecType.EXPIRED,
        }.get(parent.state)
        if exec_type is not None:
            self._report(parent, exec_type, text=parent.ended_reason)
        sym = self.symbols[parent.symbol]
        if parent in sym.parents:
            sym.parents.remove(parent)
        self.note(parent, "finished", state=parent.state.value, filled=parent.filled)
        forget_at = self.clock.now_ns() + round(self.cfg.finished_retention_s * NS)
        self.clock.call_at(forget_at, lambda: self._forget(parent))

    def note(self, parent: ParentExecutor, event: str, **fields: object) -> None:
        if self._held_notes is not None:
            self._held_notes.append((parent, event, parent.cl_ord_id, fields))
            return
        self._emit_note(parent, event, parent.cl_ord_id, fields)

    def plan_made(self, parent: ParentExecutor, plan: PlanState) -> None:
        if self.journal is not None:
            self.journal.record(
                Kind.PLAN,
                self.clock.now_ns(),
                parent=parent.id,
                data={
                    "strategy": plan.strategy,
                    "reason": plan.reason,
                    "start_ns": plan.start_ns,
                    "bucket_ns": plan.bucket_ns,
                    "cum_targets": plan.cum_targets,
                    "filled_at_start": plan.filled_at_start,
                    "regime": plan.regime,
                },
            )

    def _on_timer(self, timer_id: int, now: int) -> None:
        assert self.journal is not None
        self.journal.record(Kind.TIMER, now, data={"id": timer_id})

    def _record_anyway(self, kind: Kind, data: dict[str, object]) -> None:
        """Record a command that goes ahead even if the journal cannot take it (it takes risk
        off, or it is the operator's)."""
        assert self.journal is not None
        try:
            self.journal.record(kind, self.clock.now_ns(), data=data, sync=True)
        except JournalError as exc:
            log.error("journal: command not recorded", kind=kind.value, error=str(exc))

    def _emit_note(
        self, parent: ParentExecutor, event: str, cl_ord_id: str, fields: dict[str, object]
    ) -> None:
        log.info(event, parent=parent.id, cl_ord_id=cl_ord_id, **fields)
        if self.journal is not None:
            self.journal.record(
                Kind.NOTE,
                self.clock.now_ns(),
                parent=parent.id,
                data={"event": event, "cl_ord_id": cl_ord_id, **fields},
            )
        if self.on_note is not None:
            self.on_note(parent, event, fields)

    def _hold_notes(self) -> bool:
        """Hold the log lines (and note hooks) of one input's handling until it is done (then
        :meth:`_release_notes`): the decisions it leads to reach the venue first, the lines
        follow in their order. Returns ``False`` when already holding (a synchronous venue
        nests inputs): the outer handling releases."""
        if self._held_notes is not None:
            return False
        self._held_notes = []
        return True

    def _release_notes(self) -> None:
        held, self._held_notes = self._held_notes or [], None
        for parent, event, cl_ord_id, fields in held:
            self._emit_note(parent, event, cl_ord_id, fields)

    # --- inputs: market data --------------------------------------------------------------------

    @_input
    def on_market_event(self, event: MarketEvent) -> None:
        sym = self.symbols.get(event.symbol)
        if sym is None:
            return
        now = self.clock.now_ns()
        if self.journal is not None:
            self.journal.record(Kind.MARKET, now, event)
        self.stats.market_messages[event.symbol] += 1
        self.stats.market_last_ns[event.symbol] = now
        market = sym.market
        market.on_event(event, now)
        sym.feed.on_market_event(event)
        if isinstance(event, BookUpdate):
            # A FIX or WebSocket feed sends level changes, not quotes: the detector needs the
            # top of book whenever it changes (the TCA report's rebuild calls the same).
            sym.feed.on_top_of_book(event.ts_event, market.best(Side.BUY), market.best(Side.SELL))
        outer = self._hold_notes()
        try:
            if isinstance(event, (BookUpdate, Trade, Quote)):
                for parent in list(sym.parents):
                    parent.on_market(now)  # decides only if the event can matter to it
            else:  # a snapshot or a trading status: everyone looks again
                for parent in list(sym.parents):
                    parent.decide(now)
        finally:
            if outer:
                self._release_notes()

    @_input
    def on_market_stale(self, symbol: str, stale: bool) -> None:
        """The market-data source says ``symbol``'s data turned stale (no data for too long,
        the connection or subscription lost) or fresh again. Stale: its parents pull their
        resting children and send nothing (the gate denies too); fresh: they look again."""
        sym = self.symbols.get(symbol)
        if sym is None or sym.market.stale == stale:
            return
        if self.journal is not None:
            self.journal.record(
                Kind.MARKET_STALE, self.clock.now_ns(), data={"symbol": symbol, "stale": stale}
            )
        sym.market.stale = stale
        ids = [p.id for p in sym.parents]
        if stale:
            log.warning("market data stale", symbol=symbol, parents=ids)
        else:
            log.info("market data fresh", symbol=symbol, parents=ids)
        now = self.clock.now_ns()
        outer = self._hold_notes()
        try:
            for parent in list(sym.parents):
                parent.decide(now)
        finally:
            if outer:
                self._release_notes()

    # --- inputs: the venue ----------------------------------------------------------------------

    @_input
    def on_venue_session(self, up: bool) -> None:
        """The venue session went down or came back: what was live is unknown until asked."""
        self.venue_up = up
        now = self.clock.now_ns()
        if self.journal is not None:
            self.journal.record(Kind.VENUE_SESSION, now, data={"up": up})
        if up:
            # After a restart: the ClOrdIDs the crash may have used unjournaled, asked about.
            for cl_ord_id, parent in sorted(self._probing.items()):
                self.send_status(parent, StatusRequest(cl_ord_id, parent.symbol, parent.side, now))
        for parent in self.parents.values():
            for child in parent.live_children:
                if not up:
                    if child.state is not ChildState.PENDING_CANCEL:
                        child.apply(ChildEvent.LOST)
                else:
                    parent.request_status(child)
            if up:
                parent.decide(now)

    @_input
    def on_restart(self, trailing: int, committed_ids: dict[str, int]) -> None:
        """The engine was rebuilt from its journal (engine/recovery.py) and goes on: the venue
        session is not up yet, so every live child is unknown until asked; the ClOrdIDs each
        working parent may have used past its last committed one (at most ``IDS_IN_FLIGHT``)
        are asked about at the logon, and its ids go on after them. ``trailing``: decisions
        the rebuild made that the journal had lost (the restart record says how many, for
        replay). A replay of the journal does the same at the same record."""
        now = self.clock.now_ns()
        if self.journal is not None:
            self.journal.record(
                Kind.RESTART,
                now,
                data={"trailing": trailing, "committed_ids": committed_ids},
                sync=True,
            )
        for parent in self.parents.values():
            for child in parent.children.values():
                child.sent_wall = 0.0  # sent by the rebuild's replay: no latency to measure
            if parent.state.final:
                continue
            last = committed_ids.get(parent.id, 0)
            for n in range(last + 1, last + IDS_IN_FLIGHT + 1):
                cl_ord_id = f"{parent.id}-{n}"
                # One still unanswered from a restart before (its answer died with the run
                # after it) is asked once: counted twice, the parent would wait for good.
                if cl_ord_id not in self._children and cl_ord_id not in self._probing:
                    self._probing[cl_ord_id] = parent
                    parent.ids_to_ask += 1  # no new child until the venue has answered
            parent.ids_issued = max(parent.ids_issued, last + IDS_IN_FLIGHT)
        log.warning(
            "restarted from the journal",
            parents=[p.id for p in self.parents.values() if not p.state.final],
            lost_decisions=trailing,
            ids_to_ask=len(self._probing),
        )
        self.on_venue_session(False)

    def _handle_deferred(self) -> None:
        # Venue events that arrived during an input (a venue answering synchronously) are
        # inputs of their own, handled once it is done, in order: no input interrupts another,
        # so the journal's order is the order a replay can feed.
        deferred = self._deferred
        while deferred and not self.clock.busy:
            self._on_venue_event(deferred.popleft())

    def on_venue_event(self, event: VenueEvent) -> None:
        if self.clock.busy:
            self._deferred.append(event)  # handled when the input that caused it is done
            return
        self._on_venue_event(event)

    @_input
    def _on_venue_event(self, event: VenueEvent) -> None:
        if self.journal is not None:
            child_id = event.orig_cl_ord_id or event.cl_ord_id
            self.journal.record(Kind.VENUE, self.clock.now_ns(), event, child=child_id)
        if isinstance(event, CancelReject):
            self._on_cancel_reject(event)
            return
        child = self._children.get(event.cl_ord_id)
        if child is None and event.orig_cl_ord_id is not None:
            child = self._children.get(event.orig_cl_ord_id)
            if child is not None:
                # A cancel the engine lost track of (a restart) is now known as the child's.
                self._children[event.cl_ord_id] = child
                self._probe_answered(event.cl_ord_id)
        if child is None and (
            event.cl_ord_id in self._probing or event.orig_cl_ord_id in self._probing
        ):
            child = self._adopt(event)
            if child is None:
                return  # an id the crash never used (or the venue refused): nothing to count
        elif child is not None and event.orig_cl_ord_id in self._probing:
            # A report about the order and its cancel, both lost with the journal's tail and
            # adopted from an earlier report: the order's own id is answered for too.
            self._probe_answered(event.orig_cl_ord_id)
        if child is None:
            log.warning(
                "report for an unknown child",
                child=event.cl_ord_id,
                exec_type=event.exec_type.value,
            )
            return
        # ExecIDs are remembered per child, so they go when the child's parent is forgotten.
        if event.exec_id in child.exec_ids:
            return  # a duplicate or a resend of what we already counted
        child.exec_ids.add(event.exec_id)
        if child.sent_wall:  # the venue's first word on it: the acknowledgement latency
            self.stats.ack_seconds.observe(perf_counter() - child.sent_wall)
            child.sent_wall = 0.0
        parent = self.parents[child.parent_id]
        try:
            self._apply(parent, child, event)
        except IllegalTransition as exc:
            log.error(
                "illegal child transition", parent=parent.id, child=child.cl_ord_id, error=str(exc)
            )
        parent.child_done(self.clock.now_ns())

    def _probe_answered(self, cl_ord_id: str) -> ParentExecutor | None:
        parent = self._probing.pop(cl_ord_id, None)
        if parent is not None:
            parent.ids_to_ask -= 1
        return parent

    def _adopt(self, r: ExecutionReport) -> ChildOrder | None:
        """A status answer about a ClOrdID asked after a restart: an order the crash sent but
        never journaled. If the venue knows it, it becomes the parent's child (the venue's word
        for its quantity and price), due for cancelling at once if it still rests; if not,
        the id was never used."""
        # A report naming an OrigClOrdID (a cancel's answer, or a status answer about a
        # cancelled order) is about the order sent under it, cancelled under the ClOrdID: the
        # venue has answered for both, and the child is the order's.
        orig = r.orig_cl_ord_id
        parent = self._probe_answered(r.cl_ord_id)
        if orig is not None:
            parent = self._probe_answered(orig) or parent
        if parent is None:
            return None
        if r.venue_order_id == "NONE" or (r.ord_status is OrdStatus.REJECTED and not r.cum_qty):
            parent.decide(self.clock.now_ns())  # one fewer to wait for
            return None  # never sent, or refused: nothing to account for
        now = self.clock.now_ns()
        order_id = orig if orig is not None else r.cl_ord_id
        order = NewOrder(
            order_id,
            parent.symbol,
            parent.side,
            r.order_qty,
            OrderType.LIMIT,
            r.price,
            TimeInForce.DAY,
            now,
        )
        allowance = round(self.cfg.cancel_allowance_s * NS)
        child = ChildOrder(
            order,
            parent.id,
            state=ChildState.UNKNOWN,
            sent_ns=now,
            stale_ns=now,  # it rested through the restart: its time to live is gone
            expires_ns=now + allowance,
            reason="found at the venue after a restart",
        )
        parent.adopt(child)
        self._children[order_id] = child
        self._children[r.cl_ord_id] = child  # its cancel's id too, when it is another
        log.warning("child found after a restart", parent=parent.id, child=order_id)
        return child

    def _apply(self, parent: ParentExecutor, child: ChildOrder, r: ExecutionReport) -> None:
        if r.venue_order_id and r.venue_order_id != "NONE":
            child.venue_order_id = r.venue_order_id
        # Fills are counted from the cumulative quantity: a missed report is caught up, a
        # repeated one adds nothing.
        if r.cum_qty > child.cum_qty and r.exec_type in (
            ExecType.TRADE,
            ExecType.ORDER_STATUS,
            ExecType.CANCELED,
            ExecType.REPLACED,
        ):
            self._fill(parent, child, r)
        t = r.exec_type
        if t is ExecType.NEW:
            if child.state in (ChildState.PENDING_NEW, ChildState.UNKNOWN):
                child.apply(ChildEvent.ACK)
        elif t is ExecType.CANCELED:
            child.apply(ChildEvent.CANCELED)
        elif t is ExecType.EXPIRED:
            child.apply(ChildEvent.EXPIRED)
        elif t is ExecType.REJECTED:
            if not child.state.final:
                child.apply(
                    ChildEvent.REJECT
                    if child.state in (ChildState.PENDING_NEW, ChildState.UNKNOWN)
                    else ChildEvent.CANCELED
                )
            self.stats.child_rejects[reject_reason(r.text)] += 1
            self.note(parent, "child_rejected", child=child.cl_ord_id, reason=r.text)
        elif t is ExecType.ORDER_STATUS:
            self._status(parent, child, r)

    def _fill(self, parent: ParentExecutor, child: ChildOrder, r: ExecutionReport) -> None:
        qty = r.cum_qty - child.cum_qty
        if r.last_qty == qty and r.last_price is not None:
            price, notional = r.last_price, float(r.last_qty * r.last_price)
        else:  # reports were missed: the rest of the average price is the missed fills'
            notional = r.avg_price * r.cum_qty - child.notional
            price = round(notional / qty)
        child.cum_qty = r.cum_qty
        child.notional += notional
        child.fills.append((r.ts_event, qty, price))
        over = parent.filled + qty - parent.qty
        if over > 0:
            log.critical("overfill", parent=parent.id, child=child.cl_ord_id, over=over)
        parent.record_fill(r.ts_event, qty, notional)
        self.symbols[parent.symbol].fills.add(r.ts_event, qty)
        key = (parent.symbol, parent.side.value)
        self.stats.fills[key] += 1
        self.stats.filled_shares[key] += qty
        breach = parent.shortfall_breach()
        if not child.state.final:
            full = child.cum_qty >= child.qty
            child.apply(ChildEvent.FILL_COMPLETE if full else ChildEvent.FILL)
        self.symbols[parent.symbol].feed.on_execution_report(r)
        if parent.filled < parent.qty and not parent.state.final:
            parent.transition(ParentEvent.FILL)
        else:
            parent.record_complete()  # so this fill's report already says FILLED
        self._report(parent, ExecType.TRADE, last_qty=qty, last_price=price)
        if breach is not None:  # after the fill's report: the OMS sees the fill, then the halt
            self.trip(parent, TradingState.HALTED, reason=breach, by=SHORTFALL_BREAKER)

    def _status(self, parent: ParentExecutor, child: ChildOrder, r: ExecutionReport) -> None:
        s = r.ord_status
        if s is OrdStatus.REJECTED:
            # Refused, or never seen (OrderID NONE): it cannot fill. Left unknown, the child
            # was asked about again at every answer, without end.
            if not child.state.final:
                child.apply(
                    ChildEvent.REJECT
                    if child.state in (ChildState.PENDING_NEW, ChildState.UNKNOWN)
                    else ChildEvent.CANCELED
                )
        elif s in (OrdStatus.NEW, OrdStatus.PARTIALLY_FILLED):
            now = self.clock.now_ns()
            lost = round(self.cfg.ack_timeout_s * NS)
            if child.state is ChildState.PENDING_CANCEL and now - child.cancel_ns >= lost:
                # Still live well after our cancel: the cancel was lost (a session drop, a
                # dropped message). Back to live, and the cancel goes again.
                child.apply(ChildEvent.CANCEL_REJECTED)
                if s is OrdStatus.PARTIALLY_FILLED:
                    child.apply(ChildEvent.VENUE_SAYS_PARTIAL)
                self.note(parent, "cancel_lost", child=child.cl_ord_id)
                parent.cancel_child(now, child, "cancel not taken: sent again")
            elif s is OrdStatus.NEW:
                child.apply(ChildEvent.VENUE_SAYS_NEW)
            else:
                child.apply(ChildEvent.VENUE_SAYS_PARTIAL)
        elif s in (OrdStatus.CANCELED, OrdStatus.EXPIRED, OrdStatus.DONE_FOR_DAY):
            if not child.state.final:
                child.apply(ChildEvent.CANCELED)
        elif s is OrdStatus.FILLED and not child.state.final:
            child.apply(ChildEvent.FILL_COMPLETE)

    def _on_cancel_reject(self, rej: CancelReject) -> None:
        child = self._children.get(rej.orig_cl_ord_id) or self._children.get(rej.cl_ord_id)
        if child is None:
            return
        parent = self.parents[child.parent_id]
        if child.state is ChildState.PENDING_CANCEL:
            child.apply(ChildEvent.CANCEL_REJECTED)
        # Too late (filled) or unknown: the venue's status settles what is left.
        parent.request_status(child)

    # --- inputs: the OMS -------------------------------------------------------------------------

    @_input
    def on_parent_command(self, cmd: ParentCommand) -> None:
        if self.journal is not None and not isinstance(cmd, ParentOrder):  # submit records those
            try:
                self.journal.record(
                    Kind.PARENT_COMMAND,
                    self.clock.now_ns(),
                    cmd,
                    sync=not isinstance(cmd, ParentStatusRequest),
                )
            except JournalError as exc:
                if isinstance(cmd, ParentReplace):
                    self._refuse_replace(self._by_clordid.get(cmd.orig_cl_ord_id), cmd, str(exc))
                    return
                # A cancel goes ahead unrecorded: it only takes risk off.
                log.error("journal: command not recorded", cl_ord_id=cmd.cl_ord_id, error=str(exc))
        if isinstance(cmd, ParentOrder):
            self._new_parent(cmd)
        elif isinstance(cmd, ParentCancel):
            self._cancel_parent(cmd)
        elif isinstance(cmd, ParentReplace):
            self._replace_parent(cmd)
        elif isinstance(cmd, ParentStatusRequest):
            parent = self._by_clordid.get(cmd.cl_ord_id)
            if parent is None:
                self._reject_unknown(cmd.session, cmd.cl_ord_id, cmd.symbol, cmd.side)
            else:
                self._report(parent, ExecType.ORDER_STATUS)

    @_input
    def submit(self, order: ParentOrder) -> ParentExecutor:
        """Validate and start a parent (REST and tests); raises :class:`ParentRejected`."""
        return self._submit(order, via="rest")

    def _submit(self, order: ParentOrder, *, via: str) -> ParentExecutor:
        now = self.clock.now_ns()
        if self.journal is not None:  # committed before it is acted on (docs/journal.md)
            try:
                # ``via``: how a replay feeds it back (an OMS's order is answered by a report).
                self.journal.record(Kind.PARENT_COMMAND, now, order, data={"via": via}, sync=True)
            except JournalError as exc:
                raise ParentRejected(RejectReason.EXCHANGE_CLOSED, str(exc)) from None
        sym_cfg = self.cfg.symbols.get(order.symbol)
        if order.cl_ord_id in self._by_clordid:
            raise ParentRejected(RejectReason.DUPLICATE, f"duplicate ClOrdID {order.cl_ord_id}")
        if sym_cfg is None:
            raise ParentRejected(
                RejectReason.UNKNOWN_SYMBOL,
                f"unknown symbol {order.symbol!r}; configured: {', '.join(sorted(self.symbols))}",
            )
        if order.qty <= 0:
            raise ParentRejected(
                RejectReason.INCORRECT_QUANTITY, f"OrderQty must be > 0, got {order.qty}"
            )
        if order.qty % sym_cfg.lot:
            raise ParentRejected(
                RejectReason.INCORRECT_QUANTITY,
                f"OrderQty {order.qty} is not a whole number of {sym_cfg.lot}-share lots",
            )
        if order.strategy not in PARENT_STRATEGIES:
            raise ParentRejected(
                RejectReason.UNSUPPORTED,
                f"unknown strategy {order.strategy!r}; "
                f"choose one of {', '.join(PARENT_STRATEGIES)}",
            )
        if self.halted:
            raise ParentRejected(RejectReason.EXCHANGE_CLOSED, "engine halted: no new parents")
        start = max(order.start_ns if order.start_ns is not None else now, now)
        if order.end_ns is None:
            raise ParentRejected(RejectReason.TOO_LATE, "ExpireTime (126) is required")
        if order.end_ns <= now:
            raise ParentRejected(RejectReason.TOO_LATE, "ExpireTime (126) has already passed")
        if order.end_ns <= start:
            raise ParentRejected(RejectReason.TOO_LATE, "ExpireTime (126) is not after the start")
        cap = (
            self.cfg.default_participation
            if order.participation_cap is None
            else (order.participation_cap)
        )
        if not 0 < cap <= self.cfg.max_participation:
            raise ParentRejected(
                RejectReason.EXCEEDS_LIMIT,
                f"ParticipationRate (849) {cap} must be in (0, {self.cfg.max_participation}]",
            )
        risk = (
            self.cfg.default_risk_aversion if order.risk_aversion is None else (order.risk_aversion)
        )
        if not (risk >= 0 and math.isfinite(risk)):
            raise ParentRejected(RejectReason.UNSUPPORTED, f"RiskAversion must be >= 0, got {risk}")
        urgency = self.cfg.default_urgency if order.urgency is None else order.urgency
        if not 0.0 <= urgency <= 1.0:  # NaN fails too
            raise ParentRejected(
                RejectReason.UNSUPPORTED, f"Urgency must be in [0, 1] (0.5 neutral), got {urgency}"
            )
        tick = round(sym_cfg.tick * PRICE_SCALE)
        if order.limit_price is not None and (order.limit_price <= 0 or order.limit_price % tick):
            raise ParentRejected(
                RejectReason.OTHER,
                f"Price (44) {order.limit_price / PRICE_SCALE} must be > 0 and on the "
                f"{sym_cfg.tick} tick",
            )
        forecast = float(volume_forecast(sym_cfg, start, order.end_ns - start, 1, 1.0)[0])
        if order.qty > self.cfg.feasibility_margin * cap * forecast:
            raise ParentRejected(
                RejectReason.INFEASIBLE,
                f"infeasible: {order.qty} shares need more than the {cap:.0%} cap of the "
                f"{forecast:,.0f} shares forecast to trade by the end time; lengthen the "
                f"horizon or reduce the quantity",
            )
        sym = self.symbols[order.symbol]
        pid = f"{self.cfg.engine_id}{self.run_tag}P{next(self._parent_seq)}"
        parent = ParentExecutor(
            self,
            pid,
            order,
            start_ns=start,
            end_ns=order.end_ns,
            cap=cap,
            risk_aversion=risk,
            urgency=urgency,
            market=sym.market,
            detector=sym.detector,
            sym=sym_cfg,
        )
        self.parents[pid] = parent
        self._index(parent, order.cl_ord_id)
        sym.parents.append(parent)
        parent.accept()
        self._report(parent, ExecType.NEW)
        self.note(
            parent,
            "accepted",
            qty=order.qty,
            side=order.side.value,
            strategy=order.strategy,
            cap=cap,
        )
        parent.decide(now)
        return parent

    def _new_parent(self, order: ParentOrder) -> None:
        try:
            self._submit(order, via="oms")
        except ParentRejected as rej:
            # No parent id: the order never became one. The OMS's ClOrdID names it.
            log.warning(
                "parent rejected", cl_ord_id=order.cl_ord_id, session=order.session, reason=rej.text
            )
            now = self.clock.now_ns()
            report = refused_report(
                exec_id=self._exec_id(),
                cl_ord_id=order.cl_ord_id,
                symbol=order.symbol,
                side=order.side,
                ts=now,
                text=rej.text,
                order_qty=max(order.qty, 0),
                price=order.limit_price,
            )
            self.oms.send_report(order.session, report, rej.reason)
            if self.journal is not None:
                self.journal.record(Kind.REPORT, now, report, data={"reject": rej.reason.value})

    @_input
    def cancel_parent(self, parent: ParentExecutor, request_id: str | None = None) -> None:
        """Stop working a parent: cancel its children, then report it CANCELED."""
        if parent.state.final or parent.state is ParentState.PENDING_CANCEL:
            return
        if self.journal is not None and request_id is None:  # the OMS's cancel is recorded
            self._record_anyway(  # as its command; this is the REST API's
                Kind.PARENT_COMMAND, {"cancel": parent.id}
            )
        self._drop_pending_replace(parent, "too late: the order is being cancelled")
        parent.transition(ParentEvent.CANCEL_REQUEST)
        if request_id is not None:
            self._index(parent, request_id)
            parent.cl_ord_id, parent.orig_cl_ord_id = request_id, parent.cl_ord_id
        self._report(parent, ExecType.PENDING_CANCEL)
        self.note(parent, "cancel_requested", request=request_id)
        parent.decide(self.clock.now_ns())

    def _cancel_parent(self, cmd: ParentCancel) -> None:
        parent = self._by_clordid.get(cmd.orig_cl_ord_id)
        if parent is None or parent.state.final:
            why = "unknown order" if parent is None else f"too late: parent is {parent.state.value}"
            self._refuse(parent, cmd, "cancel", why)
            return
        self.cancel_parent(parent, cmd.cl_ord_id)

    def _replace_parent(self, cmd: ParentReplace) -> None:
        parent = self._by_clordid.get(cmd.orig_cl_ord_id)
        now = self.clock.now_ns()
        if parent is None:
            return self._refuse_replace(None, cmd, "unknown order")
        if parent.state not in (ParentState.NEW, ParentState.PARTIALLY_FILLED):
            return self._refuse_replace(parent, cmd, f"too late: parent is {parent.state.value}")
        qty = parent.qty if cmd.qty is None else cmd.qty
        end = parent.end_ns if cmd.end_ns is None else cmd.end_ns
        cap = parent.cap if cmd.participation_cap is None else cmd.participation_cap
        if qty <= parent.filled or qty % parent.lot:
            return self._refuse_replace(
                parent, cmd, f"OrderQty {qty} must exceed the {parent.filled} filled, in whole lots"
            )
        if end <= now:
            return self._refuse_replace(parent, cmd, "ExpireTime (126) has already passed")
        if not 0 < cap <= self.cfg.max_participation:
            return self._refuse_replace(
                parent, cmd, f"ParticipationRate (849) must be in (0, {self.cfg.max_participation}]"
            )
        change = PendingReplace(cmd, qty, end, cap)
        if qty < parent.filled + parent.working:
            # Children may still fill past the new quantity before their cancels land: the
            # replace stays pending until the venue has answered for every one of them, then
            # is done if the fills left room for it, or refused with the order as it was.
            parent.pending_replace = change
            parent.transition(ParentEvent.REPLACE_REQUEST)
            self._report(parent, ExecType.PENDING_REPLACE, cl_ord_id=cmd.cl_ord_id)
            for child in parent.live_children:
                parent.cancel_child(now, child, "parent replaced below what may fill")
            self.note(parent, "replace_pending", request=cmd.cl_ord_id, qty=qty)
            parent.decide(now)
            return
        self._apply_replace(parent, change)

    def finish_replace(self, parent: ParentExecutor) -> None:
        """Every child of a parent with a pending replace is done: apply it, or refuse it if
        the fills meanwhile left no room for the new quantity."""
        change = parent.pending_replace
        if change is None:
            return
        parent.pending_replace = None
        parent.replace_done()
        if change.qty <= parent.filled:
            self._refuse_replace(
                parent,
                change.cmd,
                f"too late: {parent.filled} filled while the children were cancelled; "
                f"the order stands at {parent.qty}",
            )
            parent.decide(self.clock.now_ns())
            return
        self._apply_replace(parent, change)

    def _drop_pending_replace(self, parent: ParentExecutor, why: str) -> None:
        change = parent.pending_replace
        if change is not None:
            parent.pending_replace = None
            self._refuse_replace(parent, change.cmd, why)

    def _apply_replace(self, parent: ParentExecutor, change: PendingReplace) -> None:
        now = self.clock.now_ns()
        cmd, qty, end, cap = change
        self._index(parent, cmd.cl_ord_id)
        orig = parent.cl_ord_id
        parent.cl_ord_id, parent.orig_cl_ord_id = cmd.cl_ord_id, orig
        parent.qty, parent.end_ns, parent.cap = qty, end, cap
        if cmd.limit_price is not None:
            parent.limit_price = cmd.limit_price
        parent.plan = None  # re-planned at the next decision
        if end != parent.order.end_ns:
            self.clock.call_at(end, lambda: parent.decide(self.clock.now_ns()))
        self._report(parent, ExecType.REPLACED, orig=orig)
        self.note(parent, "replaced", qty=qty, end_ns=end, cap=cap, limit_price=parent.limit_price)
        parent.decide(now)

    def _refuse_replace(self, parent: ParentExecutor | None, cmd: ParentReplace, text: str) -> None:
        self._refuse(parent, cmd, "replace", text)

    def _refuse(
        self,
        parent: ParentExecutor | None,
        cmd: ParentCancel | ParentReplace,
        response_to: str,
        text: str,
    ) -> None:
        """An OMS cancel or replace refused: an OrderCancelReject saying why."""
        now = self.clock.now_ns()
        log.info(
            f"parent {response_to} refused",
            parent=None if parent is None else parent.id,
            cl_ord_id=cmd.cl_ord_id,
            orig_cl_ord_id=cmd.orig_cl_ord_id,
            session=cmd.session,
            reason=text,
        )
        self.oms.send_cancel_reject(
            cmd.session,
            CancelReject(
                cmd.cl_ord_id,
                cmd.orig_cl_ord_id,
                None if parent is None else parent.id,
                None if parent is None else _PARENT_STATUS[parent.state],
                response_to,
                text,
                now,
                now,
            ),
        )

    def _reject_unknown(self, session: str, cl_ord_id: str, symbol: str, side: Side) -> None:
        now = self.clock.now_ns()
        log.info("status request for an unknown parent", cl_ord_id=cl_ord_id, session=session)
        report = unknown_order_status(
            StatusRequest(cl_ord_id, symbol, side, now), exec_id=self._exec_id(), ts=now
        )
        self.oms.send_report(session, report, RejectReason.UNKNOWN_ORDER)

    # --- operators ------------------------------------------------------------------------------

    @_input
    def set_trading_state(
        self,
        scope: Scope,
        key: str,
        state: TradingState,
        *,
        reason: str,
        by: str = "operator",
        cancel_working: bool = True,
    ) -> bool:
        """Set a scope's trading state (the kill switch, a reset, a breaker's trip through
        :meth:`trip`) and act on it: HALTED cancels the working children of every parent it
        covers (unless ``cancel_working`` is off: a drain that leaves them), a return from
        HALTED re-plans the remainder, a change to or from REDUCING re-plans at the new
        urgency. Returns whether the state changed."""
        now = self.clock.now_ns()
        if self.journal is not None:
            # An operator's change is a command (committed first); a breaker's is a decision.
            # Never blocked by the journal: a halt must work when the disk does not.
            data = {
                "scope": scope.value,
                "key": key,
                "state": state.value,
                "reason": reason,
                "by": by,
                "cancel_working": cancel_working,
            }
            if by in ("operator", "shutdown"):
                self._record_anyway(Kind.TRADING_STATE, data)
            else:
                self.journal.record(Kind.TRADING_STATE, now, data=data)
        changed = self.trading.set(scope, key, state, reason=reason, by=by, now_ns=now)
        if changed:
            # A shutdown's halt is the expected end of a run, not something to warn about.
            emit = log.info if by == "shutdown" else log.warning
            emit(
                "trading state", scope=scope.value, key=key, state=state.label, reason=reason, by=by
            )
            self._apply_trading(scope, key, cancel_working, reason)
        return changed

    def trip(
        self,
        parent: ParentExecutor,
        state: TradingState,
        *,
        reason: str,
        by: str,
        act: bool = True,
    ) -> None:
        """A breaker raises ``parent``'s own state (never lowers one: see risk.states) and the
        alert fires (a warning line; the metrics show the state). ``act`` off: the parent is
        planning and acts on it itself."""
        now = self.clock.now_ns()
        if not self.trading.trip(Scope.PARENT, parent.id, state, reason=reason, by=by, now_ns=now):
            return
        log.warning("breaker tripped", parent=parent.id, state=state.label, reason=reason, by=by)
        self.breaker_trips[by] += 1
        if act:
            self._apply_trading(Scope.PARENT, parent.id, True, reason)
        else:
            parent.trading_seen = parent.trading.state
            self.note(parent, parent.trading_seen.label, reason=reason, by=by)

    def alert(self, parent: ParentExecutor, name: str, **fields: object) -> None:
        """Something an operator should look at now: a warning line, counted by name."""
        self.alerts[name] += 1
        log.warning(name, parent=parent.id, cl_ord_id=parent.cl_ord_id, **fields)

    def _apply_trading(self, scope: Scope, key: str, cancel_working: bool, reason: str) -> None:
        now = self.clock.now_ns()
        if scope is Scope.PARENT:
            targets = [p for p in (self.parents.get(key),) if p is not None]
        elif scope is Scope.SYMBOL:
            targets = list(self.symbols[key].parents) if key in self.symbols else []
        else:
            targets = list(self.parents.values())
        outer = self._hold_notes()
        try:
            for parent in targets:
                if parent.state.final:
                    continue
                eff = parent.trading
                before, parent.trading_seen = parent.trading_seen, eff.state
                if eff.state is before:
                    continue
                if eff.state is TradingState.HALTED:
                    parent.halt_cancels = cancel_working
                    if cancel_working:
                        for child in parent.live_children:
                            parent.cancel_child(now, child, eff.reason or "halted")
                    self.note(parent, "halted", reason=eff.reason, by=eff.by)
                    # The OMS hears that nothing is being worked, and why.
                    self._report(parent, ExecType.SUSPENDED, text=f"halted: {eff.reason}")
                    continue
                if before is TradingState.HALTED:
                    self._report(parent, ExecType.RESTATED, text=f"resumed: {reason}")
                parent.plan = None  # time has passed, or the urgency changed: plan afresh
                self.note(parent, eff.state.label, reason=eff.reason or reason, by=eff.by)
                parent.decide(now)
        finally:
            if outer:
                self._release_notes()

    def halt(self, parent_id: str | None = None, reason: str = "operator halt") -> None:
        """The kill switch: one parent, or everything (and no new parents). Working children
        are cancelled; the parents stay working and resume where the plan then stands."""
        scope, key = (Scope.GLOBAL, "") if parent_id is None else (Scope.PARENT, parent_id)
        self.set_trading_state(scope, key, TradingState.HALTED, reason=reason)

    def resume(self, parent_id: str | None = None) -> None:
        """Back to ACTIVE (one parent, or the global scope); a parent still covered by another
        scope's HALTED stays halted."""
        scope, key = (Scope.GLOBAL, "") if parent_id is None else (Scope.PARENT, parent_id)
        self.set_trading_state(scope, key, TradingState.ACTIVE, reason="resumed")

    def parent_by_clordid(self, cl_ord_id: str) -> ParentExecutor | None:
        return self._by_clordid.get(cl_ord_id)

    def _index(self, parent: ParentExecutor, cl_ord_id: str) -> None:
        self._by_clordid[cl_ord_id] = parent
        parent.oms_ids.append(cl_ord_id)

    def _forget(self, parent: ParentExecutor) -> None:
        """Drop a finished parent's records once its retention has passed: a daemon that runs
        for weeks holds what is working and what finished recently, not its whole history."""
        if self.parents.get(parent.id) is not parent:
            return
        del self.parents[parent.id]
        # Counters must not go down when their subjects go: the children's final states live
        # on as totals (every child of a finished parent is final).
        self.forgotten_children.update(c.state for c in parent.children.values())
        for cl_ord_id in parent.oms_ids:
            if self._by_clordid.get(cl_ord_id) is parent:
                del self._by_clordid[cl_ord_id]
        for n in range(1, parent.ids_issued + 1):  # children and their cancels
            self._children.pop(f"{parent.id}-{n}", None)
        self.reports.pop(parent.id, None)
        self.verdicts.pop(parent.id, None)
        self.verdict_counts.pop(parent.id, None)
        self.trading.forget_parent(parent.id)
        self.stats.finished_ns.pop(parent.id, None)

    # --- reports ----------------------------------------------------------------------------------

    def _exec_id(self) -> str:
        return f"{self.cfg.engine_id}{self.run_tag}E{next(self._exec_seq)}"

    def _report(
        self,
        parent: ParentExecutor,
        exec_type: ExecType,
        *,
        last_qty: int = 0,
        last_price: int | None = None,
        text: str = "",
        orig: str | None = None,
        cl_ord_id: str | None = None,
    ) -> None:
        now = self.clock.now_ns()
        status = _PARENT_STATUS[parent.state]
        if exec_type is ExecType.REPLACED and status is OrdStatus.PENDING_REPLACE:
            status = OrdStatus.PARTIALLY_FILLED if parent.filled else OrdStatus.NEW
        elif exec_type is ExecType.SUSPENDED and not parent.state.final:
            status = OrdStatus.SUSPENDED
        if cl_ord_id is not None:  # a pending replace: the request's ClOrdID, the order's orig
            ids = (cl_ord_id, parent.cl_ord_id)
        else:
            ids = (parent.cl_ord_id, orig if orig is not None else parent.orig_cl_ord_id)
        report = ExecutionReport(
            exec_id=self._exec_id(),
            cl_ord_id=ids[0],
            orig_cl_ord_id=ids[1],
            venue_order_id=parent.id,
            exec_type=exec_type,
            ord_status=status,
            symbol=parent.symbol,
            side=parent.side,
            order_qty=parent.qty,
            price=parent.limit_price,
            last_qty=last_qty,
            last_price=last_price,
            cum_qty=parent.filled,
            leaves_qty=parent.leaves,
            avg_price=parent.avg_price,
            ts_event=now,
            ts_init=now,
            text=text,
        )
        self.reports.setdefault(parent.id, []).append(report)
        # Recorded before it is handed over: the daemon's outbox sends it once the journal
        # holds it (engine/oms_outbox.py), so the OMS never sees a report a crash takes back.
        if self.journal is not None:
            self.journal.record(Kind.REPORT, now, report, parent=parent.id)
        self.oms.send_report(parent.order.session, report)


def _base36(n: int) -> str:
    digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if n == 0:
            return out
