"""Benchmark: decision latency, from a market event in to a child order handed to the venue.

Target (issue 5): p99 under 200 microseconds. Run with ``make bench`` or
``.venv/bin/python tests/bench/bench_decision.py``.

What is timed: the engine's whole handling of one market event (book state, the regime
detector, every working parent of the symbol deciding, the risk gate, the child order built
and logged) up to the moment ``VenuePort.submit`` is called, for every event whose handling
sends a child. A second row gives the handling time of every market event, whether or not it
sends anything (the budget a feed's event rate draws on).

The market is the simulator (a real matching engine) in simulated time; ten seeded sessions,
each with four parents on one symbol (adaptive, pov, twap, vwap) over 20 minutes, after a warm-up
session that is not counted (first plans), with the daemon's start-up (compiled kernels loaded,
garbage collector tuned: ``engine/gctune.py``). Logging is on at ``info`` as in production,
JSON lines written to a file. The venue adapter boundary is modelled as it is in the
daemon: the child is handed over and the exchange sees it after the engine's handler returns
(the FIX adapter sends from QuickFIX's thread), so the exchange's matching never counts as
decision time.
"""

from __future__ import annotations

import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np

from adapters.sim.config import MarketConfig
from engine.clock import NS
from engine.config import EngineConfig, SymbolConfig
from engine.events import CancelOrder, MarketEvent, NewOrder, ReplaceOrder, StatusRequest
from engine.gctune import tune_gc_for_latency
from engine.logs import configure_logging
from engine.parent_events import ParentOrder
from engine.simrun import RecordingVenue, SimSession
from strategies.planner import warm_up
from strategies.schedule import Side

TARGET_P99_US = 200.0
SEEDS = range(1, 11)
STRATEGIES = ("adaptive", "pov", "twap", "vwap")
CFG = EngineConfig(symbols={"XYZ": SymbolConfig(daily_volume=6_000_000)}, seed=3)


class _Handoff:
    """The venue port as the engine sees it: records when a child is handed over; during a
    market event's handling the instruction is queued and reaches the exchange after it."""

    def __init__(self, venue: RecordingVenue, session: TimedSession) -> None:
        self.venue = venue
        self.session = session

    def connect(self, sink: Callable[..., None]) -> None:
        self.venue.connect(sink)

    def _pass(self, call: Callable[[], None]) -> None:
        if self.session.event_start is None:
            call()
        else:
            self.session.pending.append(call)

    def submit(self, order: NewOrder) -> None:
        start = self.session.event_start
        if start is not None:
            self.session.decisions_ns.append(time.perf_counter_ns() - start)
        self._pass(lambda: self.venue.submit(order))

    def cancel(self, request: CancelOrder) -> None:
        self._pass(lambda: self.venue.cancel(request))

    def replace(self, request: ReplaceOrder) -> None:
        self._pass(lambda: self.venue.replace(request))

    def request_status(self, request: StatusRequest) -> None:
        self._pass(lambda: self.venue.request_status(request))


class TimedSession(SimSession):
    def __init__(self, seed: int) -> None:
        self.event_start: int | None = None
        self.events_ns: list[int] = []
        self.decisions_ns: list[int] = []
        self.pending: list[Callable[[], None]] = []  # handed over during an event's handling
        super().__init__(MarketConfig(seed=seed), CFG)
        self.engine.venue = _Handoff(self.venue, self)

    def _on_market(self, event: MarketEvent) -> None:
        if self.event_start is not None:  # cannot happen: the exchange only sees us after
            raise AssertionError("market event inside a market event's handling")
        t0 = self.event_start = time.perf_counter_ns()
        super()._on_market(event)
        self.events_ns.append(time.perf_counter_ns() - t0)
        self.event_start = None
        queued, self.pending = self.pending, []
        for call in queued:
            call()


def _session(seed: int) -> TimedSession:
    s = TimedSession(seed)
    s.run_for(300)  # a book, a tape and a volatility estimate to start from
    now = s.clock.now_ns()
    for i, strategy in enumerate(STRATEGIES):
        s.engine.submit(
            ParentOrder(
                cl_ord_id=f"P{i}",
                symbol="XYZ",
                side=Side.SELL if i % 2 == 0 else Side.BUY,
                qty=20_000,
                strategy=strategy,
                end_ns=now + 1200 * NS,
                ts_init=now,
            )
        )
    s.events_ns.clear()
    s.decisions_ns.clear()
    s.run_for(1300)
    return s


def _row(label: str, ns: list[int]) -> tuple[str, float]:
    us = np.asarray(ns, dtype=np.float64) / 1000.0
    p50, p90, p99 = np.percentile(us, [50, 90, 99])
    line = (
        f"  {label:<34} n={len(us):>7,}  p50 {p50:7.1f}  p90 {p90:7.1f}  p99 {p99:7.1f}  "
        f"max {us.max():8.1f} us"
    )
    return line, float(p99)


def main() -> int:
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
        f"Python {platform.python_version()}"
    )
    with tempfile.TemporaryDirectory() as tmp, open(Path(tmp) / "engine.log", "w") as log_file:
        configure_logging("info", stream=log_file)
        warm_up()  # as the daemon does at start-up
        tune_gc_for_latency()
        _session(1000)  # warm-up, not counted
        events: list[int] = []
        decisions: list[int] = []
        t0 = time.perf_counter()
        children = 0
        for seed in SEEDS:
            s = _session(seed)
            events += s.events_ns
            decisions += s.decisions_ns
            children += len(s.venue.sent)
        wall = time.perf_counter() - t0
    print(
        f"  {len(SEEDS)} sessions x {len(STRATEGIES)} parents, 20 simulated minutes each; "
        f"{children:,} children in all; {wall:.1f} s"
    )
    line, p99 = _row("market event -> child handed over", decisions)
    passed = p99 < TARGET_P99_US
    print(f"{line}   target p99 < {TARGET_P99_US:.0f} us  {'PASS' if passed else 'FAIL'}")
    print(_row("market event handled (every event)", events)[0])
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
