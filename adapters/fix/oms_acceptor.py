"""The engine's FIX 4.4 acceptor for OMS sessions: parent orders in, parent reports out.

Threading model
===============

As in the FIX simulator (:mod:`adapters.fixsim.application`, whose Application and settings
loader this reuses): QuickFIX runs its own threads (a ThreadedSocketAcceptor) and its callbacks
only copy the message and the session id and hand them to the asyncio loop with
``loop.call_soon_threadsafe``. Decoding, the sink call and every reply happen on the loop
thread, so the engine behind the sink needs no lock. ``acceptor.stop()`` waits on QuickFIX's
threads, whose callbacks need the loop: it runs in a thread of its own.

What an OMS message gets
========================

===========================================  ==============================================
inbound                                      answer
===========================================  ==============================================
fails the data dictionary (missing required  session Reject (35=3) from QuickFIX itself;
field, unknown tag, bad enumeration/type)    the session stays up
D that does not decode (OrderQty -5,         ExecutionReport Rejected, OrderID ``NONE``,
TargetStrategy 7, ...)                       Text naming the field, OrdRejReason 13/11/99
F or G that does not decode                  OrderCancelReject with the reason
H that does not decode                       BusinessMessageReject (j), reason 0
a message type other than D, F, G, H         BusinessMessageReject (j), reason 3 (QuickFIX)
a decoded command                            passed to the sink; its answers come back through
                                             :meth:`OmsAcceptor.send_report` /
                                             :meth:`OmsAcceptor.send_cancel_reject`
the sink raises (a bug)                      logged; BusinessMessageReject "internal error";
                                             the session stays up
no sink connected yet                        BusinessMessageReject, reason 4 (application
                                             not available)
===========================================  ==============================================

Sending
=======

``send_report`` and ``send_cancel_reject`` return ``True`` when QuickFIX wrote the message to
a logged-on session (it is then in the FileStore, and QuickFIX resends it if the OMS asks). A
session that is not logged on gets nothing and ``False``: the engine keeps the report and
sends it again after the session-state hook says the session is back. A report that races a
disconnect may be both stored and reported ``False``; the OMS deduplicates on ExecID.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import quickfix as fix
import structlog

from adapters.fix.codec import (
    BusinessReject,
    encode_business_reject,
    encode_cancel_reject,
    reject_cancel_message,
    reject_order_message,
)
from adapters.fix.parent_codec import decode_parent_command, encode_parent_report
from adapters.fix.qfthread import in_thread
from adapters.fix.stats import FixStats
from adapters.fix.wire import FixDecodeError, FixVersion, get_field, msg_type
from adapters.fixsim.application import FixSimApplication, FixSimConfigError, load_settings
from engine.clock import Clock
from engine.events import CancelReject, ExecType, ExecutionReport
from engine.parent_events import ParentCommand, ParentStatusRequest, RejectReason

__all__ = [
    "OMS_MSG_TYPES",
    "OmsAcceptor",
    "OmsAcceptorConfig",
    "OmsConfigError",
    "ParentSink",
    "SessionHook",
]

log = structlog.get_logger("unwind.oms")

OMS_MSG_TYPES = frozenset({"D", "F", "G", "H"})
ParentSink = Callable[[ParentCommand], None]
SessionHook = Callable[[str, bool], None]
"""Called on the loop thread with ``(session, logged_on)`` when an OMS session logs on/off."""

_V44 = FixVersion.FIX44
_BMR_OTHER = 0
_BMR_NOT_AVAILABLE = 4
_STATUS_REQ_MEMORY = 10_000  # OrdStatusReqIDs awaiting their answer, oldest forgotten first


class OmsConfigError(ValueError):
    """The OMS session configuration cannot run; the message says what to change."""


@dataclass(frozen=True, slots=True, kw_only=True)
class OmsAcceptorConfig:
    """Where the OMS sessions are configured and how to stop them.

    ``settings_path``: a QuickFIX acceptor configuration (``deploy/quickfix/engine-oms.cfg``).
    ``data_dir``: ``None`` keeps FileStorePath/FileLogPath of the file, else ``DIR/store`` and
    ``DIR/log``. ``port``: ``None`` keeps SocketAcceptPort, else replaces it. ``logout_timeout_s``
    (default 5): how long :meth:`OmsAcceptor.stop` waits for the OMS to answer its Logout.
    """

    settings_path: Path
    data_dir: Path | None = None
    port: int | None = None
    logout_timeout_s: float = 5.0

    def __post_init__(self) -> None:
        if not self.logout_timeout_s >= 0:
            raise ValueError(f"logout_timeout_s must be >= 0, got {self.logout_timeout_s}")


class OmsAcceptor:
    """QuickFIX acceptor for OMS sessions (module docstring). Loop thread only.

    Parameters
    ----------
    config
        Session settings and shutdown timeout.
    clock
        Receive time of each command (``ts_init``) and time of the acceptor's own rejects.
    sink
        Receives every decoded command; may also be given later with :meth:`connect`.
    on_session
        Told ``(session, logged_on)`` whenever a session logs on or off.
    """

    def __init__(
        self,
        config: OmsAcceptorConfig,
        clock: Clock,
        *,
        sink: ParentSink | None = None,
        on_session: SessionHook | None = None,
    ) -> None:
        self._config = config
        self._clock = clock
        self._sink = sink
        self._on_session = on_session
        self._ids: dict[str, fix.SessionID] = {}
        self._app: FixSimApplication | None = None
        self.fix_stats = (
            FixStats()
        )  # messages, resends, rejects: the metrics (adapters/fix/stats.py)
        self._acceptor: fix.ThreadedSocketAcceptor | None = None
        self._factories: tuple[object, ...] = ()
        self._on: set[str] = set()
        self._changed = asyncio.Event()
        self._status_req_ids: OrderedDict[tuple[str, str], str] = OrderedDict()
        self._exec_ids = itertools.count(1)
        self._boot = 0
        self.port: int | None = None

    # --- lifecycle -----------------------------------------------------------------------------

    def connect(self, sink: ParentSink) -> None:
        """Register the callable that receives every decoded :data:`ParentCommand`."""
        self._sink = sink

    @property
    def sessions(self) -> tuple[str, ...]:
        """The configured QuickFIX session ids (``FIX.4.4:UNWIND->OMS``)."""
        return tuple(self._ids)

    async def start(self) -> None:
        """Listen for the OMS sessions.

        Raises
        ------
        OmsConfigError
            The configuration is unusable (not a FIX 4.4 acceptor, no dictionary with
            StrategyParameters), or the acceptor cannot listen.
        """
        if self._acceptor is not None:
            raise RuntimeError("the OMS acceptor is already started")
        cfg = self._config
        try:
            settings = load_settings(cfg.settings_path, data_dir=cfg.data_dir, port=cfg.port)
        except FixSimConfigError as e:
            raise OmsConfigError(str(e)) from None
        for sid in settings.getSessions():
            _check_session(cfg.settings_path, sid, settings.get(sid))
            self._ids[sid.toString()] = sid
        first = settings.get(next(iter(settings.getSessions())))
        self.port = int(first.getString("SocketAcceptPort"))
        self._boot = self._clock.now_ns()
        loop = asyncio.get_running_loop()
        self._app = FixSimApplication(loop, self, OMS_MSG_TYPES, self.fix_stats)
        store, logs = fix.FileStoreFactory(settings), fix.FileLogFactory(settings)
        # QuickFIX keeps raw pointers to these: they must outlive the acceptor.
        self._factories = (settings, store, logs)
        try:
            self._acceptor = fix.ThreadedSocketAcceptor(self._app, store, settings, logs)
            self._acceptor.start()
        except (fix.ConfigError, fix.RuntimeError) as e:
            self._acceptor = None
            self._factories = ()
            raise OmsConfigError(f"cannot start the OMS acceptor: {e}") from None
        log.info("oms acceptor listening", port=self.port, sessions=list(self._ids))

    async def stop(self) -> None:
        """Log every session out (waiting up to ``logout_timeout_s``), then stop. Idempotent."""
        if self._acceptor is None:
            return
        for key in self._ids:
            session = fix.Session.lookupSession(self._ids[key])
            if session is not None and session.isLoggedOn():
                session.logout("engine shutting down")
        with contextlib.suppress(TimeoutError):
            await self._until(lambda: not self._on, self._config.logout_timeout_s)
        acceptor, self._acceptor = self._acceptor, None
        await in_thread(acceptor.stop, bool(self._on), name="oms-acceptor-stop")
        del acceptor
        if self._app is not None:
            self._app.closed = True
        # The C++ acceptor is gone: now drop what it pointed to.
        self._app = None
        self._factories = ()
        self._on.clear()

    def logged_on(self, session: str) -> bool:
        """Whether ``session`` is logged on now (QuickFIX's own view, not a cached one)."""
        sid = self._ids.get(session)
        if sid is None or self._acceptor is None:
            return False
        s = fix.Session.lookupSession(sid)
        return s is not None and bool(s.isLoggedOn())

    async def wait_logged_on(self, session: str | None = None, *, timeout: float = 10.0) -> str:
        """Wait until ``session`` (default: any session) is logged on; return its id.

        Raises
        ------
        TimeoutError
            Not logged on within ``timeout`` seconds.
        """

        def ready() -> str | None:
            keys = self._ids if session is None else (session,)
            return next((k for k in keys if k in self._on), None)

        await self._until(lambda: ready() is not None, timeout)
        found = ready()
        assert found is not None
        return found

    # --- outbound (loop thread) -----------------------------------------------------------------

    def send_report(
        self,
        session: str,
        report: ExecutionReport,
        reject_reason: RejectReason | None = None,
    ) -> bool:
        """Send a parent ExecutionReport; ``False`` if not sent (module docstring: Sending).

        ``reject_reason`` sets OrdRejReason (103) of a rejected report; without it the code is
        derived from ``report.text``. An ORDER_STATUS report echoes the OrdStatusReqID (790)
        of the request it answers.
        """
        req_id = None
        if report.exec_type is ExecType.ORDER_STATUS:
            req_id = self._status_req_ids.pop((session, report.cl_ord_id), None)
        message = encode_parent_report(
            report, reject_reason=reject_reason, ord_status_req_id=req_id
        )
        return self._send(session, message)

    def send_cancel_reject(self, session: str, reject: CancelReject) -> bool:
        """Send an OrderCancelReject (9); ``False`` if not sent."""
        return self._send(session, encode_cancel_reject(reject, _V44))

    def _send(self, session: str, message: fix.Message) -> bool:
        if session not in self._ids:
            log.error("oms send to an unknown session", session=session)
            return False
        if not self.logged_on(session):
            return False
        try:
            return bool(fix.Session.sendToTarget(message, self._ids[session]))
        except fix.SessionNotFound:
            return False

    # --- SessionEvents (QuickFIX -> loop thread via call_soon_threadsafe) -------------------------

    def on_logon(self, key: str) -> None:
        self._on.add(key)
        self._changed.set()
        log.info("oms session logged on", session=key)
        self._tell_session(key, True)

    def on_logout(self, key: str) -> None:
        self._on.discard(key)
        self._changed.set()
        log.info("oms session logged out", session=key)
        self._tell_session(key, False)

    def on_message(self, key: str, message: fix.Message) -> None:
        """Decode one OMS message and pass it to the sink (module docstring: what it gets)."""
        now = self._clock.now_ns()
        try:
            command = decode_parent_command(message, now, session=key)
        except FixDecodeError as e:
            self._refuse(key, message, e, now)
            return
        if self._sink is None:
            self._business_reject(key, message, "engine not ready", _BMR_NOT_AVAILABLE)
            return
        if isinstance(command, ParentStatusRequest):
            self._remember_status_request(key, command.cl_ord_id, get_field(message, 790))
        try:
            self._sink(command)
        except Exception as exc:  # a bug must not take the session down: say so, go on
            log.exception("oms sink failed", session=key, msg_type=msg_type(message))
            self._business_reject(key, message, f"internal error: {exc}", _BMR_OTHER)

    # --- internals -----------------------------------------------------------------------------

    def _refuse(self, key: str, message: fix.Message, e: FixDecodeError, now: int) -> None:
        kind = msg_type(message)
        log.info(
            "oms message refused",
            session=key,
            msg_type=kind,
            cl_ord_id=get_field(message, 11),
            reason=e.reason,
        )
        if kind == "D":
            reply = reject_order_message(
                message, _V44, exec_id=self._exec_id(), reason=e.reason, ts_ns=now, code=e.code
            )
            self._send(key, reply)
        elif kind in ("F", "G"):
            self._send(key, reject_cancel_message(message, _V44, reason=e.reason, ts_ns=now))
        else:
            self._business_reject(key, message, e.reason, _BMR_OTHER)

    def _business_reject(self, key: str, message: fix.Message, text: str, code: int) -> None:
        header = message.getHeader()
        seq = header.getField(34) if header.isSetField(34) else None
        ref = BusinessReject(
            msg_type(message), None if seq is None else int(seq), get_field(message, 11), code, text
        )
        self._send(key, encode_business_reject(ref, _V44))

    def _remember_status_request(self, key: str, cl_ord_id: str, req_id: str | None) -> None:
        if req_id is None:
            return
        self._status_req_ids[(key, cl_ord_id)] = req_id
        if len(self._status_req_ids) > _STATUS_REQ_MEMORY:
            self._status_req_ids.popitem(last=False)

    def _exec_id(self) -> str:
        # Unique across restarts: the acceptor's start time, then a counter.
        return f"UNW-R{self._boot:x}-{next(self._exec_ids)}"

    def _tell_session(self, key: str, on: bool) -> None:
        if self._on_session is None:
            return
        try:
            self._on_session(key, on)
        except Exception:
            log.exception("oms session hook failed", session=key, logged_on=on)

    async def _until(self, ready: Callable[[], bool], timeout: float) -> None:
        async with asyncio.timeout(timeout):
            while not ready():
                self._changed.clear()
                await self._changed.wait()


def _check_session(path: Path, sid: fix.SessionID, d: fix.Dictionary) -> None:
    name = sid.toString()
    if sid.getBeginString().getValue() != _V44.value:
        raise OmsConfigError(f"{path}: session {name}: OMS sessions speak FIX.4.4 only")
    dd = d.getString("DataDictionary") if d.has("DataDictionary") else ""
    if not dd or (d.has("UseDataDictionary") and d.getString("UseDataDictionary") != "Y"):
        raise OmsConfigError(
            f"{path}: session {name} needs UseDataDictionary=Y and "
            "DataDictionary=FIX44-unwind.xml (it parses the StrategyParameters group)"
        )
    try:
        has_group = fix.DataDictionary(dd).isGroup("D", 957)
    except (fix.ConfigError, fix.RuntimeError) as e:
        raise OmsConfigError(f"{path}: session {name}: DataDictionary {dd}: {e}") from None
    if not has_group:
        raise OmsConfigError(
            f"{path}: session {name}: DataDictionary {dd} has no StrategyParameters (957) "
            "group in NewOrderSingle; use deploy/quickfix/FIX44-unwind.xml"
        )
