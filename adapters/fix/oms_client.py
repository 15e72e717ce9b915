"""A demo OMS: a QuickFIX FIX 4.4 initiator that sends parent orders and reads the reports.

Used by ``unwind paper`` and the end-to-end tests; a real OMS does the same with its own FIX
engine (docs/oms.md). Threading is the acceptor's (:mod:`adapters.fix.oms_acceptor`): QuickFIX
callbacks only copy the message and post it to the asyncio loop; decoding and the inbound queue
live on the loop thread, where every method of :class:`OmsClient` is called.

What arrives (:data:`OmsInbound`): a :class:`~adapters.fix.parent_codec.ParentReport` (8), a
:class:`~engine.events.CancelReject` (9), a :class:`~adapters.fix.codec.BusinessReject` (j), a
:class:`SessionReject` (3, QuickFIX's answer to a message that failed the engine's data
dictionary), or :class:`Unreadable` for a message this client cannot decode.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import quickfix as fix

from adapters.fix.codec import (
    BusinessReject,
    SessionReject,
    decode_business_reject,
    decode_cancel_reject,
    decode_session_reject,
)
from adapters.fix.parent_codec import (
    ParentReport,
    decode_parent_report,
    encode_parent_cancel,
    encode_parent_order,
    encode_parent_replace,
    encode_parent_status_request,
)
from adapters.fix.qfthread import in_thread
from adapters.fix.settings import VenueConfigError
from adapters.fix.settings import load_initiator_settings as _load_initiator
from adapters.fix.wire import FixDecodeError, msg_type
from engine.clock import Clock, LiveClock
from engine.events import CancelReject
from engine.parent_events import ParentCancel, ParentOrder, ParentReplace, ParentStatusRequest

__all__ = [
    "OmsClient",
    "OmsClientConfig",
    "OmsClientConfigError",
    "OmsInbound",
    "SessionReject",
    "Unreadable",
    "load_initiator_settings",
]


class OmsClientConfigError(ValueError):
    """The demo OMS configuration cannot run; the message says what to change."""


@dataclass(frozen=True, slots=True, kw_only=True)
class OmsClientConfig:
    """``settings_path``: a QuickFIX initiator configuration with one FIX 4.4 session
    (``deploy/quickfix/oms-client.cfg``). ``data_dir``: ``None`` keeps FileStorePath /
    FileLogPath, else ``DIR/store`` and ``DIR/log``. ``port``: ``None`` keeps
    SocketConnectPort. ``logout_timeout_s`` (default 5): how long :meth:`OmsClient.stop` waits
    for the engine to answer the Logout."""

    settings_path: Path
    data_dir: Path | None = None
    port: int | None = None
    logout_timeout_s: float = 5.0


@dataclass(frozen=True, slots=True)
class Unreadable:
    """A message the demo client could not decode (``raw`` with ``|`` for SOH)."""

    raw: str
    reason: str


OmsInbound = ParentReport | CancelReject | BusinessReject | SessionReject | Unreadable


def load_initiator_settings(
    path: Path, *, data_dir: Path | None = None, port: int | None = None
) -> fix.SessionSettings:
    """Read an initiator configuration with one FIX 4.4 session; apply the overrides.

    Raises
    ------
    OmsClientConfigError
        The file is missing or unreadable, or does not declare exactly one FIX 4.4 initiator.
    """
    try:
        settings, sid = _load_initiator(path, data_dir=data_dir, port=port)
    except VenueConfigError as e:
        raise OmsClientConfigError(str(e)) from None
    if sid.getBeginString().getValue() != "FIX.4.4":
        raise OmsClientConfigError(f"{path} must declare exactly one FIX.4.4 [SESSION]")
    return settings


class _App(fix.Application):
    """QuickFIX callbacks: copy, post to the loop, nothing else."""

    def __init__(self, loop: asyncio.AbstractEventLoop, client: OmsClient) -> None:
        super().__init__()
        self._loop = loop
        self._client = client
        self.closed = False

    def _post(self, fn: Callable[..., None], *args: Any) -> None:
        if self.closed:
            return
        try:
            self._loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:  # the loop closed while QuickFIX was winding down
            self.closed = True

    def onCreate(self, sessionID: fix.SessionID) -> None:
        pass

    def onLogon(self, sessionID: fix.SessionID) -> None:
        self._post(self._client._on_state, True)

    def onLogout(self, sessionID: fix.SessionID) -> None:
        self._post(self._client._on_state, False)

    def toAdmin(self, message: fix.Message, sessionID: fix.SessionID) -> None:
        pass

    def fromAdmin(self, message: fix.Message, sessionID: fix.SessionID) -> None:
        if message.getHeader().getField(35) == "3":
            self._post(self._client._on_message, fix.Message(message))

    def toApp(self, message: fix.Message, sessionID: fix.SessionID) -> None:
        pass

    def fromApp(self, message: fix.Message, sessionID: fix.SessionID) -> None:
        self._post(self._client._on_message, fix.Message(message))


class OmsClient:
    """A demo OMS over one FIX 4.4 initiator session (module docstring). Loop thread only.

    Parameters
    ----------
    config
        Session settings and shutdown timeout.
    clock
        ``ts_init`` of decoded messages (default: wall clock).
    """

    def __init__(self, config: OmsClientConfig, *, clock: Clock | None = None) -> None:
        self._config = config
        self._clock: Clock = clock or LiveClock()
        self._settings = load_initiator_settings(
            config.settings_path, data_dir=config.data_dir, port=config.port
        )
        self._sid: fix.SessionID = next(iter(self._settings.getSessions()))
        self._app: _App | None = None
        self._initiator: fix.SocketInitiator | None = None
        self._factories: tuple[object, ...] = ()
        self._inbox: asyncio.Queue[OmsInbound] = asyncio.Queue()
        self._changed = asyncio.Event()
        self._on = False
        self.logons = 0

    @property
    def session(self) -> str:
        """The QuickFIX session id (``FIX.4.4:OMS->UNWIND``)."""
        return str(self._sid.toString())

    # --- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Start connecting (QuickFIX retries every ReconnectInterval); see :meth:`wait_logon`."""
        if self._initiator is not None:
            raise RuntimeError("the OMS client is already started")
        self._app = _App(asyncio.get_running_loop(), self)
        store, logs = fix.FileStoreFactory(self._settings), fix.FileLogFactory(self._settings)
        self._factories = (store, logs)
        try:
            self._initiator = fix.SocketInitiator(self._app, store, self._settings, logs)
            self._initiator.start()
        except (fix.ConfigError, fix.RuntimeError) as e:
            self._initiator = None
            raise OmsClientConfigError(f"cannot start the OMS client: {e}") from None

    async def wait_logon(self, *, count: int = 1, timeout: float = 10.0) -> None:
        """Wait until logged on for the ``count``-th time (or later).

        Raises
        ------
        TimeoutError
            Not logged on within ``timeout`` seconds.
        """
        await self._until(lambda: self._on and self.logons >= count, timeout)

    async def stop(self) -> None:
        """Log out (waiting up to ``logout_timeout_s``), then stop the initiator. Idempotent."""
        if self._initiator is None:
            return
        session = fix.Session.lookupSession(self._sid)
        if session is not None:
            session.logout("OMS closing")  # also disables it: no reconnect after this
        with contextlib.suppress(TimeoutError):
            await self._until(lambda: not self.logged_on(), self._config.logout_timeout_s)
        initiator, self._initiator = self._initiator, None
        await in_thread(initiator.stop, self.logged_on(), name="oms-client-stop")
        del initiator
        if self._app is not None:
            self._app.closed = True
        # The C++ initiator is gone: now drop what it pointed to.
        self._app = None
        self._factories = ()

    def logged_on(self) -> bool:
        if self._initiator is None:
            return False
        s = fix.Session.lookupSession(self._sid)
        return s is not None and bool(s.isLoggedOn())

    # --- sending -------------------------------------------------------------------------------

    def send_parent(self, order: ParentOrder) -> bool:
        """Send a NewOrderSingle (D); ``False`` if QuickFIX could not send it now."""
        return self.send_raw(encode_parent_order(order))

    def cancel(self, request: ParentCancel) -> bool:
        """Send an OrderCancelRequest (F)."""
        return self.send_raw(encode_parent_cancel(request))

    def replace(self, request: ParentReplace) -> bool:
        """Send an OrderCancelReplaceRequest (G)."""
        return self.send_raw(encode_parent_replace(request))

    def status(self, request: ParentStatusRequest, *, ord_status_req_id: str | None = None) -> bool:
        """Send an OrderStatusRequest (H)."""
        return self.send_raw(
            encode_parent_status_request(request, ord_status_req_id=ord_status_req_id)
        )

    def send_raw(self, message: fix.Message) -> bool:
        """Send any application message as is (tests use it for malformed ones)."""
        try:
            return bool(fix.Session.sendToTarget(message, self._sid))
        except fix.SessionNotFound:
            return False

    # --- receiving -----------------------------------------------------------------------------

    async def receive(self, *, timeout: float = 5.0) -> OmsInbound:
        """The next inbound message, decoded.

        Raises
        ------
        TimeoutError
            Nothing arrived within ``timeout`` seconds.
        """
        async with asyncio.timeout(timeout):
            return await self._inbox.get()

    async def next_report(self, *, timeout: float = 5.0) -> ParentReport:
        """The next inbound message, which must be a parent ExecutionReport.

        Raises
        ------
        TimeoutError
            Nothing arrived within ``timeout`` seconds.
        AssertionError
            Something else arrived first (it is named in the message).
        """
        got = await self.receive(timeout=timeout)
        if not isinstance(got, ParentReport):
            raise AssertionError(f"expected a parent ExecutionReport, got {got!r}")
        return got

    def drain(self) -> list[OmsInbound]:
        """Everything received and not yet taken."""
        out = []
        while not self._inbox.empty():
            out.append(self._inbox.get_nowait())
        return out

    # --- loop side of the QuickFIX callbacks ------------------------------------------------------

    def _on_state(self, on: bool) -> None:
        self._on = on
        if on:
            self.logons += 1
        self._changed.set()

    def _on_message(self, message: fix.Message) -> None:
        self._inbox.put_nowait(_decode(message, self._clock.now_ns()))

    async def _until(self, ready: Callable[[], bool], timeout: float) -> None:
        async with asyncio.timeout(timeout):
            while not ready():
                self._changed.clear()
                await self._changed.wait()


def _decode(message: fix.Message, ts_init: int) -> OmsInbound:
    kind = msg_type(message)
    try:
        if kind == "8":
            return decode_parent_report(message, ts_init)
        if kind == "9":
            return decode_cancel_reject(message, ts_init)
        if kind == "j":
            return decode_business_reject(message)
        if kind == "3":
            return decode_session_reject(message)
    except (FixDecodeError, ValueError) as e:
        return Unreadable(message.toString().replace("\x01", "|"), str(e))
    return Unreadable(message.toString().replace("\x01", "|"), f"unexpected MsgType {kind!r}")
