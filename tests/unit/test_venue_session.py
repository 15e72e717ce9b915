"""The venue adapter's sans-I/O core with a recording transport: dedup, refusals, market data.

The same core runs behind real QuickFIX sessions in tests/integration/test_venue_client.py;
here every path is driven by hand, including the ones a live venue rarely takes.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import pytest
import quickfix as fix

from adapters.fix.codec import encode_cancel_reject, encode_execution_report
from adapters.fix.mdcodec import (
    MarketDataReject,
    encode_incremental,
    encode_md_reject,
    encode_snapshot,
)
from adapters.fix.venue_session import (
    NOT_LOGGED_ON,
    NOT_RESENT,
    NOT_SENT,
    ExecIdWindow,
    VenueSession,
)
from adapters.fix.wire import FixVersion, get_field, msg_type, new_message
from engine.events import (
    BookSnapshot,
    CancelOrder,
    CancelReject,
    ExecType,
    ExecutionReport,
    NewOrder,
    OrderType,
    OrdStatus,
    ReplaceOrder,
    Side,
    StatusRequest,
    TimeInForce,
    Trade,
)

V = FixVersion.FIX44
ORDER = NewOrder("c1", "XYZ", Side.BUY, 100, OrderType.LIMIT, 1_000_000, TimeInForce.DAY, 7)


class Transport:
    """Records what the core sends; MsgSeqNum counts from 1; ``refuse`` makes sends fail."""

    def __init__(self) -> None:
        self.sent: list[fix.Message] = []
        self.refuse = False
        self._seq = itertools.count(1)

    def send(self, message: fix.Message) -> int | None:
        if self.refuse:
            return None
        self.sent.append(message)
        return next(self._seq)

    def types(self) -> list[str]:
        return [msg_type(m) for m in self.sent]


class Rig:
    def __init__(self, *, window: int = 100) -> None:
        self.transport = Transport()
        self.deferred: list[Callable[[], None]] = []
        self.events: list[Any] = []
        self.sessions: list[bool] = []
        self.md_rejects: list[tuple[str | None, MarketDataReject]] = []
        self.core = VenueSession(
            V, self.transport, now_ns=lambda: 42, defer=self.deferred.append, dedup_window=window
        )
        self.core.connect(self.events.append)
        self.core.on_session(self.sessions.append)
        self.core.on_md_reject(lambda s, r: self.md_rejects.append((s, r)))

    def run_deferred(self) -> None:
        while self.deferred:
            self.deferred.pop(0)()


def _report(exec_id: str, cl: str = "c1", *, possdup: bool = False, cum: int = 100) -> fix.Message:
    r = ExecutionReport(
        exec_id, cl, None, "V1", ExecType.TRADE, OrdStatus.FILLED, "XYZ", Side.BUY, 100,
        1_000_000, 100, 1_000_000, cum, 0, 1_000_000.0, 5, 5,
    )  # fmt: skip
    m = encode_execution_report(r, V)
    if possdup:
        m.getHeader().setField(43, "Y")
    return m


def _rig_on() -> Rig:
    rig = Rig()
    rig.core.on_logon(1)
    return rig


# --- dedup ---------------------------------------------------------------------------------------


def test_exec_id_window_when_full_then_oldest_forgotten_first() -> None:
    w = ExecIdWindow(3)
    assert [w.add(k) for k in "abca"] == [True, True, True, False]
    assert w.add("d") and "a" not in w and "b" in w and len(w) == 3
    with pytest.raises(ValueError, match="capacity"):
        ExecIdWindow(0)


def test_report_when_possdup_copy_of_seen_then_dropped_and_counted() -> None:
    rig = _rig_on()
    rig.core.on_message(_report("E1"))
    rig.core.on_message(_report("E1", possdup=True))
    assert [e.exec_id for e in rig.events] == ["E1"]
    assert rig.core.counters.duplicates_dropped == 1


def test_report_when_possdup_but_never_seen_then_delivered() -> None:
    rig = _rig_on()
    rig.core.on_message(_report("E9", possdup=True))  # a resend of something we missed
    assert [(e.exec_id, e.possible_duplicate) for e in rig.events] == [("E9", True)]


def test_report_when_exec_id_seen_without_possdup_then_delivered_and_counted() -> None:
    rig = _rig_on()
    rig.core.on_message(_report("E1"))
    rig.core.on_message(_report("E1", cum=100))
    assert len(rig.events) == 2 and rig.core.counters.exec_ids_reused == 1


def test_report_when_same_exec_id_on_another_order_then_not_a_duplicate() -> None:
    rig = _rig_on()
    rig.core.on_message(_report("0", "c1"))  # venues may use one ExecID for status answers
    rig.core.on_message(_report("0", "c2", possdup=True))
    assert [e.cl_ord_id for e in rig.events] == ["c1", "c2"]


def test_report_when_window_forgot_the_id_then_possdup_copy_delivered_again() -> None:
    rig = Rig(window=2)
    rig.core.on_logon(1)
    for exec_id in ("E1", "E2", "E3"):
        rig.core.on_message(_report(exec_id))
    rig.core.on_message(_report("E1", possdup=True))
    assert [e.exec_id for e in rig.events] == ["E1", "E2", "E3", "E1"]  # bounded memory


def test_cancel_reject_when_resent_then_delivered_once() -> None:
    rig = _rig_on()
    rej = CancelReject("k2", "k1", None, None, "cancel", "unknown order", 5, 5)
    for possdup in (False, True):
        m = encode_cancel_reject(rej, V)
        if possdup:
            m.getHeader().setField(43, "Y")
        rig.core.on_message(m)
    assert [type(e) for e in rig.events] == [CancelReject]


def test_message_when_undecodable_then_counted_logged_and_next_one_delivered() -> None:
    rig = _rig_on()
    broken = _report("E1")
    broken.removeField(17)  # no ExecID
    rig.core.on_message(broken)
    rig.core.on_message(_report("E2"))
    assert [e.exec_id for e in rig.events] == ["E2"]
    assert rig.core.counters.decode_errors == 1
    assert rig.core.counters.messages_in == {"8": 2}


# --- instructions while the session is down -------------------------------------------------------


def test_submit_when_logged_out_then_rejected_later_and_nothing_sent() -> None:
    rig = Rig()
    rig.core.submit(ORDER)
    assert rig.events == [] and rig.transport.sent == []  # never re-entrant
    rig.run_deferred()
    (rej,) = rig.events
    assert (rej.cl_ord_id, rej.exec_type, rej.ord_status, rej.text, rej.ts_event) == (
        "c1", ExecType.REJECTED, OrdStatus.REJECTED, NOT_LOGGED_ON, 42)  # fmt: skip
    assert rig.core.counters.not_sent == 1 and rig.core.counters.messages_out == {}


def test_cancel_and_replace_when_logged_out_then_cancel_rejects_name_the_request() -> None:
    rig = Rig()
    rig.core.cancel(CancelOrder("k2", "k1", "XYZ", Side.BUY, 7))
    rig.core.replace(ReplaceOrder("k3", "k1", "XYZ", Side.BUY, 50, None, 7))
    rig.run_deferred()
    assert [(e.cl_ord_id, e.orig_cl_ord_id, e.response_to, e.reason) for e in rig.events] == [
        ("k2", "k1", "cancel", NOT_LOGGED_ON),
        ("k3", "k1", "replace", NOT_LOGGED_ON),
    ]


def test_status_request_when_logged_out_then_nothing_made_up() -> None:
    rig = Rig()
    rig.core.request_status(StatusRequest("c1", "XYZ", Side.BUY, 7))
    rig.run_deferred()
    assert rig.events == [] and rig.core.counters.not_sent == 1


def test_submit_when_transport_refuses_then_rejected_as_not_sent() -> None:
    rig = _rig_on()
    rig.transport.refuse = True
    rig.core.submit(ORDER)
    rig.run_deferred()
    assert [(e.exec_type, e.text) for e in rig.events] == [(ExecType.REJECTED, NOT_SENT)]


def test_submit_when_not_connected_then_misuse_raises() -> None:
    core = VenueSession(V, Transport(), now_ns=lambda: 0, defer=lambda fn: None)
    with pytest.raises(RuntimeError, match="connect"):
        core.submit(ORDER)


# --- rejects of what we sent --------------------------------------------------------------------


def test_session_reject_when_it_names_our_order_then_order_reported_rejected() -> None:
    rig = _rig_on()
    rig.core.submit(ORDER)  # MsgSeqNum 1
    reject = new_message(V, "3")
    for tag, value in ((45, "1"), (371, "11"), (373, "4"), (58, "Tag specified without a value")):
        reject.setField(tag, value)
    rig.core.on_message(reject)
    (rej,) = rig.events
    assert (rej.cl_ord_id, rej.exec_type) == ("c1", ExecType.REJECTED)
    assert rej.text == "session reject by venue: Tag specified without a value (tag 11)"
    assert rig.core.counters.session_rejects == 1


def test_business_reject_when_found_by_ref_id_then_cancel_rejected() -> None:
    rig = _rig_on()
    rig.core.cancel(CancelOrder("k2", "k1", "XYZ", Side.BUY, 7))
    reject = new_message(V, "j")
    for tag, value in ((372, "F"), (379, "k2"), (380, "4"), (58, "application not available")):
        reject.setField(tag, value)
    rig.core.on_message(reject)
    assert [(e.cl_ord_id, e.response_to) for e in rig.events] == [("k2", "cancel")]
    assert "application not available" in rig.events[0].reason


# --- gap-filled instead of resent -------------------------------------------------------------


def test_not_resent_when_new_order_then_status_asked_and_cancel_then_rejected() -> None:
    rig = _rig_on()
    rig.core.submit(ORDER)  # 1
    rig.core.cancel(CancelOrder("k2", "c1", "XYZ", Side.BUY, 7))  # 2
    rig.core.on_not_resent(1, "c1")
    rig.core.on_not_resent(2, "k2")
    rig.core.on_not_resent(2, "k2")  # answered once
    assert rig.transport.types() == ["D", "F", "H"]
    assert get_field(rig.transport.sent[2], 11) == "c1"
    assert [(e.cl_ord_id, e.reason) for e in rig.events] == [("k2", NOT_RESENT)]


def test_logon_when_sequence_numbers_reset_then_old_references_forgotten() -> None:
    rig = _rig_on()
    rig.core.submit(ORDER)  # 1
    rig.core.on_logout()
    rig.core.on_logon(1)  # the counterparty reset: 1 will name another message
    rig.core.on_not_resent(1, "c1")
    assert rig.transport.types() == ["D"]


def test_session_hooks_when_failed_logon_then_no_false_alarm() -> None:
    rig = Rig()
    rig.core.on_logout()  # QuickFIX reports a logon attempt that failed as a logout
    rig.core.on_logon(1)
    rig.core.on_logout()
    assert rig.sessions == [True, False]
    assert (rig.core.counters.logons, rig.core.counters.logouts) == (1, 1)


# --- market data ----------------------------------------------------------------------------------


def _snap(req_id: str | None, bid: int = 999_900) -> fix.Message:
    return encode_snapshot(BookSnapshot("XYZ", ((bid, 100),), (), 5, 5), V, md_req_id=req_id)


def _trade(req_id: str | None, trade_id: str = "T1") -> fix.Message:
    return encode_incremental(
        [Trade("XYZ", 999_900, 10, None, trade_id, 5, 5)], V, md_req_id=req_id
    )


def _md_requests(rig: Rig) -> list[tuple[str, str]]:
    return [
        (get_field(m, 262) or "", get_field(m, 263) or "")
        for m in rig.transport.sent
        if msg_type(m) == "V"
    ]


def test_subscribe_when_logged_out_then_requested_at_logon_and_snapshot_comes_first() -> None:
    rig, sink = Rig(), []
    rig.core.subscribe("XYZ", sink.append)
    assert rig.transport.sent == []
    rig.core.on_logon(1)
    ((req_id, kind),) = _md_requests(rig)
    assert kind == "1" and get_field(rig.transport.sent[0], 264) == "0"
    rig.core.on_message(_trade(req_id, "early"))  # before the snapshot: not for this sink
    rig.core.on_message(_snap(req_id))
    rig.core.on_message(_trade(req_id, "T2"))
    assert [type(e).__name__ for e in sink] == ["BookSnapshot", "Trade"]
    assert sink[1].trade_id == "T2"


def test_relogon_when_subscribed_then_new_request_and_stale_updates_dropped() -> None:
    rig, sink = _rig_on(), []
    rig.core.subscribe("XYZ", sink.append)
    ((old, _),) = _md_requests(rig)
    rig.core.on_message(_snap(old))
    rig.core.on_logout()
    rig.core.on_logon(5)
    (_, (new, kind)) = _md_requests(rig)
    assert new != old and kind == "1"
    rig.core.on_message(_trade(old, "stale"))
    rig.core.on_message(_snap(new, bid=999_800))
    assert [type(e).__name__ for e in sink] == ["BookSnapshot", "BookSnapshot"]
    assert sink[1].bids == ((999_800, 100),)
    assert rig.core.counters.stale_md_dropped == 1


def test_second_sink_when_symbol_flowing_then_own_snapshot_only_request() -> None:
    rig, first, second = _rig_on(), [], []
    rig.core.subscribe("XYZ", first.append)
    ((live, _),) = _md_requests(rig)
    rig.core.on_message(_snap(live))
    rig.core.subscribe("XYZ", second.append)
    (_, (once, kind)) = _md_requests(rig)
    assert kind == "0"
    rig.core.on_message(_trade(live, "T1"))  # before its snapshot: the first sink only
    rig.core.on_message(_snap(once, bid=999_800))
    rig.core.on_message(_trade(live, "T2"))
    assert [type(e).__name__ for e in first] == ["BookSnapshot", "Trade", "Trade"]
    assert [type(e).__name__ for e in second] == ["BookSnapshot", "Trade"]
    assert second[0].bids == ((999_800, 100),)


def test_unsubscribe_when_last_sink_goes_then_venue_told_once() -> None:
    rig, a, b = _rig_on(), [], []
    rig.core.subscribe("XYZ", a.append)
    rig.core.subscribe("XYZ", b.append)
    live = _md_requests(rig)[0][0]
    rig.core.unsubscribe("XYZ", a.append)
    assert len(_md_requests(rig)) == 1
    rig.core.unsubscribe("XYZ", b.append)
    assert _md_requests(rig)[-1] == (live, "2")
    rig.core.on_message(_trade(live))
    assert a == b == []


def test_md_reject_when_subscription_refused_then_hook_told_and_nothing_to_unsubscribe() -> None:
    rig, sink = _rig_on(), []
    rig.core.subscribe("NOPE", sink.append)
    ((req_id, _),) = _md_requests(rig)
    rig.core.on_message(encode_md_reject(MarketDataReject(req_id, "0", "unknown symbol"), V))
    assert [(s, r.reason_code) for s, r in rig.md_rejects] == [("NOPE", "0")]
    rig.core.unsubscribe("NOPE", sink.append)
    assert len(_md_requests(rig)) == 1  # the venue holds no subscription to cancel


def test_freshness_when_session_drops_and_resyncs_then_told_in_order() -> None:
    rig, sink, order = _rig_on(), [], []
    rig.core.on_session(lambda up: order.append(("session", up)))
    rig.core.on_stale(lambda sym, stale: order.append((sym, stale, len(sink))))
    rig.core.subscribe("XYZ", sink.append)
    assert rig.core.is_stale("XYZ") and rig.core.is_stale("ABC")
    ((first, _),) = _md_requests(rig)
    rig.core.on_message(_snap(first))
    rig.core.on_message(_snap(first))  # a refresh of fresh data: no transition
    assert not rig.core.is_stale("XYZ")
    rig.core.on_logout()
    rig.core.on_logout()  # heard twice: told once
    rig.core.on_logon(9)
    (_, (second, _)) = _md_requests(rig)
    rig.core.on_message(_snap(second))
    # Fresh is told after the snapshot reached the sinks; stale after the session hook.
    assert order == [
        ("XYZ", False, 1),
        ("session", False),
        ("XYZ", True, 2),
        ("session", True),
        ("XYZ", False, 3),
    ]


def test_freshness_when_live_subscription_refused_then_stale() -> None:
    rig, sink, told = _rig_on(), [], []
    rig.core.on_stale(lambda sym, stale: told.append((sym, stale)))
    rig.core.subscribe("XYZ", sink.append)
    ((req_id, _),) = _md_requests(rig)
    rig.core.on_message(_snap(req_id))
    rig.core.on_message(encode_md_reject(MarketDataReject(req_id, "0", "no longer"), V))
    assert told == [("XYZ", False), ("XYZ", True)] and rig.core.is_stale("XYZ")


def test_freshness_when_we_log_out_on_purpose_then_no_stale_alarm() -> None:
    rig, sink, told = _rig_on(), [], []
    rig.core.on_stale(lambda sym, stale: told.append((sym, stale)))
    rig.core.subscribe("XYZ", sink.append)
    ((req_id, _),) = _md_requests(rig)
    rig.core.on_message(_snap(req_id))
    rig.core.closing = True
    rig.core.on_logout()
    assert told == [("XYZ", False)] and rig.sessions == [True, False]
