"""The engine's FIX venue adapter: a QuickFIX initiator behind the venue and market-data ports.

:class:`FixVenueClient` implements :class:`~engine.ports.VenuePort` and
:class:`~engine.ports.MarketDataPort` over one FIX 4.2 or 4.4 session, the version being the
session's BeginString in an ordinary QuickFIX settings file (:mod:`adapters.fix.settings`).
What it guarantees (dedup, reject-while-down, resubscription) is the core's,
:class:`~adapters.fix.venue_session.VenueSession`; this module only moves data. docs/venue.md
is the operator's page.

Threading model
===============

::

 QuickFIX threads (SocketInitiator)        asyncio loop thread (owns all state)
 ─────────────────────────────────        ─────────────────────────────────────
 fromApp / fromAdmin(35=3) ── copy ──call_soon_threadsafe──► VenueSession.on_message ─► sinks
 onLogon / onLogout ──────────────── call_soon_threadsafe──► on_logon / on_logout ─► hooks
 toApp (on the sending thread) ◄── sendToTarget ◄──────────── submit / cancel / subscribe ...

The callbacks copy what QuickFIX lends them (``quickfix.Message(msg)``) and post it; nothing
else. ``toApp`` runs synchronously on whichever thread sends. For our own sends that is the
loop thread, and it records the MsgSeqNum QuickFIX gave the message (how a later Reject is
mapped back to its instruction). On a QuickFIX thread it is a resend after a ResendRequest:
``toApp`` raises ``DoNotSend`` so QuickFIX gap-fills instead. A stale order replayed after an
outage could trade against a state the engine no longer holds; the engine reconciles with
status requests after the logon instead. The SWIG bindings release the GIL inside QuickFIX
calls, so the loop thread in ``sendToTarget`` and a QuickFIX thread in a callback cannot
deadlock (as in :mod:`adapters.fixsim.application`).

Lifecycle: ``connect(sink)``; ``await start()`` (returns at once; QuickFIX keeps reconnecting
every ``ReconnectInterval`` seconds); ``await wait_logged_on(timeout)`` if the caller wants to;
``await stop()`` logs out, waits up to ``logout_timeout_s`` and stops QuickFIX in a thread of
its own. ``stop()`` must be awaited before the process exits: a QuickFIX engine still running
when Python frees it crashes the process.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import quickfix as fix

from adapters.fix.mdcodec import MarketDataReject
from adapters.fix.qfthread import in_thread
from adapters.fix.settings import VenueConfigError, load_initiator_settings
from adapters.fix.stats import FixStats
from adapters.fix.venue_session import VenueCounters, VenueSession
from adapters.fix.wire import FixVersion
from engine.clock import Clock, LiveClock
from engine.events import CancelOrder, NewOrder, ReplaceOrder, StatusRequest
from engine.ports import MarketEventSink, VenueEventSink

__all__ = ["FixVenueClient", "FixVenueConfig", "VenueConfigError"]


@dataclass(frozen=True, slots=True, kw_only=True)
class FixVenueConfig:
    """How to reach one venue. Session details live in the QuickFIX file ``settings_path``."""

    settings_path: Path
    session: str | None = None  # which [SESSION]: a session id or a BeginString (None: the only)
    data_dir: Path | None = None  # FileStorePath/FileLogPath go under it (None: as the file says)
    host: str | None = None  # overrides SocketConnectHost
    port: int | None = None  # overrides SocketConnectPort
    md_depth: int = 0  # MarketDepth (264) of subscriptions: 0 the full book, N the top N levels
    dedup_window: int = 100_000  # ExecIDs remembered for deduplication
    logout_timeout_s: float = 5.0  # how long stop() waits for the venue's Logout answer

    def __post_init__(self) -> None:
        if self.port is not None and not 0 < self.port <= 65535:
            raise ValueError(f"port must be a TCP port (1-65535), got {self.port}")
        if self.md_depth < 0:
            raise ValueError(f"md_depth must be >= 0 (0 = full book), got {self.md_depth}")
        if self.dedup_window <= 0:
            raise ValueError(f"dedup_window must be > 0, got {self.dedup_window}")
        if self.logout_timeout_s < 0:
            raise ValueError(f"logout_timeout_s must be >= 0, got {self.logout_timeout_s}")


class _QuickFixTransport:
    """Sends on one QuickFIX session; the MsgSeqNum comes back through ``toApp``."""

    def __init__(self, session_id: fix.SessionID) -> None:
        self._sid = session_id
        self.outgoing = threading.local()  # set by toApp on the sending (loop) thread

    def send(self, message: fix.Message) -> int | None:
        session = fix.Session.lookupSession(self._sid)
        # Not logged on, QuickFIX would store the message for a later resend (which toApp
        # refuses anyway): do not let it take a sequence number.
        if session is None or not session.isLoggedOn():
            return None
        self.outgoing.seq = None
        try:
            sent = fix.Session.sendToTarget(message, self._sid)
        except fix.SessionNotFound:
            return None
        seq: int | None = getattr(self.outgoing, "seq", None)
        return (seq or 0) if sent else None


class _Application(fix.Application):
    """QuickFIX callbacks: copy, post to the loop, nothing else (module docstring)."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, client: FixVenueClient, outgoing: threading.local
    ) -> None:
        super().__init__()
        self._loop = loop
        self._client = client
        self._outgoing = outgoing
        self.closed = False

    def _post(self, fn: Callable[..., None], *args: Any) -> None:
        if self.closed:
            return
        try:
            self._loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:  # the loop closed while QuickFIX winds down: nobody to tell
            self.closed = True

    def onCreate(self, sessionID: fix.SessionID) -> None:
        pass

    def onLogon(self, sessionID: fix.SessionID) -> None:
        self._post(self._client._on_logon)

    def onLogout(self, sessionID: fix.SessionID) -> None:
        self._post(self._client._on_logout)

    def toAdmin(self, message: fix.Message, sessionID: fix.SessionID) -> None:
        self._client.fix_stats.count(sessionID, "out", message)

    def fromAdmin(self, message: fix.Message, sessionID: fix.SessionID) -> None:
        self._client.fix_stats.count(sessionID, "in", message)
        if message.getHeader().getField(35) == "3":  # a session Reject of something we sent
            self._post(self._client._on_message, fix.Message(message))

    def toApp(self, message: fix.Message, sessionID: fix.SessionID) -> None:
        header = message.getHeader()
        if header.isSetField(43) and header.getField(43) == "Y":
            # A resend after a ResendRequest: gap-fill it and let the loop answer instead.
            seq = int(header.getField(34))
            ref = message.getField(11) if message.isSetField(11) else None
            if ref is None and message.isSetField(262):
                ref = message.getField(262)
            self._post(self._client._on_not_resent, seq, ref)
            raise fix.DoNotSend()
        self._outgoing.seq = int(header.getField(34))
        self._client.fix_stats.count(sessionID, "out", message)

    def fromApp(self, message: fix.Message, sessionID: fix.SessionID) -> None:
        self._client.fix_stats.count(sessionID, "in", message)
        # QuickFIX owns ``message`` only for the duration of this call: hand over a copy.
        self._post(self._client._on_message, fix.Message(message))


class FixVenueClient:
    """A FIX venue behind the engine's venue and market-data ports (module docstring).

    Parameters
    ----------
    config
        Where the QuickFIX settings are and what to override.
    clock
        Stamps ``ts_init`` of every event (default: the wall clock).

    Raises
    ------
    VenueConfigError
        The settings file cannot give one usable initiator session.
    """

    def __init__(self, config: FixVenueConfig, *, clock: Clock | None = None) -> None:
        self._config = config
        self.fix_stats = (
            FixStats()
        )  # messages, resends, rejects: the metrics (adapters/fix/stats.py)
        self._settings, self._sid = load_initiator_settings(
            config.settings_path,
            session=config.session,
            data_dir=config.data_dir,
            host=config.host,
            port=config.port,
        )
        self.version = FixVersion(self._sid.getBeginString().getValue())
        self.session_id = self._sid.toString()
        clock = clock or LiveClock()
        self._transport = _QuickFixTransport(self._sid)
        self._core = VenueSession(
            self.version,
            self._transport,
            now_ns=clock.now_ns,
            defer=self._defer,
            md_depth=config.md_depth,
            dedup_window=config.dedup_window,
            id_prefix=f"UNWIND{clock.now_ns():x}",  # unique across restarts of the process
            name=self.session_id,
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._app: _Application | None = None
        self._initiator: fix.SocketInitiator | None = None
        self._factories: tuple[object, ...] = ()
        self._up = asyncio.Event()
        self._down = asyncio.Event()
        self._down.set()
        self._started = False

    # --- state ---------------------------------------------------------------------------------

    @property
    def logged_on(self) -> bool:
        return self._core.logged_on

    @property
    def counters(self) -> VenueCounters:
        return self._core.counters

    async def wait_logged_on(self, timeout: float) -> None:
        """Wait until the session is logged on.

        Raises
        ------
        TimeoutError
            It was not logged on within ``timeout`` wall seconds.
        """
        async with asyncio.timeout(timeout):
            await self._up.wait()

    def on_session(self, hook: Callable[[bool], None]) -> None:
        """Call ``hook(True)`` at each logon, ``hook(False)`` at each logout or dropped session.

        After ``False`` the engine should treat working orders as unknown, and after ``True``
        reconcile them with :meth:`request_status`.
        """
        self._core.on_session(hook)

    def on_md_reject(self, hook: Callable[[str | None, MarketDataReject], None]) -> None:
        """Call ``hook(symbol, reject)`` when the venue refuses a market-data request."""
        self._core.on_md_reject(hook)

    def on_stale(self, hook: Callable[[str, bool], None]) -> None:
        """Call ``hook(symbol, stale)`` when a symbol's data turns stale (the session dropped,
        the subscription was refused) or fresh again (its snapshot arrived)."""
        self._core.on_stale(hook)

    def is_stale(self, symbol: str) -> bool:
        return self._core.is_stale(symbol)

    # --- VenuePort -----------------------------------------------------------------------------

    def connect(self, sink: VenueEventSink) -> None:
        self._core.connect(sink)

    def submit(self, order: NewOrder) -> None:
        self._core.submit(order)

    def cancel(self, request: CancelOrder) -> None:
        self._core.cancel(request)

    def replace(self, request: ReplaceOrder) -> None:
        self._core.replace(request)

    def request_status(self, request: StatusRequest) -> None:
        self._core.request_status(request)

    # --- MarketDataPort ------------------------------------------------------------------------

    def subscribe(self, symbol: str, sink: MarketEventSink) -> None:
        self._core.subscribe(symbol, sink)

    def unsubscribe(self, symbol: str, sink: MarketEventSink) -> None:
        self._core.unsubscribe(symbol, sink)

    # --- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the initiator; it logs on when the venue answers and reconnects on its own.

        Raises
        ------
        RuntimeError
            ``connect(sink)`` was not called first, or the client was started before.
        VenueConfigError
            QuickFIX refuses the settings.
        """
        if self._started:
            raise RuntimeError("a FixVenueClient starts once; build a new one")
        if not self._core.connected:
            raise RuntimeError("connect(sink) before start(): venue events need somewhere to go")
        self._started = True
        self._loop = asyncio.get_running_loop()
        self._app = _Application(self._loop, self, self._transport.outgoing)
        store = fix.FileStoreFactory(self._settings)
        logs = fix.FileLogFactory(self._settings)
        # QuickFIX keeps raw pointers to these: they must outlive the initiator.
        self._factories = (store, logs)
        try:
            self._initiator = fix.SocketInitiator(self._app, store, self._settings, logs)
            self._initiator.start()
        except (fix.ConfigError, fix.RuntimeError) as e:
            self._initiator = None
            raise VenueConfigError(f"cannot start the FIX initiator: {e}") from None

    async def stop(self) -> None:
        """Log out (waiting up to ``logout_timeout_s``), then stop QuickFIX. Idempotent."""
        if self._initiator is None:
            return
        session = fix.Session.lookupSession(self._sid)
        self._core.closing = True  # our own logout: not an outage to warn about
        if session is not None:
            session.logout("engine stopping")  # also stops a logon in progress
        if self.logged_on:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._down.wait(), self._config.logout_timeout_s)
        initiator, self._initiator = self._initiator, None
        # stop() waits on QuickFIX threads, whose callbacks need this loop: not on it.
        await in_thread(initiator.stop, not self._down.is_set(), name="venue-fix-blocking")
        del initiator
        if self._app is not None:
            self._app.closed = True
        self._factories = ()

    # --- from QuickFIX, on the loop thread -----------------------------------------------------

    def _defer(self, fn: Callable[[], None]) -> None:
        (self._loop or asyncio.get_running_loop()).call_soon(fn)

    def _on_logon(self) -> None:
        self._down.clear()
        self._up.set()
        session = fix.Session.lookupSession(self._sid)
        self._core.on_logon(None if session is None else session.getExpectedSenderNum())

    def _on_logout(self) -> None:
        self._up.clear()
        self._down.set()
        self._core.on_logout()

    def _on_message(self, message: fix.Message) -> None:
        self._core.on_message(message)

    def _on_not_resent(self, seq: int, ref: str | None) -> None:
        self._core.on_not_resent(seq, ref)
