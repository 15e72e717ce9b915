"""The WebSocket market-data client against the simulator's real feed server, over loopback.

The venue is an :class:`~adapters.sim.exchange.Exchange` behind the simulator's
:class:`~adapters.fixsim.ws.WebSocketPublisher`; book at the start of each test: bids
99.99x500, 99.98x300, 99.97x200; asks 100.01x400, 100.02x300, 100.03x200. For input the
simulator never sends (bad frames, gaps, unanswered pings) a scripted aiohttp server stands in.
Nothing sleeps: every wait is for an event, with a timeout.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest
import pytest_asyncio
from aiohttp import WSMsgType, web

from adapters.fixsim.ws import WebSocketPublisher
from adapters.sim.exchange import Exchange, Instrument
from adapters.wsfeed import WsFeedClient, WsFeedConfig
from engine.clock import SimClock
from engine.events import BookSnapshot, BookUpdate, MarketEvent, OrderType, Quote, Side, Trade

pytestmark = pytest.mark.asyncio

NS = 1_000_000_000
EXCHANGE_NS = 34_200 * NS  # the exchange's (simulated) event time: 09:30
CLOCK_NS = 1_800_000_000 * NS  # our clock, far from the exchange's: staleness must use ours
BIDS = ((999_900, 500), (999_800, 300), (999_700, 200))
ASKS = ((1_000_100, 400), (1_000_200, 300), (1_000_300, 200))
WAIT_S = 5.0
T = TypeVar("T")


async def _get(queue: asyncio.Queue[T]) -> T:
    return await asyncio.wait_for(queue.get(), WAIT_S)


class Recorder:
    """A sink that keeps every event and lets a test await the next one."""

    def __init__(self) -> None:
        self.events: list[MarketEvent] = []
        self._queue: asyncio.Queue[MarketEvent] = asyncio.Queue()

    def __call__(self, event: MarketEvent) -> None:
        self.events.append(event)
        self._queue.put_nowait(event)

    async def next(self) -> MarketEvent:
        return await _get(self._queue)

    def pending(self) -> int:
        return self._queue.qsize()


@dataclass
class Venue:
    exchange: Exchange
    publisher: WebSocketPublisher
    port: int

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    async def restart(self) -> None:
        """A new server process on the same port, over the same market."""
        self.publisher = WebSocketPublisher(self.exchange, port=self.port)
        await self.publisher.start()


@pytest_asyncio.fixture
async def venue() -> AsyncIterator[Venue]:
    exchange = Exchange([Instrument("XYZ"), Instrument("ABC")], lambda: EXCHANGE_NS)
    for symbol in ("XYZ", "ABC"):
        for price, size in BIDS:
            exchange.add_order(symbol, Side.BUY, size, price=price)
        for price, size in ASKS:
            exchange.add_order(symbol, Side.SELL, size, price=price)
    publisher = WebSocketPublisher(exchange)
    v = Venue(exchange, publisher, await publisher.start())
    yield v
    await v.publisher.close()


class ScriptedServer:
    """A feed server whose frames each test writes by hand; it records what the client sends."""

    def __init__(self, *, autoping: bool = True, port: int = 0) -> None:
        self._autoping = autoping
        self._port = port
        self.sockets: asyncio.Queue[web.WebSocketResponse] = asyncio.Queue()
        self.requests: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._open: list[web.WebSocketResponse] = []
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/ws", self._handle)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self._port)
        await site.start()
        self.url = f"ws://127.0.0.1:{self._runner.addresses[0][1]}/ws"

    async def close(self) -> None:
        for ws in self._open:
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=self._autoping)
        await ws.prepare(request)
        self._open.append(ws)
        self.sockets.put_nowait(ws)
        async for msg in ws:  # with autoping off, pings arrive here and go unanswered
            if msg.type is WSMsgType.TEXT:
                self.requests.put_nowait(json.loads(msg.data))
        return ws


@pytest_asyncio.fixture
async def scripted() -> AsyncIterator[ScriptedServer]:
    server = ScriptedServer()
    await server.start()
    yield server
    await server.close()


def _client(url: str, clock: SimClock | None = None, **options: Any) -> WsFeedClient:
    settings: dict[str, Any] = {"backoff_base_s": 0.02, "backoff_cap_s": 0.1} | options
    config = WsFeedConfig(url=url, **settings)
    return WsFeedClient(config, clock or SimClock(CLOCK_NS), rng=random.Random(7))


@asynccontextmanager
async def running(client: WsFeedClient) -> AsyncIterator[WsFeedClient]:
    await client.start()
    try:
        yield client
    finally:
        await client.stop()


def _frame(seq: int, **fields: Any) -> str:
    return json.dumps({**fields, "seq": seq})


def _snapshot(seq: int, bid: tuple[int, int]) -> str:
    level = {"price": "x", "price_units": bid[0], "size": bid[1]}
    return _frame(seq, type="book_snapshot", symbol="XYZ", bids=[level], asks=[], ts=1)


def _trade(seq: int, trade_id: str) -> str:
    return _frame(
        seq,
        type="trade",
        symbol="XYZ",
        price="100",
        price_units=1_000_000,
        size=100,
        aggressor="buy",
        trade_id=trade_id,
        ts=2,
    )


# --- against the simulator's server ------------------------------------------------------------


async def test_subscribe_when_exchange_trades_then_snapshot_then_trade_update_quote(
    venue: Venue,
) -> None:
    rec = Recorder()
    async with running(_client(venue.url)) as client:
        client.subscribe("XYZ", rec)
        snap = await rec.next()
        assert isinstance(snap, BookSnapshot)
        assert (snap.bids, snap.asks) == (BIDS, ASKS)
        assert (snap.ts_event, snap.ts_init) == (EXCHANGE_NS, CLOCK_NS)

        venue.exchange.add_order("XYZ", Side.SELL, 450, order_type=OrderType.MARKET)
        trade, update, quote = await rec.next(), await rec.next(), await rec.next()
        assert isinstance(trade, Trade)
        assert (trade.price, trade.size, trade.aggressor) == (999_900, 450, Side.SELL)
        assert update == BookUpdate("XYZ", Side.BUY, 999_900, 50, EXCHANGE_NS, CLOCK_NS)
        assert quote == Quote("XYZ", 999_900, 50, 1_000_100, 400, EXCHANGE_NS, CLOCK_NS)

        # A second sink on a live symbol gets its own snapshot of the book as it is now.
        late = Recorder()
        client.subscribe("XYZ", late)
        fresh = await late.next()
        assert isinstance(fresh, BookSnapshot) and fresh.bids[0] == (999_900, 50)
        assert await rec.next() == fresh
        c = client.counters
        assert c.messages == {
            "subscribed": 2,
            "unsubscribed": 1,
            "book_snapshot": 2,
            "trade": 1,
            "book_update": 1,
            "quote": 1,
        }
        assert (c.gaps, c.decode_errors, c.connects, c.held_back) == (0, 0, 1, 0)


async def test_unsubscribe_when_last_sink_leaves_then_nothing_more_is_delivered(
    venue: Venue,
) -> None:
    xyz, abc, abc2 = Recorder(), Recorder(), Recorder()
    async with running(_client(venue.url)) as client:
        client.subscribe("NOPE", Recorder())
        client.subscribe("XYZ", xyz)
        assert isinstance(await xyz.next(), BookSnapshot)
        client.unsubscribe("XYZ", xyz)
        # The server handles requests in order: ABC's snapshot means XYZ is unsubscribed.
        client.subscribe("ABC", abc)
        assert isinstance(await abc.next(), BookSnapshot)
        venue.exchange.add_order("XYZ", Side.BUY, 100, price=1_000_000)
        venue.exchange.add_order("ABC", Side.BUY, 100, price=1_000_000)
        assert isinstance(await abc.next(), BookUpdate)
        assert xyz.pending() == 0 and len(xyz.events) == 1
        client.subscribe("ABC", abc2)  # barrier: the refusal for NOPE came long before
        await abc2.next()
        assert client.counters.server_errors == 1
        assert client.counters.connects == 1


async def test_server_restart_when_subscribed_then_reconnect_and_fresh_snapshot(
    venue: Venue,
) -> None:
    rec = Recorder()
    async with running(_client(venue.url)) as client:
        client.subscribe("XYZ", rec)
        assert isinstance(await rec.next(), BookSnapshot)
        await venue.publisher.close()
        # The book changes while the server is down; only a new snapshot can tell it.
        venue.exchange.add_order("XYZ", Side.BUY, 70, price=1_000_000)
        await venue.restart()
        # The listener closes before the clients are dropped: no snapshot of the old book.
        snap = await rec.next()
        assert isinstance(snap, BookSnapshot)
        assert snap.bids[:2] == ((1_000_000, 70), BIDS[0])
        venue.exchange.add_order("XYZ", Side.SELL, 20, price=1_000_200)
        assert await rec.next() == BookUpdate(
            "XYZ", Side.SELL, 1_000_200, 320, EXCHANGE_NS, CLOCK_NS
        )
        c = client.counters
        assert c.reconnects == c.connects - 1 >= 1
        assert c.gaps == 0


async def test_server_drops_slow_client_then_reconnect_and_snapshot_of_current_book(
    venue: Venue,
) -> None:
    publisher = WebSocketPublisher(venue.exchange, max_backlog=4)
    port = await publisher.start()
    rec = Recorder()
    try:
        async with running(_client(f"ws://127.0.0.1:{port}/ws")) as client:
            client.subscribe("XYZ", rec)
            assert isinstance(await rec.next(), BookSnapshot)
            # Eight book changes in one go overflow the backlog: the server closes with 1008.
            for i in range(8):
                venue.exchange.add_order("XYZ", Side.BUY, 10 + i, price=999_000 - 100 * i)
            book = venue.exchange.books["XYZ"]
            expected = (book.depth(Side.BUY, 50), book.depth(Side.SELL, 50))
            event = await rec.next()
            while not isinstance(event, BookSnapshot):  # whatever got out before the close
                assert isinstance(event, BookUpdate | Quote)
                event = await rec.next()
            assert (event.bids, event.asks) == expected
            assert len(event.bids) == len(BIDS) + 8
            c = client.counters
            assert (c.connects, c.reconnects, c.gaps) == (2, 1, 0)
    finally:
        await publisher.close()


async def test_staleness_when_clock_passes_threshold_then_stale_until_next_event(
    venue: Venue,
) -> None:
    clock = SimClock(CLOCK_NS)
    transitions: list[tuple[str, bool]] = []
    config = WsFeedConfig(url=venue.url, stale_after_s=2.0)
    client = WsFeedClient(config, clock, on_stale=lambda s, stale: transitions.append((s, stale)))
    rec = Recorder()
    async with running(client):
        client.subscribe("XYZ", rec)
        await rec.next()  # received at CLOCK_NS
        clock.advance_to(CLOCK_NS + 2 * NS - 1)
        assert (transitions, client.is_stale("XYZ")) == ([], False)
        clock.advance_to(CLOCK_NS + 2 * NS)
        assert (transitions, client.is_stale("XYZ")) == ([("XYZ", True)], True)

        clock.advance_to(CLOCK_NS + 3 * NS)
        venue.exchange.add_order("XYZ", Side.BUY, 100, price=1_000_000)
        await rec.next()  # received at CLOCK_NS + 3 s
        assert transitions[-1] == ("XYZ", False) and not client.is_stale("XYZ")

        clock.advance_to(CLOCK_NS + 5 * NS - 1)
        assert len(transitions) == 2
        clock.advance_to(CLOCK_NS + 5 * NS)
        assert transitions == [("XYZ", True), ("XYZ", False), ("XYZ", True)]
        assert (client.counters.went_stale, client.counters.became_fresh) == (2, 1)
        assert client.is_stale("ABC")  # never subscribed: no data is stale data


# --- against a scripted server -----------------------------------------------------------------


async def test_malformed_frames_when_received_then_counted_and_connection_kept(
    scripted: ScriptedServer,
) -> None:
    rec = Recorder()
    async with running(_client(scripted.url)) as client:
        client.subscribe("XYZ", rec)
        ws = await _get(scripted.sockets)
        assert await _get(scripted.requests) == {"op": "subscribe", "symbol": "XYZ"}
        await ws.send_str(_frame(1, type="subscribed", symbol="XYZ"))
        await ws.send_str(_snapshot(2, (999_900, 500)))
        await ws.send_str("this is not json")
        await ws.send_bytes(b"\x00\x01")
        await ws.send_str(_frame(3, type="mystery", symbol="XYZ", ts=1))
        await ws.send_str(_frame(4, type="trade", symbol="XYZ"))  # fields missing
        await ws.send_str(_trade(5, "T-bad").replace('"size": 100', '"size": "lots"'))
        await ws.send_str(json.dumps([1, 2, 3]))
        await ws.send_str(_trade(6, "T-ok"))

        assert isinstance(await rec.next(), BookSnapshot)
        trade = await rec.next()
        assert isinstance(trade, Trade) and trade.trade_id == "T-ok"
        c = client.counters
        assert c.decode_errors == 6
        assert c.gaps == 0  # bad frames with a seq still advanced the sequence
        assert c.messages == {"subscribed": 1, "book_snapshot": 1, "trade": 1}
        assert (c.connects, client.connected) == (1, True)
        client.subscribe("ABC", Recorder())  # the same connection still carries requests
        assert await _get(scripted.requests) == {"op": "subscribe", "symbol": "ABC"}
        assert scripted.sockets.empty()


async def test_sequence_gap_when_detected_then_resubscribe_and_hold_back_until_snapshot(
    scripted: ScriptedServer,
) -> None:
    rec = Recorder()
    async with running(_client(scripted.url)) as client:
        client.subscribe("XYZ", rec)
        ws = await _get(scripted.sockets)
        await _get(scripted.requests)
        await ws.send_str(_frame(1, type="subscribed", symbol="XYZ"))
        await ws.send_str(_snapshot(2, (999_900, 500)))
        await ws.send_str(_trade(5, "T-after-gap"))  # 3 and 4 were lost
        assert await _get(scripted.requests) == {"op": "unsubscribe", "symbol": "XYZ"}
        assert await _get(scripted.requests) == {"op": "subscribe", "symbol": "XYZ"}
        await ws.send_str(_frame(6, type="unsubscribed", symbol="XYZ"))
        await ws.send_str(_frame(7, type="subscribed", symbol="XYZ"))
        await ws.send_str(_trade(8, "T-before-snapshot"))
        await ws.send_str(_snapshot(9, (999_800, 100)))
        await ws.send_str(_trade(10, "T-live"))

        first, second, third = await rec.next(), await rec.next(), await rec.next()
        assert isinstance(first, BookSnapshot) and first.bids == ((999_900, 500),)
        assert isinstance(second, BookSnapshot) and second.bids == ((999_800, 100),)
        assert isinstance(third, Trade) and third.trade_id == "T-live"
        assert (client.counters.gaps, client.counters.held_back) == (1, 2)


async def test_heartbeat_when_pongs_stop_then_connection_dropped_and_resubscribed() -> None:
    server = ScriptedServer(autoping=False)  # never answers the client's pings
    await server.start()
    try:
        async with running(_client(server.url, heartbeat_s=0.2)) as client:
            client.subscribe("XYZ", Recorder())
            await _get(server.sockets)
            assert await _get(server.requests) == {"op": "subscribe", "symbol": "XYZ"}
            await _get(server.sockets)  # the client gave up on the silent peer and came back
            assert await _get(server.requests) == {"op": "subscribe", "symbol": "XYZ"}
            c = client.counters
            assert (c.heartbeat_timeouts, c.reconnects) == (1, 1)
    finally:
        await server.close()


async def test_start_when_server_not_up_yet_then_retries_until_it_is(
    scripted: ScriptedServer,
) -> None:
    port = int(scripted.url.rsplit(":", 1)[1].split("/")[0])
    await scripted.close()  # nothing listens on the port now: connects are refused
    async with running(_client(scripted.url)) as client:
        client.subscribe("XYZ", Recorder())
        late = ScriptedServer(port=port)
        await late.start()
        try:
            await _get(late.sockets)
            assert await _get(late.requests) == {"op": "subscribe", "symbol": "XYZ"}
            c = client.counters
            assert (c.connects, c.reconnects) == (1, 0)
        finally:
            await client.stop()
            await late.close()


async def test_stop_when_a_sink_raised_then_the_error_surfaces(venue: Venue) -> None:
    raised = asyncio.Event()

    def broken(event: MarketEvent) -> None:
        raised.set()
        raise RuntimeError("sink bug")

    client = _client(venue.url)
    await client.start()
    client.subscribe("XYZ", broken)
    await asyncio.wait_for(raised.wait(), WAIT_S)
    with pytest.raises(RuntimeError, match="sink bug"):
        await client.stop()
