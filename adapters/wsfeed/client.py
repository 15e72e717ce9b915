"""The async shell: one aiohttp WebSocket connection, kept alive, feeding a :class:`FeedCore`.

``WsFeedClient`` implements the engine's market-data port (:class:`engine.ports.MarketDataPort`)
for a WebSocket feed. Everything it decides lives in :mod:`.core`; this module only moves
frames:

* a run task connects, serves the connection until it ends, waits a backoff delay
  (:mod:`.backoff`) and connects again, until :meth:`WsFeedClient.stop`;
* per connection, a reader hands each text frame to the core, and a writer task sends the
  frames the core asks for, in order (``subscribe`` is synchronous, so it only queues);
* aiohttp's heartbeat pings every ``heartbeat_s`` and closes a connection whose pong is late;
  that ends the reader like any other loss, and the next connection resubscribes everything.

Sinks and ``on_stale`` are called on the loop thread (``on_stale`` also from clock timers).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable

import aiohttp
import structlog

from adapters.wsfeed.backoff import Backoff
from adapters.wsfeed.config import WsFeedConfig
from adapters.wsfeed.core import FeedCore, FeedCounters
from adapters.wsfeed.dialect import FeedDialect, SimulatorDialect
from engine.clock import Clock
from engine.ports import MarketEventSink

__all__ = ["WsFeedClient"]

log = structlog.get_logger("unwind.wsfeed")

# What losing or failing to get a connection looks like through aiohttp.
_NETWORK_ERRORS = (aiohttp.ClientError, OSError, TimeoutError)


class WsFeedClient:
    """Market data from a WebSocket feed, delivered as domain events (see the module docstring).

    Parameters
    ----------
    config
        Where to connect, heartbeat, backoff and staleness settings.
    clock
        The engine's clock: stamps ``ts_init`` on every event and drives the staleness watchdog.
    dialect
        The provider's protocol; the FIX simulator's by default.
    on_stale
        Called with ``(symbol, stale)`` on every staleness transition.
    rng
        The backoff's random source; seed it for a reproducible reconnect schedule.
    """

    def __init__(
        self,
        config: WsFeedConfig,
        clock: Clock,
        *,
        dialect: FeedDialect | None = None,
        on_stale: Callable[[str, bool], None] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self._config = config
        self._core = FeedCore(
            SimulatorDialect() if dialect is None else dialect,
            clock,
            stale_after_ns=config.stale_after_ns,
            on_stale=on_stale,
        )
        self._backoff = Backoff(
            config.backoff_base_s, config.backoff_cap_s, random.Random() if rng is None else rng
        )
        self._session: aiohttp.ClientSession | None = None
        self._task: asyncio.Task[None] | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._outbox: asyncio.Queue[str] | None = None
        self._stopping = False
        self._failure: Exception | None = None  # what a sink raised; it ends the feed

    @property
    def counters(self) -> FeedCounters:
        return self._core.counters

    @property
    def connected(self) -> bool:
        """Whether a connection is up right now."""
        return self._ws is not None and not self._ws.closed

    # --- the market-data port -------------------------------------------------------------------

    def subscribe(self, symbol: str, sink: MarketEventSink) -> None:
        """Deliver ``symbol``'s events to ``sink``: a ``BookSnapshot`` first, then updates."""
        self._send(self._core.subscribe(symbol, sink))

    def unsubscribe(self, symbol: str, sink: MarketEventSink) -> None:
        """Stop delivering to ``sink``."""
        self._send(self._core.unsubscribe(symbol, sink))

    def is_stale(self, symbol: str) -> bool:
        """Whether ``symbol``'s data is stale (``True`` for a symbol nobody subscribed)."""
        return self._core.is_stale(symbol)

    # --- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start connecting in the background; returns at once.

        Raises
        ------
        RuntimeError
            If already started.
        """
        if self._task is not None or self._stopping:
            raise RuntimeError("WsFeedClient.start() called twice")
        self._session = aiohttp.ClientSession()
        self._task = asyncio.create_task(self._run(), name="wsfeed")

    async def stop(self) -> None:
        """Close the connection cleanly, end the tasks, cancel the watchdog's timers.

        Raises
        ------
        Exception
            Whatever a sink raised, if one did: that ended the feed (the error was logged at
            once as ``wsfeed.sink_failed``), and it is a bug to see.
        """
        self._stopping = True
        task, self._task = self._task, None
        try:
            if task is not None:
                ws = self._ws
                if ws is not None:
                    # A close frame, so the server sees a normal goodbye; the reader then ends
                    # and the run loop, seeing _stopping, returns by itself. Cancelling it here
                    # instead could swallow an exception a sink just raised.
                    await ws.close()
                else:
                    task.cancel()  # sleeping in backoff or connecting: nothing to finish
                done, _ = await asyncio.wait({task}, timeout=self._config.close_timeout_s)
                if not done:
                    task.cancel()
                (outcome,) = await asyncio.gather(task, return_exceptions=True)
                failure = self._failure or (outcome if isinstance(outcome, Exception) else None)
                if failure is not None:
                    raise failure
        finally:
            if task is not None and not task.done():
                task.cancel()  # stop() itself was cancelled: do not leave the task behind
            self._core.close()
            if self._session is not None:
                await self._session.close()
                self._session = None

    # --- internals ------------------------------------------------------------------------------

    def _send(self, frames: list[str]) -> None:
        # No outbox means no connection: the core re-sends every subscription on connecting.
        if self._outbox is not None:
            for frame in frames:
                self._outbox.put_nowait(frame)

    async def _run(self) -> None:
        while not self._stopping:
            await self._connect_and_serve()
            if self._stopping or self._failure is not None:
                return
            delay = self._backoff.next_delay()
            log.info(
                "wsfeed.reconnect_wait", delay_s=round(delay, 3), attempt=self._backoff.attempt
            )
            await asyncio.sleep(delay)

    async def _connect_and_serve(self) -> None:
        assert self._session is not None
        cfg = self._config
        try:
            async with asyncio.timeout(cfg.connect_timeout_s):
                ws = await self._session.ws_connect(
                    cfg.url,
                    heartbeat=cfg.heartbeat_s,
                    timeout=aiohttp.ClientWSTimeout(ws_close=cfg.close_timeout_s),
                )
        except _NETWORK_ERRORS as e:
            self.counters.connect_failures += 1
            log.warning("wsfeed.connect_failed", url=cfg.url, error=repr(e))
            return
        self.counters.connects += 1
        if self.counters.connects > 1:
            self.counters.reconnects += 1
        log.info("wsfeed.connected", url=cfg.url, symbols=list(self._core.symbols))
        try:
            await self._serve(ws)
        finally:
            await ws.close()

    async def _serve(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        outbox: asyncio.Queue[str] = asyncio.Queue()
        self._ws, self._outbox = ws, outbox
        self._send(self._core.connected())
        writer = asyncio.create_task(self._write(ws, outbox), name="wsfeed-writer")
        try:
            async for msg in ws:
                if msg.type is aiohttp.WSMsgType.TEXT:
                    self._backoff.reset()  # the server is serving: the outage is over
                    try:
                        self._send(self._core.receive(msg.data))
                    except Exception as e:
                        # Bad input is handled inside the core, so this is a sink's bug: stop
                        # feeding (staleness then blocks trading) and let stop() raise it.
                        self._failure = e
                        log.exception("wsfeed.sink_failed")
                        break
                elif msg.type is aiohttp.WSMsgType.BINARY:
                    self.counters.decode_errors += 1
                    log.warning("wsfeed.bad_frame", reason="binary frame", size=len(msg.data))
                elif msg.type is aiohttp.WSMsgType.ERROR:
                    error = ws.exception()
                    if isinstance(error, aiohttp.ServerTimeoutError):
                        self.counters.heartbeat_timeouts += 1
                    log.warning("wsfeed.connection_error", error=repr(error))
                    break
            log.info("wsfeed.disconnected", close_code=ws.close_code)
        finally:
            # Synchronously, before any await: no frame may be queued for a dead connection.
            self._ws, self._outbox = None, None
            self._core.disconnected(expected=self._stopping)
            writer.cancel()
            await asyncio.gather(writer, return_exceptions=True)

    async def _write(self, ws: aiohttp.ClientWebSocketResponse, outbox: asyncio.Queue[str]) -> None:
        while True:
            frame = await outbox.get()
            try:
                await ws.send_str(frame)
            except _NETWORK_ERRORS as e:
                # The reader sees the loss too; the next connection resubscribes everything.
                log.warning("wsfeed.send_failed", error=repr(e))
                return
