"""The FIX exchange simulator as an asyncio daemon: acceptor, market clock, WebSocket feed.

Threading model
===============

One asyncio loop owns everything that has state: the market, the exchange, the
:class:`~.venue.FixVenue` core, the fault injector, the WebSocket publisher. QuickFIX runs its
own threads (a ThreadedSocketAcceptor); its callbacks only copy messages and hand them to the
loop with ``call_soon_threadsafe`` (:mod:`.application`). Replies leave from the loop thread
through ``quickfix.Session.sendToTarget``. Blocking QuickFIX calls that wait on its threads
(``acceptor.stop``) run in a thread of their own so the loop keeps serving the callbacks they cause.

Time
====

``speed > 0``: a clock task advances the market from its current time at ``speed`` simulated
seconds per wall second (``--speed 60``: a simulated minute per second), every ``tick_s`` wall
seconds, and also just before each incoming message so orders meet the book at the right
simulated time. Simulated time is :attr:`FixSimServer.clock` (an
:class:`~engine.clock.AcceleratedClock` on the wire's time), anchored when :meth:`start` runs,
or with ``anchor_unix_ns`` at a wall-clock instant another process can be told (an engine
daemon's ``[clock]`` section), so that both count the same simulated time.

``speed == 0`` is the manual mode for tests and scripted runs: the market moves only when
:meth:`FixSimServer.step` is called, so a test never waits on a wall clock.

Lifecycle: ``await start()``; ``await serve(stop_event)`` (returns on the event, or at the
end of the simulated session with ``until_end``); ``await close()`` delivers any report a fault
still holds, logs every session out (waiting up to ``drain_timeout_s``), stops the acceptor
and the WebSocket server. ``close()`` is idempotent.

Metrics: with ``metrics_port`` set, ``GET /metrics`` on that port serves the simulator's
Prometheus families (:mod:`.metrics`), read from the loop at scrape time.
"""

from __future__ import annotations

import asyncio
import calendar
import contextlib
import dataclasses
import datetime as dt
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import quickfix as fix

from adapters.fix.qfthread import in_thread
from adapters.fix.wire import FixVersion
from adapters.fixsim.application import (
    FixSimApplication,
    FixSimConfigError,
    QuickFixTransport,
    load_settings,
)
from adapters.fixsim.faults import FaultConfig, FaultStats
from adapters.fixsim.metrics import MetricsServer, SimSnapshot, VenueCounts, fixsim_registry
from adapters.fixsim.venue import (
    SUPPORTED_MSG_TYPES,
    DrivenMarket,
    FixVenue,
    VenueObserver,
    VenueRecord,
)
from adapters.fixsim.ws import WebSocketPublisher
from engine.clock import AcceleratedClock

__all__ = ["FixSimConfig", "FixSimServer", "wire_origin_ns"]

log = logging.getLogger("unwind.fixsim")

_DAY_NS = 86_400 * 1_000_000_000


@dataclass(frozen=True, slots=True, kw_only=True)
class FixSimConfig:
    """How to run the simulator. Session details live in the QuickFIX file ``settings_path``."""

    settings_path: Path
    data_dir: Path | None = None  # FileStorePath/FileLogPath go under it (None: as the file says)
    fix_port: int | None = None  # overrides SocketAcceptPort of every session
    speed: float = 0.0  # simulated seconds per wall second; 0: manual, the caller steps
    tick_s: float = 0.02  # wall seconds between clock steps when speed > 0
    until_end: bool = False  # serve() returns when the simulated session ends
    ws_host: str = "127.0.0.1"
    ws_port: int | None = None  # None: no WebSocket feed; 0: any free port
    metrics_host: str = "127.0.0.1"
    metrics_port: int | None = None  # Prometheus GET /metrics (None: not served; 0: any port)
    trade_date: dt.date | None = None  # date for time-of-day market clocks (default: today, UTC)
    drain_timeout_s: float = 5.0  # how long close() waits for sessions to log out
    faults: FaultConfig = field(default_factory=FaultConfig)
    # speed > 0: the wall-clock instant (time.time_ns) at which the market stands at its time
    # at start(), so another process can compute the same simulated time; None: start() itself,
    # on the monotonic clock.
    anchor_unix_ns: int | None = None
    # Keep the venue's truth (reports before faults, the tape, order arrivals) in ``record``:
    # for checking a paper session; it grows with the session, so off for a long-running daemon.
    record: bool = False

    def __post_init__(self) -> None:
        if self.speed < 0:
            raise ValueError(f"speed must be >= 0 (0 = manual stepping), got {self.speed}")
        if self.tick_s <= 0:
            raise ValueError(f"tick_s must be > 0, got {self.tick_s}")
        if self.anchor_unix_ns is not None and self.speed == 0:
            raise ValueError("anchor_unix_ns needs speed > 0: in manual mode the caller owns time")
        if self.until_end and self.speed == 0:
            raise ValueError("until_end needs speed > 0: in manual mode the caller owns time")
        for name in ("fix_port", "ws_port", "metrics_port"):
            port = getattr(self, name)
            if port is not None and not 0 <= port <= 65535:
                raise ValueError(f"{name} must be a TCP port (0-65535), got {port}")


def wire_origin_ns(market_start_ns: int, trade_date: dt.date | None) -> int:
    """What to add to market time for wire timestamps.

    A market clock that counts from midnight (start below one day) is put on ``trade_date``
    (UTC midnight; default today); an epoch clock is used as it is.
    """
    if market_start_ns >= _DAY_NS:
        return 0
    day = trade_date or dt.datetime.now(dt.UTC).date()
    return calendar.timegm(day.timetuple()) * 1_000_000_000


class FixSimServer:
    """A QuickFIX acceptor in front of a :class:`~.venue.DrivenMarket` (module docstring).
    ``observer``: told of new orders and sent reports as they happen
    (:class:`~.venue.VenueObserver`; a test's hook)."""

    def __init__(
        self,
        market: DrivenMarket,
        config: FixSimConfig,
        *,
        observer: VenueObserver | None = None,
    ) -> None:
        self._market = market
        self._config = config
        self._observer = observer
        self._origin = wire_origin_ns(market.start_ns, config.trade_date)
        self._venue: FixVenue | None = None
        self._app: FixSimApplication | None = None
        self._transport: QuickFixTransport | None = None
        self._acceptor: fix.ThreadedSocketAcceptor | None = None
        self._factories: tuple[object, ...] = ()
        self._ids: dict[str, fix.SessionID] = {}
        self._versions: dict[str, FixVersion] = {}
        self._ws: WebSocketPublisher | None = None
        self._clock: asyncio.Task[None] | None = None
        self._all_out = asyncio.Event()
        self._sessions_changed = asyncio.Event()
        self._ended = asyncio.Event()
        self._time: AcceleratedClock | None = None  # speed > 0, once started
        self._stats = FaultStats()
        # Faults fired in markets replaced by restart_market, so the metric's counter only rises.
        self._faults_before = FaultStats()
        self.counts = VenueCounts()
        self._metrics: MetricsServer | None = None
        self.record: VenueRecord | None = VenueRecord() if config.record else None
        self.fix_port: int | None = None
        self.errors: list[str] = []

    # --- properties ----------------------------------------------------------------------------

    @property
    def market(self) -> DrivenMarket:
        return self._market

    @property
    def venue(self) -> FixVenue:
        if self._venue is None:
            raise RuntimeError("the server is not started: await start() first")
        return self._venue

    @property
    def sessions(self) -> dict[str, FixVersion]:
        """QuickFIX session ids (``FIX.4.4:SIM->CLIENT``) and their versions."""
        return dict(self._versions)

    def session_id(self, key: str) -> fix.SessionID:
        """The QuickFIX SessionID of session ``key`` (for ``quickfix.Session.lookupSession``)."""
        return self._ids[key]

    @property
    def ws_port(self) -> int | None:
        return None if self._ws is None else self._ws.port

    @property
    def ws(self) -> WebSocketPublisher | None:
        """The WebSocket feed (``close()`` and ``start()`` it again to stage an outage)."""
        return self._ws

    @property
    def metrics_port(self) -> int | None:
        return None if self._metrics is None else self._metrics.port

    def metrics_snapshot(self) -> SimSnapshot:
        """What ``/metrics`` exposes: sessions logged on, the venue's counts, every fault fired
        since start (across market restarts). Loop thread."""
        now, before = self.stats, self._faults_before
        faults = FaultStats(
            **{
                f.name: getattr(now, f.name) + getattr(before, f.name)
                for f in dataclasses.fields(FaultStats)
            }
        )
        logged_on = 0 if self._venue is None else len(self._venue.logged_on)
        return SimSnapshot(logged_on=logged_on, counts=self.counts, faults=faults)

    @property
    def origin_ns(self) -> int:
        return self._origin

    @property
    def clock(self) -> AcceleratedClock:
        """Simulated time on the wire's clock (the wire origin plus market time) that the clock
        task follows: the clock an engine shares in this process, or whose ``origin_ns``,
        ``speed`` and ``anchor_unix_ns`` another process's clock copies.

        Raises
        ------
        RuntimeError
            Not started, or in manual mode (speed 0), where the caller owns time.
        """
        if self._time is None:
            raise RuntimeError("no simulated clock: start() the server with speed > 0")
        return self._time

    @property
    def stats(self) -> FaultStats:
        """How often each fault fired in the current (or, after close, the last) market."""
        return self._stats if self._venue is None else self._venue.stats

    # --- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the acceptor, the WebSocket feed and (speed > 0) the clock.

        Raises
        ------
        FixSimConfigError
            The session configuration is unusable, or the acceptor cannot listen.
        """
        cfg = self._config
        loop = asyncio.get_running_loop()
        settings = load_settings(cfg.settings_path, data_dir=cfg.data_dir, port=cfg.fix_port)
        for sid in settings.getSessions():
            key = sid.toString()
            self._ids[key] = sid
            self._versions[key] = FixVersion(sid.getBeginString().getValue())
        first = settings.get(next(iter(settings.getSessions())))
        self.fix_port = int(first.getString("SocketAcceptPort"))
        self._app = FixSimApplication(loop, self, SUPPORTED_MSG_TYPES)
        self._transport = QuickFixTransport(self._app, self._ids)
        self._venue = self._new_venue(self._market, cfg.faults, set())
        store, logs = fix.FileStoreFactory(settings), fix.FileLogFactory(settings)
        # QuickFIX keeps raw pointers to these: they must outlive the acceptor.
        self._factories = (settings, store, logs)
        try:
            self._acceptor = fix.ThreadedSocketAcceptor(self._app, store, settings, logs)
            self._acceptor.start()
        except (fix.ConfigError, fix.RuntimeError) as e:
            self._acceptor = None
            raise FixSimConfigError(f"cannot start the FIX acceptor: {e}") from None
        self._all_out.set()
        if cfg.ws_port is not None:
            self._ws = WebSocketPublisher(
                self._market.exchange, host=cfg.ws_host, port=cfg.ws_port, origin_ns=self._origin
            )
            await self._ws.start()
        if cfg.metrics_port is not None:
            self._metrics = MetricsServer(
                fixsim_registry(self.metrics_snapshot), host=cfg.metrics_host, port=cfg.metrics_port
            )
            await self._metrics.start()
        if cfg.speed > 0:
            self._time = AcceleratedClock(
                self._origin + self._market.now_ns, cfg.speed, anchor_unix_ns=cfg.anchor_unix_ns
            )
            self._clock = asyncio.create_task(self._run_clock(), name="fixsim-clock")

    async def serve(self, stop: asyncio.Event) -> None:
        """Run until ``stop`` is set or, with ``until_end``, the simulated session ends."""
        waits = {asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._ended.wait())}
        if self._clock is not None:
            waits.add(self._clock)
        try:
            done, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                if w is not self._clock:
                    w.cancel()
        if self._clock in done and self._clock.exception() is not None:
            raise self._clock.exception()  # type: ignore[misc]

    async def close(self) -> None:
        """Deliver held reports, log sessions out, stop everything (idempotent)."""
        if self._clock is not None:
            self._clock.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._clock
            self._clock = None
        if self._venue is not None:
            self._venue.close()
        if self._acceptor is not None and self._transport is not None and self._venue is not None:
            for key in sorted(self._venue.logged_on):
                self._transport.logout(key, "fixsim shutting down")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._all_out.wait(), self._config.drain_timeout_s)
            acceptor, self._acceptor = self._acceptor, None
            # stop() waits on QuickFIX threads, whose callbacks need this loop: not on it.
            await in_thread(acceptor.stop, not self._all_out.is_set(), name="fixsim-blocking")
            del acceptor
        if self._app is not None:
            self._app.closed = True
        # The C++ acceptor is gone: drop what it pointed to, in that order.
        self._transport = None
        self._app = None
        if self._ws is not None:
            await self._ws.close()
            self._ws = None
        if self._metrics is not None:
            await self._metrics.close()
            self._metrics = None
        if self._venue is not None:
            self.errors.extend(self._venue.errors)
            self._stats = self._venue.stats
            self._venue = None
        self._factories = ()

    async def wait_logged_on(
        self, keys: Iterable[str] | None = None, *, timeout: float = 10
    ) -> None:
        """Wait until the sessions ``keys`` (default: all) are logged on.

        Raises
        ------
        TimeoutError
            They were not all logged on within ``timeout`` wall seconds.
        """
        want = set(self._versions if keys is None else keys)
        async with asyncio.timeout(timeout):
            while not want <= self.venue.logged_on:
                self._sessions_changed.clear()
                await self._sessions_changed.wait()

    async def wait_logged_out(self, keys: Iterable[str], *, timeout: float = 10) -> None:
        """Wait until none of the sessions ``keys`` is logged on (a client stopped or died).

        Raises
        ------
        TimeoutError
            One of them was still logged on after ``timeout`` wall seconds.
        """
        gone = set(keys)
        async with asyncio.timeout(timeout):
            while gone & self.venue.logged_on:
                self._sessions_changed.clear()
                await self._sessions_changed.wait()

    def step(self, to_ns: int) -> None:
        """Advance the market (and fault timers) to simulated time ``to_ns``. Loop thread."""
        self.venue.advance(to_ns)

    def restart_market(self, market: DrivenMarket, faults: FaultConfig | None = None) -> None:
        """Put a fresh market (a new simulated session) behind the running FIX sessions.

        The sessions stay logged on; held reports of the old market are delivered first, its
        market-data subscriptions end, WebSocket subscribers move to the new book.
        """
        old = self.venue
        old.close()
        self.errors.extend(old.errors)
        for f in dataclasses.fields(FaultStats):
            total = getattr(self._faults_before, f.name) + getattr(old.stats, f.name)
            setattr(self._faults_before, f.name, total)
        self._market = market
        self._origin = wire_origin_ns(market.start_ns, self._config.trade_date)
        self._venue = self._new_venue(market, faults or self._config.faults, set(old.logged_on))
        if self._ws is not None:
            self._ws.attach(market.exchange, self._origin)
        if self._time is not None:  # the new market's time runs on from now
            anchored = self._config.anchor_unix_ns is not None
            self._time = AcceleratedClock(
                self._origin + market.now_ns,
                self._config.speed,
                anchor_unix_ns=time.time_ns() if anchored else None,
            )

    # --- SessionEvents (called on the loop thread via call_soon_threadsafe) ---------------------

    def on_logon(self, key: str) -> None:
        if self._venue is not None:
            self._venue.on_logon(key)
            self._all_out.clear()
            self._sessions_changed.set()
        log.info("fixsim: %s logged on", key)

    def on_logout(self, key: str) -> None:
        if self._venue is not None:
            self._venue.on_logout(key)
            if not self._venue.logged_on:
                self._all_out.set()
            self._sessions_changed.set()
        log.info("fixsim: %s logged out", key)

    def on_message(self, key: str, message: fix.Message) -> None:
        if self._venue is None:
            return
        self._catch_up()
        self._venue.on_message(key, message)

    # --- internals -----------------------------------------------------------------------------

    def _new_venue(
        self, market: DrivenMarket, faults: FaultConfig, logged_on: set[str]
    ) -> FixVenue:
        assert self._transport is not None
        venue = FixVenue(
            market,
            self._transport,
            faults=faults,
            wire_origin_ns=self._origin,
            record=self.record,
            counts=self.counts,
            observer=self._observer,
        )
        for key, version in self._versions.items():
            venue.add_session(key, version, logged_on=key in logged_on)
        return venue

    def _catch_up(self) -> None:
        if self._time is not None and self._venue is not None:
            target = min(self._time.now_ns() - self._origin, self._market.end_ns)
            self._venue.advance(target)

    async def _run_clock(self) -> None:
        while True:
            self._catch_up()
            if self._config.until_end and self._market.now_ns >= self._market.end_ns:
                self._ended.set()
                return
            await asyncio.sleep(self._config.tick_s)
