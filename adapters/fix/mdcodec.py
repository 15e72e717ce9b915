"""Market data over FIX 4.2 and 4.4: V, W, X, Y and SecurityStatus (f) <-> domain values.

Pure, like :mod:`adapters.fix.codec`.

================================  ===========================================================
message                           content
================================  ===========================================================
MarketDataRequest (V)             MDReqID (262), SubscriptionRequestType (263: 0 snapshot,
                                  1 snapshot + updates, 2 unsubscribe), MarketDepth (264,
                                  0 = full book), MDUpdateType (265, 1 incremental), the
                                  MDEntryType (269) group (0 bid, 1 offer, 2 trade) and the
                                  Symbol group (146/55)
MarketDataSnapshotFullRefresh (W) one per symbol: bids then offers, best first, each with
                                  MDEntryPx (270), MDEntrySize (271), MDEntryPositionNo
                                  (290, level 1 = best), MDEntryDate/Time (272/273)
MarketDataIncrementalRefresh (X)  entries with MDUpdateAction (279: 0 new, 1 change,
                                  2 delete), MDEntryType, Symbol, MDEntryPx, MDEntrySize
                                  (absent on delete); trades are "new" entries of type 2 with
                                  the venue's trade id in MDEntryID (278)
MarketDataRequestReject (Y)       MDReqRejReason (281) and Text (58)
SecurityStatus (f)                SecurityTradingStatus (326: 2 halt, 3 resume),
                                  UnsolicitedIndicator (325), TransactTime, Text (4.4 only)
================================  ===========================================================

FIX 4.2/4.4 market data has no aggressor side, so trades decode with ``aggressor=None`` (the
WebSocket feed carries it). A book level's size in X is the new aggregate displayed size.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from types import ModuleType

import quickfix as fix
import quickfix42 as fix42
import quickfix44 as fix44

from adapters.fix.wire import (
    FixDecodeError,
    FixVersion,
    date_time_from_fix,
    date_time_to_fix,
    get_field,
    new_message,
    price_from_fix,
    price_to_fix,
    qty_from_fix,
    require_field,
    set_field,
    ts_from_fix,
    ts_to_fix,
    version_of,
)
from engine.events import BookSnapshot, BookUpdate, Side, Trade, TradingState, TradingStatus

__all__ = [
    "LevelChange",
    "MDEntryType",
    "MarketDataReject",
    "MarketDataRequest",
    "SubscriptionType",
    "UpdateAction",
    "decode_incremental",
    "decode_md_reject",
    "decode_md_request",
    "decode_security_status",
    "decode_snapshot",
    "encode_incremental",
    "encode_md_reject",
    "encode_md_request",
    "encode_security_status",
    "encode_snapshot",
]


class SubscriptionType(enum.StrEnum):
    SNAPSHOT = "0"
    SUBSCRIBE = "1"
    UNSUBSCRIBE = "2"


class MDEntryType(enum.StrEnum):
    BID = "0"
    OFFER = "1"
    TRADE = "2"


class UpdateAction(enum.StrEnum):
    NEW = "0"
    CHANGE = "1"
    DELETE = "2"


# MDReqRejReason (281) codes used here.
REJ_UNKNOWN_SYMBOL = "0"
REJ_DUPLICATE_ID = "1"
REJ_SUBSCRIPTION_TYPE = "4"
REJ_DEPTH = "5"
REJ_UPDATE_TYPE = "6"
REJ_ENTRY_TYPE = "8"

_SIDE_ENTRY = {Side.BUY: MDEntryType.BID, Side.SELL: MDEntryType.OFFER}
_ENTRY_SIDE = {v: k for k, v in _SIDE_ENTRY.items()}
_HALT, _RESUME, _READY = "2", "3", "17"
_ACTIONS = frozenset(a.value for a in UpdateAction)
_KINDS = frozenset(k.value for k in MDEntryType)


@dataclass(frozen=True, slots=True)
class MarketDataRequest:
    """A decoded MarketDataRequest (V). ``depth`` 0 is the full book."""

    md_req_id: str
    subscription: SubscriptionType
    depth: int
    entry_types: tuple[MDEntryType, ...]
    symbols: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class LevelChange:
    """One incremental book entry: ``update.size`` is the level's new displayed size."""

    action: UpdateAction
    update: BookUpdate


@dataclass(frozen=True, slots=True)
class MarketDataReject:
    """A MarketDataRequestReject (Y)."""

    md_req_id: str
    reason_code: str | None
    text: str


def _groups(version: FixVersion) -> ModuleType:
    return fix42 if version is FixVersion.FIX42 else fix44


def _read_groups(msg: fix.Message, count_tag: int, delim: int) -> list[fix.Group]:
    out = []
    for i in range(1, msg.groupCount(count_tag) + 1):
        g = fix.Group(count_tag, delim)
        msg.getGroup(i, g)
        out.append(g)
    return out


def _entry_time(g: fix.Group, version: FixVersion, ts_ns: int) -> None:
    date, tod = date_time_to_fix(ts_ns, version)
    g.setField(272, date)
    g.setField(273, tod)


def _read_entry_time(g: fix.Group, default: int) -> int:
    date, tod = get_field(g, 272), get_field(g, 273)
    return default if date is None or tod is None else date_time_from_fix(date, tod)


# --- V -------------------------------------------------------------------------------------------


def encode_md_request(req: MarketDataRequest, version: FixVersion) -> fix.Message:
    m = new_message(version, "V")
    m.setField(262, req.md_req_id)
    m.setField(263, req.subscription.value)
    m.setField(264, str(req.depth))
    if req.subscription is SubscriptionType.SUBSCRIBE:
        m.setField(265, "1")
    types = _groups(version).MarketDataRequest.NoMDEntryTypes()
    for t in req.entry_types:
        types.setField(269, t.value)
        m.addGroup(types)
    syms = _groups(version).MarketDataRequest.NoRelatedSym()
    for s in req.symbols:
        syms.setField(55, s)
        m.addGroup(syms)
    return m


def decode_md_request(msg: fix.Message) -> MarketDataRequest:
    """MarketDataRequest (V); a :class:`FixDecodeError`'s ``code`` is the MDReqRejReason."""
    req_id = require_field(msg, 262, "MDReqID")
    try:
        kind = SubscriptionType(require_field(msg, 263, "SubscriptionRequestType"))
    except ValueError:
        raise FixDecodeError(
            "SubscriptionRequestType (263) must be 0, 1 or 2",
            tag=263,
            code=int(REJ_SUBSCRIPTION_TYPE),
        ) from None
    depth = int(require_field(msg, 264, "MarketDepth"))
    if depth < 0:
        raise FixDecodeError(
            f"MarketDepth (264) must be >= 0 (0 = full book), got {depth}",
            tag=264,
            code=int(REJ_DEPTH),
        )
    if kind is SubscriptionType.SUBSCRIBE and get_field(msg, 265) == "0":
        raise FixDecodeError(
            "MDUpdateType (265) 0 (full refresh) is not offered: use 1 (incremental)",
            tag=265,
            code=int(REJ_UPDATE_TYPE),
        )
    types: list[MDEntryType] = []
    for g in _read_groups(msg, 267, 269):
        code = require_field(g, 269, "MDEntryType")
        try:
            types.append(MDEntryType(code))
        except ValueError:
            raise FixDecodeError(
                f"MDEntryType (269) {code!r} is not offered: use 0 (bid), 1 (offer), 2 (trade)",
                tag=269,
                code=int(REJ_ENTRY_TYPE),
            ) from None
    symbols = tuple(require_field(g, 55, "Symbol") for g in _read_groups(msg, 146, 55))
    if kind is not SubscriptionType.UNSUBSCRIBE and (not types or not symbols):
        raise FixDecodeError("a request needs at least one MDEntryType and one Symbol", tag=146)
    return MarketDataRequest(req_id, kind, depth, tuple(dict.fromkeys(types)), symbols)


# --- W ---------------------------------------------------------------------------------------


def encode_snapshot(
    snap: BookSnapshot,
    version: FixVersion,
    *,
    md_req_id: str | None,
    entry_types: Sequence[MDEntryType] = (MDEntryType.BID, MDEntryType.OFFER),
) -> fix.Message:
    """MarketDataSnapshotFullRefresh (W) of the displayed levels in ``snap``."""
    m = new_message(version, "W")
    set_field(m, 262, md_req_id)
    m.setField(55, snap.symbol)
    n = 0
    for entry, levels in ((MDEntryType.BID, snap.bids), (MDEntryType.OFFER, snap.asks)):
        if entry not in entry_types:
            continue
        for pos, (price, size) in enumerate(levels, start=1):
            g = _groups(version).MarketDataSnapshotFullRefresh.NoMDEntries()
            g.setField(269, entry.value)
            g.setField(270, price_to_fix(price))
            g.setField(271, str(size))
            _entry_time(g, version, snap.ts_event)
            g.setField(290, str(pos))
            m.addGroup(g)
            n += 1
    if n == 0:
        m.setField(268, "0")
    return m


def decode_snapshot(msg: fix.Message, ts_init: int) -> BookSnapshot:
    bids: list[tuple[int, int]] = []
    asks: list[tuple[int, int]] = []
    ts = None
    for g in _read_groups(msg, 268, 269):
        kind = require_field(g, 269, "MDEntryType")
        if kind not in (MDEntryType.BID, MDEntryType.OFFER):
            continue
        level = (
            price_from_fix(require_field(g, 270, "MDEntryPx"), tag=270, name="MDEntryPx"),
            qty_from_fix(require_field(g, 271, "MDEntrySize"), tag=271, name="MDEntrySize"),
        )
        (bids if kind == MDEntryType.BID else asks).append(level)
        if ts is None:
            ts = _read_entry_time(g, ts_init)
    symbol = require_field(msg, 55, "Symbol")
    return BookSnapshot(symbol, tuple(bids), tuple(asks), ts_init if ts is None else ts, ts_init)


# --- X ---------------------------------------------------------------------------------------


def encode_incremental(
    items: Sequence[LevelChange | Trade], version: FixVersion, *, md_req_id: str | None
) -> fix.Message:
    """MarketDataIncrementalRefresh (X): book level changes and trades, in the given order."""
    m = new_message(version, "X")
    set_field(m, 262, md_req_id)
    for item in items:
        g = _groups(version).MarketDataIncrementalRefresh.NoMDEntries()
        if isinstance(item, Trade):
            g.setField(279, UpdateAction.NEW.value)
            g.setField(269, MDEntryType.TRADE.value)
            g.setField(278, item.trade_id)
            g.setField(55, item.symbol)
            g.setField(270, price_to_fix(item.price))
            g.setField(271, str(item.size))
            _entry_time(g, version, item.ts_event)
        else:
            u = item.update
            g.setField(279, item.action.value)
            g.setField(269, _SIDE_ENTRY[u.side].value)
            g.setField(55, u.symbol)
            g.setField(270, price_to_fix(u.price))
            if item.action is not UpdateAction.DELETE:
                g.setField(271, str(u.size))
            _entry_time(g, version, u.ts_event)
        m.addGroup(g)
    return m


def decode_incremental(msg: fix.Message, ts_init: int) -> tuple[BookUpdate | Trade, ...]:
    """X -> domain events: a deleted level is a BookUpdate of size 0; trades have no aggressor.

    Entries of other types (index values, opening prices, ...) are skipped.
    """
    out: list[BookUpdate | Trade] = []
    for g in _read_groups(msg, 268, 279):
        action_code = require_field(g, 279, "MDUpdateAction")
        kind_code = require_field(g, 269, "MDEntryType")
        if action_code not in _ACTIONS or kind_code not in _KINDS:
            continue  # entries this model has no event for (e.g. index values, overlays)
        action, kind = UpdateAction(action_code), MDEntryType(kind_code)
        symbol = require_field(g, 55, "Symbol")
        price = price_from_fix(require_field(g, 270, "MDEntryPx"), tag=270, name="MDEntryPx")
        size_text = get_field(g, 271)
        size = 0 if size_text is None else qty_from_fix(size_text, tag=271, name="MDEntrySize")
        ts = _read_entry_time(g, ts_init)
        if kind is MDEntryType.TRADE:
            out.append(Trade(symbol, price, size, None, get_field(g, 278) or "", ts, ts_init))
        else:
            size = 0 if action is UpdateAction.DELETE else size
            out.append(BookUpdate(symbol, _ENTRY_SIDE[kind], price, size, ts, ts_init))
    return tuple(out)


# --- Y and f ---------------------------------------------------------------------------------


def encode_md_reject(rej: MarketDataReject, version: FixVersion) -> fix.Message:
    m = new_message(version, "Y")
    m.setField(262, rej.md_req_id)
    set_field(m, 281, rej.reason_code)
    m.setField(58, rej.text)
    return m


def decode_md_reject(msg: fix.Message) -> MarketDataReject:
    return MarketDataReject(
        require_field(msg, 262, "MDReqID"), get_field(msg, 281), get_field(msg, 58) or ""
    )


def encode_security_status(
    status: TradingStatus, version: FixVersion, *, solicited: bool = False
) -> fix.Message:
    """SecurityStatus (f); the reason goes in Text (58), which only 4.4 has.

    Unsolicited (325=Y) it announces a halt (326=2) or a resume (3); ``solicited`` (325=N), the
    answer to a subscription, it states the symbol's state: halted (2) or ready to trade (17).
    """
    m = new_message(version, "f")
    m.setField(55, status.symbol)
    m.setField(325, "N" if solicited else "Y")
    trading = _READY if solicited else _RESUME
    m.setField(326, _HALT if status.state is TradingState.HALTED else trading)
    m.setField(60, ts_to_fix(status.ts_event, version))
    if version is FixVersion.FIX44 and status.reason:
        m.setField(58, status.reason)
    return m


def decode_security_status(msg: fix.Message, ts_init: int) -> TradingStatus:
    code = require_field(msg, 326, "SecurityTradingStatus")
    if code == _HALT:
        state = TradingState.HALTED
    elif code in (_RESUME, _READY):
        state = TradingState.TRADING
    else:
        raise FixDecodeError(f"SecurityTradingStatus (326) {code!r} is not a halt or resume")
    stamp = get_field(msg, 60)
    ts = ts_init if stamp is None else ts_from_fix(stamp)
    reason = get_field(msg, 58) if version_of(msg) is FixVersion.FIX44 else None
    return TradingStatus(require_field(msg, 55, "Symbol"), state, reason or "", ts, ts_init)
