"""Order entry over FIX 4.2 and 4.4: domain values <-> ``quickfix.Message``, both directions.

Pure: no sessions, no sockets, no clock (a decoder takes the receive time ``ts_init``). A venue
(the FIX simulator) decodes D/F/G/H and encodes 8/9/j; a client (the engine's venue adapter,
the test kit) does the reverse, with the same functions.

Dialects
========

=================  ==========================================  ===============================
                   FIX 4.2                                     FIX 4.4
=================  ==========================================  ===============================
fill report        ExecTransType 20=0, ExecType 150=1 partial  ExecType 150=F (Trade)
                   / 2 fill
status answer      ExecTransType 20=3, ExecType = OrdStatus    ExecType 150=I, OrdStatusReqID
                                                               (790) echoed
replace ack        ExecType 5, OrdStatus 5 (Replaced) while    ExecType 5, OrdStatus = the
                   nothing filled, else 1/2                    order's status (0/1/2)
last fill          LastShares (32), LastPx (31)                LastQty (32), LastPx (31),
                                                               LastLiquidityInd (851)
=================  ==========================================  ===============================

Both: OrderID (37), ExecID (17), ClOrdID (11), OrigClOrdID (41), OrdStatus (39), CumQty (14),
LeavesQty (151), AvgPx (6), TransactTime (60), Text (58), OrdRejReason (103) on rejects;
OrderCancelReject (9) with CxlRejResponseTo (434), CxlRejReason (102) and Text. An unknown order
is OrderID ``NONE``. A replace (G) without Price keeps the order's price. Decoded reports come
back in the domain's FIX 4.4 semantics whatever the version (a 4.2 ``OrdStatus=5`` becomes NEW
or PARTIALLY_FILLED), so engine code never branches on the version.

Reason codes are derived from the reason text (:func:`ord_rej_reason`, :func:`cxl_rej_reason`):
the text stays the authority and is always sent in Text (58).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

import quickfix as fix

from adapters.fix.wire import (
    FixDecodeError,
    FixVersion,
    avg_price_from_fix,
    avg_price_to_fix,
    get_field,
    header_field,
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
from engine.events import (
    CancelOrder,
    CancelReject,
    ExecType,
    ExecutionReport,
    Liquidity,
    NewOrder,
    OrderType,
    OrdStatus,
    ReplaceOrder,
    Side,
    StatusRequest,
    TimeInForce,
)

__all__ = [
    "BusinessReject",
    "SessionReject",
    "cxl_rej_reason",
    "decode_business_reject",
    "decode_cancel",
    "decode_cancel_reject",
    "decode_execution_report",
    "decode_new_order",
    "decode_replace",
    "decode_session_reject",
    "decode_status_request",
    "encode_business_reject",
    "encode_cancel",
    "encode_cancel_reject",
    "encode_execution_report",
    "encode_new_order",
    "encode_replace",
    "encode_status_request",
    "ord_rej_reason",
    "reject_cancel_message",
    "reject_order_message",
]

SIDE_TO_FIX = {Side.BUY: "1", Side.SELL: "2"}
SIDE_FROM_FIX = {v: k for k, v in SIDE_TO_FIX.items()}
ORD_TYPE_TO_FIX = {OrderType.MARKET: "1", OrderType.LIMIT: "2"}
ORD_TYPE_FROM_FIX = {v: k for k, v in ORD_TYPE_TO_FIX.items()}
TIF_TO_FIX = {TimeInForce.DAY: "0", TimeInForce.IOC: "3"}
TIF_FROM_FIX = {v: k for k, v in TIF_TO_FIX.items()}
STATUS_TO_FIX = {
    OrdStatus.NEW: "0",
    OrdStatus.PARTIALLY_FILLED: "1",
    OrdStatus.FILLED: "2",
    OrdStatus.DONE_FOR_DAY: "3",
    OrdStatus.CANCELED: "4",
    OrdStatus.PENDING_CANCEL: "6",
    OrdStatus.REJECTED: "8",
    OrdStatus.PENDING_NEW: "A",
    OrdStatus.EXPIRED: "C",
    OrdStatus.PENDING_REPLACE: "E",
    OrdStatus.SUSPENDED: "9",
}
STATUS_FROM_FIX = {v: k for k, v in STATUS_TO_FIX.items()}
EXEC_TYPE_TO_FIX = {
    ExecType.NEW: "0",
    ExecType.DONE_FOR_DAY: "3",
    ExecType.CANCELED: "4",
    ExecType.REPLACED: "5",
    ExecType.PENDING_CANCEL: "6",
    ExecType.PENDING_NEW: "A",
    ExecType.REJECTED: "8",
    ExecType.EXPIRED: "C",
    ExecType.PENDING_REPLACE: "E",
    ExecType.SUSPENDED: "9",
    ExecType.RESTATED: "D",
}
EXEC_TYPE_FROM_FIX = {v: k for k, v in EXEC_TYPE_TO_FIX.items()}
LIQUIDITY_TO_FIX = {Liquidity.ADDED: "1", Liquidity.REMOVED: "2"}
LIQUIDITY_FROM_FIX = {v: k for k, v in LIQUIDITY_TO_FIX.items()}
UNKNOWN_ORDER_ID = "NONE"
_T = TypeVar("_T")


def _enum(table: dict[str, _T], value: str, tag: int, name: str, allowed: str) -> _T:
    try:
        return table[value]
    except KeyError:
        raise FixDecodeError(
            f"{name} ({tag}) {value!r} is not supported here; use {allowed}", tag=tag, code=11
        ) from None


def _side(fm: fix.FieldMap) -> Side:
    return _enum(SIDE_FROM_FIX, require_field(fm, 54, "Side"), 54, "Side", "1 (buy) or 2 (sell)")


def _positive_qty(fm: fix.FieldMap, tag: int = 38, name: str = "OrderQty") -> int:
    qty = qty_from_fix(require_field(fm, tag, name), tag=tag, name=name)
    if qty <= 0:
        raise FixDecodeError(f"{name} ({tag}) must be > 0, got {qty}", tag=tag, code=13)
    return qty


def _opt_price(fm: fix.FieldMap, tag: int = 44, name: str = "Price") -> int | None:
    text = get_field(fm, tag)
    return None if text is None else price_from_fix(text, tag=tag, name=name)


def _transact_time(fm: fix.FieldMap, default: int) -> int:
    text = get_field(fm, 60)
    return default if text is None else ts_from_fix(text, tag=60)


# --- reason codes ----------------------------------------------------------------------------

_REJ_PREFIXES: tuple[tuple[str, int], ...] = (
    ("unknown symbol", 1),
    ("trading halted", 2),
    ("unknown order", 5),
    ("duplicate clordid", 6),
)


def ord_rej_reason(text: str, version: FixVersion, hint: int | None = None) -> int:
    """OrdRejReason (103) for a reject reason.

    1 unknown symbol, 2 halted ("exchange closed"), 5 unknown order, 6 duplicate; in FIX 4.4
    ``hint`` (11 unsupported characteristic, 13 incorrect quantity) or 13 for a quantity
    problem, else 99 "other"; FIX 4.2 has neither, so 0 "broker option".
    """
    low = text.lower()
    for prefix, code in _REJ_PREFIXES:
        if low.startswith(prefix):
            return code
    if version is FixVersion.FIX44:
        if hint is not None:
            return hint
        return 13 if "quantity" in low else 99
    return 0


def cxl_rej_reason(text: str, version: FixVersion) -> int:
    """CxlRejReason (102): 0 too late, 1 unknown order, 6 duplicate ClOrdID (4.4); else 99
    "other" (4.4) or 2 "broker option" (4.2)."""
    low = text.lower()
    if low.startswith("too late"):
        return 0
    if low.startswith("unknown order"):
        return 1
    if version is FixVersion.FIX44:
        return 6 if low.startswith("duplicate clordid") else 99
    return 2


# --- instructions: D, F, G, H ----------------------------------------------------------------


def encode_new_order(order: NewOrder, version: FixVersion) -> fix.Message:
    """NewOrderSingle (D). TransactTime is ``order.ts_init``; HandlInst 1 (automated)."""
    m = new_message(version, "D")
    m.setField(11, order.cl_ord_id)
    m.setField(21, "1")
    m.setField(55, order.symbol)
    m.setField(54, SIDE_TO_FIX[order.side])
    m.setField(60, ts_to_fix(order.ts_init, version))
    m.setField(38, str(order.qty))
    m.setField(40, ORD_TYPE_TO_FIX[order.order_type])
    if order.price is not None:
        m.setField(44, price_to_fix(order.price))
    m.setField(59, TIF_TO_FIX[order.tif])
    set_field(m, 111, order.display_qty)
    return m


def decode_new_order(msg: fix.Message, ts_init: int) -> NewOrder:
    """NewOrderSingle (D) -> NewOrder; raises :class:`FixDecodeError` saying what to fix."""
    cl = require_field(msg, 11, "ClOrdID")
    symbol = require_field(msg, 55, "Symbol")
    side = _side(msg)
    qty = _positive_qty(msg)
    kind = _enum(
        ORD_TYPE_FROM_FIX,
        require_field(msg, 40, "OrdType"),
        40,
        "OrdType",
        "1 (market) or 2 (limit)",
    )
    tif_text = get_field(msg, 59)
    tif = (
        TimeInForce.DAY
        if tif_text is None
        else _enum(TIF_FROM_FIX, tif_text, 59, "TimeInForce", "0 (day) or 3 (IOC)")
    )
    price = _opt_price(msg)
    if kind is OrderType.LIMIT and price is None:
        raise FixDecodeError("a limit order (40=2) needs Price (44)", tag=44)
    if kind is OrderType.MARKET and price is not None:
        raise FixDecodeError("a market order (40=1) must not carry Price (44)", tag=44, code=11)
    if price is not None and price <= 0:
        raise FixDecodeError(f"Price (44) must be > 0, got {price_to_fix(price)}", tag=44)
    floor_text = get_field(msg, 111)
    display = None
    if floor_text is not None:
        display = qty_from_fix(floor_text, tag=111, name="MaxFloor")
        if display < 0:
            raise FixDecodeError(f"MaxFloor (111) must be >= 0, got {display}", tag=111)
    return NewOrder(cl, symbol, side, qty, kind, price, tif, ts_init, display)


def encode_cancel(req: CancelOrder, version: FixVersion) -> fix.Message:
    """OrderCancelRequest (F)."""
    m = new_message(version, "F")
    m.setField(41, req.orig_cl_ord_id)
    m.setField(11, req.cl_ord_id)
    m.setField(55, req.symbol)
    m.setField(54, SIDE_TO_FIX[req.side])
    m.setField(60, ts_to_fix(req.ts_init, version))
    return m


def decode_cancel(msg: fix.Message, ts_init: int) -> CancelOrder:
    return CancelOrder(
        require_field(msg, 11, "ClOrdID"),
        require_field(msg, 41, "OrigClOrdID"),
        require_field(msg, 55, "Symbol"),
        _side(msg),
        ts_init,
    )


def encode_replace(req: ReplaceOrder, version: FixVersion) -> fix.Message:
    """OrderCancelReplaceRequest (G): OrdType limit; no Price (44) means keep the price."""
    m = new_message(version, "G")
    m.setField(41, req.orig_cl_ord_id)
    m.setField(11, req.cl_ord_id)
    m.setField(21, "1")
    m.setField(55, req.symbol)
    m.setField(54, SIDE_TO_FIX[req.side])
    m.setField(60, ts_to_fix(req.ts_init, version))
    m.setField(38, str(req.qty))
    m.setField(40, ORD_TYPE_TO_FIX[OrderType.LIMIT])
    if req.price is not None:
        m.setField(44, price_to_fix(req.price))
    return m


def decode_replace(msg: fix.Message, ts_init: int) -> ReplaceOrder:
    cl = require_field(msg, 11, "ClOrdID")
    orig = require_field(msg, 41, "OrigClOrdID")
    symbol = require_field(msg, 55, "Symbol")
    side = _side(msg)
    qty = _positive_qty(msg)
    if require_field(msg, 40, "OrdType") != ORD_TYPE_TO_FIX[OrderType.LIMIT]:
        raise FixDecodeError("only limit orders (40=2) can be replaced", tag=40, code=11)
    price = _opt_price(msg)
    if price is not None and price <= 0:
        raise FixDecodeError(f"Price (44) must be > 0, got {price_to_fix(price)}", tag=44)
    return ReplaceOrder(cl, orig, symbol, side, qty, price, ts_init)


def encode_status_request(
    req: StatusRequest, version: FixVersion, *, ord_status_req_id: str | None = None
) -> fix.Message:
    """OrderStatusRequest (H); OrdStatusReqID (790) only exists in FIX 4.4."""
    m = new_message(version, "H")
    m.setField(11, req.cl_ord_id)
    m.setField(55, req.symbol)
    m.setField(54, SIDE_TO_FIX[req.side])
    if version is FixVersion.FIX44:
        set_field(m, 790, ord_status_req_id)
    return m


def decode_status_request(msg: fix.Message, ts_init: int) -> StatusRequest:
    return StatusRequest(
        require_field(msg, 11, "ClOrdID"), require_field(msg, 55, "Symbol"), _side(msg), ts_init
    )


# --- venue events: 8, 9 ------------------------------------------------------------------------


def _status_code(report: ExecutionReport, version: FixVersion) -> str:
    status = report.ord_status
    if status is OrdStatus.REPLACED:
        status = OrdStatus.PARTIALLY_FILLED if report.cum_qty else OrdStatus.NEW
    if (
        version is FixVersion.FIX42
        and report.exec_type is ExecType.REPLACED
        and status is OrdStatus.NEW
    ):
        return "5"
    return STATUS_TO_FIX[status]


def _exec_type_code(report: ExecutionReport, version: FixVersion, status: str) -> str:
    if report.exec_type is ExecType.TRADE:
        if version is FixVersion.FIX44:
            return "F"
        return "2" if report.ord_status is OrdStatus.FILLED else "1"
    if report.exec_type is ExecType.ORDER_STATUS:
        return "I" if version is FixVersion.FIX44 else status
    return EXEC_TYPE_TO_FIX[report.exec_type]


def encode_execution_report(
    report: ExecutionReport,
    version: FixVersion,
    *,
    ord_status_req_id: str | None = None,
    rej_reason_code: int | None = None,
) -> fix.Message:
    """ExecutionReport (8) in the version's dialect (see the module docstring).

    ``rej_reason_code`` is the OrdRejReason (103) of a rejected order when the caller knows it
    (the engine's explicit reject reason); without it the code is derived from the text.
    """
    m = new_message(version, "8")
    status = _status_code(report, version)
    m.setField(37, report.venue_order_id)
    m.setField(11, report.cl_ord_id)
    set_field(m, 41, report.orig_cl_ord_id)
    m.setField(17, report.exec_id)
    if version is FixVersion.FIX42:
        m.setField(20, "3" if report.exec_type is ExecType.ORDER_STATUS else "0")
    elif report.exec_type is ExecType.ORDER_STATUS:
        set_field(m, 790, ord_status_req_id)
    m.setField(150, _exec_type_code(report, version, status))
    m.setField(39, status)
    if report.ord_status is OrdStatus.REJECTED:
        code = rej_reason_code
        if code is None:
            code = ord_rej_reason(report.text or "unknown order", version)
        m.setField(103, str(code))
    m.setField(55, report.symbol)
    m.setField(54, SIDE_TO_FIX[report.side])
    m.setField(38, str(report.order_qty))
    if report.price is not None:
        m.setField(44, price_to_fix(report.price))
    if report.exec_type is ExecType.TRADE:
        m.setField(32, str(report.last_qty))
        if report.last_price is not None:
            m.setField(31, price_to_fix(report.last_price))
        if version is FixVersion.FIX44 and report.liquidity is not None:
            m.setField(851, LIQUIDITY_TO_FIX[report.liquidity])
    m.setField(151, str(report.leaves_qty))
    m.setField(14, str(report.cum_qty))
    m.setField(6, avg_price_to_fix(report.avg_price))
    m.setField(60, ts_to_fix(report.ts_event, version))
    if report.text:
        m.setField(58, report.text)
    return m


def _decode_exec_type(msg: fix.Message, version: FixVersion) -> ExecType:
    code = require_field(msg, 150, "ExecType")
    if version is FixVersion.FIX42:
        trans = get_field(msg, 20) or "0"
        if trans == "3":
            return ExecType.ORDER_STATUS
        if trans != "0":
            raise FixDecodeError(f"ExecTransType (20) {trans!r} (cancel/correct) unsupported")
        if code in ("1", "2"):
            return ExecType.TRADE
    elif code == "F":
        return ExecType.TRADE
    elif code == "I":
        return ExecType.ORDER_STATUS
    return _enum(EXEC_TYPE_FROM_FIX, code, 150, "ExecType", "a supported ExecType")


def decode_execution_report(msg: fix.Message, ts_init: int) -> ExecutionReport:
    """ExecutionReport (8) -> domain report (FIX 4.4 semantics); PossDupFlag / PossResend set
    ``possible_duplicate``."""
    exec_type = _decode_exec_type(msg, version_of(msg))
    cum = qty_from_fix(require_field(msg, 14, "CumQty"), tag=14, name="CumQty")
    status_code = require_field(msg, 39, "OrdStatus")
    if status_code == "5":  # FIX 4.2 "Replaced": the live order's status in 4.4 terms
        status = OrdStatus.PARTIALLY_FILLED if cum else OrdStatus.NEW
    else:
        status = _enum(STATUS_FROM_FIX, status_code, 39, "OrdStatus", "a supported status")
    last_qty_text = get_field(msg, 32)
    last_px = get_field(msg, 31)
    liquidity = get_field(msg, 851)
    return ExecutionReport(
        exec_id=require_field(msg, 17, "ExecID"),
        cl_ord_id=require_field(msg, 11, "ClOrdID"),
        orig_cl_ord_id=get_field(msg, 41),
        venue_order_id=require_field(msg, 37, "OrderID"),
        exec_type=exec_type,
        ord_status=status,
        symbol=require_field(msg, 55, "Symbol"),
        side=_side(msg),
        order_qty=qty_from_fix(get_field(msg, 38) or "0", tag=38, name="OrderQty"),
        price=_opt_price(msg),
        last_qty=0
        if last_qty_text is None
        else qty_from_fix(last_qty_text, tag=32, name="LastQty"),
        last_price=None if last_px is None else price_from_fix(last_px, tag=31, name="LastPx"),
        cum_qty=cum,
        leaves_qty=qty_from_fix(require_field(msg, 151, "LeavesQty"), tag=151, name="LeavesQty"),
        avg_price=avg_price_from_fix(require_field(msg, 6, "AvgPx")),
        ts_event=_transact_time(msg, ts_init),
        ts_init=ts_init,
        text=get_field(msg, 58) or "",
        liquidity=None if liquidity is None else LIQUIDITY_FROM_FIX.get(liquidity),
        possible_duplicate=header_field(msg, 43) == "Y" or header_field(msg, 97) == "Y",
    )


def encode_cancel_reject(rej: CancelReject, version: FixVersion) -> fix.Message:
    """OrderCancelReject (9). Unknown order: OrderID ``NONE`` and OrdStatus 8 (rejected)."""
    m = new_message(version, "9")
    m.setField(37, rej.venue_order_id or UNKNOWN_ORDER_ID)
    m.setField(11, rej.cl_ord_id)
    m.setField(41, rej.orig_cl_ord_id)
    status = rej.ord_status
    if status is OrdStatus.REPLACED:
        status = OrdStatus.NEW
    m.setField(39, "8" if status is None else STATUS_TO_FIX[status])
    m.setField(434, "1" if rej.response_to == "cancel" else "2")
    m.setField(102, str(cxl_rej_reason(rej.reason, version)))
    m.setField(58, rej.reason)
    m.setField(60, ts_to_fix(rej.ts_event, version))
    return m


def decode_cancel_reject(msg: fix.Message, ts_init: int) -> CancelReject:
    order_id = require_field(msg, 37, "OrderID")
    known = order_id != UNKNOWN_ORDER_ID
    status_code = require_field(msg, 39, "OrdStatus")
    return CancelReject(
        cl_ord_id=require_field(msg, 11, "ClOrdID"),
        orig_cl_ord_id=require_field(msg, 41, "OrigClOrdID"),
        venue_order_id=order_id if known else None,
        ord_status=STATUS_FROM_FIX.get(status_code) if known else None,
        response_to="cancel" if require_field(msg, 434, "CxlRejResponseTo") == "1" else "replace",
        reason=get_field(msg, 58) or "",
        ts_event=_transact_time(msg, ts_init),
        ts_init=ts_init,
    )


# --- rejects built from a message that did not decode ------------------------------------------


def reject_order_message(
    incoming: fix.Message,
    version: FixVersion,
    *,
    exec_id: str,
    reason: str,
    ts_ns: int,
    code: int | None = None,
) -> fix.Message:
    """ExecutionReport Rejected for a NewOrderSingle that did not decode: echoes what it can.

    ``code`` is the decoder's OrdRejReason hint (:attr:`FixDecodeError.code`).
    """
    m = new_message(version, "8")
    m.setField(37, UNKNOWN_ORDER_ID)
    m.setField(11, get_field(incoming, 11) or UNKNOWN_ORDER_ID)
    m.setField(17, exec_id)
    if version is FixVersion.FIX42:
        m.setField(20, "0")
    m.setField(150, "8")
    m.setField(39, "8")
    m.setField(103, str(ord_rej_reason(reason, version, code)))
    # QuickFIX's dictionary check has already refused a D without Symbol or Side.
    set_field(m, 55, get_field(incoming, 55))
    set_field(m, 54, get_field(incoming, 54))
    for tag in (38, 40, 44, 59):
        text = get_field(incoming, tag)
        if text is not None and not text.startswith("-"):
            m.setField(tag, text)
    m.setField(151, "0")
    m.setField(14, "0")
    m.setField(6, "0")
    m.setField(60, ts_to_fix(ts_ns, version))
    m.setField(58, reason)
    return m


def reject_cancel_message(
    incoming: fix.Message, version: FixVersion, *, reason: str, ts_ns: int
) -> fix.Message:
    """OrderCancelReject for a cancel (F) or replace (G) that did not decode."""
    kind = "cancel" if incoming.getHeader().getField(35) == "F" else "replace"
    rej = CancelReject(
        get_field(incoming, 11) or UNKNOWN_ORDER_ID,
        get_field(incoming, 41) or UNKNOWN_ORDER_ID,
        None,
        None,
        kind,
        reason,
        ts_ns,
        ts_ns,
    )
    return encode_cancel_reject(rej, version)


# --- BusinessMessageReject (j) ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BusinessReject:
    """A BusinessMessageReject (j): the message ``ref_msg_type`` was refused for ``text``."""

    ref_msg_type: str
    ref_seq_num: int | None
    ref_id: str | None
    reason_code: int
    text: str


def encode_business_reject(reject: BusinessReject, version: FixVersion) -> fix.Message:
    m = new_message(version, "j")
    set_field(m, 45, reject.ref_seq_num)
    m.setField(372, reject.ref_msg_type)
    set_field(m, 379, reject.ref_id)
    m.setField(380, str(reject.reason_code))
    m.setField(58, reject.text)
    return m


def decode_business_reject(msg: fix.Message) -> BusinessReject:
    seq = get_field(msg, 45)
    return BusinessReject(
        ref_msg_type=require_field(msg, 372, "RefMsgType"),
        ref_seq_num=None if seq is None else int(seq),
        ref_id=get_field(msg, 379),
        reason_code=int(require_field(msg, 380, "BusinessRejectReason")),
        text=get_field(msg, 58) or "",
    )


# --- session-level Reject (3) ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SessionReject:
    """A session-level Reject (35=3): message ``ref_seq_num`` broke the FIX rules (QuickFIX's
    validation): RefTagID (371), RefMsgType (372), SessionRejectReason (373), Text (58)."""

    ref_seq_num: int | None
    ref_tag: int | None
    ref_msg_type: str | None
    reason_code: int | None
    text: str


def decode_session_reject(msg: fix.Message) -> SessionReject:
    def num(tag: int) -> int | None:
        text = get_field(msg, tag)
        return None if text is None else int(text)

    return SessionReject(
        ref_seq_num=num(45),
        ref_tag=num(371),
        ref_msg_type=get_field(msg, 372),
        reason_code=num(373),
        text=get_field(msg, 58) or "",
    )
