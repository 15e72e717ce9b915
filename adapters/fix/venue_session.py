"""The venue adapter's core: domain instructions out as FIX, FIX in as deduplicated domain events.

Sans-I/O and single-threaded: :class:`VenueSession` never touches a socket, a QuickFIX engine
or a clock of its own. Its shell (:mod:`adapters.fix.venue_client`) calls it on the asyncio
loop thread with message copies and session events, and gives it a :class:`Transport` (QuickFIX
``sendToTarget``), a ``now_ns`` function and ``defer`` (``loop.call_soon``). Unit tests give it
a list and a counter instead.

Guarantees
==========

* **Nothing is believed live that was never sent.** An instruction given while the session is
  down, or that the transport refuses, is answered on the sink (deferred with ``defer``, never
  re-entrantly) by a REJECTED report (new order) or a CancelReject (cancel, replace). A status
  request is not answered: the engine reconciles after the next logon. A session Reject (35=3)
  or BusinessMessageReject (j) of an instruction we sent is turned into the same answer, found
  by RefSeqNum (45), or by BusinessRejectRefID (379) = ClOrdID.
* **Each venue event once.** ExecutionReports are deduplicated by ExecID over the last
  ``dedup_window`` reports: a PossDupFlag/PossResend report already seen is dropped; an unseen
  one is delivered (and so is a seen one without the flag, with a warning: the venue says it is
  new). The key is (ExecID, ClOrdID): a resent copy repeats both, while venues reuse ExecIDs
  across orders in ways that are legal: one ExecID (often "0") for every status answer, ids
  that restart with the trading day or with a restarted venue. OrderCancelRejects are
  deduplicated by ClOrdID. A message that does not decode is logged and counted, nothing else.
* **A snapshot first, after every (re)subscription.** One live subscription (263=1) per symbol,
  re-requested with a fresh MDReqID at every logon (a venue forgets subscriptions with the
  session). Each sink waits, receiving nothing, until a snapshot of its subscription arrives;
  a sink joining a symbol already flowing gets a snapshot-only request (263=0) of its own.
  Incremental messages naming an MDReqID of an earlier logon are stale and dropped.
* **Freshness reported.** A symbol's data is fresh from its live subscription's snapshot until
  the session drops (or the venue refuses or forgets the subscription); ``on_stale`` hooks hear
  each change, after the session hooks on a logout (the engine must know the session is gone
  before it reacts to blind data). While the session is up the venue pushes every change and
  QuickFIX's heartbeats catch a silent venue, so silence alone is not staleness here.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import quickfix as fix
import structlog

from adapters.fix.codec import (
    BusinessReject,
    SessionReject,
    decode_business_reject,
    decode_cancel_reject,
    decode_execution_report,
    decode_session_reject,
    encode_cancel,
    encode_new_order,
    encode_replace,
    encode_status_request,
)
from adapters.fix.mdcodec import (
    MarketDataReject,
    MarketDataRequest,
    MDEntryType,
    SubscriptionType,
    decode_incremental,
    decode_md_reject,
    decode_security_status,
    decode_snapshot,
    encode_md_request,
)
from adapters.fix.wire import FixVersion, get_field, msg_type
from engine.events import (
    BookSnapshot,
    BookUpdate,
    CancelOrder,
    CancelReject,
    ExecutionReport,
    MarketEvent,
    NewOrder,
    ReplaceOrder,
    StatusRequest,
    Trade,
    TradingStatus,
    VenueEvent,
    VenueInstruction,
    rejected_new_order,
)

__all__ = [
    "NOT_LOGGED_ON",
    "NOT_RESENT",
    "NOT_SENT",
    "ExecIdWindow",
    "SessionReject",
    "Transport",
    "VenueCounters",
    "VenueSession",
]

log = structlog.get_logger("unwind.venue")

NOT_LOGGED_ON = "venue session not logged on"
NOT_SENT = "venue session did not send the message"
NOT_RESENT = "not resent after a sequence gap: the venue did not receive it"
_ENTRY_TYPES = (MDEntryType.BID, MDEntryType.OFFER, MDEntryType.TRADE)
_SENT_MEMORY = 10_000  # instructions remembered by MsgSeqNum, to map rejects back to them

VenueSink = Callable[[VenueEvent], None]
MarketSink = Callable[[MarketEvent], None]
Sent = VenueInstruction | MarketDataRequest


class Transport(Protocol):
    """Where the core's FIX messages go (QuickFIX in the shell, a list in unit tests)."""

    def send(self, message: fix.Message) -> int | None:
        """Send ``message``; return its MsgSeqNum, or ``None`` if it was not sent."""
        ...


@dataclass(slots=True)
class VenueCounters:
    """Plain counts for observability (metrics wiring reads these)."""

    messages_in: dict[str, int] = field(default_factory=dict)  # by MsgType
    messages_out: dict[str, int] = field(default_factory=dict)  # by MsgType, actually sent
    not_sent: int = 0  # instructions answered locally: session down or transport refused
    session_rejects: int = 0  # Reject (35=3) received
    business_rejects: int = 0  # BusinessMessageReject (j) received
    duplicates_dropped: int = 0  # possible-duplicate reports already delivered
    exec_ids_reused: int = 0  # a seen ExecID without PossDupFlag (delivered; venue's doing)
    decode_errors: int = 0  # messages that did not decode (logged, dropped)
    md_rejects: int = 0  # MarketDataRequestReject (Y) received
    stale_md_dropped: int = 0  # market data of a subscription from an earlier logon
    logons: int = 0
    logouts: int = 0


class ExecIdWindow:
    """The last ``capacity`` keys seen: a set for lookup, a deque for the order to forget in."""

    def __init__(self, capacity: int) -> None:
        if capacity <= 0:
            raise ValueError(f"capacity must be > 0, got {capacity}")
        self._capacity = capacity
        self._keys: set[str] = set()
        self._order: deque[str] = deque()

    def __contains__(self, key: object) -> bool:
        return key in self._keys

    def __len__(self) -> int:
        return len(self._keys)

    def add(self, key: str) -> bool:
        """Remember ``key``; return False if it was already remembered."""
        if key in self._keys:
            return False
        self._keys.add(key)
        self._order.append(key)
        if len(self._order) > self._capacity:
            self._keys.discard(self._order.popleft())
        return True


def _ref_of(item: Sent) -> str:
    return item.md_req_id if isinstance(item, MarketDataRequest) else item.cl_ord_id


@dataclass(slots=True)
class _Feed:
    """One symbol's subscription and its sinks (see the module docstring)."""

    symbol: str
    live: list[MarketSink] = field(default_factory=list)  # have had their snapshot
    pending: list[MarketSink] = field(default_factory=list)  # waiting for one
    req_id: str | None = None  # the live subscription's MDReqID in this logon
    synced: bool = False  # its first snapshot has arrived


class VenueSession:
    """One FIX venue session seen from the engine (module docstring). Loop thread only."""

    def __init__(
        self,
        version: FixVersion,
        transport: Transport,
        *,
        now_ns: Callable[[], int],
        defer: Callable[[Callable[[], None]], Any],
        md_depth: int = 0,
        dedup_window: int = 100_000,
        id_prefix: str = "UNWIND",
        name: str = "",
    ) -> None:
        self.version = version
        self.counters = VenueCounters()
        self.logged_on = False
        self.closing = False  # set by the shell when it logs out on purpose
        self._transport = transport
        self._now = now_ns
        self._defer = defer
        self._depth = md_depth
        self._seen = ExecIdWindow(dedup_window)
        self._prefix = id_prefix
        self._ids = itertools.count(1)
        self._log = log.bind(session=name or version.value)
        self._sink: VenueSink | None = None
        self._session_hooks: list[Callable[[bool], None]] = []
        self._md_reject_hooks: list[Callable[[str | None, MarketDataReject], None]] = []
        self._stale_hooks: list[Callable[[str, bool], None]] = []
        self._sent: OrderedDict[int, Sent] = OrderedDict()
        self._feeds: dict[str, _Feed] = {}
        self._md_ids: dict[str, str] = {}  # MDReqID -> symbol, requests of this logon
        self._decoders: dict[str, tuple[Callable[..., Any], Callable[[Any], None]]] = {
            "8": (decode_execution_report, self._on_report),
            "9": (decode_cancel_reject, self._on_cancel_reject),
            "j": (lambda m, _ts: decode_business_reject(m), self._on_business_reject),
            "3": (lambda m, _ts: decode_session_reject(m), self._on_session_reject),
            "W": (lambda m, ts: (get_field(m, 262), decode_snapshot(m, ts)), self._on_snapshot),
            "X": (lambda m, ts: (get_field(m, 262), decode_incremental(m, ts)), self._on_update),
            "Y": (lambda m, _ts: decode_md_reject(m), self._on_md_reject),
            "f": (decode_security_status, self._on_trading_status),
        }

    # --- hooks ---------------------------------------------------------------------------------

    def connect(self, sink: VenueSink) -> None:
        self._sink = sink

    @property
    def connected(self) -> bool:
        """Whether a sink receives venue events (instructions need one)."""
        return self._sink is not None

    def on_session(self, hook: Callable[[bool], None]) -> None:
        """Call ``hook(True)`` at each logon and ``hook(False)`` at each logout or drop."""
        self._session_hooks.append(hook)

    def on_md_reject(self, hook: Callable[[str | None, MarketDataReject], None]) -> None:
        """Call ``hook(symbol, reject)`` when the venue refuses a market-data request."""
        self._md_reject_hooks.append(hook)

    def on_stale(self, hook: Callable[[str, bool], None]) -> None:
        """Call ``hook(symbol, stale)`` each time a symbol's data turns stale or fresh again
        (module docstring)."""
        self._stale_hooks.append(hook)

    def is_stale(self, symbol: str) -> bool:
        """Whether ``symbol`` has no synced subscription (``True`` for one never subscribed)."""
        feed = self._feeds.get(symbol)
        return feed is None or not feed.synced

    def _tell_stale(self, symbols: list[str], stale: bool) -> None:
        for symbol in symbols:
            for hook in tuple(self._stale_hooks):
                hook(symbol, stale)

    # --- instructions --------------------------------------------------------------------------

    def submit(self, order: NewOrder) -> None:
        self._instruct(order, encode_new_order(order, self.version))

    def cancel(self, request: CancelOrder) -> None:
        self._instruct(request, encode_cancel(request, self.version))

    def replace(self, request: ReplaceOrder) -> None:
        self._instruct(request, encode_replace(request, self.version))

    def request_status(self, request: StatusRequest) -> None:
        self._instruct(request, encode_status_request(request, self.version))

    def _instruct(self, instruction: VenueInstruction, message: fix.Message) -> None:
        if self._sink is None:
            raise RuntimeError("connect(sink) before sending instructions")
        if not self.logged_on:
            reason = NOT_LOGGED_ON
        elif self._transmit(instruction, message):
            return
        else:
            reason = NOT_SENT
        self.counters.not_sent += 1
        self._log.warning("instruction not sent", child=instruction.cl_ord_id, reason=reason)
        answer = self._refusal(instruction, reason)
        if answer is not None:
            self._defer(lambda: self._deliver(answer))

    def _transmit(self, item: Sent, message: fix.Message) -> bool:
        if not self.logged_on:
            return False
        seq = self._transport.send(message)
        if seq is None:
            return False
        kind = msg_type(message)
        self.counters.messages_out[kind] = self.counters.messages_out.get(kind, 0) + 1
        self._sent[seq] = item
        if len(self._sent) > _SENT_MEMORY:
            self._sent.popitem(last=False)
        return True

    def _refusal(self, item: Sent, reason: str) -> VenueEvent | None:
        ts = self._now()
        if isinstance(item, NewOrder):
            exec_id = f"{self._prefix}-LOCAL-{next(self._ids)}"
            return rejected_new_order(item, exec_id=exec_id, reason=reason, ts=ts)
        if isinstance(item, CancelOrder | ReplaceOrder):
            kind = "cancel" if isinstance(item, CancelOrder) else "replace"
            return CancelReject(
                item.cl_ord_id, item.orig_cl_ord_id, None, None, kind, reason, ts, ts
            )
        return None  # a status request: the engine asks again after the next logon

    # --- market data ---------------------------------------------------------------------------

    def subscribe(self, symbol: str, sink: MarketSink) -> None:
        feed = self._feeds.get(symbol)
        if feed is None:
            feed = self._feeds[symbol] = _Feed(symbol)
        elif sink in feed.live or sink in feed.pending:
            return
        feed.pending.append(sink)
        if not self.logged_on:
            return  # the next logon subscribes
        if feed.req_id is None:
            self._request_md(feed, SubscriptionType.SUBSCRIBE)
        elif feed.synced:
            self._request_md(feed, SubscriptionType.SNAPSHOT)
        # else: the live subscription's snapshot is on its way and serves this sink too

    def unsubscribe(self, symbol: str, sink: MarketSink) -> None:
        feed = self._feeds.get(symbol)
        if feed is None:
            return
        for sinks in (feed.live, feed.pending):
            if sink in sinks:
                sinks.remove(sink)
        if feed.live or feed.pending:
            return
        del self._feeds[symbol]
        if feed.req_id is not None and self.logged_on:
            self._md_ids.pop(feed.req_id, None)
            req = MarketDataRequest(
                feed.req_id, SubscriptionType.UNSUBSCRIBE, self._depth, _ENTRY_TYPES, (symbol,)
            )
            self._transmit(req, encode_md_request(req, self.version))

    def _request_md(self, feed: _Feed, kind: SubscriptionType) -> None:
        req_id = f"{self._prefix}-MD{next(self._ids)}"
        req = MarketDataRequest(req_id, kind, self._depth, _ENTRY_TYPES, (feed.symbol,))
        if not self._transmit(req, encode_md_request(req, self.version)):
            self._log.warning("market data request not sent", symbol=feed.symbol)
            return  # the next logon asks again
        self._md_ids[req_id] = feed.symbol
        if kind is SubscriptionType.SUBSCRIBE:
            feed.req_id, feed.synced = req_id, False

    # --- session events ------------------------------------------------------------------------

    def on_logon(self, next_sender_seq: int | None = None) -> None:
        """The session logged on; ``next_sender_seq`` is QuickFIX's next outgoing MsgSeqNum."""
        self.logged_on = True
        self.counters.logons += 1
        self._log.info("venue session logged on", next_sender_seq=next_sender_seq)
        # Kept across a reconnect: the venue's ResendRequest may name them (on_not_resent).
        # After a sequence reset the old numbers would name new messages: forget them.
        if self._sent and (
            next_sender_seq is None or next_sender_seq <= next(reversed(self._sent))
        ):
            self._sent.clear()
        self._md_ids.clear()
        lost = [feed.symbol for feed in self._feeds.values() if feed.synced]
        for feed in self._feeds.values():
            self._unsync(feed)
            self._request_md(feed, SubscriptionType.SUBSCRIBE)
        self._tell_stale(lost, True)  # a logon without a logout heard first
        for hook in tuple(self._session_hooks):
            hook(True)

    def on_logout(self) -> None:
        if not self.logged_on:
            return  # QuickFIX also reports a logon attempt that failed: no change to report
        self.logged_on = False
        self.counters.logouts += 1
        if self.closing:
            self._log.info("venue session logged out (stopping)")
        else:
            self._log.warning("venue session logged out")
        self._md_ids.clear()
        lost = [feed.symbol for feed in self._feeds.values() if feed.synced]
        for feed in self._feeds.values():
            self._unsync(feed)
        for hook in tuple(self._session_hooks):
            hook(False)
        if not self.closing:  # stopping: nobody trades on this data any more
            self._tell_stale(lost, True)

    def on_not_resent(self, seq: int, ref: str | None) -> None:
        """The venue asked for message ``seq`` again and it was gap-filled, not resent.

        A ResendRequest means the venue did not process the message. Replaying a stale
        instruction could trade on state the engine no longer holds, so it is answered instead:
        a new order by a fresh status request (the venue's answer is the truth, "unknown order"
        included), a cancel or replace by a CancelReject, a status or market-data request by
        sending it again. ``ref`` is its ClOrdID or MDReqID, checked against what we sent.
        """
        item = self._sent.pop(seq, None)
        if item is None or ref != _ref_of(item):
            return
        if isinstance(item, MarketDataRequest):
            self._log.warning("market data request gap-filled, not resent", seq=seq, ref=ref)
        else:
            self._log.warning("instruction gap-filled, not resent", seq=seq, child=ref)
        if isinstance(item, NewOrder):
            self.request_status(StatusRequest(item.cl_ord_id, item.symbol, item.side, self._now()))
        elif isinstance(item, StatusRequest):
            self.request_status(replace(item, ts_init=self._now()))
        elif isinstance(item, MarketDataRequest):
            self._md_again(item)
        else:
            answer = self._refusal(item, NOT_RESENT)
            if answer is not None:
                self._deliver(answer)

    def _md_again(self, req: MarketDataRequest) -> None:
        if req.subscription is SubscriptionType.UNSUBSCRIBE:
            self._transmit(req, encode_md_request(req, self.version))
            return
        feed = self._feeds.get(req.symbols[0])
        if feed is None or self._md_ids.pop(req.md_req_id, None) is None:
            return  # unsubscribed since, or from an earlier logon (that logon re-requested)
        if req.subscription is SubscriptionType.SUBSCRIBE:
            was_synced = feed.synced
            feed.req_id, feed.synced = None, False
            self._tell_stale([feed.symbol] if was_synced else [], True)
            self._request_md(feed, SubscriptionType.SUBSCRIBE)
        elif feed.pending:
            self._request_md(feed, SubscriptionType.SNAPSHOT)

    @staticmethod
    def _unsync(feed: _Feed) -> None:
        feed.pending[:0] = feed.live
        feed.live.clear()
        feed.req_id, feed.synced = None, False

    # --- inbound -------------------------------------------------------------------------------

    def on_message(self, message: fix.Message) -> None:
        """Decode one message from the venue and deliver what it says."""
        kind = msg_type(message)
        self.counters.messages_in[kind] = self.counters.messages_in.get(kind, 0) + 1
        entry = self._decoders.get(kind)
        if entry is None:
            self._log.debug("venue message ignored", msg_type=kind)
            return
        decode, handle = entry
        try:
            value = decode(message, self._now())
        except (ValueError, fix.FIXException) as e:  # FixDecodeError is a ValueError
            self.counters.decode_errors += 1
            text = message.toString().replace("\x01", "|")
            self._log.error("venue message did not decode", error=str(e), message=text)
            return
        handle(value)

    def _deliver(self, event: VenueEvent) -> None:
        assert self._sink is not None, "connect() comes before any message"
        self._sink(event)

    def _on_report(self, report: ExecutionReport) -> None:
        key = f"{report.exec_id}\x01{report.cl_ord_id}"
        if not self._seen.add(key):
            if report.possible_duplicate:
                self.counters.duplicates_dropped += 1
                self._log.info(
                    "duplicate report dropped", exec_id=report.exec_id, child=report.cl_ord_id
                )
                return
            self.counters.exec_ids_reused += 1
            self._log.warning(
                "venue reused an ExecID without PossDupFlag",
                exec_id=report.exec_id,
                child=report.cl_ord_id,
            )
        self._deliver(report)

    def _on_cancel_reject(self, reject: CancelReject) -> None:
        # Decoding drops the header; a resent 9 is recognised by its ClOrdID, unique per request.
        if not self._seen.add(f"9\x01{reject.cl_ord_id}"):
            self.counters.duplicates_dropped += 1
            return
        self._deliver(reject)

    def _on_session_reject(self, reject: SessionReject) -> None:
        self.counters.session_rejects += 1
        self._log.error(
            "venue session rejected a message",
            ref_seq_num=reject.ref_seq_num, ref_tag=reject.ref_tag, text=reject.text,
        )  # fmt: skip
        text = f"session reject by venue: {reject.text or 'no reason given'}"
        if reject.ref_tag is not None:
            text += f" (tag {reject.ref_tag})"
        self._answer_refused(reject.ref_seq_num, None, text)

    def _on_business_reject(self, reject: BusinessReject) -> None:
        self.counters.business_rejects += 1
        self._log.error(
            "venue refused a message",
            ref_msg_type=reject.ref_msg_type, ref_id=reject.ref_id, text=reject.text,
        )  # fmt: skip
        text = f"business reject by venue: {reject.text or reject.reason_code}"
        self._answer_refused(reject.ref_seq_num, reject.ref_id, text)

    def _answer_refused(self, seq: int | None, ref_id: str | None, text: str) -> None:
        item = None if seq is None else self._sent.pop(seq, None)
        if item is None and ref_id is not None:
            seq = next((s for s, sent in self._sent.items() if _ref_of(sent) == ref_id), None)
            item = None if seq is None else self._sent.pop(seq)
        if isinstance(item, MarketDataRequest):
            self._on_md_reject(MarketDataReject(item.md_req_id, None, text))
            return
        answer = None if item is None else self._refusal(item, text)
        if answer is not None:
            self._deliver(answer)

    def _on_snapshot(self, value: tuple[str | None, BookSnapshot]) -> None:
        req_id, snap = value
        feed = self._feeds.get(snap.symbol)
        if feed is not None and req_id is None:
            req_id = feed.req_id  # MDReqID is optional on W: take it as the live one's
        if feed is None or req_id is None or self._md_ids.get(req_id) != snap.symbol:
            self.counters.stale_md_dropped += 1
            return
        targets = tuple(feed.pending)
        fresh_again = False
        if req_id == feed.req_id:
            fresh_again = not feed.synced
            feed.synced = True
            targets = (*feed.live, *targets)  # a refresh of the live subscription: everyone
        else:
            del self._md_ids[req_id]  # a snapshot-only answer comes once
        feed.live.extend(feed.pending)
        feed.pending.clear()
        for sink in targets:
            sink(snap)
        if fresh_again:  # after the snapshot: fresh data is there when the hook looks
            self._tell_stale([snap.symbol], False)

    def _on_update(self, value: tuple[str | None, tuple[BookUpdate | Trade, ...]]) -> None:
        req_id, events = value
        if req_id is not None and req_id not in self._md_ids:
            self.counters.stale_md_dropped += 1
            return
        for event in events:
            self._publish(event)

    def _on_trading_status(self, status: TradingStatus) -> None:
        self._publish(status)

    def _publish(self, event: MarketEvent) -> None:
        feed = self._feeds.get(event.symbol)
        if feed is not None and feed.synced:  # pending sinks start at their snapshot
            for sink in tuple(feed.live):
                sink(event)

    def _on_md_reject(self, reject: MarketDataReject) -> None:
        self.counters.md_rejects += 1
        symbol = self._md_ids.pop(reject.md_req_id, None)
        feed = None if symbol is None else self._feeds.get(symbol)
        if feed is not None and feed.req_id == reject.md_req_id:
            # Nothing to unsubscribe at the venue; the next subscribe() or logon asks again.
            was_synced = feed.synced
            feed.req_id, feed.synced = None, False
            self._tell_stale([feed.symbol] if was_synced else [], True)
        self._log.error(
            "venue refused a market data request",
            md_req_id=reject.md_req_id, symbol=symbol, code=reject.reason_code, text=reject.text,
        )  # fmt: skip
        for hook in tuple(self._md_reject_hooks):
            hook(symbol, reject)
