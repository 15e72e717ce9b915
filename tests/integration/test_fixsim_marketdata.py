"""Market data from the FIX simulator: FIX V/W/X/Y and SecurityStatus, and the WebSocket feed.

Book at the start of each test: bids 99.99x500, 99.98x300, 99.97x200; asks 100.01x400,
100.02x300, 100.03x200. Book changes come from anonymous flow entered on the exchange.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from adapters.fix.mdcodec import (
    MarketDataRequest,
    MDEntryType,
    SubscriptionType,
    decode_incremental,
    decode_md_reject,
    decode_security_status,
    decode_snapshot,
    encode_md_request,
)
from adapters.fix.wire import FixVersion
from engine.events import BookUpdate, OrderType, Side, Trade, TradingState
from tests.kit.fix_client import ASKS, BIDS, FixSimHarness

pytestmark = pytest.mark.asyncio(loop_scope="module")
VERSIONS = [FixVersion.FIX42, FixVersion.FIX44]
ALL = (MDEntryType.BID, MDEntryType.OFFER, MDEntryType.TRADE)


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def sim(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[FixSimHarness]:
    h = await FixSimHarness.start(Path(tmp_path_factory.mktemp("fixsim-md")), ws=True)
    yield h
    await h.close()


@pytest_asyncio.fixture(loop_scope="module")
async def h(sim: FixSimHarness) -> FixSimHarness:
    await sim.fresh()
    return sim


def _request(
    v: FixVersion,
    req_id: str,
    kind: SubscriptionType = SubscriptionType.SUBSCRIBE,
    depth: int = 0,
    types: tuple[MDEntryType, ...] = ALL,
    symbols: tuple[str, ...] = ("XYZ",),
) -> Any:
    return encode_md_request(MarketDataRequest(req_id, kind, depth, types, symbols), v)


def _levels(updates: tuple[BookUpdate | Trade, ...]) -> list[tuple[str, int, int]]:
    return [(u.side.value, u.price, u.size) for u in updates if isinstance(u, BookUpdate)]


@pytest.mark.parametrize("v", VERSIONS)
async def test_subscribe_when_book_trades_then_snapshot_then_trade_and_level_changes(
    h: FixSimHarness, v: FixVersion
) -> None:
    h.send(v, _request(v, "md1"))
    snap_msg = await h.expect_snapshot(v)
    snap = decode_snapshot(snap_msg, 0)
    assert (snap.bids, snap.asks, snap_msg.getField(262)) == (BIDS, ASKS, "md1")

    h.exchange.add_order("XYZ", Side.SELL, 450, order_type=OrderType.MARKET)
    trade_msg = await h.expect(v, "X")
    (trade,) = decode_incremental(trade_msg, 0)
    assert isinstance(trade, Trade)
    assert (trade.price, trade.size, trade.trade_id != "") == (999_900, 450, True)
    change_msg = await h.expect(v, "X")
    assert _levels(decode_incremental(change_msg, 0)) == [("buy", 999_900, 50)]
    assert change_msg.getGroupRef(1, 268).getField(279) == "1"  # change

    h.exchange.add_order("XYZ", Side.BUY, 100, price=999_500)
    new_msg = await h.expect(v, "X")
    assert _levels(decode_incremental(new_msg, 0)) == [("buy", 999_500, 100)]
    assert new_msg.getGroupRef(1, 268).getField(279) == "0"  # new

    h.exchange.add_order("XYZ", Side.SELL, 50, order_type=OrderType.MARKET)
    await h.expect(v, "X")  # the trade
    delete_msg = await h.expect(v, "X")
    assert _levels(decode_incremental(delete_msg, 0)) == [("buy", 999_900, 0)]
    assert delete_msg.getGroupRef(1, 268).getField(279) == "2"  # delete


@pytest.mark.parametrize("v", VERSIONS)
async def test_subscribe_when_depth_one_and_better_bid_arrives_then_new_top_and_old_deleted(
    h: FixSimHarness, v: FixVersion
) -> None:
    h.send(v, _request(v, "top", depth=1, types=(MDEntryType.BID, MDEntryType.OFFER)))
    snap = decode_snapshot(await h.expect_snapshot(v), 0)
    assert (snap.bids, snap.asks) == (BIDS[:1], ASKS[:1])
    h.exchange.add_order("XYZ", Side.BUY, 70, price=1_000_000)
    updates = decode_incremental(await h.expect(v, "X"), 0)
    assert sorted(_levels(updates)) == [("buy", 999_900, 0), ("buy", 1_000_000, 70)]
    h.exchange.add_order("XYZ", Side.BUY, 10, price=999_800)  # below the published depth
    assert await h.sync(v) == []


@pytest.mark.parametrize("v", VERSIONS)
async def test_snapshot_only_when_book_changes_then_no_incrementals(
    h: FixSimHarness, v: FixVersion
) -> None:
    h.send(v, _request(v, "once", kind=SubscriptionType.SNAPSHOT, depth=2))
    snap = decode_snapshot(await h.expect_snapshot(v), 0)
    assert (snap.bids, snap.asks) == (BIDS[:2], ASKS[:2])
    h.exchange.add_order("XYZ", Side.SELL, 100, order_type=OrderType.MARKET)
    assert await h.sync(v) == []


@pytest.mark.parametrize("v", VERSIONS)
async def test_unsubscribe_when_subscribed_then_updates_stop(
    h: FixSimHarness, v: FixVersion
) -> None:
    h.send(v, _request(v, "u1"))
    await h.expect_snapshot(v)
    h.exchange.add_order("XYZ", Side.BUY, 100, price=999_600)
    await h.expect(v, "X")
    h.send(v, _request(v, "u1", kind=SubscriptionType.UNSUBSCRIBE))
    assert await h.sync(v) == []  # FIX has no unsubscribe ack: the barrier says it is done
    h.exchange.add_order("XYZ", Side.BUY, 100, price=999_500)
    assert await h.sync(v) == []


@pytest.mark.parametrize("v", VERSIONS)
async def test_unsubscribe_when_never_subscribed_then_reject_names_the_request(
    h: FixSimHarness, v: FixVersion
) -> None:
    h.send(v, _request(v, "ghost", kind=SubscriptionType.UNSUBSCRIBE))
    rej = decode_md_reject(await h.expect(v, "Y"))
    assert rej.md_req_id == "ghost"
    assert "no subscription with MDReqID 'ghost'" in rej.text


@pytest.mark.parametrize("v", VERSIONS)
async def test_subscribe_when_symbol_unknown_then_reject_unknown_symbol(
    h: FixSimHarness, v: FixVersion
) -> None:
    h.send(v, _request(v, "bad", symbols=("ABC",)))
    rej = decode_md_reject(await h.expect(v, "Y"))
    assert (rej.md_req_id, rej.reason_code) == ("bad", "0")
    assert "unknown symbol 'ABC'" in rej.text and "XYZ" in rej.text


@pytest.mark.parametrize("v", VERSIONS)
async def test_subscribe_when_md_req_id_in_use_then_reject_duplicate(
    h: FixSimHarness, v: FixVersion
) -> None:
    h.send(v, _request(v, "dup"))
    await h.expect_snapshot(v)
    h.send(v, _request(v, "dup"))
    rej = decode_md_reject(await h.expect(v, "Y"))
    assert rej.reason_code == "1"


@pytest.mark.parametrize("v", VERSIONS)
async def test_halt_when_subscribed_then_security_status_halt_then_resume(
    h: FixSimHarness, v: FixVersion
) -> None:
    h.send(v, _request(v, "st", types=(MDEntryType.TRADE,)))
    await h.expect_snapshot(v)
    h.exchange.set_trading_state("XYZ", TradingState.HALTED, "news pending")
    halted = decode_security_status(await h.expect(v, "f"), 0)
    assert (halted.symbol, halted.state) == ("XYZ", TradingState.HALTED)
    assert halted.reason == ("news pending" if v is FixVersion.FIX44 else "")
    h.exchange.set_trading_state("XYZ", TradingState.TRADING, "resumed")
    resumed = decode_security_status(await h.expect(v, "f"), 0)
    assert resumed.state is TradingState.TRADING


@pytest.mark.parametrize("v", VERSIONS)
async def test_subscribe_when_symbol_halted_then_snapshot_followed_by_halt_status(
    h: FixSimHarness, v: FixVersion
) -> None:
    h.exchange.set_trading_state("XYZ", TradingState.HALTED, "halted")
    h.send(v, _request(v, "late"))
    await h.expect(v, "W")
    assert decode_security_status(await h.expect(v, "f"), 0).state is TradingState.HALTED


# --- WebSocket ---------------------------------------------------------------------------------


async def _next(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    msg = await ws.receive(timeout=5)
    assert msg.type is aiohttp.WSMsgType.TEXT, msg
    return json.loads(msg.data)  # type: ignore[no-any-return]


async def test_websocket_when_subscribed_then_json_snapshot_then_trade_with_exact_prices(
    h: FixSimHarness,
) -> None:
    url = f"http://127.0.0.1:{h.server.ws_port}/ws"
    async with aiohttp.ClientSession() as http, http.ws_connect(url) as ws:
        await ws.send_str(json.dumps({"op": "subscribe", "symbol": "ABC"}))
        err = await _next(ws)
        assert err["type"] == "error" and "unknown symbol 'ABC'" in err["reason"]
        await ws.send_str(json.dumps({"op": "subscribe", "symbol": "XYZ"}))
        assert (await _next(ws))["type"] == "subscribed"
        snap = await _next(ws)
        assert snap["type"] == "book_snapshot"
        assert snap["bids"][0] == {"price": "99.99", "price_units": 999_900, "size": 500}
        assert snap["asks"][0] == {"price": "100.01", "price_units": 1_000_100, "size": 400}
        assert snap["ts"] == h.market.now_ns + h.server.origin_ns
        h.exchange.add_order("XYZ", Side.BUY, 100, order_type=OrderType.MARKET)
        trade = await _next(ws)
        assert (trade["type"], trade["price"], trade["price_units"]) == (
            "trade",
            "100.01",
            1_000_100,
        )
        assert (trade["size"], trade["aggressor"]) == (100, "buy")
        update, quote = await _next(ws), await _next(ws)
        assert (update["type"], update["side"], update["size"]) == ("book_update", "sell", 300)
        assert (quote["type"], quote["ask_size"], quote["bid_price"]) == ("quote", 300, "99.99")
        assert [m["seq"] for m in (err, snap, trade, update, quote)] == [1, 3, 4, 5, 6]
        await ws.send_str(json.dumps({"op": "unsubscribe", "symbol": "XYZ"}))
        assert (await _next(ws))["type"] == "unsubscribed"
        await ws.send_str("not json")
        assert (await _next(ws))["type"] == "error"
