"""The engine against a venue whose every move hypothesis chooses (a stateful property test).

The fault-injecting simulator (test_engine_invariants.py) draws its faults at fixed rates over
a realistic market. Here hypothesis drives a scripted venue step by step instead, and shrinks
what breaks to the shortest sequence: acknowledgements, rejects, partial fills, cancels
processed late, fills delivered after the cancel that followed them, lost and duplicated
reports, disconnections, status answers, market prints and quotes, the OMS replacing or
cancelling the parent, and halts. The venue keeps the truth (what it filled, when); after every
step the invariants are checked against it, not against the engine's own counts:

- never overfilled: the venue's fills for the parent <= its quantity;
- nothing counted twice or invented: each child's count equals the largest cumulative quantity
  the engine was told, and never exceeds the venue's;
- one child at a time: a child is sent only when every earlier one is final at the venue;
- nothing sent at or after the deadline, or while halted, and no ClOrdID used twice;
- the participation cap over every trailing window and since the start (our fills are prints
  on the tape too).

The venue is honest about time where a real one is: a cancel is processed within
``cancel_allowance_s`` of its request, an IOC ends within the same allowance, and an order is
filled only while it is live. At the end the venue is reconnected, every report delivered and
the clock run past the deadline: the parent must end, with the engine's fills equal to the
venue's and the OMS told the same.
"""

from __future__ import annotations

import bisect
import logging
import os
import tempfile
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import structlog
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from engine.clock import NS, SimClock
from engine.config import EngineConfig, RiskConfig, SymbolConfig
from engine.engine import Engine
from engine.events import (
    BookSnapshot,
    CancelOrder,
    CancelReject,
    ExecType,
    ExecutionReport,
    NewOrder,
    OrdStatus,
    ReplaceOrder,
    StatusRequest,
    TimeInForce,
    Trade,
    VenueEvent,
    order_report,
    unknown_order_status,
)
from engine.executor import ParentExecutor
from engine.journal import Journal
from engine.orders import ChildState, ParentState
from engine.parent_events import ParentCancel, ParentOrder, ParentReplace
from engine.replay import replay
from engine.simrun import RecordingOms
from risk.states import Scope, TradingState
from strategies.schedule import Side

structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.CRITICAL))

T0 = 36_000 * NS  # 10:00, inside the session
SYMBOL = "XYZ"
MID = 500_000  # $50.00 in price units
TICK = 100
HORIZON_S = 600
CFG = EngineConfig(
    symbols={SYMBOL: SymbolConfig(daily_volume=6_000_000)},
    seed=7,
    feasibility_margin=50.0,  # thin scripted markets: let the parent in, the cap must hold
    risk=RiskConfig(var_limit=0.0),
)
ALLOWANCE = round(CFG.cancel_allowance_s * NS)
WINDOW = round(CFG.cap_window_s * NS)
_FINAL = frozenset({OrdStatus.FILLED, OrdStatus.CANCELED, OrdStatus.REJECTED, OrdStatus.EXPIRED})


@dataclass
class _Order:
    """The venue's truth about one child order."""

    order: NewOrder
    arrived_ns: int
    venue_id: str
    status: OrdStatus = OrdStatus.NEW
    cum_qty: int = 0
    notional: float = 0.0
    cancel_at_ns: int | None = None  # when our cancel reached the venue
    queue: deque[ExecutionReport] = field(default_factory=deque)  # not yet delivered, in order

    # OrderState, for order_report
    @property
    def cl_ord_id(self) -> str:
        return self.order.cl_ord_id

    @property
    def venue_order_id(self) -> str:
        return self.venue_id

    @property
    def side(self) -> Side:
        return self.order.side

    @property
    def order_qty(self) -> int:
        return self.order.qty

    @property
    def price(self) -> int | None:
        return self.order.price

    @property
    def leaves(self) -> int:
        return 0 if self.status in _FINAL else self.order.qty - self.cum_qty

    @property
    def avg_price(self) -> float:
        return self.notional / self.cum_qty if self.cum_qty else 0.0

    @property
    def final(self) -> bool:
        return self.status in _FINAL

    def may_fill(self, now: int) -> bool:
        if self.final:
            return False
        if self.order.tif is TimeInForce.IOC and now >= self.arrived_ns + ALLOWANCE:
            return False
        return self.cancel_at_ns is None or now < self.cancel_at_ns + ALLOWANCE


class ScriptedVenue:
    """A venue port whose matching and delivery the test drives. Keeps the truth."""

    def __init__(self, clock: SimClock, on_print: Callable[[int, int], None]) -> None:
        self.clock = clock
        self.on_print = on_print  # our fills are prints on the tape too
        self.sink: Callable[[VenueEvent], None] | None = None
        self.connected = True
        self.orders: dict[str, _Order] = {}
        self.sent: list[tuple[int, NewOrder]] = []
        self.cancels: list[tuple[int, CancelOrder]] = []
        self.status_requests = 0
        self.lost: list[NewOrder] = []  # sent while the session was down: never arrived
        self.fills: list[tuple[int, int, str]] = []  # (ts, qty, ClOrdID): the truth
        self.violations: list[str] = []
        self.before_send: Callable[[NewOrder], None] | None = None
        self.cancel_rejects: deque[CancelReject] = deque()
        self._ids = 0

    # --- the port --------------------------------------------------------------------------------

    def connect(self, sink: Callable[[VenueEvent], None]) -> None:
        self.sink = sink

    def submit(self, order: NewOrder) -> None:
        now = self.clock.now_ns()
        if self.before_send is not None:
            self.before_send(order)
        self.sent.append((now, order))
        if not self.connected:
            self.lost.append(order)
            return
        o = _Order(order, now, f"V{len(self.orders) + 1}")
        self.orders[order.cl_ord_id] = o
        o.queue.append(self._report(o, ExecType.NEW))

    def cancel(self, request: CancelOrder) -> None:
        self.cancels.append((self.clock.now_ns(), request))
        o = self.orders.get(request.orig_cl_ord_id)
        if not self.connected or o is None:
            if self.connected:
                self._reject_cancel(request, "unknown order")
            return
        if o.final:
            self._reject_cancel(request, f"too late: {o.status.value}")
        elif o.cancel_at_ns is None:
            o.cancel_at_ns = self.clock.now_ns()

    def replace(self, request: ReplaceOrder) -> None:
        raise AssertionError("the engine does not replace children; it cancels and sends anew")

    def request_status(self, request: StatusRequest) -> None:
        self.status_requests += 1
        if not self.connected:
            return
        o = self.orders.get(request.cl_ord_id)
        if o is None:
            self._deliver(unknown_order_status(request, exec_id=self._exec_id(), ts=self._now()))
            return
        o.queue.append(self._report(o, ExecType.ORDER_STATUS))

    # --- the venue's moves -----------------------------------------------------------------------

    def live(self) -> list[_Order]:
        return [o for o in self.orders.values() if not o.final]

    def with_queue(self) -> list[_Order]:
        return [o for o in self.orders.values() if o.queue]

    def reject(self, o: _Order) -> None:
        """Refuse an order whose acknowledgement is still undelivered and that never filled."""
        o.status = OrdStatus.REJECTED
        o.queue = deque(r for r in o.queue if r.exec_type is not ExecType.NEW)
        o.queue.appendleft(self._report(o, ExecType.REJECTED, text="scripted reject"))

    def fill(self, o: _Order, qty: int) -> None:
        now = self._now()
        qty = min(qty, o.leaves)
        price = o.order.price if o.order.price is not None else MID
        o.cum_qty += qty
        o.notional += qty * price
        o.status = OrdStatus.FILLED if o.cum_qty == o.order.qty else OrdStatus.PARTIALLY_FILLED
        o.queue.append(self._report(o, ExecType.TRADE, last_qty=qty, last_price=price))
        self.fills.append((now, qty, o.cl_ord_id))
        self.on_print(now, qty)

    def end(self, o: _Order) -> None:
        """Cancel (a requested cancel, or an IOC's unfilled rest)."""
        o.status = OrdStatus.CANCELED
        o.queue.append(self._report(o, ExecType.CANCELED))

    def obligations_before(self, ts: int) -> list[tuple[int, _Order]]:
        """What an honest venue must do by ``ts``: end IOCs, process requested cancels."""
        due = []
        for o in self.live():
            if o.order.tif is TimeInForce.IOC:
                due.append((o.arrived_ns + ALLOWANCE // 2, o))
            elif o.cancel_at_ns is not None:
                due.append((o.cancel_at_ns + ALLOWANCE // 2, o))
        return sorted(((t, o) for t, o in due if t <= ts), key=lambda d: d[0])

    def deliver_next(self, o: _Order, *, duplicate: bool = False, drop: bool = False) -> None:
        report = o.queue[0] if duplicate else o.queue.popleft()
        if drop and report.exec_type is not ExecType.ORDER_STATUS:
            return  # lost (a status answer is not: the fixsim's faults exempt it too)
        self._deliver(replace(report, possible_duplicate=True) if duplicate else report)

    def deliver_cancel_before_fill(self, o: _Order) -> None:
        """The fill raced the cancel: the cancel's report arrives first, the fill after it."""
        first, second = o.queue[0], o.queue[1]
        del o.queue[1]
        self._deliver(second)
        assert first is o.queue[0]

    def end_cancelled(self) -> None:
        """Process every cancel that has reached the venue."""
        for o in self.live():
            if o.cancel_at_ns is not None:
                self.end(o)

    def deliver_cancel_rejects(self) -> None:
        while self.cancel_rejects and self.connected:
            self._deliver(self.cancel_rejects.popleft())

    # --- helpers ---------------------------------------------------------------------------------

    def _now(self) -> int:
        return self.clock.now_ns()

    def _exec_id(self) -> str:
        self._ids += 1
        return f"E{self._ids}"

    def _report(self, o: _Order, exec_type: ExecType, **kw: object) -> ExecutionReport:
        return order_report(
            o, exec_type, exec_id=self._exec_id(), symbol=SYMBOL, ts=self._now(), **kw
        )  # type: ignore[arg-type]

    def _reject_cancel(self, request: CancelOrder, reason: str) -> None:
        o = self.orders.get(request.orig_cl_ord_id)
        self.cancel_rejects.append(
            CancelReject(
                request.cl_ord_id,
                request.orig_cl_ord_id,
                None if o is None else o.venue_id,
                None if o is None else o.status,
                "cancel",
                reason,
                self._now(),
                self._now(),
            )
        )

    def _deliver(self, event: VenueEvent) -> None:
        assert self.sink is not None
        self.sink(event)


@settings(
    # A deeper search than CI's: UNWIND_PROPERTY_EXAMPLES=400 (docs/risk.md).
    max_examples=int(os.environ.get("UNWIND_PROPERTY_EXAMPLES", "100")),
    stateful_step_count=80,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
class EngineAgainstAScriptedVenue(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.clock = SimClock(T0)
        self.tape: list[tuple[int, int]] = []
        self.venue = ScriptedVenue(self.clock, self._print_ours)
        self.oms = RecordingOms()
        # Journaled, and replayed at the end: the same inputs must give the same decisions.
        self.journal_dir = tempfile.TemporaryDirectory()
        self.journal = Journal(Path(self.journal_dir.name) / "j.sqlite", flush_interval_s=0)
        self.engine = Engine(
            CFG, self.clock, self.venue, self.oms, run_tag="T", journal=self.journal
        )
        self.venue.before_send = self._before_send
        self.delivered_cum: dict[str, int] = {}
        self.halted = False
        self.mid = MID
        self.trades = 0
        self.parents: list[ParentExecutor] = []  # one, or two sharing the symbol
        self.start_ns = T0
        self.end_ns = T0

    # --- setup -----------------------------------------------------------------------------------

    @initialize(
        qty_lots=st.integers(10, 200),
        strategy=st.sampled_from(["twap", "vwap", "pov", "ac", "dp", "adaptive"]),
        side=st.sampled_from([Side.BUY, Side.SELL]),
        cap=st.sampled_from([0.05, 0.1, 0.15]),
        history=st.lists(st.integers(5, 50), min_size=10, max_size=30),
        second=st.none()
        | st.tuples(
            st.integers(10, 200),
            st.sampled_from(["twap", "pov", "ac", "adaptive"]),
            st.sampled_from([Side.BUY, Side.SELL]),
        ),
    )
    def start(
        self,
        qty_lots: int,
        strategy: str,
        side: Side,
        cap: float,
        history: list[int],
        second: tuple[int, str, Side] | None = None,
    ) -> None:
        self._quote()
        for lots in history:  # a tape before the order: volume to trade against
            self.advance_clock(NS)
            self._print(lots * 100)
        now = self.clock.now_ns()
        self.start_ns, self.end_ns = now, now + HORIZON_S * NS
        orders = [(qty_lots, strategy, side)] + ([second] if second is not None else [])
        for i, (lots, strat, sd) in enumerate(orders):
            # A second parent shares the symbol, and so the symbol-wide cap.
            self.parents.append(
                self.engine.submit(
                    ParentOrder(
                        cl_ord_id=f"P{i + 1}",
                        symbol=SYMBOL,
                        side=sd,
                        qty=lots * 100,
                        strategy=strat,
                        end_ns=self.end_ns,
                        ts_init=now,
                        participation_cap=cap,
                    )
                )
            )

    # --- the market ------------------------------------------------------------------------------

    @rule(lots=st.integers(1, 80))
    def market_print(self, lots: int) -> None:
        self._print(lots * 100)

    @rule(ticks=st.integers(-3, 3))
    def quote_moves(self, ticks: int) -> None:
        self.mid += ticks * TICK
        self._quote()

    @rule(ms=st.integers(1, 20_000))
    def time_passes(self, ms: int) -> None:
        self.advance_clock(ms * 1_000_000)

    @rule(lots=st.integers(1, 40), ms=st.integers(100, 5_000), share=st.floats(0.1, 1.0))
    def busy_market(self, lots: int, ms: int, share: float) -> None:
        """A print, time passing, and the oldest order that may fill filled in part: one step,
        so the examples trade (the moves one by one rarely line up)."""
        self._print(lots * 100)
        self.advance_clock(ms * 1_000_000)
        now = self.clock.now_ns()
        live = [o for o in self.venue.live() if o.may_fill(now)]
        if live:
            self.venue.fill(live[0], max(100, round(live[0].leaves * share / 100) * 100))

    # --- the venue: matching ---------------------------------------------------------------------

    @precondition(lambda self: any(o.may_fill(self.clock.now_ns()) for o in self.venue.live()))
    @rule(data=st.data(), share=st.floats(0.01, 1.0))
    def venue_fills(self, data: st.DataObject, share: float) -> None:
        now = self.clock.now_ns()
        o = data.draw(st.sampled_from([o for o in self.venue.live() if o.may_fill(now)]))
        self.venue.fill(o, max(100, round(o.leaves * share / 100) * 100))

    @precondition(
        lambda self: any(
            o.cum_qty == 0 and o.queue and o.queue[0].exec_type is ExecType.NEW
            for o in self.venue.live()
        )
    )
    @rule(data=st.data())
    def venue_rejects(self, data: st.DataObject) -> None:
        o = data.draw(
            st.sampled_from(
                [
                    o
                    for o in self.venue.live()
                    if o.cum_qty == 0 and o.queue and o.queue[0].exec_type is ExecType.NEW
                ]
            )
        )
        self.venue.reject(o)

    @precondition(
        lambda self: any(
            o.cancel_at_ns is not None or o.order.tif is TimeInForce.IOC for o in self.venue.live()
        )
    )
    @rule(data=st.data())
    def venue_ends_an_order(self, data: st.DataObject) -> None:
        o = data.draw(
            st.sampled_from(
                [
                    o
                    for o in self.venue.live()
                    if o.cancel_at_ns is not None or o.order.tif is TimeInForce.IOC
                ]
            )
        )
        self.venue.end(o)

    # --- the venue: delivery ---------------------------------------------------------------------

    @precondition(lambda self: self.venue.connected and self.venue.with_queue())
    @rule(data=st.data(), how=st.sampled_from(["deliver", "deliver", "deliver", "dup", "drop"]))
    def venue_delivers(self, data: st.DataObject, how: str) -> None:
        o = data.draw(st.sampled_from(self.venue.with_queue()))
        self._deliver(o, duplicate=how == "dup", drop=how == "drop")

    @precondition(
        lambda self: (
            self.venue.connected
            and any(
                len(o.queue) > 1
                and o.queue[0].exec_type is ExecType.TRADE
                and o.queue[1].exec_type is ExecType.CANCELED
                for o in self.venue.orders.values()
            )
        )
    )
    @rule(data=st.data())
    def cancel_report_overtakes_a_fill(self, data: st.DataObject) -> None:
        o = data.draw(
            st.sampled_from(
                [
                    o
                    for o in self.venue.orders.values()
                    if len(o.queue) > 1
                    and o.queue[0].exec_type is ExecType.TRADE
                    and o.queue[1].exec_type is ExecType.CANCELED
                ]
            )
        )
        cum = o.queue[1].cum_qty
        self.venue.deliver_cancel_before_fill(o)
        self._told(o.cl_ord_id, cum)

    @precondition(lambda self: self.venue.connected and bool(self.venue.cancel_rejects))
    @rule()
    def venue_refuses_cancels(self) -> None:
        self.venue.deliver_cancel_rejects()

    @precondition(lambda self: self.venue.connected)
    @rule()
    def session_drops(self) -> None:
        self.venue.connected = False
        self.engine.on_venue_session(False)

    @precondition(lambda self: not self.venue.connected)
    @rule()
    def session_returns(self) -> None:
        self.venue.connected = True
        self.engine.on_venue_session(True)

    # --- the OMS and the operator ----------------------------------------------------------------

    @rule(lots=st.integers(1, 300), n=st.integers(1, 1_000_000), which=st.integers(0, 1))
    def oms_replaces(self, lots: int, n: int, which: int = 0) -> None:
        p = self._parent(which)
        self.engine.on_parent_command(
            ParentReplace(
                cl_ord_id=f"R{n}",
                orig_cl_ord_id=p.cl_ord_id,
                symbol=SYMBOL,
                side=p.side,
                ts_init=self.clock.now_ns(),
                qty=lots * 100,
            )
        )

    @rule(which=st.integers(0, 1))
    def oms_cancels(self, which: int = 0) -> None:
        p = self._parent(which)
        self.engine.on_parent_command(
            ParentCancel(
                cl_ord_id=f"C{which}",
                orig_cl_ord_id=p.cl_ord_id,
                symbol=SYMBOL,
                side=p.side,
                ts_init=self.clock.now_ns(),
            )
        )

    @rule(on=st.booleans())
    def operator_halts_or_resumes(self, on: bool) -> None:
        state = TradingState.HALTED if on else TradingState.ACTIVE
        self.halted = on  # first: nothing may go out while the halt itself is applied
        self.engine.set_trading_state(Scope.GLOBAL, "", state, reason="test")

    # --- the invariants --------------------------------------------------------------------------

    @invariant()
    def never_overfilled_nor_double_counted(self) -> None:
        for p in self.parents:
            truth = self._truth(p)
            assert truth <= p.qty, f"{p.id} overfilled: the venue filled {truth} of {p.qty}"
            for cid, child in p.children.items():
                o = self.venue.orders.get(cid)
                assert child.cum_qty == self.delivered_cum.get(cid, 0), cid
                assert child.cum_qty <= (0 if o is None else o.cum_qty), cid
            assert p.filled == sum(c.cum_qty for c in p.children.values())

    @invariant()
    def nothing_sent_that_should_not_have_been(self) -> None:
        assert self.venue.violations == [], self.venue.violations

    @invariant()
    def within_the_cap(self) -> None:
        if not self.venue.fills:
            return
        ts = [t for t, _ in self.tape]
        cum = [0]
        for _, q in self.tape:
            cum.append(cum[-1] + q)

        def market(lo: int, hi: int) -> int:  # prints in (lo, hi]
            return cum[bisect.bisect_right(ts, hi)] - cum[bisect.bisect_right(ts, lo)]

        def check(fills: list[tuple[int, int, str]], cap: float, since_start: bool) -> None:
            for i, (t, _, _) in enumerate(fills):
                ours = sum(q for u, q, _ in fills[: i + 1] if u > t - WINDOW)
                mkt = market(t - WINDOW, t)
                assert ours <= cap * mkt + 1e-6, (t, ours, mkt, cap)
                if since_start:
                    since = sum(q for _, q, _ in fills[: i + 1])
                    assert since <= cap * market(self.start_ns - 1, t) + 1e-6

        for p in self.parents:  # each parent's cap, over the window and since its start
            check([f for f in self.venue.fills if f[2] in p.children], p.cap, True)
        check(self.venue.fills, CFG.symbol_participation, False)  # every parent together

    def teardown(self) -> None:
        try:
            self._settle()
            self.journal.close()
            if self.parents:
                result = replay(self.journal.path)
                assert result.divergence is None, result.divergence
        finally:
            self.journal.close()
            self.journal_dir.cleanup()

    def _settle(self) -> None:
        if not self.parents:
            return
        # Settle: the session back, the operator resumes, every report delivered, the market
        # trading until past the deadline. The parent must end, its fills the venue's.
        if not self.venue.connected:
            self.session_returns()
        if self.halted:
            # A halt leaves nothing working once the venue has answered.
            for _ in range(10):
                self._drain()
                self.advance_clock(2 * NS)
            self._drain()
            assert self.venue.live() == [], [o.cl_ord_id for o in self.venue.live()]
            self.operator_halts_or_resumes(False)
        while self.clock.now_ns() < self.end_ns + 60 * NS:
            self._drain()
            self._print(1_000)
            self.advance_clock(2 * NS)
        self._drain()
        assert self.venue.violations == [], self.venue.violations
        assert all(o.final for o in self.venue.orders.values())
        if currently_in_test_context():  # what the examples covered (--hypothesis-show-statistics)
            filled = sum(p.filled > 0 for p in self.parents)
            event(f"{len(self.parents)} parent(s), {filled} filled")
        for p in self.parents:
            assert p.state.final, (p.id, p.state)
            assert p.filled == self._truth(p), (p.id, p.filled, self._truth(p))
            told = max((r.cum_qty for r in self.oms.reports if r.venue_order_id == p.id), default=0)
            assert told == p.filled

    # --- helpers ---------------------------------------------------------------------------------

    def _parent(self, which: int = 0) -> ParentExecutor:
        assert self.parents
        return self.parents[which % len(self.parents)]

    def _truth(self, p: ParentExecutor) -> int:
        """What the venue filled for ``p``'s children."""
        return sum(o.cum_qty for cid, o in self.venue.orders.items() if cid in p.children)

    def _before_send(self, order: NewOrder) -> None:
        now = self.clock.now_ns()
        bad = self.venue.violations
        if now >= self.end_ns:
            bad.append(f"{order.cl_ord_id} sent at or after the deadline")
        if self.halted:
            bad.append(f"{order.cl_ord_id} sent while halted")
        if order.cl_ord_id in self.venue.orders or any(
            o.cl_ord_id == order.cl_ord_id for _, o in self.venue.sent
        ):
            bad.append(f"{order.cl_ord_id} used twice")
        # One child at a time per parent (another parent's may be working beside it).
        owner = next((p for p in self.parents if order.cl_ord_id in p.children), None)
        if owner is None:
            bad.append(f"{order.cl_ord_id} sent by no parent")
            return
        live = [o.cl_ord_id for o in self.venue.live() if o.cl_ord_id in owner.children]
        if live:
            bad.append(f"{order.cl_ord_id} sent while {live} may still fill")

    def _deliver(self, o: _Order, *, duplicate: bool = False, drop: bool = False) -> None:
        report = o.queue[0]
        self.venue.deliver_next(o, duplicate=duplicate, drop=drop)
        if not drop or report.exec_type is ExecType.ORDER_STATUS:
            self._told(report.cl_ord_id, report.cum_qty)

    def venue_delivers_all(self) -> None:
        self._drain()

    def _told(self, cl_ord_id: str, cum: int) -> None:
        self.delivered_cum[cl_ord_id] = max(self.delivered_cum.get(cl_ord_id, 0), cum)

    def _drain(self) -> None:
        for _ in range(10_000):
            self.venue.deliver_cancel_rejects()
            pending = self.venue.with_queue()
            if not pending:
                return
            self._deliver(pending[0])
        raise AssertionError("the venue's reports never drained")

    def advance_clock(self, dt: int) -> None:
        """Move time on, with what the venue must do on the way done at its time."""
        target = self.clock.now_ns() + dt
        while True:
            due = self.venue.obligations_before(target)
            timer = self.clock.next_timer_ns()
            nxt = min([t for t, _ in due[:1]] + ([timer] if timer is not None else []) + [target])
            if due and due[0][0] == nxt:
                self.clock.advance_to(max(nxt, self.clock.now_ns()))
                self.venue.end(due[0][1])
                continue
            if nxt >= target:
                break
            self.clock.advance_to(nxt)
        self.clock.advance_to(target)

    def _print(self, size: int) -> None:
        now = self.clock.now_ns()
        self.trades += 1
        self.tape.append((now, size))
        self.engine.on_market_event(
            Trade(SYMBOL, self.mid, size, None, f"T{self.trades}", now, now)
        )

    def _print_ours(self, ts: int, qty: int) -> None:
        self.trades += 1
        self.tape.append((ts, qty))
        self.engine.on_market_event(Trade(SYMBOL, self.mid, qty, None, f"T{self.trades}", ts, ts))

    def _quote(self) -> None:
        now = self.clock.now_ns()
        half = TICK
        self.engine.on_market_event(
            BookSnapshot(
                SYMBOL,
                tuple((self.mid - half - i * TICK, 1_000) for i in range(5)),
                tuple((self.mid + half + i * TICK, 1_000) for i in range(5)),
                now,
                now,
            )
        )


TestEngineAgainstAScriptedVenue = EngineAgainstAScriptedVenue.TestCase


def _machine_with_a_resting_child() -> tuple[EngineAgainstAScriptedVenue, _Order]:
    m = EngineAgainstAScriptedVenue()
    m.start(qty_lots=50, strategy="twap", side=Side.BUY, cap=0.15, history=[40] * 30)
    for _ in range(300):
        live = [o for o in m.venue.live() if o.order.tif is TimeInForce.DAY]
        if live and live[0].order.qty >= 200:
            return m, live[0]
        m.market_print(20)
        m.time_passes(1_000)
    raise AssertionError("no resting child of 200 shares or more in 300 s")


def test_a_replace_below_what_may_fill_is_pending_until_the_children_are_done() -> None:
    # The OMS cuts the parent to what has filled plus one lot while a larger child rests. The
    # child fills before the venue sees the cancel: the replace cannot be honoured and must be
    # refused, never reported done and then overfilled.
    m, child = _machine_with_a_resting_child()
    p = m._parent()
    m.venue_delivers_all()
    old_qty = p.qty
    m.oms_replaces(lots=p.filled // 100 + 1, n=1)
    assert p.qty == old_qty and m.oms.reports[-1].exec_type is ExecType.PENDING_REPLACE
    m.venue.fill(child, child.leaves)  # before the cancel reaches the book
    m.venue.end_cancelled()
    m.venue_delivers_all()
    assert m.oms.cancel_rejects[-1].response_to == "replace"
    assert p.qty == old_qty and p.filled <= p.qty
    m.never_overfilled_nor_double_counted()
    m.teardown()

    # The same cut, the child cancelled before it fills: the replace is done.
    m, child = _machine_with_a_resting_child()
    p = m._parent()
    m.venue_delivers_all()
    m.oms_replaces(lots=p.filled // 100 + 1, n=2)
    m.venue.end_cancelled()
    m.venue_delivers_all()
    assert m.oms.reports[-1].exec_type is ExecType.REPLACED
    assert p.qty == p.filled + 100 and m.oms.reports[-1].order_qty == p.qty
    m.teardown()


def test_a_status_answer_that_says_rejected_ends_the_child_whatever_its_order_id() -> None:
    # The venue refused the child, the refusal was lost, and the status answer says REJECTED
    # with the venue's own OrderID (not NONE). The child is over; before, it stayed unknown
    # and was asked about again at every answer, without end.
    m = EngineAgainstAScriptedVenue()
    m.start(qty_lots=50, strategy="twap", side=Side.BUY, cap=0.15, history=[40] * 30)
    for _ in range(300):
        if m.venue.live():
            break
        m.market_print(20)
        m.time_passes(1_000)
    o = m.venue.live()[0]
    m.venue.reject(o)
    m.venue.deliver_next(o, drop=True)  # the refusal is lost
    m.time_passes(round(CFG.ack_timeout_s * 1_000) + 1)  # the ack timer asks
    m.venue_delivers_all()
    child = m._parent().children[o.cl_ord_id]
    assert child.state is ChildState.REJECTED
    assert m.venue.status_requests == 1
    m.teardown()


def test_a_cancel_the_venue_never_took_is_sent_again_after_the_status_says_live() -> None:
    m, o = _machine_with_a_resting_child()
    m.venue_delivers_all()
    m.oms_cancels()
    assert [c.orig_cl_ord_id for _, c in m.venue.cancels] == [o.cl_ord_id]
    o.cancel_at_ns = None  # lost on the way: the order rests on
    m.time_passes(round(CFG.ack_timeout_s * 1_000) + 1)  # the cancel's timer asks
    m.venue_delivers_all()
    assert [c.orig_cl_ord_id for _, c in m.venue.cancels] == [o.cl_ord_id] * 2
    m.time_passes(ALLOWANCE // 1_000_000)  # the venue takes the second one
    m.venue_delivers_all()
    assert m._parent().state is ParentState.CANCELED
    m.teardown()


def test_a_replace_while_a_child_is_unknown_cancels_it_once_the_venue_says_it_lives() -> None:
    m, o = _machine_with_a_resting_child()
    m.venue_delivers_all()
    m.session_drops()  # the child is unknown
    p = m._parent()
    m.oms_replaces(lots=p.filled // 100 + 1, n=1)
    assert p.state is ParentState.PENDING_REPLACE and m.venue.cancels == []
    m.session_returns()  # status asked, answered NEW: now the cancel goes
    m.venue_delivers_all()
    assert [c.orig_cl_ord_id for _, c in m.venue.cancels] == [o.cl_ord_id]
    m.time_passes(ALLOWANCE // 1_000_000)
    m.venue_delivers_all()
    assert p.qty == p.filled + 100 and m.oms.reports[-1].exec_type is ExecType.REPLACED
    m.teardown()


def test_a_halt_while_the_session_is_down_cancels_the_child_once_the_venue_says_it_rests() -> None:
    m, o = _machine_with_a_resting_child()
    m.venue_delivers_all()
    m.session_drops()
    m.operator_halts_or_resumes(on=True)  # the cancel cannot go out now
    assert m.venue.cancels == []
    m.session_returns()
    m.venue_delivers_all()  # the status says it rests: the halt's cancel goes
    assert [c.orig_cl_ord_id for _, c in m.venue.cancels] == [o.cl_ord_id]
    m.time_passes(ALLOWANCE // 1_000_000)
    m.venue_delivers_all()
    assert m._parent().live_children == [] and m.venue.live() == []
    m.teardown()
