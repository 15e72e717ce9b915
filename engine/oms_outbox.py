"""Parent reports to the OMS session each parent came from, none lost while it is down.

The engine reports every parent event once (:class:`engine.engine.Engine` keeps its own record
in ``Engine.reports``). The FIX acceptor writes a report only to a logged-on session: QuickFIX
then holds it in its store and resends it if the OMS asks. A report for a session that is down
is kept here, in order, and sent when the session logs on again; anything reported for that
session meanwhile queues behind it, so the OMS sees every parent's reports in the order they
happened (CumQty never goes backwards). A report that raced a disconnect may reach the OMS
twice with the same ExecID; the OMS deduplicates on it (FIX's own rule for resent reports).

Parents submitted over REST (session ``rest``, not a FIX session) have no one to report to
over FIX: their reports stay in the engine's record and the REST API.

With a journal, nothing leaves before the journal holds it (output commit): a report waits
until the journal has committed everything recorded up to it (one commit for all that waited
meanwhile; a millisecond or so), then goes on as above. A crash can take back decisions the
journal had not committed, and the restarted engine may then decide otherwise under the same
ExecID (a fill it learns again from the venue, counted differently): had the OMS seen the
first, it would drop the second as a repeat and its CumQty would be wrong. If the journal
cannot be written (the daemon halts trading on it), reports go out unrecorded rather than not
at all.

What is kept lives in memory: a restart loses it. Recovery sends every report of every parent
the journal holds again after a restart (engine/recovery.py); the OMS drops the ones it has
by ExecID.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Protocol

import structlog

from engine.events import CancelReject, ExecutionReport
from engine.journal import JournalError
from engine.parent_events import RejectReason

__all__ = ["Durable", "OmsOutbox", "OmsSessions"]

log = structlog.get_logger("unwind.oms")


class OmsSessions(Protocol):
    """What the outbox needs of the FIX acceptor (``adapters.fix.oms_acceptor.OmsAcceptor``)."""

    @property
    def sessions(self) -> tuple[str, ...]: ...

    def send_report(
        self, session: str, report: ExecutionReport, reject_reason: RejectReason | None = None
    ) -> bool: ...

    def send_cancel_reject(self, session: str, reject: CancelReject) -> bool: ...


class Durable(Protocol):
    """What the outbox needs of the journal (``engine.journal.Journal``)."""

    def flush(self, timeout_s: float = ...) -> None:
        """Return once everything recorded so far is committed; raise ``JournalError`` if it
        cannot be."""
        ...


_Message = tuple[str, Callable[[], bool], str, str | None]  # session, send, ClOrdID, parent


class OmsOutbox:
    """The engine's OMS port over FIX sessions (see the module docstring). Loop thread only.

    ``journal``: when set, a message leaves only once the journal has committed everything
    recorded before it was given (the daemon sets it with its journal).
    """

    def __init__(self, acceptor: OmsSessions, journal: Durable | None = None) -> None:
        self._acceptor = acceptor
        self.journal = journal
        self._held: dict[str, deque[Callable[[], bool]]] = {}
        self._uncommitted: deque[_Message] = deque()
        self._committing: asyncio.Task[None] | None = None

    def pending(self, session: str) -> int:
        """How many messages wait for ``session``: for its logon, or for the journal."""
        held = self._held.get(session)
        waiting = sum(m[0] == session for m in self._uncommitted)
        return waiting + (0 if held is None else len(held))

    async def settle(self) -> None:
        """Wait until nothing waits for the journal (before the sessions stop)."""
        while self._committing is not None:
            await asyncio.shield(self._committing)

    def send_report(
        self, session: str, report: ExecutionReport, reject_reason: RejectReason | None = None
    ) -> bool:
        """Send now, or keep for the session's next logon. ``True`` if sent now."""
        return self._send(
            session,
            lambda: self._acceptor.send_report(session, report, reject_reason),
            report.cl_ord_id,
            report.venue_order_id,
        )

    def send_cancel_reject(self, session: str, reject: CancelReject) -> bool:
        return self._send(
            session,
            lambda: self._acceptor.send_cancel_reject(session, reject),
            reject.cl_ord_id,
            reject.venue_order_id,
        )

    def session_changed(self, session: str, logged_on: bool) -> None:
        """The acceptor's session hook: a session that logs on gets what was kept for it."""
        if logged_on:
            self.flush(session)

    def flush(self, session: str) -> int:
        """Send what was kept for ``session``, oldest first, until a send fails; return how
        many went out."""
        held = self._held.get(session)
        sent = 0
        while held:
            if not held[0]():
                break
            held.popleft()
            sent += 1
        if held is not None and not held:
            del self._held[session]
        if sent:
            log.info("oms reports delivered after the session was back", session=session, sent=sent)
        return sent

    def _send(
        self, session: str, send: Callable[[], bool], cl_ord_id: str, parent: str | None
    ) -> bool:
        if session not in self._acceptor.sessions:
            return False  # not a FIX session (a REST parent): the engine's record is its report
        if self.journal is not None:
            self._uncommitted.append((session, send, cl_ord_id, parent))
            if self._committing is None:
                self._committing = asyncio.get_running_loop().create_task(self._commit())
            return False
        return self._deliver(session, send, cl_ord_id, parent)

    async def _commit(self) -> None:
        # Everything that waits was recorded before this flush is asked for: the engine
        # journals a report before it hands it here, on this thread.
        journal = self.journal
        assert journal is not None
        try:
            while self._uncommitted:
                n = len(self._uncommitted)
                try:
                    await asyncio.to_thread(journal.flush)
                except JournalError as exc:
                    log.error("oms reports sent unrecorded: the journal failed", error=str(exc))
                for _ in range(n):
                    self._deliver(*self._uncommitted.popleft())
        finally:
            self._committing = None

    def _deliver(
        self, session: str, send: Callable[[], bool], cl_ord_id: str, parent: str | None
    ) -> bool:
        held = self._held.get(session)
        if held is None:
            if send():
                return True
            held = self._held[session] = deque()
            log.warning("oms session down: reports kept until it is back", session=session)
        held.append(send)
        log.info(
            "oms report kept",
            session=session,
            parent=parent,
            cl_ord_id=cl_ord_id,
            pending=len(held),
        )
        return False
