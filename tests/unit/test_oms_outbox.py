"""The OMS outbox with a recording acceptor: reports kept while a session is down, in order,
and, with a journal, sent only once the journal holds them."""

from __future__ import annotations

import asyncio
import threading

import pytest

from engine.events import CancelReject, ExecType, ExecutionReport, OrdStatus, Side
from engine.journal import JournalError
from engine.oms_outbox import OmsOutbox
from engine.parent_events import RejectReason


class Acceptor:
    """Two FIX sessions; a send to a session that is not up fails, as QuickFIX's does."""

    sessions = ("A", "B")

    def __init__(self) -> None:
        self.up = {"A", "B"}
        self.got: list[tuple[str, str]] = []  # (session, ExecID or cancel-reject ClOrdID)
        self.fail_after: int | None = None  # drop the link after this many more sends

    def _ok(self, session: str) -> bool:
        if self.fail_after is not None:
            if self.fail_after == 0:
                self.up.discard(session)
            self.fail_after -= 1
        return session in self.up

    def send_report(
        self, session: str, report: ExecutionReport, reject_reason: RejectReason | None = None
    ) -> bool:
        if not self._ok(session):
            return False
        self.got.append((session, report.exec_id))
        return True

    def send_cancel_reject(self, session: str, reject: CancelReject) -> bool:
        if not self._ok(session):
            return False
        self.got.append((session, reject.cl_ord_id))
        return True


def _report(exec_id: str, cum: int) -> ExecutionReport:
    return ExecutionReport(
        exec_id, "P1", None, "V1", ExecType.TRADE, OrdStatus.PARTIALLY_FILLED, "XYZ", Side.SELL,
        1_000, None, 100, 500_000, cum, 1_000 - cum, 500_000.0, 5, 5,
    )  # fmt: skip


def _reject(cl: str) -> CancelReject:
    return CancelReject(cl, "P1", "V1", OrdStatus.PARTIALLY_FILLED, "cancel", "too late", 5, 5)


def test_down_session_keeps_reports_in_order_and_the_next_logon_delivers_them() -> None:
    acc = Acceptor()
    box = OmsOutbox(acc)
    assert box.send_report("A", _report("E1", 100))
    acc.up.discard("A")
    assert not box.send_report("A", _report("E2", 200))
    assert not box.send_cancel_reject("A", _reject("C1"))
    acc.up.add("A")  # up at QuickFIX, the hook not heard yet: a new report waits its turn
    assert not box.send_report("A", _report("E3", 300))
    assert box.send_report("B", _report("F1", 100))  # another session is not held up
    assert box.pending("A") == 3
    box.session_changed("A", False)
    assert box.pending("A") == 3
    box.session_changed("A", True)
    assert acc.got == [("A", "E1"), ("B", "F1"), ("A", "E2"), ("A", "C1"), ("A", "E3")]
    assert box.pending("A") == 0
    assert box.send_report("A", _report("E4", 400))


def test_flush_when_the_session_drops_again_midway_then_the_rest_waits() -> None:
    acc = Acceptor()
    box = OmsOutbox(acc)
    acc.up.discard("A")
    for i in range(1, 5):
        box.send_report("A", _report(f"E{i}", 100 * i))
    acc.up.add("A")
    acc.fail_after = 2
    assert box.flush("A") == 2 and box.pending("A") == 2
    acc.fail_after = None
    acc.up.add("A")
    box.session_changed("A", True)
    assert [e for _, e in acc.got] == ["E1", "E2", "E3", "E4"]


def test_a_session_that_is_not_fix_gets_nothing_and_nothing_is_kept() -> None:
    acc = Acceptor()
    box = OmsOutbox(acc)
    assert not box.send_report("rest", _report("E1", 100))
    assert box.pending("rest") == 0 and acc.got == []


class Journal:
    """The journal's flush, held until the test lets the commit happen (or fail)."""

    def __init__(self, error: Exception | None = None) -> None:
        self.asked = threading.Event()
        self.committed = threading.Event()
        self.error = error

    def flush(self, timeout_s: float = 10.0) -> None:
        self.asked.set()
        assert self.committed.wait(timeout_s)
        if self.error is not None:
            raise self.error


@pytest.mark.asyncio
async def test_with_a_journal_a_report_leaves_only_once_the_journal_holds_it() -> None:
    # Found by the SIGKILL crash tests: a report the OMS had seen was lost with the journal's
    # tail, and the restarted engine reused its ExecID for another fill (the OMS dropped it as
    # a repeat). Output commit: nothing reaches the OMS that a crash can take back.
    acc, journal = Acceptor(), Journal()
    box = OmsOutbox(acc, journal=journal)
    assert not box.send_report("A", _report("E1", 100))
    assert not box.send_cancel_reject("A", _reject("C1"))
    assert await asyncio.to_thread(journal.asked.wait, 5)
    assert acc.got == [] and box.pending("A") == 2  # the commit has not happened
    assert not box.send_report("A", _report("E2", 200))  # waits behind, in order
    journal.committed.set()
    await box.settle()
    assert acc.got == [("A", "E1"), ("A", "C1"), ("A", "E2")]
    assert box.pending("A") == 0


@pytest.mark.asyncio
async def test_with_a_journal_that_fails_reports_still_go_out() -> None:
    acc, journal = Acceptor(), Journal(JournalError("disk full"))
    box = OmsOutbox(acc, journal=journal)
    journal.committed.set()
    box.send_report("A", _report("E1", 100))
    await box.settle()
    assert acc.got == [("A", "E1")]


@pytest.mark.asyncio
async def test_with_a_journal_a_report_for_a_session_that_is_down_is_kept_after_the_commit() -> (
    None
):
    acc, journal = Acceptor(), Journal()
    journal.committed.set()
    box = OmsOutbox(acc, journal=journal)
    acc.up.discard("A")
    box.send_report("A", _report("E1", 100))
    await box.settle()
    assert acc.got == [] and box.pending("A") == 1
    acc.up.add("A")
    box.session_changed("A", True)
    assert acc.got == [("A", "E1")]
