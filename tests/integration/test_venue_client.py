"""The engine's FIX venue adapter against the FIX simulator, over real QuickFIX sessions.

One simulator (manual time, :class:`StaticMarket`) and two adapters, FIX 4.2 and FIX 4.4,
shared by the module; each test puts a fresh market (and faults) behind the running sessions.
Book at the start of each test: bids 99.99x500, 99.98x300, 99.97x200; asks 100.01x400,
100.02x300, 100.03x200. Nothing waits on the wall clock except QuickFIX's 1 s reconnect.

The barrier :meth:`Rig.sync` subscribes to a symbol the venue does not list and waits for the
MarketDataRequestReject: faults never touch it, and the venue sends everything in order, so
whatever the venue sent before it has been delivered when it returns.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import quickfix as fix

from adapters.fix.mdcodec import MarketDataReject
from adapters.fix.venue_client import FixVenueClient, FixVenueConfig
from adapters.fix.venue_session import NOT_LOGGED_ON
from adapters.fix.wire import FixVersion
from adapters.fixsim.faults import FaultConfig, FaultSchedule
from adapters.fixsim.server import FixSimConfig, FixSimServer
from engine.events import (
    BookSnapshot,
    BookUpdate,
    CancelOrder,
    CancelReject,
    ExecType,
    ExecutionReport,
    NewOrder,
    OrderType,
    OrdStatus,
    ReplaceOrder,
    Side,
    StatusRequest,
    TimeInForce,
    Trade,
    TradingState,
    TradingStatus,
)
from tests.kit.fix_client import (
    ASKS,
    BIDS,
    NS,
    StaticMarket,
    free_port,
    new_comp_ids,
    write_acceptor_cfg,
    write_initiator_cfg,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")
VERSIONS = [FixVersion.FIX42, FixVersion.FIX44]
PX = 1_000_000  # 100.00, between the best bid and the best ask


class Recorder:
    """A sink that keeps what it receives and lets a test wait for a condition on it."""

    def __init__(self) -> None:
        self.events: list[Any] = []
        self._changed = asyncio.Event()

    def __call__(self, event: Any) -> None:
        self.events.append(event)
        self._changed.set()

    async def wait_for(self, ready: Callable[[list[Any]], bool], what: str) -> list[Any]:
        try:
            async with asyncio.timeout(5.0):
                while not ready(self.events):
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            raise AssertionError(f"no {what} within 5 s; got {self.events}") from None
        return self.events

    def of(self, cl_ord_id: str) -> list[ExecutionReport]:
        return [e for e in self.events if getattr(e, "cl_ord_id", None) == cl_ord_id]


@dataclass
class Rig:
    server: FixSimServer
    clients: dict[FixVersion, FixVenueClient]
    venue: dict[FixVersion, Recorder] = field(default_factory=dict)
    session: dict[FixVersion, Recorder] = field(default_factory=dict)
    md_rejects: dict[FixVersion, Recorder] = field(default_factory=dict)
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    @property
    def market(self) -> StaticMarket:
        return self.server.market  # type: ignore[return-value]

    def venue_key(self, v: FixVersion) -> str:
        return next(k for k in self.server.sessions if k.startswith(v.value + ":"))

    async def fresh(self, faults: FaultConfig | None = None) -> StaticMarket:
        self.server.restart_market(StaticMarket(), faults)
        for v, client in self.clients.items():
            await client.wait_logged_on(10)
            await self.sync(v)
            for rec in (self.venue[v], self.session[v], self.md_rejects[v]):
                rec.events.clear()
        return self.market

    async def sync(self, v: FixVersion) -> None:
        symbol = f"SYNC{next(self._ids)}"
        client, rejects = self.clients[v], self.md_rejects[v]
        client.subscribe(symbol, _ignore)
        await rejects.wait_for(lambda ev: any(s == symbol for s, _ in ev), f"reject of {symbol}")
        client.unsubscribe(symbol, _ignore)

    async def report(self, v: FixVersion, cl: str, exec_type: ExecType) -> ExecutionReport:
        def ready(_: list[Any]) -> bool:
            return any(e.exec_type is exec_type for e in self.venue[v].of(cl))

        await self.venue[v].wait_for(ready, f"{exec_type} for {cl}")
        return next(e for e in self.venue[v].of(cl) if e.exec_type is exec_type)

    async def resting(self, v: FixVersion, cl: str, qty: int = 300) -> ExecutionReport:
        self.clients[v].submit(_order(cl, Side.SELL, qty))
        return await self.report(v, cl, ExecType.NEW)


def _ignore(_: object) -> None:
    pass


def _order(cl: str, side: Side, qty: int, price: int = PX) -> NewOrder:
    return NewOrder(cl, "XYZ", side, qty, OrderType.LIMIT, price, TimeInForce.DAY, 1)


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def rig(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Rig]:
    tmp = Path(tmp_path_factory.mktemp("venue-client"))
    port, ids = free_port(), new_comp_ids()
    acceptor = write_acceptor_cfg(tmp / "acceptor.cfg", port=port, store=tmp / "sim", clients=ids)
    initiator = write_initiator_cfg(tmp / "engine.cfg", port=port, store=tmp / "eng", clients=ids)
    server = FixSimServer(StaticMarket(), FixSimConfig(settings_path=acceptor, drain_timeout_s=3))
    await server.start()
    r = Rig(server, {})
    try:
        for v in VERSIONS:
            client = FixVenueClient(FixVenueConfig(settings_path=initiator, session=v.value))
            r.clients[v] = client
            r.venue[v], r.session[v], r.md_rejects[v] = Recorder(), Recorder(), Recorder()
            client.connect(r.venue[v])
            client.on_session(r.session[v])
            client.on_md_reject(lambda s, rej, rec=r.md_rejects[v]: rec((s, rej)))
            await client.start()
        for client in r.clients.values():
            await client.wait_logged_on(10)
        yield r
    finally:
        for client in r.clients.values():
            await client.stop()
        await server.close()
    assert server.errors == [], server.errors


@pytest.mark.parametrize("v", VERSIONS)
async def test_submit_when_order_crosses_then_ack_and_fills_arrive_as_domain_reports(
    rig: Rig, v: FixVersion
) -> None:
    await rig.fresh()
    client = rig.clients[v]
    assert client.version is v and client.session_id.startswith(v.value + ":")
    sent_before = client.counters.messages_out.get("D", 0)
    client.submit(_order("o1", Side.BUY, 600, price=1_000_200))
    await rig.venue[v].wait_for(lambda _: len(rig.venue[v].of("o1")) == 3, "ack and two fills")
    ack, f1, f2 = rig.venue[v].of("o1")
    assert (ack.exec_type, ack.ord_status, ack.leaves_qty) == (ExecType.NEW, OrdStatus.NEW, 600)
    assert [(f.exec_type, f.last_qty, f.last_price, f.cum_qty) for f in (f1, f2)] == [
        (ExecType.TRADE, 400, 1_000_100, 400),
        (ExecType.TRADE, 200, 1_000_200, 600),
    ]
    assert (f2.ord_status, f2.leaves_qty) == (OrdStatus.FILLED, 0)
    assert f2.avg_price == (400 * 1_000_100 + 200 * 1_000_200) / 600
    assert ack.venue_order_id == f2.venue_order_id != "NONE"
    assert client.counters.messages_out["D"] == sent_before + 1


@pytest.mark.parametrize("v", VERSIONS)
async def test_cancel_when_order_rests_then_canceled_and_second_cancel_rejected(
    rig: Rig, v: FixVersion
) -> None:
    await rig.fresh()
    await rig.resting(v, "c1")
    rig.clients[v].cancel(CancelOrder("c2", "c1", "XYZ", Side.SELL, 1))
    done = await rig.report(v, "c2", ExecType.CANCELED)
    assert (done.orig_cl_ord_id, done.ord_status, done.leaves_qty) == (
        "c1", OrdStatus.CANCELED, 0)  # fmt: skip
    assert rig.market.exchange.order_state(rig.venue_key(v), "c1").leaves == 0  # type: ignore[union-attr]
    rig.clients[v].cancel(CancelOrder("c3", "c2", "XYZ", Side.SELL, 1))
    await rig.venue[v].wait_for(lambda _: rig.venue[v].of("c3"), "a cancel reject")
    (rej,) = rig.venue[v].of("c3")
    assert isinstance(rej, CancelReject)
    assert (rej.orig_cl_ord_id, rej.response_to, rej.reason != "") == ("c2", "cancel", True)


@pytest.mark.parametrize("v", VERSIONS)
async def test_replace_when_order_rests_then_replaced_and_fills_under_new_clordid(
    rig: Rig, v: FixVersion
) -> None:
    await rig.fresh()
    await rig.resting(v, "r1")
    rig.clients[v].replace(ReplaceOrder("r2", "r1", "XYZ", Side.SELL, 200, 1_000_000, 1))
    rep = await rig.report(v, "r2", ExecType.REPLACED)
    assert (rep.orig_cl_ord_id, rep.order_qty, rep.leaves_qty, rep.ord_status) == (
        "r1", 200, 200, OrdStatus.NEW)  # fmt: skip
    rig.market.exchange.add_order("XYZ", Side.BUY, 200, price=PX)
    fill = await rig.report(v, "r2", ExecType.TRADE)
    assert (fill.last_qty, fill.cum_qty, fill.ord_status) == (200, 200, OrdStatus.FILLED)
    rig.clients[v].replace(ReplaceOrder("r3", "r2", "XYZ", Side.SELL, 100, None, 1))
    await rig.venue[v].wait_for(lambda _: rig.venue[v].of("r3"), "a replace reject")
    (rej,) = rig.venue[v].of("r3")
    assert isinstance(rej, CancelReject) and rej.response_to == "replace"


@pytest.mark.parametrize("v", VERSIONS)
async def test_request_status_when_known_and_unknown_then_order_status_reports(
    rig: Rig, v: FixVersion
) -> None:
    await rig.fresh()
    await rig.resting(v, "s1")
    rig.market.exchange.add_order("XYZ", Side.BUY, 100, price=PX)
    await rig.report(v, "s1", ExecType.TRADE)
    rig.clients[v].request_status(StatusRequest("s1", "XYZ", Side.SELL, 1))
    rig.clients[v].request_status(StatusRequest("nope", "XYZ", Side.BUY, 1))
    known = await rig.report(v, "s1", ExecType.ORDER_STATUS)
    assert (known.ord_status, known.cum_qty, known.leaves_qty, known.avg_price) == (
        OrdStatus.PARTIALLY_FILLED, 100, 200, PX)  # fmt: skip
    unknown = await rig.report(v, "nope", ExecType.ORDER_STATUS)
    assert (unknown.ord_status, unknown.venue_order_id, unknown.text) == (
        OrdStatus.REJECTED, "NONE", "unknown order")  # fmt: skip


@pytest.mark.parametrize("v", VERSIONS)
async def test_subscribe_when_book_moves_then_snapshot_first_then_trades_updates_and_status(
    rig: Rig, v: FixVersion
) -> None:
    await rig.fresh()
    client, x = rig.clients[v], rig.market.exchange
    a, b = Recorder(), Recorder()
    client.subscribe("XYZ", a)
    try:
        await a.wait_for(lambda ev: len(ev) >= 2, "the snapshot and the symbol's state")
        x.add_order("XYZ", Side.SELL, 450, order_type=OrderType.MARKET)
        await a.wait_for(lambda ev: len(ev) >= 4, "a trade and a level change")
        snap, state, trade, change = a.events[:4]
        assert isinstance(snap, BookSnapshot) and (snap.bids, snap.asks) == (BIDS, ASKS)
        assert isinstance(state, TradingStatus) and state.state is TradingState.TRADING
        assert isinstance(trade, Trade) and (trade.price, trade.size) == (999_900, 450)
        assert change == BookUpdate("XYZ", Side.BUY, 999_900, 50, change.ts_event, change.ts_init)
        # A second sink joins a flowing symbol: its own snapshot first, none for the first sink
        # (the symbol's state after it reaches both: it has no MDReqID, and it says nothing new).
        client.subscribe("XYZ", b)
        await b.wait_for(lambda ev: len(ev) >= 1, "the second sink's snapshot")
        assert isinstance(b.events[0], BookSnapshot) and b.events[0].bids[0] == (999_900, 50)
        x.set_trading_state("XYZ", TradingState.HALTED, "news pending")
        await b.wait_for(
            lambda ev: isinstance(ev[-1], TradingStatus) and ev[-1].state is TradingState.HALTED,
            "the halt",
        )
        assert all(isinstance(e, TradingStatus) for e in a.events[4:])
        assert a.events[-1].state is TradingState.HALTED
        seen = len(a.events)
        client.unsubscribe("XYZ", a)
        x.set_trading_state("XYZ", TradingState.TRADING, "resumed")
        await b.wait_for(lambda ev: ev[-1].state is TradingState.TRADING, "the resumption")
        assert len(a.events) == seen
    finally:
        client.unsubscribe("XYZ", a)
        client.unsubscribe("XYZ", b)
    # The last sink left, so the venue was told: nothing more arrives for XYZ at all.
    await rig.sync(v)
    incrementals = client.counters.messages_in.get("X", 0)
    x.add_order("XYZ", Side.BUY, 100, price=999_500)
    await rig.sync(v)
    assert client.counters.messages_in.get("X", 0) == incrementals


@pytest.mark.parametrize("v", VERSIONS)
async def test_subscribe_when_symbol_unknown_then_md_reject_reported_with_symbol(
    rig: Rig, v: FixVersion
) -> None:
    await rig.fresh()
    sink = Recorder()
    rig.clients[v].subscribe("NOPE", sink)
    events = await rig.md_rejects[v].wait_for(lambda ev: ev, "a market data reject")
    symbol, rej = events[0]
    assert isinstance(rej, MarketDataReject)
    assert (symbol, rej.reason_code, "NOPE" in rej.text) == ("NOPE", "0", True)
    rig.clients[v].unsubscribe("NOPE", sink)
    assert sink.events == []


@pytest.mark.parametrize("v", VERSIONS)
async def test_duplicate_reports_when_venue_sends_copies_then_each_delivered_once(
    rig: Rig, v: FixVersion
) -> None:
    await rig.fresh(FaultConfig(duplicate_reports=1.0))
    dropped = rig.clients[v].counters.duplicates_dropped
    await rig.resting(v, "u1")
    rig.market.exchange.add_order("XYZ", Side.BUY, 100, price=PX)
    await rig.sync(v)
    got = rig.venue[v].of("u1")
    assert [(e.exec_type, e.cum_qty, e.possible_duplicate) for e in got] == [
        (ExecType.NEW, 0, False),
        (ExecType.TRADE, 100, False),
    ]
    assert rig.clients[v].counters.duplicates_dropped - dropped == 2
    assert rig.server.stats.duplicated == 2


@pytest.mark.parametrize("v", VERSIONS)
async def test_submit_when_never_logged_on_then_rejected_locally_and_nothing_sent(
    tmp_path: Path, v: FixVersion
) -> None:
    cfg = write_initiator_cfg(
        tmp_path / "down.cfg", port=free_port(), store=tmp_path, clients=new_comp_ids()
    )
    client = FixVenueClient(FixVenueConfig(settings_path=cfg, session=v.value))
    sink = Recorder()
    client.connect(sink)
    await client.start()  # nobody listens: QuickFIX keeps trying, the session stays down
    try:
        client.submit(_order("d1", Side.BUY, 100))
        client.cancel(CancelOrder("d2", "d0", "XYZ", Side.BUY, 1))
        client.replace(ReplaceOrder("d3", "d0", "XYZ", Side.BUY, 50, PX, 1))
        assert sink.events == []  # answered later, on the loop, never from inside submit()
        await sink.wait_for(lambda ev: len(ev) == 3, "three local refusals")
        rej, cxl, rpl = sink.events
        assert isinstance(rej, ExecutionReport)
        assert (rej.cl_ord_id, rej.exec_type, rej.ord_status, rej.text) == (
            "d1", ExecType.REJECTED, OrdStatus.REJECTED, NOT_LOGGED_ON)  # fmt: skip
        assert isinstance(cxl, CancelReject) and isinstance(rpl, CancelReject)
        assert [(c.cl_ord_id, c.response_to, c.reason) for c in (cxl, rpl)] == [
            ("d2", "cancel", NOT_LOGGED_ON),
            ("d3", "replace", NOT_LOGGED_ON),
        ]
        assert (client.logged_on, client.counters.not_sent, client.counters.messages_out) == (
            False, 3, {})  # fmt: skip
    finally:
        await client.stop()


@pytest.mark.parametrize("v", VERSIONS)
async def test_submit_when_venue_session_rejects_message_then_order_reported_rejected(
    rig: Rig, v: FixVersion
) -> None:
    await rig.fresh()
    rig.clients[v].submit(_order("", Side.BUY, 100))  # ClOrdID without a value: 35=3
    rej = await rig.report(v, "", ExecType.REJECTED)
    assert rej.text.startswith("session reject by venue") and "(tag 11)" in rej.text
    assert rig.clients[v].counters.session_rejects == 1


@pytest.mark.parametrize("v", VERSIONS)
async def test_disconnect_when_venue_drops_session_then_relogon_resubscribes_and_fill_once(
    rig: Rig, v: FixVersion
) -> None:
    cfg = FaultConfig(seed=7, disconnect_every_ns=30 * NS, duplicate_reports=1.0)
    market = await rig.fresh(cfg)
    client, book = rig.clients[v], Recorder()
    client.subscribe("XYZ", book)
    try:
        await rig.resting(v, "x1")
        await book.wait_for(lambda ev: len(ev) == 3, "snapshot, state and our level")
        assert isinstance(book.events[1], TradingStatus)
        assert book.events[2] == BookUpdate("XYZ", Side.SELL, PX, 300, *_ts(book.events[2]))
        t_drop = FaultSchedule(cfg, ["XYZ"], market.start_ns).next_time()
        assert t_drop is not None
        rig.server.step(t_drop)
        await rig.session[v].wait_for(lambda ev: ev == [False], "the drop")
        client.submit(_order("x2", Side.BUY, 100))  # refused: the session is down
        assert (await rig.report(v, "x2", ExecType.REJECTED)).text == NOT_LOGGED_ON
        rig.market.exchange.add_order("XYZ", Side.BUY, 100, price=PX)  # fills during the outage
        await rig.session[v].wait_for(lambda ev: ev == [False, True], "the logon again")
        fill = await rig.report(v, "x1", ExecType.TRADE)
        await rig.sync(v)
        # Through QuickFIX's resend (PossDupFlag=Y), with its fault copy dropped: once.
        assert [e.exec_type for e in rig.venue[v].of("x1")] == [ExecType.NEW, ExecType.TRADE]
        assert (fill.last_qty, fill.cum_qty, fill.possible_duplicate) == (100, 100, True)
        assert rig.market.exchange.order_state(rig.venue_key(v), "x2") is None  # never sent
        # Resubscribed: the next thing the sink saw was a fresh snapshot with the fill in it,
        # then the symbol's state.
        after = book.events[3:]
        assert isinstance(after[0], BookSnapshot) and after[0].asks[0] == (PX, 200)
        assert [type(e) for e in after] == [BookSnapshot, TradingStatus]
    finally:
        client.unsubscribe("XYZ", book)


@pytest.mark.parametrize("v", VERSIONS)
async def test_resend_request_when_venue_asks_for_our_order_again_then_gap_filled_not_replayed(
    rig: Rig, v: FixVersion
) -> None:
    await rig.fresh()
    await rig.resting(v, "g1")
    acceptor = fix.Session.lookupSession(rig.server.session_id(rig.venue_key(v)))
    # The venue "loses" the NewOrderSingle: our next message looks like a gap to it, and it
    # asks for the order again with a ResendRequest.
    acceptor.setNextTargetMsgSeqNum(acceptor.getExpectedTargetNum() - 1)
    rig.clients[v].request_status(StatusRequest("g1", "XYZ", Side.SELL, 1))
    await rig.venue[v].wait_for(lambda _: len(rig.venue[v].of("g1")) == 3, "two status answers")
    await rig.sync(v)
    # Both messages in the gap were gap-filled, not replayed (a replayed order would have met
    # "duplicate ClOrdID" and come back REJECTED). The adapter asked for the order's status
    # instead, and sent the status request again: two answers, the order untouched.
    new, *answers = rig.venue[v].of("g1")
    assert new.exec_type is ExecType.NEW and len(answers) == 2
    for status in answers:
        assert (status.exec_type, status.ord_status, status.leaves_qty) == (
            ExecType.ORDER_STATUS, OrdStatus.NEW, 300)  # fmt: skip
    assert rig.market.exchange.order_state(rig.venue_key(v), "g1").order_qty == 300  # type: ignore[union-attr]


def _ts(event: BookUpdate) -> tuple[int, int]:
    return event.ts_event, event.ts_init
