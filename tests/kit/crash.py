"""Crash-test kit: the engine daemon as a real OS process, killed with SIGKILL at exact moments.

:class:`DaemonProcess` runs ``unwind run --config PATH`` (``python -m engine.cli``) as a child
process, each run logging to a file of its own, and kills it with SIGKILL. Its exit is an event
on the asyncio loop (a pidfd the loop watches), never polled; :meth:`DaemonProcess.kill`
returns only once the process is dead, so whatever the caller does next (a venue acking the
order that triggered the kill) cannot reach it.

:class:`KillSwitch` is the FIX simulator's :class:`~adapters.fixsim.venue.VenueObserver`:
armed with one :class:`Moment` at a time, it kills the daemon from inside the venue's handling
when the traffic reaches that moment:

* ``new_order``: the venue has received the n-th NewOrderSingle since arming and not yet acked
  it (the engine sent a child and cannot have journaled its ack);
* ``burst``: a child crossing the book has a fill report out and more fills of the same
  matching step still to go (after the i-th of the burst's reports, i drawn from the seed);
* ``sim_time``: a seeded number of simulated seconds after arming, on the simulator's clock.

:func:`draw_moments` draws them from a seeded ``random.Random`` so a failing run names the
seed and the moments that reproduce it; :func:`daemon_toml` writes the daemon's configuration.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import os
import random
import select
import signal
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from engine.clock import NS, AcceleratedClock, Timer
from engine.events import ExecType, ExecutionReport, Liquidity, NewOrder

__all__ = [
    "DaemonProcess",
    "Kill",
    "KillSwitch",
    "Moment",
    "MomentKind",
    "daemon_toml",
    "draw_moments",
]

REPO = Path(__file__).resolve().parents[2]


class MomentKind(enum.StrEnum):
    NEW_ORDER = "new_order"
    BURST = "burst"
    SIM_TIME = "sim_time"


@dataclass(frozen=True, slots=True)
class Moment:
    """When to kill, counted from the moment the switch is armed.

    ``n``: for ``new_order`` which NewOrderSingle (1 = the next); for ``burst`` how many
    bursts to let pass first. ``u`` in [0, 1): for ``burst`` where in the burst (0: after its
    first report); for ``sim_time`` the simulated seconds, as ``u`` of ``SIM_TIME_SPAN_S``.
    """

    kind: MomentKind
    n: int = 0
    u: float = 0.0

    def describe(self) -> str:
        if self.kind is MomentKind.NEW_ORDER:
            return f"NewOrderSingle #{self.n} after arming, before its ack"
        if self.kind is MomentKind.BURST:
            return f"burst #{self.n + 1} after arming, at {self.u:.0%} of its fills"
        return f"{self.sim_seconds:.1f} simulated s after arming"

    @property
    def sim_seconds(self) -> float:
        return SIM_TIME_FROM_S + self.u * SIM_TIME_SPAN_S


# A sim_time moment falls this many simulated seconds after arming (the daemon is back and
# logged on by then): long enough to reach children sent, cancelled and refreshed after the
# restart (a resting child lives 30 s), short enough not to outlast the parents.
SIM_TIME_FROM_S = 1.0
SIM_TIME_SPAN_S = 45.0


def draw_moments(rng: random.Random, count: int) -> list[Moment]:
    """``count`` moments, every kind as evenly as ``count`` allows (each at least once from
    three on), in a seeded order with seeded parameters."""
    kinds = [list(MomentKind)[i % 3] for i in range(count)]
    rng.shuffle(kinds)
    out = []
    for kind in kinds:
        if kind is MomentKind.NEW_ORDER:
            out.append(Moment(kind, n=rng.randint(1, 6)))
        elif kind is MomentKind.BURST:
            out.append(Moment(kind, n=rng.randint(0, 2), u=rng.random()))
        else:
            out.append(Moment(kind, u=rng.random()))
    return out


@dataclass(frozen=True, slots=True)
class Kill:
    """A kill as it happened: the moment, the simulated time, what the venue was doing."""

    moment: Moment
    sim_ns: int
    what: str
    run: int  # which run of the daemon was killed (1 = the first)


class DaemonProcess:
    """``unwind run --config`` as a child process (module docstring). Loop thread only."""

    def __init__(self, config: Path, logs: Path) -> None:
        self.config = config
        self.logs = logs
        self.runs = 0
        self.exit_codes: list[int] = []
        self._proc: subprocess.Popen[bytes] | None = None
        self._pidfd = -1
        self._exited = asyncio.Event()

    @property
    def alive(self) -> bool:
        return self._proc is not None

    @property
    def log_path(self) -> Path:
        return self.logs / f"daemon-{self.runs}.log"

    def start(self) -> None:
        if self._proc is not None:
            raise RuntimeError("the daemon is already running")
        self.runs += 1
        self.logs.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "wb") as log:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "engine.cli", "run", "--config", str(self.config)],
                cwd=REPO,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONPATH": str(REPO)},
            )
        self._exited.clear()
        self._pidfd = os.pidfd_open(self._proc.pid)
        asyncio.get_running_loop().add_reader(self._pidfd, self._reap)

    def kill(self) -> None:
        """SIGKILL, and return once the process is dead (a few ms; blocks the loop)."""
        proc = self._proc
        if proc is None:
            raise RuntimeError("no daemon to kill")
        os.kill(proc.pid, signal.SIGKILL)
        ready, _, _ = select.select([self._pidfd], [], [], 10.0)
        if not ready:
            raise RuntimeError(f"daemon {proc.pid} still alive 10 s after SIGKILL")
        self._reap()

    async def wait_exit(self, timeout: float) -> int:
        """The exit code once the process has ended (on its own, or killed)."""
        async with asyncio.timeout(timeout):
            await self._exited.wait()
        return self.exit_codes[-1]

    async def exited(self) -> None:
        await self._exited.wait()

    async def stop(self, timeout: float) -> int:
        """SIGTERM (the daemon drains and logs out), then its exit code."""
        if self._proc is None:
            raise RuntimeError("no daemon to stop")
        self._proc.send_signal(signal.SIGTERM)
        return await self.wait_exit(timeout)

    def tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return "(no log)"

    def close(self) -> None:
        """Kill whatever still runs (a failed test's clean-up)."""
        if self._proc is not None:
            self.kill()

    def _reap(self) -> None:
        proc = self._proc
        if proc is None:
            return
        asyncio.get_running_loop().remove_reader(self._pidfd)
        os.close(self._pidfd)
        self._pidfd = -1
        self.exit_codes.append(proc.wait())
        self._proc = None
        self._exited.set()


@dataclass
class KillSwitch:
    """The simulator's observer that kills the daemon at the armed moment (module docstring).

    ``session``: the venue's key of the engine's FIX session; ``orders`` counts every
    NewOrderSingle that reached the venue, by ClOrdID, across every run.
    """

    daemon: DaemonProcess
    session: str
    clock: AcceleratedClock | None = None  # the simulator's, set once it has started
    orders: Counter[str] = field(default_factory=Counter)
    kills: list[Kill] = field(default_factory=list)
    fired: asyncio.Event = field(default_factory=asyncio.Event)
    _armed: Moment | None = None
    _count: int = 0
    _burst_at: int | None = None  # the report of the current burst to kill after
    _timer: Timer | None = None

    def arm(self, moment: Moment) -> None:
        if self._armed is not None:
            raise RuntimeError("already armed")
        assert self.clock is not None
        self._armed, self._count, self._burst_at = moment, 0, None
        self.fired.clear()
        if moment.kind is MomentKind.SIM_TIME:
            at = self.clock.now_ns() + round(moment.sim_seconds * NS)
            self._timer = self.clock.call_at(at, lambda: self._kill("simulated time reached"))

    def disarm(self) -> None:
        self._armed = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    # --- VenueObserver ---------------------------------------------------------------------------

    def new_order(self, session: str, order: NewOrder) -> None:
        if session != self.session:
            return
        self.orders[order.cl_ord_id] += 1
        m = self._armed
        if m is None or m.kind is not MomentKind.NEW_ORDER:
            return
        self._count += 1
        if self._count == m.n:
            self._kill(f"NewOrderSingle {order.cl_ord_id} received, not acked")

    def report_sent(self, session: str, report: ExecutionReport, fills_to_come: int) -> None:
        m = self._armed
        if m is None or m.kind is not MomentKind.BURST or session != self.session:
            return
        if report.exec_type is not ExecType.TRADE or report.liquidity is not Liquidity.REMOVED:
            return
        if self._burst_at is None:
            if fills_to_come == 0:
                return  # a single fill: no burst
            if self._count < m.n:  # a burst to let pass
                self._count += 1
                self._burst_at = -1
            else:
                # The burst has fills_to_come + 1 fills; kill after report i, 0 <= i < total-1,
                # so that at least one fill is still to go out.
                self._burst_at = int(m.u * fills_to_come)
        if fills_to_come == 0:
            self._burst_at = None  # that burst is over
            return
        if self._burst_at >= 0:
            if self._burst_at == 0:
                self._kill(
                    f"fill {report.exec_id} of {report.cl_ord_id} out, "
                    f"{fills_to_come} more of its burst to go"
                )
            else:
                self._burst_at -= 1

    # --- internals -------------------------------------------------------------------------------

    def _kill(self, what: str) -> None:
        m = self._armed
        if m is None or not self.daemon.alive:
            return
        self.disarm()
        assert self.clock is not None
        self.daemon.kill()
        self.kills.append(Kill(m, self.clock.now_ns(), what, self.daemon.runs))
        self.fired.set()


def daemon_toml(
    *,
    data: Path,
    quickfix: Path,
    fix_port: int,
    oms_port: int,
    clock: AcceleratedClock,
    engine: str,
) -> str:
    """The daemon's configuration: ``engine`` is the ``[engine]`` tables' TOML as is; the
    journal and the QuickFIX stores under ``data``; simulated time as ``clock`` counts it."""
    assert clock.anchor_unix_ns is not None, "the daemon needs a wall-clock anchor"
    return f"""{engine}
[venue]
settings = "{quickfix / "engine-venue.cfg"}"
data_dir = "{data / "venue"}"
port = {fix_port}

[oms]
settings = "{quickfix / "engine-oms.cfg"}"
data_dir = "{data / "oms"}"
port = {oms_port}

[journal]
path = "{data / "journal.sqlite"}"

[clock]
mode = "accelerated"
speed = {clock.speed!r}
origin_ns = {clock.origin_ns}
anchor_unix_ns = {clock.anchor_unix_ns}
"""
