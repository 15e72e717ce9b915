"""End to end over real FIX sessions on loopback: demo OMS -> engine daemon -> fixsim -> fills.

Each test starts the whole paper-trading stack of :mod:`engine.paper` in this process and loop:
the FIX exchange simulator (accelerated clock, the paper market's volume, optional faults), the
engine daemon logged on to it as its venue, and the demo OMS client logged on to the daemon.
The shipped QuickFIX configurations are used with free ports and a fresh data directory per
test (sequence numbers from 1). QuickFIX registers sessions process-wide and the configurations
use fixed CompIDs, so :func:`paper_rig` stops everything before it returns.

Nothing sleeps for the market: tests wait on the OMS's inbound reports with timeouts (and a
wall-clock deadline); the warm-up polls the engine's view of the book until it is there.

Bookkeeping checked after each parent: the OMS's Trade reports (distinct ExecIDs, LastQty
summing to CumQty), the engine's parent and children, and the exchange's own order records
(``Exchange.order_state``) for every child the engine sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import pytest_asyncio
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import CollectorRegistry

from adapters.fix.oms_client import OmsClient, OmsClientConfig, OmsInbound
from adapters.fix.parent_codec import ParentReport
from adapters.fix.wire import FixVersion
from adapters.fixsim.faults import FaultConfig, FaultSchedule
from adapters.fixsim.server import FixSimConfig, FixSimServer
from adapters.sim.config import MarketConfig
from adapters.sim.market import MarketSimulator
from engine.clock import NS, AcceleratedClock
from engine.config import EngineConfig, SymbolConfig
from engine.daemon import (
    Daemon,
    DaemonConfig,
    JournalSettings,
    MarketDataSettings,
    OmsSettings,
    RestSettings,
    VenueSettings,
)
from engine.daemon_metrics import DaemonCollector
from engine.engine import Engine
from engine.events import CancelReject, ExecType, OrdStatus, Side, TimeInForce
from engine.executor import ParentExecutor
from engine.journal import Kind, read_records, verify
from engine.orders import ChildState
from engine.paper import PAPER_DAILY_VOLUME, PAPER_FLOW, QUICKFIX, stale_after_s
from engine.parent_events import ParentCancel, ParentOrder, ParentReplace
from engine.replay import replay
from tests.kit.fix_client import free_port

SYMBOL = "XYZ"
CAP = 0.15
FINAL = {OrdStatus.FILLED, OrdStatus.CANCELED, OrdStatus.REJECTED, OrdStatus.DONE_FOR_DAY}
# Where a test needs the parent to end FILLED it trades ``pov``, which usually finishes well
# before the end time. ``adaptive`` is on plan only *at* the end time: the last bucket's
# must-do share reaches 1 at the deadline, a residual of up to one lot (or 10% of the bucket)
# is never "behind plan" (``ParentExecutor._behind_now``), so it rests passively until the
# parent ends; over a short horizon that leaves DONE_FOR_DAY with a few lots in about a third
# of runs. ``pov`` can hit the same end game, rarely (a last lot that never fills passively).
FILLING = "pov"
_ids = itertools.count(1)


# --- the rig -----------------------------------------------------------------------------------


@dataclass
class Rig:
    """Handles on one running stack; ``resent_while_live`` collects invariant breaches."""

    sim: FixSimServer
    daemon: Daemon
    oms: OmsClient
    clock: AcceleratedClock
    speed: float
    venue_owner: str  # fixsim's session key of the engine's venue session (exchange owner)
    resent_while_live: list[str] = field(default_factory=list)

    @property
    def engine(self) -> Engine:
        return self.daemon.engine

    def now(self) -> int:
        return self.clock.now_ns()

    def order(self, *, qty: int = 20_000, minutes: float = 5.0, **kw: object) -> ParentOrder:
        now = self.now()
        base: dict[str, object] = {
            "cl_ord_id": f"E2E-{next(_ids)}",
            "symbol": SYMBOL,
            "side": Side.SELL,
            "qty": qty,
            "strategy": "adaptive",
            "end_ns": now + round(minutes * 60 * NS),
            "ts_init": now,
            "participation_cap": CAP,
        }
        base.update(kw)
        return ParentOrder(**base)  # type: ignore[arg-type]

    def wall_budget(self, minutes: float) -> float:
        """Wall seconds a parent of ``minutes`` may take, with room for FIX round trips."""
        return minutes * 60 / self.speed + 20.0

    async def receive(self, timeout: float = 5.0) -> OmsInbound:
        return await self.oms.receive(timeout=timeout)

    async def report(self, timeout: float = 5.0) -> ParentReport:
        return await self.oms.next_report(timeout=timeout)

    async def collect(
        self,
        reports: list[ParentReport],
        *,
        wall_s: float,
        until: object = None,
    ) -> list[OmsInbound]:
        """Append parent reports to ``reports`` until a final one (or ``until(report)``), or the
        wall deadline; anything else received is returned."""
        stop = until if callable(until) else _is_final
        others: list[OmsInbound] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wall_s
        while (left := deadline - loop.time()) > 0:
            try:
                got = await self.oms.receive(timeout=min(left, 1.0))
            except TimeoutError:
                continue
            if not isinstance(got, ParentReport):
                others.append(got)
                continue
            reports.append(got)
            if stop(got):
                return others
        raise AssertionError(
            f"no final report within {wall_s:.0f} wall s; last: "
            f"{reports[-1].report if reports else None}"
        )

    def exchange_filled(self, parent: ParentExecutor) -> int:
        """What the exchange says filled across every child the engine sent for ``parent``."""
        x = self.sim.market.exchange
        total = 0
        for cl in parent.children:
            o = x.order_state(self.venue_owner, cl)
            if o is not None:
                total += o.cum_qty
        return total

    def exchange_live(self, parent: ParentExecutor) -> list[str]:
        x = self.sim.market.exchange
        live = []
        for cl in parent.children:
            o = x.order_state(self.venue_owner, cl)
            if o is not None and o.status not in FINAL and o.status is not OrdStatus.EXPIRED:
                live.append(cl)
        return live


def _is_final(p: ParentReport) -> bool:
    r = p.report
    return r.ord_status in FINAL and r.exec_type is not ExecType.ORDER_STATUS


@contextlib.asynccontextmanager
async def paper_rig(
    data: Path,
    *,
    speed: float = 300.0,
    faults: FaultConfig | None = None,
    warmup_s: float = 60.0,
    seed: int = 1,
    market_data: str = "venue",
    metrics: bool = False,
) -> AsyncIterator[Rig]:
    """fixsim + daemon + demo OMS as :func:`engine.paper._session` wires them, logged on, with
    ``warmup_s`` simulated seconds of market seen by the engine, its market data over the
    venue's FIX session or (``market_data="ws"``) fixsim's WebSocket feed. ``metrics``: the
    engine's REST server (``daemon.rest.port``) and fixsim's ``/metrics`` (``sim.metrics_port``)
    on free loopback ports. Stops everything on exit."""
    market = MarketSimulator(MarketConfig(symbol=SYMBOL, seed=seed, flow=PAPER_FLOW))
    fix_port, oms_port = free_port(), free_port()
    sim = FixSimServer(
        market,
        FixSimConfig(
            settings_path=QUICKFIX / "fixsim.cfg",
            data_dir=data / "fixsim",
            fix_port=fix_port,
            ws_port=0 if market_data == "ws" else None,
            metrics_port=0 if metrics else None,
            speed=speed,
            faults=faults or FaultConfig(),
        ),
    )
    daemon: Daemon | None = None
    oms: OmsClient | None = None
    await sim.start()
    try:
        owner = next(k for k, v in sim.sessions.items() if v is FixVersion.FIX44)
        clock = AcceleratedClock(sim.origin_ns + market.now_ns, speed)
        cfg = DaemonConfig(
            engine=EngineConfig(
                symbols={SYMBOL: SymbolConfig(daily_volume=PAPER_DAILY_VOLUME)},
                seed=seed,
                max_participation=CAP,
                default_participation=CAP,
            ),
            venue=VenueSettings(
                settings=QUICKFIX / "engine-venue.cfg", data_dir=data / "venue", port=fix_port
            ),
            oms=OmsSettings(
                settings=QUICKFIX / "engine-oms.cfg", data_dir=data / "oms", port=oms_port
            ),
            market_data=MarketDataSettings(source="venue")
            if market_data == "venue"
            else MarketDataSettings(
                source="ws",
                url=f"ws://127.0.0.1:{sim.ws_port}/ws",
                stale_after_s=stale_after_s(speed),
            ),
            journal=JournalSettings(path=data / "journal.sqlite"),
            rest=RestSettings(host="127.0.0.1", port=0) if metrics else None,
        )
        daemon = Daemon(cfg, clock)
        oms = OmsClient(
            OmsClientConfig(
                settings_path=QUICKFIX / "oms-client.cfg",
                data_dir=data / "omsclient",
                port=oms_port,
            ),
            clock=clock,
        )
        rig = Rig(sim, daemon, oms, clock, speed, owner)
        _watch_resends(rig)
        await daemon.start()
        await oms.start()
        await daemon.venue.wait_logged_on(15)
        await oms.wait_logon(timeout=15)
        await daemon.oms.wait_logged_on(timeout=15)
        await _warm_up(rig, warmup_s)
        yield rig
    finally:
        try:
            if oms is not None:
                await oms.stop()
        finally:
            try:
                if daemon is not None:
                    await daemon.shutdown()
            finally:
                await sim.close()


def _watch_resends(rig: Rig) -> None:
    """Record any child sent while an earlier child of the same parent is not known final
    (pending, working, unknown after a lost session, or being cancelled): it could still fill."""

    def on_note(parent: ParentExecutor, event: str, fields: dict[str, object]) -> None:
        if event != "child":
            return
        new = fields["child"]
        for cl, child in parent.children.items():
            if cl != new and not child.state.final:
                rig.resent_while_live.append(f"{new} sent while {cl} was {child.state.value}")

    rig.engine.on_note = on_note


async def _warm_up(rig: Rig, warmup_s: float) -> None:
    """Until ``warmup_s`` simulated seconds have passed and the engine has a two-sided book and
    a tape: checked on every market event and at the clock's deadline, awaited as an event
    (bounded by a wall timeout), never polled."""
    market = rig.engine.symbols[SYMBOL].market
    until = rig.now() + round(warmup_s * NS)
    ready = asyncio.Event()

    def check(_event: object = None) -> None:
        if (
            rig.now() >= until
            and market.mid is not None
            and market.total_volume > 0
            and rig.daemon.venue.logged_on
            and not market.stale
        ):
            ready.set()

    rig.daemon.market_data.subscribe(SYMBOL, check)
    timer = rig.clock.call_at(until, check)
    try:
        async with asyncio.timeout(warmup_s / rig.speed + 15):
            await ready.wait()
    finally:
        timer.cancel()
        rig.daemon.market_data.unsubscribe(SYMBOL, check)


@pytest_asyncio.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    async with paper_rig(tmp_path) as r:
        yield r


# --- checks ------------------------------------------------------------------------------------


def _trades(reports: list[ParentReport]) -> list[ParentReport]:
    return [p for p in reports if p.report.exec_type is ExecType.TRADE]


def _check_fill_accounting(rig: Rig, order: ParentOrder, reports: list[ParentReport]) -> int:
    """OMS Trade reports, the engine and the exchange agree; returns the parent's CumQty."""
    parent = rig.engine.parent_by_clordid(order.cl_ord_id)
    assert parent is not None
    trades = _trades(reports)
    exec_ids = [p.report.exec_id for p in reports]
    assert len(exec_ids) == len(set(exec_ids)), "duplicate ExecIDs reached the OMS"
    assert all(p.report.last_qty > 0 and p.report.last_price for p in trades)
    cums = [p.report.cum_qty for p in reports]
    assert cums == sorted(cums), "CumQty went backwards"
    cum = reports[-1].report.cum_qty
    assert sum(p.report.last_qty for p in trades) == cum
    # Every Trade's CumQty is the running sum of LastQty: nothing skipped, nothing twice.
    running = list(itertools.accumulate(p.report.last_qty for p in trades))
    assert [p.report.cum_qty for p in trades] == running
    # The engine's books and the exchange's.
    assert parent.filled == cum
    assert sum(c.cum_qty for c in parent.children.values()) == cum
    assert rig.exchange_filled(parent) == cum, "engine and exchange disagree on fills"
    for cl, child in parent.children.items():
        o = rig.sim.market.exchange.order_state(rig.venue_owner, cl)
        assert (o.cum_qty if o is not None else 0) == child.cum_qty, cl
    if cum:
        notional = sum(p.report.last_qty * p.report.last_price for p in trades)
        assert reports[-1].report.avg_price == pytest.approx(notional / cum, rel=1e-6, abs=1.0)
    assert rig.resent_while_live == []
    return cum


# --- tests -------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_parent_fills_and_reports_match_the_exchange(rig: Rig) -> None:
    order = rig.order(qty=20_000, minutes=5, strategy=FILLING)
    assert rig.oms.send_parent(order)
    first = await rig.report()
    assert first.report.exec_type is ExecType.NEW
    assert first.report.ord_status is OrdStatus.NEW
    assert first.report.cl_ord_id == order.cl_ord_id
    reports = [first]
    others = await rig.collect(reports, wall_s=rig.wall_budget(5))
    assert others == []
    last = reports[-1].report
    assert last.exec_type is ExecType.TRADE
    assert last.ord_status is OrdStatus.FILLED, last
    assert last.leaves_qty == 0 and last.cum_qty == order.qty == last.order_qty
    assert all(p.report.exec_type is ExecType.TRADE for p in reports[1:]), [
        p.report.exec_type for p in reports
    ]
    assert _check_fill_accounting(rig, order, reports) == order.qty
    parent = rig.engine.parent_by_clordid(order.cl_ord_id)
    assert parent is not None and parent.state.value == "filled"
    assert parent.live_children == [] and rig.exchange_live(parent) == []
    # Nothing more about the parent after FILLED.
    with pytest.raises(TimeoutError):
        await rig.receive(timeout=0.5)
    # The journal has the session: the order, every child sent, every report to the OMS.
    journal = rig.daemon.journal
    assert journal is not None
    await asyncio.to_thread(journal.flush)
    assert verify(journal.path).ok
    recs = list(read_records(journal.path, parent=parent.id))
    children = [r.value() for r in recs if r.kind is Kind.CHILD]
    assert [c.cl_ord_id for c in children] == list(parent.children)  # type: ignore[attr-defined]
    told = [r.value() for r in recs if r.kind is Kind.REPORT]
    assert [t.exec_id for t in told] == [p.report.exec_id for p in reports]  # type: ignore[attr-defined]
    assert any(r.kind is Kind.PARENT_COMMAND for r in read_records(journal.path))
    # The daemon's metrics count the FIX traffic both ways, per session and MsgType.
    registry = CollectorRegistry()
    registry.register(DaemonCollector(rig.daemon))
    families = {
        f.name: f for f in text_string_to_metric_families(generate_latest(registry).decode())
    }
    up = {
        (s.labels["session"], s.labels["role"]): s.value
        for s in families["unwind_fix_session_up"].samples
    }
    venue, oms = rig.daemon.venue.session_id, rig.daemon.oms.sessions[0]
    assert up == {(venue, "venue"): 1.0, (oms, "oms"): 1.0}
    msgs = {
        (s.labels["session"], s.labels["direction"], s.labels["msg_type"]): s.value
        for s in families["unwind_fix_messages"].samples
        if s.name.endswith("_total")
    }
    assert msgs[venue, "out", "D"] == len(parent.children)  # NewOrderSingle per child
    assert msgs[venue, "in", "8"] >= len(parent.children)  # at least an ack each
    assert msgs[oms, "in", "D"] == 1  # the parent
    assert msgs[oms, "out", "8"] == len(reports)  # every parent report
    assert msgs[venue, "out", "A"] == 1 and msgs[oms, "in", "A"] == 1  # one logon each
    resends = {
        (s.labels["session"], s.labels["direction"]): s.value
        for s in families["unwind_fix_resend_requests"].samples
        if s.name.endswith("_total")
    }
    # No gap on a clean session, and yet every series is there, at 0, for an alert's increase().
    assert resends == {(sid, d): 0.0 for sid in (venue, oms) for d in ("in", "out")}
    records = families["unwind_journal_records"].samples[0].value
    assert records == journal.records > 0
    lag = {s.name: s.value for s in families["unwind_event_loop_lag_seconds"].samples}
    assert lag["unwind_event_loop_lag_seconds_count"] == rig.daemon.loop_lag.count > 0
    writes = {s.name: s.value for s in families["unwind_journal_write_seconds"].samples}
    assert writes["unwind_journal_write_seconds_count"] >= 1


@pytest.mark.asyncio
async def test_cancel_mid_flight(rig: Rig) -> None:
    order = rig.order(qty=30_000, minutes=10)
    assert rig.oms.send_parent(order)
    reports = [await rig.report()]
    assert reports[0].report.exec_type is ExecType.NEW
    await rig.collect(
        reports,
        wall_s=rig.wall_budget(10),
        until=lambda p: p.report.exec_type is ExecType.TRADE or _is_final(p),
    )
    assert reports[-1].report.exec_type is ExecType.TRADE
    assert reports[-1].report.ord_status is not OrdStatus.FILLED
    cancel = ParentCancel(
        cl_ord_id=f"{order.cl_ord_id}-X",
        orig_cl_ord_id=order.cl_ord_id,
        symbol=SYMBOL,
        side=order.side,
        ts_init=rig.now(),
    )
    assert rig.oms.cancel(cancel)
    n = len(reports)
    await rig.collect(reports, wall_s=15.0)
    after = reports[n:]
    kinds = [p.report.exec_type for p in after]
    pending = kinds.index(ExecType.PENDING_CANCEL)
    assert all(k is ExecType.TRADE for k in kinds[:pending]), kinds  # fills that crossed
    assert all(k is ExecType.TRADE for k in kinds[pending + 1 : -1]), kinds
    assert after[pending].report.ord_status is OrdStatus.PENDING_CANCEL
    done = after[-1].report
    assert done.exec_type is ExecType.CANCELED and done.ord_status is OrdStatus.CANCELED
    assert done.cl_ord_id == cancel.cl_ord_id
    assert done.orig_cl_ord_id == order.cl_ord_id
    assert done.leaves_qty == 0
    assert 0 < done.cum_qty < order.qty
    # No Trade (or anything) after Canceled, and nothing left working anywhere.
    with pytest.raises(TimeoutError):
        await rig.receive(timeout=1.0)
    parent = rig.engine.parent_by_clordid(order.cl_ord_id)
    assert parent is not None and parent.state.value == "canceled"
    assert parent.live_children == []
    assert rig.exchange_live(parent) == []
    assert _check_fill_accounting(rig, order, reports) == done.cum_qty


@pytest.mark.asyncio
async def test_replace_up_and_down(rig: Rig) -> None:
    order = rig.order(qty=20_000, minutes=10)
    assert rig.oms.send_parent(order)
    reports = [await rig.report()]
    await rig.collect(
        reports,
        wall_s=rig.wall_budget(10),
        until=lambda p: p.report.cum_qty >= 500 or _is_final(p),
    )
    assert not _is_final(reports[-1]), reports[-1].report
    current = order.cl_ord_id

    async def replace(qty: int) -> OmsInbound:
        nonlocal current
        req = ParentReplace(
            cl_ord_id=f"{order.cl_ord_id}-R{next(_ids)}",
            orig_cl_ord_id=current,
            symbol=SYMBOL,
            side=order.side,
            ts_init=rig.now(),
            qty=qty,
        )
        assert rig.oms.replace(req)
        while True:  # fills may cross the request: keep them
            got = await rig.receive(timeout=5.0)
            if isinstance(got, ParentReport) and got.report.exec_type is ExecType.TRADE:
                reports.append(got)
                continue
            if isinstance(got, ParentReport) and got.report.exec_type is ExecType.PENDING_REPLACE:
                # Below what the working children may still fill: pending until they are done.
                assert got.report.cl_ord_id == req.cl_ord_id
                assert got.report.orig_cl_ord_id == current
                reports.append(got)
                continue
            if isinstance(got, ParentReport):
                reports.append(got)
                if got.report.exec_type is ExecType.REPLACED:
                    assert got.report.cl_ord_id == req.cl_ord_id
                    assert got.report.orig_cl_ord_id == current
                    current = req.cl_ord_id
            return got

    # Up.
    got = await replace(30_000)
    assert isinstance(got, ParentReport), got
    assert got.report.exec_type is ExecType.REPLACED, got.report
    assert got.report.order_qty == 30_000
    assert got.report.leaves_qty == 30_000 - got.report.cum_qty
    # Down below what has filled: refused, the parent keeps its quantity and ClOrdID.
    parent = rig.engine.parent_by_clordid(order.cl_ord_id)
    assert parent is not None and parent.filled >= 500
    got = await replace(100)
    assert isinstance(got, CancelReject), got
    assert got.response_to == "replace"
    assert got.orig_cl_ord_id == current
    assert "must exceed" in got.reason and "filled" in got.reason
    assert parent.qty == 30_000 and parent.cl_ord_id == current
    # Down, above what has filled.
    new_qty = (parent.filled // 100 + 30) * 100
    got = await replace(new_qty)
    assert isinstance(got, ParentReport), got
    assert got.report.exec_type is ExecType.REPLACED, got.report
    assert got.report.order_qty == new_qty
    await rig.collect(reports, wall_s=rig.wall_budget(10))
    last = reports[-1].report
    assert last.ord_status in (OrdStatus.FILLED, OrdStatus.DONE_FOR_DAY), last
    assert last.order_qty == new_qty
    # Never more filled than the quantity in force when the report was sent.
    for p in reports:
        assert p.report.cum_qty <= p.report.order_qty, p.report
    assert last.cum_qty <= new_qty
    if last.ord_status is OrdStatus.FILLED:
        assert last.cum_qty == new_qty and last.leaves_qty == 0
    assert _check_fill_accounting(rig, order, reports) == last.cum_qty


@pytest.mark.asyncio
async def test_rejects_keep_the_session_up(rig: Rig) -> None:
    cases = [
        (rig.order(symbol="NOPE"), 1, ["unknown symbol", "NOPE"]),
        (rig.order(qty=20_050), 13, ["20050", "lots"]),
        (rig.order(end_ns=rig.now() - 60 * NS), 4, ["ExpireTime", "passed"]),
        (rig.order(participation_cap=0.2), 3, ["ParticipationRate", "0.2", "0.15"]),
        (rig.order(qty=2_000_000, minutes=5), 99, ["infeasible", "cap"]),
    ]
    for order, code, words in cases:
        assert rig.oms.send_parent(order)
        got = await rig.report()
        r = got.report
        assert r.cl_ord_id == order.cl_ord_id
        assert r.exec_type is ExecType.REJECTED and r.ord_status is OrdStatus.REJECTED, r
        assert got.ord_rej_reason == code, (order, got)
        for w in words:
            assert w in r.text, (w, r.text)
        assert r.cum_qty == 0 and r.leaves_qty == 0
        assert rig.engine.parent_by_clordid(order.cl_ord_id) is None
    assert rig.oms.logged_on()
    # A valid order afterwards is accepted and works.
    order = rig.order(qty=5_000, minutes=5, strategy=FILLING)
    assert rig.oms.send_parent(order)
    got = await rig.report()
    assert got.report.exec_type is ExecType.NEW and got.report.cl_ord_id == order.cl_ord_id
    reports = [got]
    await rig.collect(reports, wall_s=rig.wall_budget(5))
    assert reports[-1].report.ord_status is OrdStatus.FILLED
    _check_fill_accounting(rig, order, reports)


async def _run_to_end(rig: Rig, order: ParentOrder, minutes: float) -> list[ParentReport]:
    assert rig.oms.send_parent(order)
    reports = [await rig.report(timeout=10.0)]
    assert reports[0].report.exec_type is ExecType.NEW
    others = await rig.collect(reports, wall_s=rig.wall_budget(minutes))
    assert others == []
    return reports


@pytest.mark.asyncio
async def test_duplicate_venue_reports_are_counted_once(tmp_path: Path) -> None:
    faults = FaultConfig(seed=7, duplicate_reports=0.3)
    async with paper_rig(tmp_path, faults=faults) as rig:
        order = rig.order(qty=20_000, minutes=5, strategy=FILLING)
        reports = await _run_to_end(rig, order, 5)
        assert rig.sim.stats.duplicated > 0
        last = reports[-1].report
        assert last.ord_status is OrdStatus.FILLED, last
        assert _check_fill_accounting(rig, order, reports) == order.qty


@pytest.mark.asyncio
async def test_venue_disconnects_lose_no_fill(tmp_path: Path) -> None:
    # fixsim drops the venue session at seeded simulated times (exponential gaps, mean 60 s);
    # QuickFIX's ReconnectInterval is 1 wall s, so at 60x each outage costs about a simulated
    # minute. The parent (60,000 at most 15% of volume, some 6 simulated minutes of trading
    # at the least) is still working through several of them.
    speed, minutes = 60.0, 10.0
    faults = FaultConfig(seed=2, disconnect_every_ns=60 * NS)
    # The seed's schedule (simulated time from the market's start): several drops fall after
    # the warm-up, while the parent works.
    schedule, drops = FaultSchedule(faults, [SYMBOL], 0), []
    while (t := schedule.next_time()) is not None and t < 400 * NS:
        drops += [a.at_ns // NS for a in schedule.pop_due(t)]
    assert sum(60 < t < 400 for t in drops) >= 3, drops
    async with paper_rig(tmp_path, speed=speed, faults=faults, warmup_s=50) as rig:
        order = rig.order(qty=60_000, minutes=minutes, strategy=FILLING)
        sessions: list[tuple[float, bool, list[str]]] = []

        def on_session(up: bool) -> None:  # runs after the engine's own hook
            parent = rig.engine.parent_by_clordid(order.cl_ord_id)
            if parent is not None and not parent.state.final:
                live = [c.state.value for c in parent.live_children]
                sessions.append(((rig.now() - parent.start_ns) / NS, up, live))

        rig.daemon.venue.on_session(on_session)
        reports = await _run_to_end(rig, order, minutes)
        downs = [s for s in sessions if not s[1]]
        assert len(downs) >= 2, (sessions, rig.sim.stats)
        # While the session was down the engine held its children as in doubt (unknown, or
        # still being cancelled), never as failed.
        in_doubt = {"unknown", "pending_cancel"}
        assert all(state in in_doubt for _, _, live in downs for state in live), downs
        last = reports[-1].report
        assert last.ord_status in (OrdStatus.FILLED, OrdStatus.DONE_FOR_DAY), last
        parent = rig.engine.parent_by_clordid(order.cl_ord_id)
        assert parent is not None
        assert parent.live_children == [] and rig.exchange_live(parent) == []
        assert _check_fill_accounting(rig, order, reports) == last.cum_qty
        assert last.cum_qty > 0


@pytest.mark.asyncio
async def test_websocket_market_data_outage_pulls_children_and_trading_resumes_after(
    tmp_path: Path,
) -> None:
    # Market data from fixsim's WebSocket feed, orders over FIX. Mid-parent the feed goes
    # away: the engine hears the symbol is stale, cancels its resting children and sends
    # nothing until the feed is back with a fresh snapshot; then the parent completes.
    async with paper_rig(tmp_path, market_data="ws") as rig:
        publisher = rig.sim.ws
        assert publisher is not None and rig.daemon.ws is not None
        changes: asyncio.Queue[tuple[int, bool]] = asyncio.Queue()
        left_resting: list[str] = []  # resting children not being cancelled once stale was heard

        def on_stale(_symbol: str, stale: bool) -> None:
            changes.put_nowait((rig.now(), stale))
            parent = rig.engine.parent_by_clordid(order.cl_ord_id)
            if stale and parent is not None:
                left_resting.extend(
                    c.cl_ord_id
                    for c in parent.live_children
                    if c.order.tif is TimeInForce.DAY
                    and c.state in (ChildState.NEW, ChildState.PARTIALLY_FILLED)
                )

        rig.daemon.on_market_stale(on_stale)
        market = rig.engine.symbols[SYMBOL].market
        blind: list[object] = []  # children sent while the engine held the data stale
        watch = rig.engine.on_note
        assert watch is not None

        def on_note(parent: ParentExecutor, event: str, fields: dict[str, object]) -> None:
            watch(parent, event, fields)
            if event == "child" and market.stale:
                blind.append(fields["child"])

        rig.engine.on_note = on_note
        # twap rests passive children more than pov does.
        order = rig.order(qty=20_000, minutes=5, strategy="twap")
        assert rig.oms.send_parent(order)
        reports = [await rig.report(timeout=10.0)]
        # Until a passive child rests at the venue: looked at with each report and every few
        # simulated seconds between (a resting child lives 30 s: 100 wall ms at 300x).
        async with asyncio.timeout(rig.wall_budget(5)):
            while not _resting(rig, order):
                with contextlib.suppress(TimeoutError):
                    reports.append(await rig.report(timeout=0.02))
                    assert not _is_final(reports[-1]), "ended before a child rested"
        parent = rig.engine.parent_by_clordid(order.cl_ord_id)
        assert parent is not None and not parent.state.final
        await publisher.close()
        went_stale, stale = await asyncio.wait_for(changes.get(), 10)
        assert stale and market.stale
        sent_before = set(parent.children)
        await publisher.start()
        came_back, stale = await asyncio.wait_for(changes.get(), 15)
        assert not stale and came_back > went_stale
        # Every resting child was asked to go at once, and blind, nothing new went out.
        assert left_resting == [] and blind == []
        others = await rig.collect(reports, wall_s=rig.wall_budget(5))
        assert others == []
        last = reports[-1].report
        assert last.ord_status in (OrdStatus.FILLED, OrdStatus.DONE_FOR_DAY), last
        assert set(parent.children) - sent_before, "nothing sent after the outage"
        assert _check_fill_accounting(rig, order, reports) == last.cum_qty > 0
        assert rig.daemon.ws.counters.reconnects >= 1


def _resting(rig: Rig, order: ParentOrder) -> bool:
    parent = rig.engine.parent_by_clordid(order.cl_ord_id)
    return parent is not None and any(
        c.order.tif is TimeInForce.DAY and c.state in (ChildState.NEW, ChildState.PARTIALLY_FILLED)
        for c in parent.live_children
    )


@pytest.mark.asyncio
async def test_oms_session_down_while_the_parent_fills_loses_no_report(tmp_path: Path) -> None:
    # The OMS logs out after the first fill; the parent goes on filling and ends while it is
    # away. When it logs on again it gets every report it missed, in order, each once.
    async with paper_rig(tmp_path) as rig:
        order = rig.order(qty=20_000, minutes=5, strategy=FILLING)
        finished = asyncio.Event()
        watch = rig.engine.on_note
        assert watch is not None

        def on_note(parent: ParentExecutor, event: str, fields: dict[str, object]) -> None:
            watch(parent, event, fields)
            if event == "finished":
                finished.set()

        rig.engine.on_note = on_note
        assert rig.oms.send_parent(order)
        reports = [await rig.report(timeout=10.0)]
        await rig.collect(
            reports, wall_s=rig.wall_budget(5), until=lambda p: p.report.exec_type is ExecType.TRADE
        )
        await rig.oms.stop()
        async with asyncio.timeout(rig.wall_budget(5)):
            await finished.wait()
        parent = rig.engine.parent_by_clordid(order.cl_ord_id)
        assert parent is not None
        session = parent.order.session
        assert rig.daemon.outbox.pending(session) > 0  # the end came while it was away
        await rig.oms.start()
        await rig.oms.wait_logon(count=2, timeout=15)
        others = await rig.collect(reports, wall_s=15)
        assert others == []
        assert rig.daemon.outbox.pending(session) == 0
        # Exactly the engine's reports, in its order, none twice.
        assert [p.report.exec_id for p in reports] == [
            r.exec_id for r in rig.engine.reports[parent.id]
        ]
        assert _check_fill_accounting(rig, order, reports) == reports[-1].report.cum_qty > 0


@pytest.mark.asyncio
async def test_a_restart_mid_parent_recovers_from_the_journal_and_finishes_it(
    tmp_path: Path,
) -> None:
    # The engine stops mid-parent without draining (its children left at the venue, its FIX
    # sessions dropped), and a new daemon starts on the same configuration: the same journal,
    # the same QuickFIX stores. It rebuilds the parent from the journal, asks the venue about
    # its children at the logon, and finishes the parent: the OMS's fills are the exchange's,
    # each once, and no ClOrdID reaches the venue twice.
    async with paper_rig(tmp_path) as rig:
        # 20 simulated minutes: the restart's logons take a few wall seconds, 300x as many
        # simulated ones.
        order = rig.order(qty=20_000, minutes=20, strategy=FILLING)
        assert rig.oms.send_parent(order)
        reports = [await rig.report()]
        await rig.collect(
            reports,
            wall_s=rig.wall_budget(20),
            until=lambda p: len(_trades([*reports, p])) >= 3,
        )
        old = rig.daemon
        parent_id = old.engine.parent_by_clordid(order.cl_ord_id).id  # type: ignore[union-attr]
        old.engine.clock.stop()  # the old engine is gone: its timers do nothing
        await old.venue.stop()
        await old.oms.stop()
        old.loop_lag.stop()
        assert old.journal is not None
        await asyncio.to_thread(old.journal.close)
        new = Daemon(old.cfg, rig.clock)
        try:
            assert new.recovery is not None and new.recovery.decisions > 0
            rig.daemon = new
            _watch_resends(rig)
            await new.start()
            await new.venue.wait_logged_on(15)
            await new.oms.wait_logged_on(timeout=15)
            await rig.collect(reports, wall_s=rig.wall_budget(20))
            parent = new.engine.parents[parent_id]
            assert parent.state.value == "filled", parent.state
            # The new daemon sends every report again (the old one may have held some): the
            # OMS drops a repeat by ExecID, and a repeat is the same report.
            once: dict[str, ParentReport] = {}
            for p in reports:
                seen = once.setdefault(p.report.exec_id, p)
                assert dataclasses.replace(seen.report, ts_init=0) == dataclasses.replace(
                    p.report, ts_init=0
                ), (seen, p)
            assert len(once) < len(reports)
            reports = list(once.values())
            assert _check_fill_accounting(rig, order, reports) == order.qty
            assert parent.live_children == [] and rig.exchange_live(parent) == []
            assert rig.resent_while_live == []
            kinds = [r.kind for r in read_records(new.journal.path)]  # type: ignore[union-attr]
            assert kinds.count(Kind.RESTART) == 1
        finally:
            await new.shutdown()
        result = replay(new.journal.path)  # type: ignore[union-attr]
        assert result.divergence is None, result.divergence
