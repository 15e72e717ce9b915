"""Run the engine against the market simulator in simulated time: no sockets, no sleeping.

The same :class:`~engine.engine.Engine` as the daemon, wired to a
:class:`~adapters.sim.market.MarketSimulator` (venue and feed) and a
:class:`~engine.clock.SimClock`. The driver interleaves the market's events and the engine's
timers in time order (timers first at a tie), so a run is a pure function of the seeds and the
parent orders. Tests use it for the invariants across many seeds; benchmarks and backtests
for speed.

:func:`check_invariants` (from :mod:`engine.invariants`, which a paper session over FIX uses
too) re-derives from :meth:`SimSession.record`, independently of the engine's own bookkeeping,
what must never happen: an overfill, a fill beyond the participation cap over the trailing
window or since the start, a child sent at or after the deadline, and a child sent while
another of the same parent might still fill.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from adapters.fixsim.faults import FaultConfig, FaultInjector, Outbound
from adapters.sim.config import MarketConfig
from adapters.sim.market import MarketSimulator
from engine.clock import NS, SimClock
from engine.config import EngineConfig
from engine.engine import Engine
from engine.events import (
    CancelOrder,
    CancelReject,
    ExecType,
    ExecutionReport,
    MarketEvent,
    NewOrder,
    ReplaceOrder,
    StatusRequest,
    Trade,
    VenueEvent,
    rejected_new_order,
)
from engine.invariants import Record, check_invariants
from engine.journal import Journal
from engine.parent_events import RejectReason
from engine.ports import SimulatedMarket

__all__ = ["RecordingOms", "RecordingVenue", "SimSession", "check_invariants"]


@dataclass
class RecordingOms:
    """The OMS side of a simulated session: keeps every parent report."""

    reports: list[ExecutionReport] = field(default_factory=list)
    rejects: list[tuple[ExecutionReport, RejectReason | None]] = field(default_factory=list)
    cancel_rejects: list[CancelReject] = field(default_factory=list)

    def send_report(
        self, session: str, report: ExecutionReport, reject_reason: RejectReason | None = None
    ) -> bool:
        self.reports.append(report)
        if report.exec_type is ExecType.REJECTED:
            self.rejects.append((report, reject_reason))
        return True

    def send_cancel_reject(self, session: str, reject: CancelReject) -> bool:
        self.cancel_rejects.append(reject)
        return True


class RecordingVenue:
    """The simulator's venue port, recording every instruction with its time, with the FIX
    simulator's seeded delivery faults (:mod:`adapters.fixsim.faults`) applied to its reports
    when ``faults`` is given: dropped, duplicated (PossDupFlag) and delayed reports, fills held
    past a cancel, random rejects. ``reports`` is the truth as the venue sent it."""

    def __init__(self, market: SimulatedMarket, faults: FaultConfig | None = None) -> None:
        self.market = market
        self.faults = None if faults is None else FaultInjector(faults)
        self.sent: list[tuple[int, NewOrder]] = []
        self.cancels: list[tuple[int, CancelOrder]] = []
        self.status_requests: list[tuple[int, StatusRequest]] = []
        self.reports: list[ExecutionReport] = []
        self._sink: Callable[[VenueEvent], None] | None = None
        self._reject_ids = itertools.count(1)

    def connect(self, sink: Callable[[VenueEvent], None]) -> None:
        self._sink = sink

        def record(event: VenueEvent) -> None:
            if isinstance(event, ExecutionReport):
                self.reports.append(event)
            if self.faults is None:
                sink(event)
            else:
                self._deliver(self.faults.route(Outbound("us", event), self.market.now_ns))

        self.market.connect(record)

    def _deliver(self, outs: list[Outbound]) -> None:
        assert self._sink is not None
        for out in outs:
            event = out.event
            if out.possdup and isinstance(event, ExecutionReport):
                event = replace(event, possible_duplicate=True)
            self._sink(event)

    def next_fault_ns(self) -> int | None:
        return None if self.faults is None else self.faults.next_deadline()

    def release_due(self, now: int) -> None:
        if self.faults is not None:
            self._deliver(self.faults.due(now))

    def submit(self, order: NewOrder) -> None:
        self.sent.append((self.market.now_ns, order))
        reason = None if self.faults is None else self.faults.new_order_reject()
        if reason is not None:
            now = self.market.now_ns
            report = rejected_new_order(
                order, exec_id=f"FAULT-R{next(self._reject_ids)}", reason=reason, ts=now
            )
            self.reports.append(report)
            assert self._sink is not None
            self._sink(report)
            return
        self.market.submit(order)

    def cancel(self, request: CancelOrder) -> None:
        self.cancels.append((self.market.now_ns, request))
        self.market.cancel(request)

    def replace(self, request: ReplaceOrder) -> None:
        self.market.replace(request)

    def request_status(self, request: StatusRequest) -> None:
        self.status_requests.append((self.market.now_ns, request))
        self.market.request_status(request)


class SimSession:
    """An engine, a simulated market and a simulated clock, driven together."""

    def __init__(
        self,
        market_cfg: MarketConfig | SimulatedMarket,
        engine_cfg: EngineConfig,
        faults: FaultConfig | None = None,
        *,
        venue: Callable[[Any, FaultConfig | None], RecordingVenue] = RecordingVenue,
        journal: Journal | None = None,
    ) -> None:
        # A config builds the market simulator; any other simulated market (the LOBSTER
        # replay venue) is driven as it is.
        self.market: Any = (
            MarketSimulator(market_cfg) if isinstance(market_cfg, MarketConfig) else market_cfg
        )
        self.clock = SimClock(self.market.now_ns)
        self.oms = RecordingOms()
        self.venue = venue(self.market, faults)
        self.engine = Engine(
            engine_cfg, self.clock, self.venue, self.oms, run_tag="S", journal=journal
        )
        self.tape: list[tuple[int, int]] = []  # every print: (ts, size)
        self.market.subscribe(self.market.symbol, self._on_market)

    def _on_market(self, event: MarketEvent) -> None:
        if isinstance(event, Trade):
            self.tape.append((event.ts_event, event.size))
        self.engine.on_market_event(event)

    def run_until(self, ts_ns: int) -> None:
        """Advance market and engine together to ``ts_ns``."""
        clock, market, venue = self.clock, self.market, self.venue
        while True:
            due = (market.next_event_ns, clock.next_timer_ns(), venue.next_fault_ns())
            nxt = min((t for t in due if t is not None), default=ts_ns)
            if nxt > ts_ns:
                break
            nxt = max(nxt, clock.now_ns())
            clock.advance_to(nxt)
            venue.release_due(nxt)
            market.advance_to(nxt)
        clock.advance_to(ts_ns)
        venue.release_due(ts_ns)
        market.advance_to(ts_ns)

    def run_for(self, seconds: float) -> None:
        self.run_until(self.clock.now_ns() + round(seconds * NS))

    def record(self) -> Record:
        """The engine beside the venue's truth, for :func:`check_invariants`: one clock, so a
        child arrives at the venue as the engine sends it."""
        return Record(engine=self.engine, reports=self.venue.reports, tape=self.tape)
