"""Counts of FIX traffic per session, for the metrics (issue 8).

QuickFIX calls its Application from its own threads, so the counts take a lock (a few hundred
nanoseconds beside a message's parsing). Sessions are labelled by QuickFIX's session id
(``FIX.4.4:UNWIND->FIXSIM``): as many as the settings configure, never one per counterparty
message.
"""

from __future__ import annotations

import threading
from collections import Counter

import quickfix as fix

__all__ = ["FixStats"]

_RESEND_REQUEST = "2"
_SESSION_REJECT = "3"
_BUSINESS_REJECT = "j"


class FixStats:
    """Messages by (session, direction, MsgType), resend requests by (session, direction),
    rejects by (session, kind: ``session`` for MsgType 3, ``business`` for MsgType j)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.messages: Counter[tuple[str, str, str]] = Counter()
        self.resend_requests: Counter[tuple[str, str]] = Counter()
        self.rejects: Counter[tuple[str, str]] = Counter()

    def count(self, session: fix.SessionID, direction: str, message: fix.Message) -> None:
        """One message ``direction`` (``in`` or ``out``) on ``session``."""
        try:
            msg_type = message.getHeader().getField(35)
        except fix.FieldNotFound:
            msg_type = "?"
        key = session.toString()
        with self._lock:
            self.messages[(key, direction, msg_type)] += 1
            if msg_type == _RESEND_REQUEST:
                self.resend_requests[(key, direction)] += 1
            elif msg_type == _SESSION_REJECT:
                self.rejects[(key, "session")] += 1
            elif msg_type == _BUSINESS_REJECT:
                self.rejects[(key, "business")] += 1

    def snapshot(
        self,
    ) -> tuple[
        dict[tuple[str, str, str], int], dict[tuple[str, str], int], dict[tuple[str, str], int]
    ]:
        """Copies of the three counters, taken together."""
        with self._lock:
            return dict(self.messages), dict(self.resend_requests), dict(self.rejects)
