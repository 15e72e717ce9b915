"""Benchmark: a child order's round trip through the engine's FIX venue adapter, beside its floors.

Run with ``make bench`` (or ``.venv/bin/python tests/bench/bench_fix_roundtrip.py``). Prints one
line per path (p50/p90/p99/max in microseconds, n) and the machine; exits 1 if a target is
missed. All in one run on loopback, each server in a process of its own (as in deployment, and
so that the server's Python shares no GIL or core time slice with the client measured).

1. **Engine adapter -> fixsim.** :class:`~adapters.fix.venue_client.FixVenueClient` on an
   asyncio loop, logged on to ``unwind fixsim`` (the seeded market simulator behind it, 1x).
   The time is from ``client.submit(order)`` on the loop to the venue's acknowledgement
   (ExecutionReport, ExecType NEW) arriving at the sink on the loop. One order outstanding at a
   time: a limit buy far below the market (it rests, never trades), then its cancel, timed the
   same way up to the CANCELED report, so the book never grows. Target: p50 < 2 ms.
2. **The floor.** A bare QuickFIX initiator (no asyncio, no engine code on the measured path):
   the calling thread builds and sends a NewOrderSingle and waits on a ``threading.Event`` that
   ``fromApp`` sets when the ExecutionReport arrives. The clock stops when that thread
   wakes, so like the adapter's figure it includes building the message and one thread hop.
   (a) Against the same fixsim, orders and cancels as in 1. (b) Against a bare QuickFIX
   acceptor (its own process) that answers each NewOrderSingle at once, on the QuickFIX thread
   that received it: the FIX stack's own floor. The adapter is timed against it too, which
   isolates the adapter's own cost from the simulator's.

Against each server both clients are logged on at once, each on its own FIX 4.4 session, and
take turns order by order (the bare client's turn blocks the otherwise idle loop thread), so
a drift in the machine's speed weighs on both alike; the first 200 turns are warm-up. Every
QuickFIX endpoint uses the deployment settings (``deploy/quickfix/fixsim.cfg``, plus the bare
client's session, for both acceptors; ``engine-venue.cfg`` for both initiators: SocketNodelay,
FileStore and FileLog, dictionary validation), with ports and stores moved to free loopback
ports and a temporary directory, so the rows differ only in the code on the path. Nothing is
random but the market, seeded.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import platform
import queue
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import quickfix as fix

from adapters.fix.settings import load_initiator_settings
from adapters.fix.venue_client import FixVenueClient, FixVenueConfig
from adapters.fixsim.application import load_settings
from engine.events import (
    PRICE_SCALE,
    CancelOrder,
    ExecType,
    ExecutionReport,
    NewOrder,
    OrderType,
    Side,
    TimeInForce,
    VenueEvent,
)
from engine.logs import configure_logging
from tests.kit.fix_client import free_port

ROOT = Path(__file__).resolve().parents[2]
SEED = 20261121
WARMUP = 200
MEASURED = 2_000
TARGET_P50_US = 2_000.0
QUICKFIX = ROOT / "deploy" / "quickfix"
SYMBOL = "XYZ"  # fixsim's default symbol
QTY = 100
# $40.00 against a market that starts at $50 with 1-3.5% daily volatility: rests, never trades.
PASSIVE_PRICE = 400_000
PASSIVE_PRICE_FIX = f"{PASSIVE_PRICE / PRICE_SCALE:g}"  # the bare client's Price (44)
START_TIMEOUT_S = 30.0  # a server process importing its stack and listening
LOGON_TIMEOUT_S = 15.0  # QuickFIX connects at once; a retry waits ReconnectInterval (1 s)
ANSWER_TIMEOUT_S = 5.0  # one order's answer; far above any healthy round trip
BARE_READY = "bare acceptor listening"
BARE_COMP_ID = "BARE44"  # the bare client's own FIX 4.4 session on both acceptors
FIX_NEW, FIX_CANCELED = "0", "4"  # ExecType (150)


# --- figures ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Figures:
    """Percentiles of one path's round trips, in microseconds."""

    p50: float
    p90: float
    p99: float
    max: float
    n: int

    @classmethod
    def of(cls, samples_ns: list[int]) -> Figures:
        q = statistics.quantiles(samples_ns, n=100, method="inclusive")
        return cls(q[49] / 1e3, q[89] / 1e3, q[98] / 1e3, max(samples_ns) / 1e3, len(samples_ns))


def _row(name: str, f: Figures, target: str = "", ok: bool | None = None) -> None:
    verdict = "" if ok is None else ("PASS" if ok else "FAIL")
    line = f"  {name:<38} {f.p50:>8,.0f} {f.p90:>8,.0f} {f.p99:>8,.0f} {f.max:>8,.0f} {f.n:>6,}"
    print(f"{line}   {target:<14} {verdict}".rstrip())


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


# --- server processes ---------------------------------------------------------------------------


def _wait_ready(proc: subprocess.Popen[str], ready: str, what: str, err_log: Path) -> None:
    """Return when the child prints a line starting with ``ready``; raise if it dies or stalls."""
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        # Keeps reading after the ready line too, so the child never blocks on a full pipe.
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, name=f"{what}-stdout", daemon=True).start()
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        try:
            line = lines.get(timeout=max(deadline - time.monotonic(), 0.0))
        except queue.Empty:
            raise RuntimeError(
                f"{what} did not report ready within {START_TIMEOUT_S:g} s; "
                f"stderr: {_tail(err_log)}"
            ) from None
        if line is None:
            raise RuntimeError(
                f"{what} exited with status {proc.wait()} before it was ready; "
                f"stderr: {_tail(err_log)}"
            )
        if line.startswith(ready):
            return


def _tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()[-lines:]
    except OSError:
        return "(none)"
    return "\n" + "\n".join(text) if text else "(empty)"


@contextlib.contextmanager
def _server(argv: list[str], ready: str, what: str, err_log: Path) -> Iterator[None]:
    """Run a server process for the duration of the block: started, ready, always stopped."""
    with err_log.open("w") as err:
        proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=err, text=True)
    try:
        _wait_ready(proc, ready, what, err_log)
        yield
    finally:
        # SIGTERM: both servers log their sessions out and stop QuickFIX cleanly.
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _acceptor_cfg(path: Path) -> Path:
    """deploy/quickfix/fixsim.cfg plus a FIX 4.4 session for the bare client.

    Its own session lets the bare client stay logged on beside the adapter, the two taking
    turns order by order: a drift in the machine's speed (a shared VM's, seen at +/-150 us
    within one run) then weighs on both alike instead of on whichever ran second.
    """
    lines = []
    for line in (QUICKFIX / "fixsim.cfg").read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip() == "DataDictionary":  # relative to deploy/quickfix, not to `path`
            line = f"DataDictionary={QUICKFIX / value.strip()}"
        lines.append(line)
    lines += ["", "[SESSION]", "BeginString=FIX.4.4", f"TargetCompID={BARE_COMP_ID}"]
    lines.append(f"DataDictionary={QUICKFIX / 'FIX44.xml'}")
    path.write_text("\n".join(lines) + "\n")
    return path


def _fixsim(port: int, cfg: Path, data: Path) -> contextlib.AbstractContextManager[None]:
    argv = [sys.executable, "-m", "engine.cli", "fixsim", "--config", str(cfg)]
    argv += ["--data-dir", str(data), "--fix-port", str(port), "--seed", str(SEED)]
    argv += ["--symbol", SYMBOL]
    return _server(argv, "fixsim listening", "unwind fixsim", data.parent / "fixsim.stderr")


def _bare_acceptor(port: int, cfg: Path, data: Path) -> contextlib.AbstractContextManager[None]:
    script = str(Path(__file__).resolve())
    argv = [sys.executable, script, "--bare-acceptor", str(port), str(cfg), str(data)]
    return _server(argv, BARE_READY, "bare acceptor", data.parent / "bare-acceptor.stderr")


# --- 1. the engine's venue adapter --------------------------------------------------------------


class _AckProbe:
    """The adapter's sink: stamps the awaited report the moment it reaches the loop."""

    def __init__(self) -> None:
        self._want: tuple[str, ExecType] | None = None
        self._done: asyncio.Future[int] | None = None

    def expect(self, cl_ord_id: str, exec_type: ExecType) -> asyncio.Future[int]:
        self._want = (cl_ord_id, exec_type)
        self._done = asyncio.get_running_loop().create_future()
        return self._done

    def __call__(self, event: VenueEvent) -> None:
        now = time.perf_counter_ns()
        if self._want is None or self._done is None or self._done.done():
            return
        if getattr(event, "cl_ord_id", None) != self._want[0]:
            return
        if isinstance(event, ExecutionReport) and event.exec_type is self._want[1]:
            self._done.set_result(now)
        else:  # a reject, or anything else for this id: fail now with what it was
            self._done.set_exception(RuntimeError(f"expected {self._want[1]}, got {event!r}"))


def _expire(done: asyncio.Future[int], what: str) -> None:
    if not done.done():
        done.set_exception(RuntimeError(f"no {what} within {ANSWER_TIMEOUT_S:g} s"))


async def _timed(probe: _AckProbe, cl_ord_id: str, want: ExecType, send: Callable[[], None]) -> int:
    done = probe.expect(cl_ord_id, want)
    # The watchdog is armed before the clock starts and disarmed after it stops: the loop's
    # bookkeeping for it stays out of the figure (and off the loop while the order is out).
    watchdog = asyncio.get_running_loop().call_later(
        ANSWER_TIMEOUT_S, _expire, done, f"{want} for {cl_ord_id}"
    )
    t0 = time.perf_counter_ns()
    send()
    try:
        t1 = await done
    finally:
        watchdog.cancel()
    return t1 - t0


async def _engine_order(
    client: FixVenueClient, probe: _AckProbe, cl: str, *, cancel: bool
) -> tuple[int, int]:
    """One order's ack round trip and (if ``cancel``) its cancel's, in ns, through the adapter."""
    order = NewOrder(
        cl, SYMBOL, Side.BUY, QTY, OrderType.LIMIT, PASSIVE_PRICE, TimeInForce.DAY, time.time_ns()
    )
    ack = await _timed(probe, cl, ExecType.NEW, partial(client.submit, order))
    if not cancel:
        return ack, 0
    request = CancelOrder(f"{cl}X", cl, SYMBOL, Side.BUY, time.time_ns())
    return ack, await _timed(
        probe, request.cl_ord_id, ExecType.CANCELED, partial(client.cancel, request)
    )


# --- 2. bare QuickFIX ---------------------------------------------------------------------------


class _BareInitiator(fix.Application):
    """Wakes the sending thread (``arrived``) when the awaited ExecutionReport arrives."""

    def __init__(self) -> None:
        super().__init__()
        self.logged_on = threading.Event()
        self.logged_out = threading.Event()
        self.arrived = threading.Event()
        self.want = ""  # the ClOrdID awaited (set by the sending thread first)
        self.got = ""  # its ExecType, or what went wrong

    def onCreate(self, sessionID: fix.SessionID) -> None:
        pass

    def onLogon(self, sessionID: fix.SessionID) -> None:
        self.logged_out.clear()
        self.logged_on.set()

    def onLogout(self, sessionID: fix.SessionID) -> None:
        self.logged_on.clear()
        self.logged_out.set()

    def toAdmin(self, message: fix.Message, sessionID: fix.SessionID) -> None:
        pass

    def fromAdmin(self, message: fix.Message, sessionID: fix.SessionID) -> None:
        if message.getHeader().getField(35) == "3":  # a session Reject: fail fast, say why
            self.got = "session reject: " + message.toString().replace("\x01", "|")
            self.arrived.set()

    def toApp(self, message: fix.Message, sessionID: fix.SessionID) -> None:
        pass

    def fromApp(self, message: fix.Message, sessionID: fix.SessionID) -> None:
        if message.getHeader().getField(35) == "8" and message.getField(11) == self.want:
            self.got = message.getField(150)
            self.arrived.set()


def _new_order_single(cl_ord_id: str) -> fix.Message:
    m = fix.Message()
    m.getHeader().setField(fix.MsgType("D"))
    m.setField(11, cl_ord_id)
    m.setField(21, "1")
    m.setField(55, SYMBOL)
    m.setField(54, "1")
    m.setField(fix.TransactTime())
    m.setField(38, str(QTY))
    m.setField(40, "2")
    m.setField(44, PASSIVE_PRICE_FIX)
    m.setField(59, "0")
    return m


def _cancel_request(cl_ord_id: str, orig_cl_ord_id: str) -> fix.Message:
    m = fix.Message()
    m.getHeader().setField(fix.MsgType("F"))
    m.setField(41, orig_cl_ord_id)
    m.setField(11, cl_ord_id)
    m.setField(55, SYMBOL)
    m.setField(54, "1")
    m.setField(fix.TransactTime())
    return m


def _bare_timed(
    app: _BareInitiator,
    sid: fix.SessionID,
    cl_ord_id: str,
    want: str,
    build: Callable[[], fix.Message],
) -> int:
    app.want, app.got = cl_ord_id, ""
    app.arrived.clear()
    t0 = time.perf_counter_ns()
    # Building the message is timed: the adapter's figure includes its encoding too.
    if not fix.Session.sendToTarget(build(), sid):
        raise RuntimeError(f"QuickFIX did not send {cl_ord_id}")
    if not app.arrived.wait(ANSWER_TIMEOUT_S):
        raise RuntimeError(f"no ExecType {want} for {cl_ord_id} within {ANSWER_TIMEOUT_S:g} s")
    t1 = time.perf_counter_ns()
    if app.got != want:
        raise RuntimeError(f"expected ExecType {want} for {cl_ord_id}, got {app.got!r}")
    return t1 - t0


def _bare_settings(port: int, data: Path) -> tuple[fix.SessionSettings, fix.SessionID]:
    """engine-venue.cfg as the adapter reads it (the loader only reads the file), under the bare
    client's own SenderCompID."""
    loaded, sid = load_initiator_settings(QUICKFIX / "engine-venue.cfg", data_dir=data, port=port)
    session = loaded.get(sid)
    session.setString("SenderCompID", BARE_COMP_ID)
    own = fix.SessionID(
        sid.getBeginString().getValue(), BARE_COMP_ID, sid.getTargetCompID().getValue()
    )
    out = fix.SessionSettings()
    out.set(loaded.get())
    out.set(own, session)
    return out, own


class _BareClient:
    """A bare QuickFIX initiator, logged on for the duration of a ``with`` block."""

    def __init__(self, port: int, data: Path) -> None:
        self._port = port
        self._settings, self._sid = _bare_settings(port, data)
        self._app = _BareInitiator()
        # QuickFIX keeps raw pointers to the factories: they live as long as the initiator.
        self._store = fix.FileStoreFactory(self._settings)
        self._logs = fix.FileLogFactory(self._settings)
        self._initiator: fix.SocketInitiator | None = None

    def __enter__(self) -> _BareClient:
        self._initiator = fix.SocketInitiator(self._app, self._store, self._settings, self._logs)
        self._initiator.start()
        if not self._app.logged_on.wait(LOGON_TIMEOUT_S):
            self.__exit__()
            raise RuntimeError(
                f"the bare initiator did not log on to :{self._port} within {LOGON_TIMEOUT_S:g} s"
            )
        return self

    def __exit__(self, *_: object) -> None:
        if self._initiator is None:
            return
        session = fix.Session.lookupSession(self._sid)
        if session is not None and self._app.logged_on.is_set():
            session.logout("benchmark over")
            self._app.logged_out.wait(5.0)
        # Always stopped: a QuickFIX engine still running when Python frees it crashes.
        self._initiator.stop()
        self._initiator = None

    def order(self, cl: str, *, cancel: bool) -> tuple[int, int]:
        """One order's ack round trip and (if ``cancel``) its cancel's, in ns."""
        ack = _bare_timed(self._app, self._sid, cl, FIX_NEW, partial(_new_order_single, cl))
        if not cancel:
            return ack, 0
        build = partial(_cancel_request, f"{cl}X", cl)
        return ack, _bare_timed(self._app, self._sid, f"{cl}X", FIX_CANCELED, build)


class _BareAcceptor(fix.Application):
    """Answers each NewOrderSingle with an ExecutionReport NEW, on the receiving thread."""

    def __init__(self) -> None:
        super().__init__()
        self._ids = itertools.count(1)

    def onCreate(self, sessionID: fix.SessionID) -> None:
        pass

    def onLogon(self, sessionID: fix.SessionID) -> None:
        pass

    def onLogout(self, sessionID: fix.SessionID) -> None:
        pass

    def toAdmin(self, message: fix.Message, sessionID: fix.SessionID) -> None:
        pass

    def fromAdmin(self, message: fix.Message, sessionID: fix.SessionID) -> None:
        pass

    def toApp(self, message: fix.Message, sessionID: fix.SessionID) -> None:
        pass

    def fromApp(self, message: fix.Message, sessionID: fix.SessionID) -> None:
        if message.getHeader().getField(35) != "D":
            return
        n = str(next(self._ids))
        er = fix.Message()
        er.getHeader().setField(fix.MsgType("8"))
        er.setField(37, n)  # OrderID
        er.setField(17, n)  # ExecID
        er.setField(150, FIX_NEW)
        er.setField(39, "0")  # OrdStatus NEW
        for tag in (11, 55, 54, 38, 40, 44):  # ClOrdID, Symbol, Side, qty, type, price
            er.setField(tag, message.getField(tag))
        er.setField(151, message.getField(38))  # LeavesQty
        er.setField(14, "0")  # CumQty
        er.setField(6, "0")  # AvgPx
        er.setField(fix.TransactTime())
        fix.Session.sendToTarget(er, sessionID)


def serve_bare_acceptor(port: int, cfg: Path, data: Path) -> int:
    """The process of 2(b): fixsim's settings, an application that answers at once."""
    # Block the signals before QuickFIX starts its threads (they inherit the mask), so that
    # SIGTERM is taken by sigwait below and nowhere else.
    stop = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop)
    settings = load_settings(cfg, data_dir=data, port=port)
    app = _BareAcceptor()
    store, logs = fix.FileStoreFactory(settings), fix.FileLogFactory(settings)
    acceptor = fix.ThreadedSocketAcceptor(app, store, settings, logs)
    acceptor.start()
    try:
        print(f"{BARE_READY} on :{port}", flush=True)
        signal.sigwait(stop)
    finally:
        acceptor.stop()
        del acceptor
    return 0


# --- the run ------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Samples:
    """Round trips in ns against one server: each client's acks, and cancels (may be empty)."""

    engine_ack: list[int] = field(default_factory=list)
    engine_cancel: list[int] = field(default_factory=list)
    bare_ack: list[int] = field(default_factory=list)
    bare_cancel: list[int] = field(default_factory=list)

    def add(self, i: int, engine: tuple[int, int], bare: tuple[int, int]) -> None:
        if i >= WARMUP:
            self.engine_ack.append(engine[0])
            self.engine_cancel.append(engine[1])
            self.bare_ack.append(bare[0])
            self.bare_cancel.append(bare[1])


async def _take_turns(port: int, data: Path, *, cancel: bool) -> _Samples:
    """The adapter and the bare initiator, both logged on to the server on ``port``, taking
    turns order by order (see _acceptor_cfg). The bare client's turn blocks the loop
    thread, where no engine work is pending; its measured path touches no asyncio."""
    client = FixVenueClient(
        FixVenueConfig(settings_path=QUICKFIX / "engine-venue.cfg", data_dir=data, port=port)
    )
    probe = _AckProbe()
    client.connect(probe)
    out = _Samples()
    await client.start()
    try:
        try:
            await client.wait_logged_on(LOGON_TIMEOUT_S)
        except TimeoutError:
            raise RuntimeError(
                f"the engine adapter did not log on to :{port} within {LOGON_TIMEOUT_S:g} s"
            ) from None
        with _BareClient(port, data) as bare:
            for i in range(WARMUP + MEASURED):
                engine = await _engine_order(client, probe, f"E{i}", cancel=cancel)
                out.add(i, engine, bare.order(f"B{i}", cancel=cancel))
    finally:
        await client.stop()
    return out


def main() -> int:
    print(
        f"machine: {_cpu()}, {os.cpu_count()} cores; Python {platform.python_version()}, "
        f"quickfix {_quickfix_version()}"
    )
    # The adapter logs its logon (info) and the logout at stop (warning): not for the table.
    configure_logging(level="error")
    with tempfile.TemporaryDirectory(prefix="bench-fix-") as tmp_name:
        tmp = Path(tmp_name)
        cfg = _acceptor_cfg(tmp / "acceptor.cfg")
        sim_port, bare_port = free_port(), free_port()
        with _fixsim(sim_port, cfg, tmp / "fixsim"):
            sim = asyncio.run(_take_turns(sim_port, tmp / "clients-fixsim", cancel=True))
        with _bare_acceptor(bare_port, cfg, tmp / "bare-acceptor"):
            floor = asyncio.run(_take_turns(bare_port, tmp / "clients-bare", cancel=False))

    engine = Figures.of(sim.engine_ack)
    ok = engine.p50 < TARGET_P50_US
    print(
        f"FIX round trip on loopback, one order outstanding, microseconds ({WARMUP} warm-up + "
        f"{MEASURED:,} measured per path; the two clients taking turns)"
    )
    print(f"  {'path':<38} {'p50':>8} {'p90':>8} {'p99':>8} {'max':>8} {'n':>6}   target")
    _row("engine adapter -> fixsim ack", engine, f"p50 < {TARGET_P50_US:,.0f}", ok)
    _row("engine adapter -> fixsim cancel ack", Figures.of(sim.engine_cancel))
    bare = Figures.of(sim.bare_ack)
    _row("bare QuickFIX -> fixsim ack", bare)
    _row("bare QuickFIX -> fixsim cancel ack", Figures.of(sim.bare_cancel))
    engine_floor = Figures.of(floor.engine_ack)
    _row("engine adapter -> bare acceptor ack", engine_floor)
    bare_floor = Figures.of(floor.bare_ack)
    _row("bare QuickFIX -> bare acceptor ack", bare_floor)
    print(
        f"  adapter over bare QuickFIX at p50: {engine.p50 - bare.p50:+,.0f} us against fixsim, "
        f"{engine_floor.p50 - bare_floor.p50:+,.0f} us against the bare acceptor"
    )
    print("all targets met" if ok else "SOME TARGETS MISSED")
    return 0 if ok else 1


def _quickfix_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("quickfix")
    except PackageNotFoundError:
        return "unknown"


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--bare-acceptor":
        sys.exit(serve_bare_acceptor(int(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4])))
    try:
        sys.exit(main())
    except RuntimeError as e:  # a server that did not start, a session or an answer missing
        print(f"bench_fix_roundtrip: error: {e}", file=sys.stderr)
        sys.exit(1)
