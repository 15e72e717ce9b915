"""The QuickFIX side of the simulator: Application callbacks, the transport, session settings.

Threading model
===============

QuickFIX runs its own threads (the ThreadedSocketAcceptor: one per connection, plus the
acceptor's). Its callbacks run on those threads and do one thing only: copy what they were
given (``quickfix.Message(message)``, the session id as a string) and hand it to the asyncio
loop with ``loop.call_soon_threadsafe``. They never touch the exchange, the venue or anything
else the loop owns, so none of that needs a lock. Everything else happens on the loop thread,
including replies, which :class:`QuickFixTransport` sends with
``quickfix.Session.sendToTarget``. The SWIG bindings release the GIL inside every QuickFIX
call, so a QuickFIX thread waiting for the GIL in a callback and the loop thread waiting for a
session lock in ``sendToTarget`` cannot deadlock.

``toApp`` is the one callback that does more than hand over: QuickFIX calls it synchronously
on the *sending* thread, just before the message is written. QuickFIX strips PossDupFlag (43)
and OrigSendingTime (122) from messages given to ``sendToTarget``, so when the loop thread
sends a fault-injected duplicate, ``toApp`` stamps both back on. It knows which message to mark
from a thread-local that only the loop thread sets; the QuickFIX threads' own resends (after a
ResendRequest) never see it.

Settings
========

:func:`load_settings` reads an ordinary QuickFIX acceptor configuration and applies the
simulator's overrides: FileStorePath/FileLogPath under ``--data-dir``, SocketAcceptPort from
``--fix-port``, DataDictionary paths relative to the configuration file when they are not
found relative to the working directory.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import quickfix as fix

from adapters.fix.settings import DEFAULT_DICTIONARY, DICTIONARIES, resolve_beside
from adapters.fix.stats import FixStats
from adapters.fix.wire import FixVersion

__all__ = [
    "FixSimApplication",
    "FixSimConfigError",
    "QuickFixTransport",
    "SessionEvents",
    "load_settings",
]

log = logging.getLogger("unwind.fixsim")

_SENT_MEMORY = 10_000  # ExecIDs whose SendingTime we remember for OrigSendingTime on duplicates


class FixSimConfigError(ValueError):
    """The session configuration cannot run the simulator; the message says what to change."""


class SessionEvents(Protocol):
    """What the loop side receives from QuickFIX (all calls arrive on the loop thread)."""

    def on_logon(self, key: str) -> None: ...

    def on_logout(self, key: str) -> None: ...

    def on_message(self, key: str, message: fix.Message) -> None: ...


class FixSimApplication(fix.Application):
    """QuickFIX callbacks that hand copies to the loop (see the module docstring)."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        events: SessionEvents,
        supported: frozenset[str],
        stats: FixStats | None = None,
    ) -> None:
        super().__init__()
        self._loop = loop
        self._events = events
        self._supported = supported
        self.stats = stats if stats is not None else FixStats()
        self.outgoing = threading.local()
        self.closed = False

    def _post(self, fn: Callable[..., None], *args: Any) -> None:
        if self.closed:
            return
        try:
            self._loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:
            # The loop closed while QuickFIX was still winding down: nothing left to tell.
            self.closed = True

    def onCreate(self, sessionID: fix.SessionID) -> None:
        pass

    def onLogon(self, sessionID: fix.SessionID) -> None:
        self._post(self._events.on_logon, sessionID.toString())

    def onLogout(self, sessionID: fix.SessionID) -> None:
        self._post(self._events.on_logout, sessionID.toString())

    def toAdmin(self, message: fix.Message, sessionID: fix.SessionID) -> None:
        self.stats.count(sessionID, "out", message)

    def fromAdmin(self, message: fix.Message, sessionID: fix.SessionID) -> None:
        self.stats.count(sessionID, "in", message)

    def toApp(self, message: fix.Message, sessionID: fix.SessionID) -> None:
        out = self.outgoing
        header = message.getHeader()
        if getattr(out, "mark_possdup", False):
            header.setField(43, "Y")
            header.setField(122, out.orig_sending_time or header.getField(52))
        out.sending_time = header.getField(52)
        self.stats.count(sessionID, "out", message)

    def fromApp(self, message: fix.Message, sessionID: fix.SessionID) -> None:
        self.stats.count(sessionID, "in", message)
        if message.getHeader().getField(35) not in self._supported:
            # QuickFIX answers with a BusinessMessageReject "unsupported message type".
            raise fix.UnsupportedMessageType()
        # QuickFIX owns ``message`` only for the duration of this call: hand over a copy.
        self._post(self._events.on_message, sessionID.toString(), fix.Message(message))


class QuickFixTransport:
    """The venue's transport over QuickFIX sessions. Loop thread only."""

    def __init__(self, app: FixSimApplication, session_ids: dict[str, fix.SessionID]) -> None:
        self._app = app
        self._ids = session_ids
        self._sent_at: OrderedDict[str, str] = OrderedDict()
        self.failures: list[str] = []

    def send(self, session: str, message: fix.Message, *, possdup: bool = False) -> None:
        out = self._app.outgoing
        exec_id = message.getField(17) if message.isSetField(17) else None
        out.mark_possdup = possdup
        out.orig_sending_time = self._sent_at.get(exec_id) if possdup and exec_id else None
        out.sending_time = None
        try:
            # Sent if logged on; stored either way, so a resend recovers it after an outage.
            fix.Session.sendToTarget(message, self._ids[session])
        except fix.SessionNotFound:
            self.failures.append(f"no QuickFIX session {session!r}")
            log.error("fixsim: cannot send to %s: no such QuickFIX session", session)
        finally:
            out.mark_possdup = False
        if exec_id is not None and not possdup and out.sending_time:
            self._sent_at[exec_id] = out.sending_time
            if len(self._sent_at) > _SENT_MEMORY:
                self._sent_at.popitem(last=False)

    def disconnect(self, session: str) -> None:
        s = fix.Session.lookupSession(self._ids[session])
        if s is not None:
            s.disconnect()

    def logout(self, session: str, reason: str) -> None:
        s = fix.Session.lookupSession(self._ids[session])
        if s is not None:
            s.logout(reason)


def load_settings(
    path: Path, *, data_dir: Path | None = None, port: int | None = None
) -> fix.SessionSettings:
    """Read an acceptor configuration and apply the simulator's overrides (module docstring).

    Raises
    ------
    FixSimConfigError
        The file is missing or unreadable, a session is not an acceptor, or uses a FIX
        version other than 4.2/4.4, or its data dictionary cannot be found.
    """
    if not path.is_file():
        raise FixSimConfigError(f"session configuration {path} does not exist")
    try:
        settings = fix.SessionSettings(str(path))
    except fix.ConfigError as e:
        raise FixSimConfigError(f"{path}: {e}") from None
    config_dir = path.resolve().parent
    out = fix.SessionSettings()
    defaults = settings.get()
    _override(defaults, data_dir, port)
    out.set(defaults)
    sessions = settings.getSessions()
    if not sessions:
        raise FixSimConfigError(f"{path} declares no [SESSION]")
    for sid in sessions:
        d = settings.get(sid)
        name = sid.toString()
        if not d.has("ConnectionType") or d.getString("ConnectionType") != "acceptor":
            raise FixSimConfigError(f"{path}: session {name} needs ConnectionType=acceptor")
        try:
            version = FixVersion(sid.getBeginString().getValue())
        except ValueError:
            raise FixSimConfigError(
                f"{path}: session {name}: BeginString must be FIX.4.2 or FIX.4.4"
            ) from None
        _override(d, data_dir, port)
        if not d.has("SocketAcceptPort"):
            raise FixSimConfigError(f"{path}: session {name} needs SocketAcceptPort")
        for key in ("FileStorePath", "FileLogPath"):
            if not d.has(key):
                d.setString(key, str(Path("fixsim-data") / ("store" if "Store" in key else "log")))
        if not d.has("UseDataDictionary") or d.getString("UseDataDictionary") == "Y":
            dd = d.getString("DataDictionary") if d.has("DataDictionary") else ""
            dd = (
                resolve_beside(dd, config_dir)
                if dd
                else str(DICTIONARIES / DEFAULT_DICTIONARY[version])
            )
            if not Path(dd).is_file():
                raise FixSimConfigError(f"{path}: session {name}: DataDictionary {dd} not found")
            d.setString("DataDictionary", dd)
        out.set(sid, d)
    return out


def _override(d: fix.Dictionary, data_dir: Path | None, port: int | None) -> None:
    if data_dir is not None:
        d.setString("FileStorePath", str(data_dir / "store"))
        d.setString("FileLogPath", str(data_dir / "log"))
    if port is not None:
        d.setString("SocketAcceptPort", str(port))
