"""Crash tests: the engine daemon, a real OS process, killed with SIGKILL and restarted.

Each session runs in this process the FIX exchange simulator (the paper market at 60x, its
clock anchored on the wall clock) and the demo OMS; the engine daemon runs as a child process
(``python -m engine.cli run --config``) on a configuration whose ``[clock]`` copies the
simulator's, so every run of it tells the same simulated time. The OMS sends two parents and
waits for their acks (a parent is journaled before it is acked), and sends another whenever
both have ended before the session's kills are done. Then, at each of the
session's seeded moments (tests/kit/crash.py: the venue has received a child and not acked
it; a burst of fills is part way out; a simulated time), the simulator's observer kills the
daemon with SIGKILL from inside the venue's handling, and the test starts it again on the same
configuration: the same journal, the same QuickFIX stores, so sequence numbers and resend do
their part. After the last kill the daemon runs until every parent is final, the sessions
settle, and it is stopped with SIGTERM (a clean drain, exit 0).

Then, against the simulator's own record: every parent FILLED; the journal verifies and
replays, through every restart, to the same decisions; the engine so rebuilt counted exactly
the venue's fills for every child, and every fill it journaled is one the venue made (same
quantity and price); no ClOrdID reached the venue twice; the invariants over the venue's
record hold (no overfill, one child at a time, nothing the engine does not own, the cap over
every window, nothing left live); and the OMS got exactly the engine's reports, each ExecID
with one content however often it came, LastQty summing to CumQty = the quantity.

Cost: a restart is 1.5 to 3 wall s (imports and numba's cache, the journal's replay, the
logons); 20 kills take about two minutes. ``UNWIND_CRASH_KILLS`` sets the total (default 20,
in sessions of at most 10; 3 is the least that still has one kill of each kind);
``make crash`` runs this module alone and prints every kill.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest
import structlog

from adapters.fix.oms_client import OmsClient, OmsClientConfig
from adapters.fix.parent_codec import ParentReport
from adapters.fix.wire import FixVersion
from adapters.fixsim.server import FixSimConfig, FixSimServer
from adapters.sim.config import MarketConfig
from adapters.sim.market import MarketSimulator
from engine.clock import NS, AcceleratedClock
from engine.events import ExecType, ExecutionReport, OrdStatus
from engine.invariants import Record, check_ends, find_violations, window_peaks
from engine.journal import Kind, read_records, verify
from engine.orders import ParentState
from engine.paper import PAPER_DAILY_VOLUME, PAPER_FLOW, QUICKFIX
from engine.parent_events import ParentOrder
from engine.replay import Replayer
from strategies.schedule import Side
from tests.kit.crash import DaemonProcess, KillSwitch, MomentKind, daemon_toml, draw_moments
from tests.kit.fix_client import free_port

SYMBOL = "XYZ"
SPEED = 60.0  # a restart of ~2 wall s is 2 simulated minutes without an engine
CAP = 0.15
CAP_WINDOW_S = 300.0
WARMUP_S = 60.0  # simulated seconds of market the engine sees before the parents
SETTLE_S = 30.0  # simulated seconds after the parents end (as engine/paper.py)
# Two parents on the symbol, pov: they rest passive children and cross the spread when
# behind (the bursts), and are sized to outlast ten kills most times and fill well before
# their end.
PARENTS = (120_000, 80_000)
TOP_UP = 40_000  # a parent sent if both end before the session's kills are done
HORIZON_S = 5_400.0
KILLS = int(os.environ.get("UNWIND_CRASH_KILLS", "20"))
PER_SESSION = 10
SEEDS = (11, 23, 37, 41, 53, 67, 79, 83, 97, 101)
STARTUP_WALL_S = 60.0  # fail-safe: a daemon run not logged on by then has failed
MOMENT_WALL_S = 60.0  # fail-safe: a moment not reached by then will not be
FINAL = {OrdStatus.FILLED, OrdStatus.CANCELED, OrdStatus.REJECTED, OrdStatus.DONE_FOR_DAY}
ENGINE = f"""[engine]
seed = 1
max_participation = {CAP}
default_participation = {CAP}
cap_window_s = {CAP_WINDOW_S}

[engine.risk]
symbol_participation = {2 * CAP}

[engine.symbols.{SYMBOL}]
daily_volume = {PAPER_DAILY_VOLUME}
"""


def _sessions(kills: int) -> list[tuple[int, int]]:
    """``(seed, kills)`` per session: as few sessions as hold ``kills`` at PER_SESSION each."""
    n = -(-kills // PER_SESSION)
    return [(SEEDS[i], kills // n + (i < kills % n)) for i in range(n)]


@dataclass
class OmsLog:
    """Every message the OMS receives, in order, read by a task of its own."""

    oms: OmsClient
    reports: list[ParentReport] = field(default_factory=list)
    others: list[object] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                got = await self.oms.receive(timeout=3600)
                (self.reports if isinstance(got, ParentReport) else self.others).append(got)
                self.changed.set()

    def of(self, cl_ord_id: str) -> list[ExecutionReport]:
        return [p.report for p in self.reports if p.report.cl_ord_id == cl_ord_id]

    def cum(self, cl_ord_id: str) -> int:
        return max((r.cum_qty for r in self.of(cl_ord_id)), default=0)

    def final(self, cl_ord_id: str) -> bool:
        return any(
            r.ord_status in FINAL and r.exec_type is not ExecType.ORDER_STATUS
            for r in self.of(cl_ord_id)
        )

    async def until(self, ready: Callable[[], bool], wall_s: float, what: str) -> None:
        """Wait, on each message, until ``ready()``; fail after ``wall_s`` saying ``what``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wall_s
        while not ready():
            self.changed.clear()
            try:
                await asyncio.wait_for(self.changed.wait(), deadline - loop.time())
            except TimeoutError:
                raise AssertionError(f"{what}: not within {wall_s:.0f} wall s") from None


async def _sim_time_passes(clock: AcceleratedClock, seconds: float) -> None:
    """Until ``seconds`` of simulated time have passed: a timer on the simulator's clock."""
    done = asyncio.Event()
    clock.call_at(clock.now_ns() + round(seconds * NS), done.set)
    await asyncio.wait_for(done.wait(), seconds / clock.speed + 10)


async def _up(daemon: DaemonProcess, sim: FixSimServer, session: str) -> None:
    """The daemon's run logged on to the venue; if it exits or hangs, fail with its log."""
    logon = asyncio.ensure_future(sim.wait_logged_on([session], timeout=STARTUP_WALL_S))
    died = asyncio.ensure_future(daemon.exited())
    done, _ = await asyncio.wait({logon, died}, return_when=asyncio.FIRST_COMPLETED)
    for t in (logon, died):
        t.cancel()
    if died in done or logon.exception() is not None:
        raise AssertionError(f"daemon run {daemon.runs} did not log on:\n{daemon.tail()}")


@dataclass
class Session:
    sim: FixSimServer
    daemon: DaemonProcess
    switch: KillSwitch
    log: OmsLog


@contextlib.asynccontextmanager
async def _stack(data: Path, seed: int) -> AsyncIterator[Session]:
    """Simulator, daemon process and OMS, logged on; everything stopped (or killed) after."""
    market = MarketSimulator(MarketConfig(symbol=SYMBOL, seed=seed, flow=PAPER_FLOW))
    fix_port, oms_port = free_port(), free_port()
    daemon = DaemonProcess(data / "engine.toml", data / "logs")
    switch = KillSwitch(daemon, session="")
    sim = FixSimServer(
        market,
        FixSimConfig(
            settings_path=QUICKFIX / "fixsim.cfg",
            data_dir=data / "fixsim",
            fix_port=fix_port,
            speed=SPEED,
            record=True,
            anchor_unix_ns=time.time_ns(),
        ),
        observer=switch,
    )
    await sim.start()
    oms: OmsClient | None = None
    reader: asyncio.Task[None] | None = None
    try:
        switch.session = next(k for k, v in sim.sessions.items() if v is FixVersion.FIX44)
        switch.clock = sim.clock
        daemon.config.write_text(
            daemon_toml(
                data=data,
                quickfix=QUICKFIX,
                fix_port=fix_port,
                oms_port=oms_port,
                clock=sim.clock,
                engine=ENGINE,
            )
        )
        daemon.start()
        await _up(daemon, sim, switch.session)
        oms = OmsClient(
            OmsClientConfig(
                settings_path=QUICKFIX / "oms-client.cfg",
                data_dir=data / "omsclient",
                port=oms_port,
            ),
            clock=sim.clock,
        )
        await oms.start()
        await oms.wait_logon(timeout=STARTUP_WALL_S)
        log = OmsLog(oms)
        reader = asyncio.create_task(log.run())
        yield Session(sim, daemon, switch, log)
    finally:
        switch.disarm()
        if reader is not None:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
        daemon.close()
        if oms is not None:
            await oms.stop()
        await sim.close()


@dataclass
class Outcome:
    kills: list[str]
    wall_s: float
    peak: dict[str, float]
    figures: dict[str, int]


async def _send_parents(log: OmsLog, orders: list[ParentOrder]) -> None:
    """Send ``orders`` and wait for their acks: acked means journaled, so only from then on may
    the engine die without losing them (docs/journal.md, Not built yet)."""
    for order in orders:
        assert log.oms.send_parent(order)
    await log.until(lambda: all(log.of(o.cl_ord_id) for o in orders), 30, "the acks")
    for o in orders:
        assert log.of(o.cl_ord_id)[0].exec_type is ExecType.NEW, log.of(o.cl_ord_id)


def _parent(seed: int, n: int, qty: int, now: int) -> ParentOrder:
    return ParentOrder(
        cl_ord_id=f"CR{seed}-{n}",
        symbol=SYMBOL,
        side=Side.SELL,
        qty=qty,
        strategy="pov",
        end_ns=now + round(HORIZON_S * NS),
        ts_init=now,
        participation_cap=CAP,
    )


async def _crash_session(data: Path, seed: int, kills: int) -> Outcome:
    moments = draw_moments(random.Random(seed), kills)
    t0 = time.monotonic()
    async with _stack(data, seed) as s:
        clock, log = s.sim.clock, s.log
        await _sim_time_passes(clock, WARMUP_S)
        start = clock.now_ns()
        orders = [_parent(seed, i, qty, start) for i, qty in enumerate(PARENTS)]
        await _send_parents(log, orders)
        lines = []
        for i, moment in enumerate(moments, 1):
            while True:
                s.switch.arm(moment)
                fired = asyncio.ensure_future(s.switch.fired.wait())
                ended = asyncio.ensure_future(
                    log.until(lambda: all(log.final(o.cl_ord_id) for o in orders), 3600, "")
                )
                died = asyncio.ensure_future(s.daemon.exited())
                done, _ = await asyncio.wait(
                    {fired, ended, died},
                    timeout=MOMENT_WALL_S,
                    return_when=asyncio.FIRST_COMPLETED,
                )
                for t in (fired, ended, died):
                    t.cancel()
                if s.switch.fired.is_set():  # the kill sets both: the process's exit too
                    break
                if died in done:
                    raise AssertionError(
                        f"seed {seed}: daemon run {s.daemon.runs} died on its own before kill "
                        f"{i}:\n{s.daemon.tail()}"
                    )
                if ended not in done:
                    raise AssertionError(
                        f"seed {seed} kill {i}: {moment.describe()} not reached in "
                        f"{MOMENT_WALL_S:.0f} wall s"
                    )
                # Every parent ended first (how fast they fill varies from run to run): a new
                # one, acked before the moment is armed again.
                s.switch.disarm()
                more = _parent(seed, len(orders), TOP_UP, clock.now_ns())
                await _send_parents(log, [more])
                orders.append(more)
                lines.append(f"parent {more.cl_ord_id} ({TOP_UP:,}) sent before kill {i}")
            kill = s.switch.kills[-1]
            filled = "/".join(f"{log.cum(o.cl_ord_id):,}" for o in orders)
            await s.sim.wait_logged_out([s.switch.session], timeout=10)
            t = time.monotonic()
            s.daemon.start()
            await _up(s.daemon, s.sim, s.switch.session)
            lines.append(
                f"kill {i:2} at t+{(kill.sim_ns - start) / NS:5.0f}s (run {kill.run}), "
                f"{moment.describe()}: {kill.what}; OMS filled {filled}; "
                f"restart {time.monotonic() - t:.1f} wall s"
            )
        for o in orders:
            await log.until(
                lambda o=o: log.final(o.cl_ord_id), HORIZON_S / SPEED + 60, f"{o.cl_ord_id} final"
            )
        await _sim_time_passes(clock, SETTLE_S)
        code = await s.daemon.stop(timeout=30)
        assert code == 0, f"the daemon's SIGTERM exit was {code}:\n{s.daemon.tail()}"
        outcome = _check(data, orders, s, kills)
        return Outcome(lines, time.monotonic() - t0, *outcome)


def _replayed(path: Path) -> Replayer:
    """The journal replayed through every restart (the replayed engine's log kept quiet)."""
    previous = structlog.get_config()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.CRITICAL))
    try:
        rp = Replayer(path)
        result = rp.run()
    finally:
        structlog.configure(**previous)
    assert result.divergence is None, result.divergence
    assert result.trailing == 0, "the last run stopped cleanly: nothing past the journal"
    return rp


def _check(
    data: Path, orders: list[ParentOrder], s: Session, kills: int
) -> tuple[dict[str, float], dict[str, int]]:
    truth = s.sim.record
    assert truth is not None
    assert len(s.switch.kills) == kills
    # The journal: intact, one restart per kill, the same decisions when replayed.
    path = data / "journal.sqlite"
    v = verify(path)
    assert v.ok, v.problem
    records = list(read_records(path))
    assert sum(r.kind is Kind.RESTART for r in records) == kills
    engine = _replayed(path).engine
    by_clordid = {p.cl_ord_id: p for p in engine.parents.values()}
    assert set(by_clordid) == {o.cl_ord_id for o in orders}
    for o in orders:
        p = by_clordid[o.cl_ord_id]
        assert p.state is ParentState.FILLED and p.filled == o.qty, (p.id, p.state, p.filled)
    # No ClOrdID reached the venue twice, nor was refused there as a duplicate.
    twice = {c: n for c, n in s.switch.orders.items() if n > 1}
    assert twice == {}, f"ClOrdIDs the venue received more than once: {twice}"
    assert not [r for r in truth.reports if "duplicate ClOrdID" in r.text]
    # Per child: the engine counted the venue's fills; each fill it journaled is the venue's.
    venue_fills: dict[str, dict[str, ExecutionReport]] = {}
    venue_cum: dict[str, int] = {}
    for r in truth.reports:
        venue_cum[r.cl_ord_id] = max(venue_cum.get(r.cl_ord_id, 0), r.cum_qty)
        if r.exec_type is ExecType.TRADE:
            venue_fills.setdefault(r.cl_ord_id, {})[r.exec_id] = r
    journaled: set[str] = set()
    for rec in records:
        r = rec.value() if rec.kind is Kind.VENUE else None
        if isinstance(r, ExecutionReport) and r.exec_type is ExecType.TRADE:
            theirs = venue_fills.get(r.cl_ord_id, {}).get(r.exec_id)
            assert theirs is not None, f"journaled fill {r.exec_id}: the venue made none"
            assert (theirs.last_qty, theirs.last_price) == (r.last_qty, r.last_price), r
            journaled.add(r.exec_id)
    children = {c: ch for p in engine.parents.values() for c, ch in p.children.items()}
    for cl, child in children.items():
        assert child.cum_qty == venue_cum.get(cl, 0), (cl, child.cum_qty, venue_cum.get(cl))
    assert set(venue_fills) <= set(children), "the venue filled orders the engine does not own"
    # The OMS: exactly the engine's reports; a repeat is the same report; they add up.
    assert s.log.others == []  # no reject, no message the OMS could not read
    oms_cum = {}
    for o in orders:
        seen = _distinct(s.log, o.cl_ord_id)
        ours = {r.exec_id: r for r in engine.reports[by_clordid[o.cl_ord_id].id]}
        assert set(seen) == set(ours), f"{o.cl_ord_id}: {sorted(set(seen) ^ set(ours))}"
        for exec_id, r in seen.items():
            mine = ours[exec_id]
            assert (r.exec_type, r.ord_status, r.last_qty, r.cum_qty, r.leaves_qty) == (
                mine.exec_type,
                mine.ord_status,
                mine.last_qty,
                mine.cum_qty,
                mine.leaves_qty,
            ), (r, mine)
        oms_cum[o.cl_ord_id] = _adds_up(list(seen.values()), o)
    # The invariants over the venue's record, the cap included: a killed engine cannot pull
    # a resting child, but at this pace (a peak near half the cap) a downtime's fills fit.
    record = Record(engine=engine, reports=truth.reports, tape=truth.tape, arrivals=truth.arrivals)
    violations = find_violations(record, cap_window_s=CAP_WINDOW_S)
    violations += check_ends(record, oms_cum=oms_cum)
    assert violations == [], [str(v) for v in violations]
    peak = window_peaks(record, cap_window_s=CAP_WINDOW_S)
    figures = {
        "children": len(children),
        "venue fills": sum(len(f) for f in venue_fills.values()),
        "fills learned from a status answer": sum(len(f) for f in venue_fills.values())
        - len(journaled),
        "children adopted after a restart": sum(
            c.reason == "found at the venue after a restart" for c in children.values()
        ),
        "OMS reports": len(s.log.reports),
        "of which repeats": len(s.log.reports) - sum(len(_distinct(s.log, c)) for c in oms_cum),
        "journal records": len(records),
    }
    return peak, figures


def _distinct(log: OmsLog, cl_ord_id: str) -> dict[str, ExecutionReport]:
    """The parent's reports by ExecID, in the order first seen; a repeat must be the same."""
    out: dict[str, ExecutionReport] = {}
    for r in log.of(cl_ord_id):
        r = replace(r, ts_init=0)  # when the OMS received it
        first = out.setdefault(r.exec_id, r)
        assert first == r, f"ExecID {r.exec_id} came twice with different content: {first} / {r}"
    return out


def _adds_up(reports: list[ExecutionReport], order: ParentOrder) -> int:
    """CumQty never backwards, LastQty summing to CumQty = the quantity, FILLED at the end."""
    cums = [r.cum_qty for r in reports]
    assert cums == sorted(cums), f"{order.cl_ord_id}: CumQty went backwards: {cums}"
    last_qty = sum(r.last_qty for r in reports if r.exec_type is ExecType.TRADE)
    assert last_qty == cums[-1] == order.qty, (order.cl_ord_id, last_qty, cums[-1])
    assert reports[-1].ord_status is OrdStatus.FILLED, reports[-1]
    return cums[-1]


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.asyncio
@pytest.mark.parametrize(("seed", "kills"), _sessions(KILLS))
async def test_sigkill_at_seeded_moments_loses_no_fill_and_duplicates_no_child(
    tmp_path: Path, seed: int, kills: int
) -> None:
    outcome = await _crash_session(tmp_path, seed, kills)
    print(f"\ncrash session, seed {seed}: {kills} kills in {outcome.wall_s:.0f} wall s")
    for line in outcome.kills:
        print("  " + line)
    print("  " + ", ".join(f"{k} {v}" for k, v in outcome.figures.items()))
    print("  peak participation " + ", ".join(f"{p:.1%}" for p in outcome.peak.values()))
    kinds = {m.kind for m in draw_moments(random.Random(seed), kills)}
    assert kinds == set(MomentKind) or kills < 3
