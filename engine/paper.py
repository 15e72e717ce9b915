"""``unwind paper``: a whole paper-trading session on this machine, over real FIX sessions.

In one process and one asyncio loop (QuickFIX runs its own threads): the FIX exchange
simulator (:mod:`adapters.fixsim`) on a loopback port at ``--speed`` simulated seconds per wall
second; the engine daemon (:mod:`engine.daemon`) logged on to it as its venue and listening
for OMS sessions; and a demo OMS (:mod:`adapters.fix.oms_client`) that sends one parent order
and reads the parent ExecutionReports. Progress is printed once a wall second; at the end a
post-trade summary and a PNG chart of plan vs actual.

``--faults on`` puts the FIX simulator's named fault profile
(:data:`adapters.fixsim.faults.FAULT_PROFILES`, seeded with ``--seed``) between the exchange and
the engine: dropped, duplicated and delayed reports, fills held past a cancel, venue rejects,
forced disconnects and halts.

Either way, the session is checked at the end against the FIX simulator's truth (what the
exchange did before any fault, the whole tape, when each order arrived) with
:mod:`engine.invariants`: no overfill, the venue's fills equal the engine's, participation
within the cap over every trailing window and since the start, nothing sent at or after the
deadline, one child at a time, and the parent ended in a state consistent with its fills, none
of it still live at the venue, the OMS told the same. The exit status is 0 when all of that
holds and, with faults off, the parent FILLED and the engine's own tape shows the cap held.
With faults on, a halt or an outage can make completion impossible: the parent may then end
DoneForDay with what it filled, and completion is reported, not required.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import socket
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from adapters.fix.oms_client import OmsClient, OmsClientConfig
from adapters.fix.parent_codec import ParentReport
from adapters.fixsim.faults import FaultConfig, fault_profile
from adapters.fixsim.server import FixSimConfig, FixSimServer
from adapters.fixsim.venue import VenueRecord
from adapters.sim.config import FlowConfig, MarketConfig
from adapters.sim.market import MarketSimulator
from engine.clock import NS, AcceleratedClock
from engine.config import EngineConfig, SymbolConfig
from engine.daemon import (
    Daemon,
    DaemonConfig,
    JournalSettings,
    MarketDataSettings,
    OmsSettings,
    VenueSettings,
)
from engine.engine import Engine
from engine.events import PRICE_SCALE, ExecType, MarketEvent, OrdStatus, Trade
from engine.invariants import Record, Violation, check_ends, find_violations, window_peaks
from engine.orders import ParentState
from engine.parent_events import ParentOrder
from engine.plotting import plot_paper
from engine.posttrade import summarise
from strategies.schedule import Side

__all__ = ["PaperOptions", "PaperOutcome", "paper_session", "run_paper", "stale_after_s"]

QUICKFIX = Path(__file__).resolve().parents[1] / "deploy" / "quickfix"
# The paper market trades about 18M shares a day (three times the simulator's default sizes),
# so the default order (100,000 shares in 20 minutes) is some 7% of volume: feasible under a
# 15% cap with room for the cap's trailing window.
PAPER_FLOW = FlowConfig(mean_market_lots=6.0, mean_limit_lots=9.0)
PAPER_DAILY_VOLUME = 18_000_000.0
_FINAL = {OrdStatus.FILLED, OrdStatus.CANCELED, OrdStatus.REJECTED, OrdStatus.DONE_FOR_DAY}
# Simulated seconds the sessions stay up after the parent's last report, before the record is
# checked: longer than a cancel's round trip and a held fill's late window (5 s in the "on"
# profile), so a child the engine called done but the venue still works shows as a fill the
# engine never counted, or as live at the venue.
SETTLE_S = 30.0


@dataclass(frozen=True, slots=True, kw_only=True)
class PaperOptions:
    symbol: str = "XYZ"
    side: Side = Side.SELL
    qty: int = 100_000
    minutes: float = 20.0
    speed: float = 60.0
    seed: int = 1
    strategy: str = "adaptive"
    cap: float = 0.15
    warmup_s: float = 120.0  # simulated seconds of market before the order (the detector's bars)
    chart: Path | None = Path("paper-report.png")
    data_dir: Path | None = None  # FIX stores and logs (default: a temporary directory)
    # The engine's journal, written afresh each session (None: no journal).
    journal: Path | None = Path("paper-journal.sqlite")
    market_data: str = "venue"  # "venue": over the FIX session; "ws": fixsim's WebSocket feed
    faults: str = "off"  # a fault profile of adapters.fixsim.faults.FAULT_PROFILES
    quiet: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class PaperOutcome:
    """How a paper session ended: the exit status's grounds, and figures for the soak."""

    state: str  # the parent's final state, or why there is none ("not accepted")
    qty: int
    filled: int = 0
    oms_cum: int = 0
    children: int = 0  # child orders the engine sent
    arrived: int = 0  # of which the venue received (the rest were lost to an outage)
    peak_participation: float = 0.0  # over the trailing window, from the venue's record
    cap: float = 0.0
    violations: tuple[Violation, ...] = ()
    faults: dict[str, int] = field(default_factory=dict)  # FaultStats: how often each fired
    ok: bool = False

    @property
    def completed(self) -> bool:
        return self.state == "filled"

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1


def _fresh(path: Path | None) -> Path | None:
    """The journal path with any earlier session's journal removed: one session per file."""
    if path is not None:
        for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            p.unlink(missing_ok=True)
    return path


def stale_after_s(speed: float) -> float:
    """The WebSocket feed's staleness threshold at ``speed``, in simulated seconds: the default
    5 s, or half a wall second if that is longer. The feed's gaps in wall time (the simulator
    publishes in batches, the loop has its jitter) do not shrink with the acceleration; at 300x
    five simulated seconds are 17 wall ms."""
    return max(5.0, 0.5 * speed)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _say(opts: PaperOptions, text: str) -> None:
    if not opts.quiet:
        print(text, flush=True)


async def run_paper(opts: PaperOptions) -> int:
    """Run a paper session; 0 if it passed (module docstring), else 1."""
    return (await paper_session(opts)).exit_code


async def paper_session(opts: PaperOptions) -> PaperOutcome:
    """Run a paper session and say how it ended (see the module docstring).

    Raises
    ------
    ValueError
        ``opts.faults`` names no fault profile.
    """
    faults = fault_profile(opts.faults, opts.seed)
    with contextlib.ExitStack() as stack:
        data = opts.data_dir or Path(stack.enter_context(tempfile.TemporaryDirectory()))
        return await _session(opts, data, faults)


async def _session(opts: PaperOptions, data: Path, faults: FaultConfig) -> PaperOutcome:
    market = MarketSimulator(MarketConfig(symbol=opts.symbol, seed=opts.seed, flow=PAPER_FLOW))
    fix_port, oms_port = _free_port(), _free_port()
    sim = FixSimServer(
        market,
        FixSimConfig(
            settings_path=QUICKFIX / "fixsim.cfg",
            data_dir=data / "fixsim",
            fix_port=fix_port,
            ws_port=0 if opts.market_data == "ws" else None,
            speed=opts.speed,
            faults=faults,
            record=True,
        ),
    )
    await sim.start()
    md = MarketDataSettings(source="venue")
    if opts.market_data == "ws":
        md = MarketDataSettings(
            source="ws",
            url=f"ws://127.0.0.1:{sim.ws_port}/ws",
            stale_after_s=stale_after_s(opts.speed),
        )
    clock = AcceleratedClock(sim.origin_ns + market.now_ns, opts.speed)
    cfg = DaemonConfig(
        engine=EngineConfig(
            symbols={opts.symbol: SymbolConfig(daily_volume=PAPER_DAILY_VOLUME)},
            seed=opts.seed,
            max_participation=max(opts.cap, 0.15),
            default_participation=min(opts.cap, 0.15),
        ),
        venue=VenueSettings(
            settings=QUICKFIX / "engine-venue.cfg", data_dir=data / "venue", port=fix_port
        ),
        oms=OmsSettings(settings=QUICKFIX / "engine-oms.cfg", data_dir=data / "oms", port=oms_port),
        market_data=md,
        journal=JournalSettings(path=_fresh(opts.journal)),
    )
    daemon = Daemon(cfg, clock)
    tape: list[tuple[int, int, float]] = []

    def record(event: MarketEvent) -> None:
        if isinstance(event, Trade):
            tape.append((event.ts_event, event.size, event.price / PRICE_SCALE))

    daemon.market_data.subscribe(opts.symbol, record)
    oms = OmsClient(
        OmsClientConfig(
            settings_path=QUICKFIX / "oms-client.cfg", data_dir=data / "omsclient", port=oms_port
        ),
        clock=clock,
    )
    try:
        await daemon.start()
        await oms.start()
        await daemon.venue.wait_logged_on(15)
        await oms.wait_logon(timeout=15)
        _say(
            opts,
            f"paper: fixsim on :{fix_port}, engine OMS port :{oms_port}, "
            f"market data over {'WebSocket' if opts.market_data == 'ws' else 'FIX'}, "
            f"speed {opts.speed:g}x, seed {opts.seed}, faults: {faults.describe()}",
        )
        await asyncio.sleep(opts.warmup_s / opts.speed)  # wall time: the market runs meanwhile
        assert sim.record is not None
        outcome = await _trade(opts, daemon, oms, clock, tape, sim.record)
        # What fired up to the check; the simulated clock runs on through the shutdown, where
        # a disconnect or a halt no longer meets an order.
        fired = dataclasses.asdict(sim.stats)
    finally:
        with contextlib.suppress(Exception):
            await oms.stop()
        with contextlib.suppress(Exception):
            await daemon.shutdown()
        await sim.close()
    _say(opts, "  faults fired     " + ", ".join(f"{k} {v}" for k, v in fired.items()))
    return dataclasses.replace(outcome, faults=fired)


async def _trade(
    opts: PaperOptions,
    daemon: Daemon,
    oms: OmsClient,
    clock: AcceleratedClock,
    tape: list[tuple[int, int, float]],
    truth: VenueRecord,
) -> PaperOutcome:
    engine = daemon.engine
    now = clock.now_ns()
    order = ParentOrder(
        cl_ord_id=f"PAPER-{opts.seed}-{now // NS}",
        symbol=opts.symbol,
        side=opts.side,
        qty=opts.qty,
        strategy=opts.strategy,
        end_ns=now + round(opts.minutes * 60 * NS),
        ts_init=now,
        participation_cap=opts.cap,
    )
    _say(
        opts,
        f"OMS -> engine: {order.side.value} {order.qty:,} {order.symbol} "
        f"{order.strategy} over {opts.minutes:g} min, cap {opts.cap:.0%}",
    )
    oms.send_parent(order)
    reports: list[ParentReport] = []
    wall_budget = opts.minutes * 60 / opts.speed + 30
    loop = asyncio.get_running_loop()
    give_up = loop.time() + wall_budget
    next_line = loop.time()
    while loop.time() < give_up:
        with contextlib.suppress(TimeoutError):
            got = await oms.receive(timeout=0.2)
            if isinstance(got, ParentReport):
                reports.append(got)
                r = got.report
                if r.exec_type is ExecType.REJECTED:
                    _say(opts, f"engine rejected the order: {r.text}")
                    return PaperOutcome(state="rejected", qty=opts.qty, cap=opts.cap)
                if r.ord_status in _FINAL and r.exec_type is not ExecType.ORDER_STATUS:
                    break
        if loop.time() >= next_line:
            next_line += 1.0
            _progress(opts, engine, order.cl_ord_id, clock)
    await asyncio.sleep(SETTLE_S / opts.speed)
    parent = engine.parent_by_clordid(order.cl_ord_id)
    if parent is None:
        _say(opts, "the engine never accepted the order")
        return PaperOutcome(state="not accepted", qty=opts.qty, cap=opts.cap)
    _progress(opts, engine, order.cl_ord_id, clock)
    fills = [(ts, q, px / PRICE_SCALE) for c in parent.children.values() for ts, q, px in c.fills]
    arrival = (parent.arrival_mid or 0.0) / PRICE_SCALE
    summary = summarise(
        side=parent.side,
        qty=parent.qty,
        fills=fills,
        tape=tape,
        arrival_mid=arrival,
        start_ns=parent.start_ns,
        window_ns=round(engine.cfg.cap_window_s * NS),
        children=len(parent.children),
    )
    oms_cum = max((p.report.cum_qty for p in reports), default=0)
    _say(opts, "")
    _say(
        opts,
        f"post-trade: parent {parent.id} ended {parent.state.value} "
        f"({parent.ended_reason or 'working'})",
    )
    for line in summary.lines():
        _say(opts, "  " + line)
    _say(opts, f"  OMS saw          {len(reports)} reports, CumQty {oms_cum:,}")
    if opts.chart is not None:
        # In a thread: drawing takes a few hundred ms and the sessions are still up.
        await asyncio.to_thread(plot_paper, opts.chart, parent, fills, list(tape), summary)
        _say(opts, f"  chart            {opts.chart}")
    if opts.journal is not None:
        _say(opts, f"  journal          {opts.journal} (unwind replay --journal {opts.journal})")
    record = Record(engine=engine, reports=truth.reports, tape=truth.tape, arrivals=truth.arrivals)
    window_s = engine.cfg.cap_window_s
    violations = find_violations(record, cap_window_s=window_s)
    violations += check_ends(record, oms_cum={order.cl_ord_id: oms_cum})
    peak = window_peaks(record, cap_window_s=window_s).get(parent.id, 0.0)
    _say(opts, f"  venue's record   peak participation {peak:.1%} over {window_s:g} s windows")
    for v in violations:
        _say(opts, f"  VIOLATION        {v.kind.value}: {v.text}")
    if not violations:
        _say(opts, "  invariants       all hold")
    ok = not violations
    if opts.faults == "off":  # a clean venue: the parent must fill, within the cap by our tape
        ok = (
            ok
            and parent.state is ParentState.FILLED
            and summary.max_window_participation <= parent.cap + 1e-9
        )
    return PaperOutcome(
        state=parent.state.value,
        qty=parent.qty,
        filled=parent.filled,
        oms_cum=oms_cum,
        children=len(parent.children),
        arrived=sum(c in truth.arrivals for c in parent.children),
        peak_participation=peak,
        cap=parent.cap,
        violations=tuple(violations),
        ok=ok,
    )


def _progress(opts: PaperOptions, engine: Engine, cl_ord_id: str, clock: AcceleratedClock) -> None:
    parent = engine.parent_by_clordid(cl_ord_id)
    if parent is None:
        return
    now = clock.now_ns()
    plan = parent.plan
    target = 0
    if plan is not None:
        k = plan.bucket_at(now)
        prev = plan.cum_targets[k - 1] if k > 0 else 0
        frac = min(max((now - plan.start_ns - k * plan.bucket_ns) / plan.bucket_ns, 0.0), 1.0)
        target = plan.filled_at_start + round(prev + frac * (plan.cum_targets[k] - prev))
    mkt = parent.market_since_start()
    part = parent.filled / mkt if mkt else 0.0
    regime = parent.regime.value if parent.regime else "--"
    elapsed = (now - parent.start_ns) / NS
    _say(
        opts,
        f"  t+{elapsed:6.0f}s  filled {parent.filled:>8,} / {parent.qty:,} "
        f"(plan {target:>8,})  participation {part:5.1%} (cap {parent.cap:.0%})  "
        f"regime {regime:>3}  children {len(parent.children):>4} "
        f"live {len(parent.live_children)}",
    )
