"""The simulator's market data over a WebSocket (aiohttp): the same events as the FIX feed.

Runs on the asyncio loop, like the venue: exchange events arrive synchronously on the loop
thread and are queued per connection as JSON text; one writer task per connection drains its
queue, so a slow client never blocks the market (past ``max_backlog`` queued messages it is
disconnected with close code 1008 and the reason "slow consumer").

Protocol: connect to ``ws://HOST:PORT/ws``; send ``{"op": "subscribe", "symbol": "XYZ"}``;
receive ``{"type": "subscribed", ...}``, a ``book_snapshot``, then ``book_update``, ``trade``,
``quote`` and ``trading_status`` objects (:mod:`.wsjson`); ``{"op": "unsubscribe", ...}``
stops them. Bad requests get ``{"type": "error", "reason": ...}`` and the connection stays
open. The server pings every ``heartbeat_s`` seconds (aiohttp heartbeat) and closes a
connection whose pong does not come back.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from adapters.fixsim.wsjson import event_to_json
from adapters.sim.exchange import Exchange
from engine.events import MarketEvent

__all__ = ["WebSocketPublisher"]

log = logging.getLogger("unwind.fixsim")


@dataclass(eq=False, slots=True)
class _Client:
    ws: web.WebSocketResponse
    queue: asyncio.Queue[str | None] = field(default_factory=asyncio.Queue)
    sinks: dict[str, Callable[[MarketEvent], None]] = field(default_factory=dict)
    seq: int = 0
    closing: bool = False


class WebSocketPublisher:
    """Publish an exchange's market data to WebSocket clients (see the module docstring)."""

    def __init__(
        self,
        exchange: Exchange,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        origin_ns: int = 0,
        heartbeat_s: float = 15.0,
        max_backlog: int = 100_000,
    ) -> None:
        self._exchange = exchange
        self._host = host
        self._port = port
        self._origin = origin_ns
        self._heartbeat = heartbeat_s
        self._max_backlog = max_backlog
        self._clients: set[_Client] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self.port: int | None = None

    async def start(self) -> int:
        """Listen; return the bound port (useful with ``port=0``). Started again after
        :meth:`close`, it listens on the port it had (a feed outage, as clients see one)."""
        app = web.Application()
        app.router.add_get("/ws", self._handle)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self.port or self._port)
        await site.start()
        self._site = site
        self.port = int(self._runner.addresses[0][1])
        return self.port

    def attach(self, exchange: Exchange, origin_ns: int) -> None:
        """Switch to another market: every subscription moves (each gets a new snapshot)."""
        old, self._exchange, self._origin = self._exchange, exchange, origin_ns
        for client in self._clients:
            for symbol, sink in list(client.sinks.items()):
                old.unsubscribe(symbol, sink)
                del client.sinks[symbol]
                self._subscribe(client, symbol)

    async def close(self) -> None:
        # Stop listening first, or a client that reconnects at once gets in while the others
        # are being closed, and is dropped a moment later.
        if self._site is not None:
            await self._site.stop()
            self._site = None
        for client in list(self._clients):
            self._unsubscribe_all(client)
            await client.ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown")
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # --- connections ---------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=self._heartbeat)
        await ws.prepare(request)
        client = _Client(ws)
        self._clients.add(client)
        writer = asyncio.create_task(self._write(client))
        try:
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    self._on_text(client, msg.data)
                elif msg.type is WSMsgType.BINARY:
                    self._push(client, {"type": "error", "reason": "send JSON text frames"})
        finally:
            self._unsubscribe_all(client)
            client.queue.put_nowait(None)
            await writer
            self._clients.discard(client)
        return ws

    async def _write(self, client: _Client) -> None:
        while (text := await client.queue.get()) is not None:
            if client.ws.closed:
                continue
            try:
                await client.ws.send_str(text)
            except ConnectionError:
                return

    def _on_text(self, client: _Client, data: str) -> None:
        try:
            request = json.loads(data)
            op, symbol = request["op"], request["symbol"]
        except (ValueError, KeyError, TypeError):
            reason = 'expected JSON like {"op": "subscribe", "symbol": "XYZ"}'
            self._push(client, {"type": "error", "reason": reason})
            return
        if op == "subscribe":
            if symbol not in self._exchange.books:
                listed = sorted(self._exchange.books)
                reason = f"unknown symbol {symbol!r}; this venue lists {listed}"
                self._push(client, {"type": "error", "reason": reason, "symbol": symbol})
            elif symbol in client.sinks:
                reason = f"already subscribed to {symbol!r}"
                self._push(client, {"type": "error", "reason": reason, "symbol": symbol})
            else:
                self._push(client, {"type": "subscribed", "symbol": symbol})
                self._subscribe(client, symbol)
        elif op == "unsubscribe":
            sink = client.sinks.pop(symbol, None)
            if sink is None:
                reason = f"not subscribed to {symbol!r}"
                self._push(client, {"type": "error", "reason": reason, "symbol": symbol})
            else:
                self._exchange.unsubscribe(symbol, sink)
                self._push(client, {"type": "unsubscribed", "symbol": symbol})
        else:
            reason = f'unknown op {op!r}: use "subscribe" or "unsubscribe"'
            self._push(client, {"type": "error", "reason": reason})

    def _subscribe(self, client: _Client, symbol: str) -> None:
        sink = client.sinks[symbol] = partial(self._on_event, client)
        self._exchange.subscribe(symbol, sink)  # delivers the snapshot at once

    def _unsubscribe_all(self, client: _Client) -> None:
        for symbol, sink in client.sinks.items():
            self._exchange.unsubscribe(symbol, sink)
        client.sinks.clear()

    def _on_event(self, client: _Client, event: MarketEvent) -> None:
        self._push(client, event_to_json(event, origin_ns=self._origin))

    def _push(self, client: _Client, obj: dict[str, Any]) -> None:
        if client.closing:
            return
        if client.queue.qsize() >= self._max_backlog:
            client.closing = True
            self._unsubscribe_all(client)
            log.warning("fixsim: WebSocket client too slow, disconnecting")
            task = asyncio.get_running_loop().create_task(
                client.ws.close(code=WSCloseCode.POLICY_VIOLATION, message=b"slow consumer")
            )
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            return
        client.seq += 1
        obj["seq"] = client.seq
        client.queue.put_nowait(json.dumps(obj, separators=(",", ":")))
