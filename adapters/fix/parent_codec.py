"""Parent orders from an OMS over FIX 4.4: domain values <-> ``quickfix.Message``, both ways.

Pure: no sessions, no sockets, no clock (a decoder takes the receive time ``ts_init``). The
engine's OMS acceptor decodes D/F/G/H into :data:`~engine.parent_events.ParentCommand` values
and encodes parent reports (8) back; the demo OMS client does the reverse with the same
functions. Child-order tables (side, order status, exec type) and the report encoder are the
ones in :mod:`adapters.fix.codec`: a parent report is an ExecutionReport like a venue's.

TargetStrategy (847)
====================

FIX 4.4 defines 1 (VWAP) and 2 (Participate); values of 1000 and more are user-defined.

=====  ============  ==================================================
847    strategy      what the engine does
=====  ============  ==================================================
1      ``vwap``      follow the volume profile
2      ``pov``       a fixed fraction of market volume (ParticipationRate)
1000   ``twap``      equal slices in time
1001   ``ac``        Almgren-Chriss closed form (RiskAversion)
1002   ``dp``        exact dynamic programme under the cap
1003   ``adaptive``  the regime policy (re-plans as the market changes)
=====  ============  ==================================================

Instead of (or as well as, if they agree) 847, the StrategyParameters group may carry
``Strategy`` with the name as its value, for an OMS that cannot send user-defined 847 values.

StrategyParameters (957 group: 958 name, 959 type, 960 value)
=============================================================

==================  ====================  =================================================
958 name            959 type (optional)   960 value
==================  ====================  =================================================
RiskAversion        1 Int, 6 Float        lambda of E + lambda V, per currency unit
Urgency             1 Int, 6 Float        the engine's urgency knob (engine validates)
ParticipationRate   6 Float, 11 Pct       cap as a fraction of volume, like tag 849
Strategy            14 String             one of the names above
==================  ====================  =================================================

An unknown name is refused (a misspelt parameter must not silently fall back to a default).
A replace (G) restates the order: its TargetStrategy, EffectiveTime, RiskAversion, Urgency and
Strategy cannot change and are ignored; ParticipationRate, OrderQty, ExpireTime and Price can.

Decoding checks syntax and types (with the field named in every error, see
:class:`~adapters.fix.wire.FixDecodeError`); whether an order makes sense is the engine's call.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Final

import quickfix as fix

from adapters.fix.codec import (
    ORD_TYPE_FROM_FIX,
    SIDE_FROM_FIX,
    SIDE_TO_FIX,
    decode_execution_report,
    encode_execution_report,
)
from adapters.fix.wire import (
    FixDecodeError,
    FixVersion,
    get_field,
    msg_type,
    new_message,
    price_from_fix,
    price_to_fix,
    qty_from_fix,
    require_field,
    set_field,
    ts_from_fix,
    ts_to_fix,
)
from engine.events import ExecutionReport, OrderType, Side
from engine.parent_events import (
    PARENT_STRATEGIES,
    ParentCancel,
    ParentCommand,
    ParentOrder,
    ParentReplace,
    ParentStatusRequest,
    RejectReason,
)

__all__ = [
    "PARAM_PARTICIPATION_RATE",
    "PARAM_RISK_AVERSION",
    "PARAM_STRATEGY",
    "PARAM_URGENCY",
    "REJECT_REASON_TO_FIX",
    "STRATEGY_FROM_FIX",
    "STRATEGY_TO_FIX",
    "ParentReport",
    "decode_parent_cancel",
    "decode_parent_command",
    "decode_parent_order",
    "decode_parent_replace",
    "decode_parent_report",
    "decode_parent_status_request",
    "encode_parent_cancel",
    "encode_parent_order",
    "encode_parent_replace",
    "encode_parent_report",
    "encode_parent_status_request",
]

V44: Final = FixVersion.FIX44
STRATEGY_TO_FIX: Final[dict[str, int]] = {
    "vwap": 1,
    "pov": 2,
    "twap": 1000,
    "ac": 1001,
    "dp": 1002,
    "adaptive": 1003,
}
STRATEGY_FROM_FIX: Final[dict[str, str]] = {str(v): k for k, v in STRATEGY_TO_FIX.items()}
assert set(STRATEGY_TO_FIX) == set(PARENT_STRATEGIES)
_STRATEGY_TABLE = ", ".join(f"{v} ({k})" for k, v in STRATEGY_TO_FIX.items())

REJECT_REASON_TO_FIX: Final[dict[RejectReason, int]] = {
    RejectReason.UNKNOWN_SYMBOL: 1,
    RejectReason.EXCHANGE_CLOSED: 2,
    RejectReason.EXCEEDS_LIMIT: 3,
    RejectReason.TOO_LATE: 4,
    RejectReason.UNKNOWN_ORDER: 5,
    RejectReason.DUPLICATE: 6,
    RejectReason.UNSUPPORTED: 11,
    RejectReason.INCORRECT_QUANTITY: 13,
    RejectReason.INFEASIBLE: 99,
    RejectReason.OTHER: 99,
}
assert set(REJECT_REASON_TO_FIX) == set(RejectReason)

PARAM_RISK_AVERSION: Final = "RiskAversion"
PARAM_URGENCY: Final = "Urgency"
PARAM_PARTICIPATION_RATE: Final = "ParticipationRate"
PARAM_STRATEGY: Final = "Strategy"
# StrategyParameterType (959) values each parameter may declare.
_PARAM_TYPES: Final[dict[str, frozenset[str]]] = {
    PARAM_RISK_AVERSION: frozenset({"1", "6"}),
    PARAM_URGENCY: frozenset({"1", "6"}),
    PARAM_PARTICIPATION_RATE: frozenset({"6", "11"}),
    PARAM_STRATEGY: frozenset({"14"}),
}
_NUMERIC_TYPE: Final = "6"
_STRING_TYPE: Final = "14"
_GROUP: Final = 957


# --- field helpers ------------------------------------------------------------------------------


def _side(fm: fix.FieldMap) -> Side:
    text = require_field(fm, 54, "Side")
    try:
        return SIDE_FROM_FIX[text]
    except KeyError:
        raise FixDecodeError(
            f"Side (54) {text!r} is not supported here; use 1 (buy) or 2 (sell)", tag=54, code=11
        ) from None


def _float(text: str, tag: int, name: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise FixDecodeError(f"{name} ({tag}) is not a number: {text!r}", tag=tag) from None
    if not math.isfinite(value):
        raise FixDecodeError(f"{name} ({tag}) must be a finite number, got {text!r}", tag=tag)
    return value


def _float_to_fix(value: float) -> str:
    # FIX FLOAT/PERCENTAGE has no exponent (QuickFIX refuses "1e-06"): plain decimal digits.
    return format(Decimal(repr(float(value))), "f")


def _fraction(text: str, tag: int, name: str) -> float:
    value = _float(text, tag, name)
    if not 0.0 < value <= 1.0:
        raise FixDecodeError(
            f"{name} ({tag}) must be a fraction in (0, 1], e.g. 0.15 for 15%, got {text}",
            tag=tag,
        )
    return value


def _qty(text: str) -> int:
    qty = qty_from_fix(text, tag=38, name="OrderQty")
    if qty <= 0:
        raise FixDecodeError(f"OrderQty (38) must be > 0, got {qty}", tag=38, code=13)
    return qty


def _time(fm: fix.FieldMap, tag: int) -> int | None:
    text = get_field(fm, tag)
    return None if text is None else ts_from_fix(text, tag=tag)


def _limit_price(fm: fix.FieldMap, *, new_order: bool) -> int | None:
    """OrdType (40) and Price (44): a limit parent needs a price, a market parent has none.

    In a replace, a limit without Price keeps the parent's limit.
    """
    ord_type = require_field(fm, 40, "OrdType")
    kind = ORD_TYPE_FROM_FIX.get(ord_type)
    if kind is None:
        raise FixDecodeError(
            f"OrdType (40) {ord_type!r} is not supported here; use 1 (market) or 2 (limit)",
            tag=40,
            code=11,
        )
    text = get_field(fm, 44)
    price = None if text is None else price_from_fix(text, tag=44, name="Price")
    if kind is OrderType.MARKET and price is not None:
        raise FixDecodeError("a market order (40=1) must not carry Price (44)", tag=44, code=11)
    if kind is OrderType.LIMIT and price is None and new_order:
        raise FixDecodeError("a limit order (40=2) needs Price (44)", tag=44)
    if price is not None and price <= 0:
        raise FixDecodeError(f"Price (44) must be > 0, got {text}", tag=44)
    return price


# --- StrategyParameters ---------------------------------------------------------------------------


def _parameters(msg: fix.Message) -> dict[str, str]:
    """The 957 group as ``{name: value}``; unknown, repeated or mistyped entries are errors."""
    out: dict[str, str] = {}
    count = msg.groupCount(_GROUP)
    if count == 0 and msg.isSetField(958):
        # The group arrived flat: the session has no dictionary that knows StrategyParameters.
        raise FixDecodeError(
            "StrategyParameterName (958) outside a NoStrategyParameters (957) group", tag=957
        )
    for i in range(1, count + 1):
        group = fix.Group(_GROUP, 958)
        msg.getGroup(i, group)
        name = require_field(group, 958, f"StrategyParameterName of parameter {i}")
        if name not in _PARAM_TYPES:
            known = ", ".join(_PARAM_TYPES)
            raise FixDecodeError(
                f"StrategyParameterName (958) {name!r} is not supported; use {known}",
                tag=958,
                code=11,
            )
        if name in out:
            raise FixDecodeError(f"StrategyParameterName (958) {name!r} given twice", tag=958)
        kind = get_field(group, 959)
        if kind is not None and kind not in _PARAM_TYPES[name]:
            allowed = " or ".join(sorted(_PARAM_TYPES[name], key=int))
            raise FixDecodeError(
                f"StrategyParameterType (959) of {name} must be {allowed}, got {kind}", tag=959
            )
        out[name] = require_field(group, 960, f"StrategyParameterValue of {name}")
    return out


def _param_float(params: dict[str, str], name: str) -> float | None:
    text = params.get(name)
    return None if text is None else _float(text, 960, f"StrategyParameterValue of {name}")


def _participation(msg: fix.Message, params: dict[str, str]) -> float | None:
    tag_text = get_field(msg, 849)
    cap = None if tag_text is None else _fraction(tag_text, 849, "ParticipationRate")
    text = params.get(PARAM_PARTICIPATION_RATE)
    if text is None:
        return cap
    param = _fraction(text, 960, f"StrategyParameterValue of {PARAM_PARTICIPATION_RATE}")
    if cap is not None and cap != param:
        raise FixDecodeError(
            f"ParticipationRate (849) {tag_text} disagrees with the ParticipationRate "
            f"strategy parameter {text}",
            tag=849,
        )
    return param


def _strategy(msg: fix.Message, params: dict[str, str]) -> str:
    code = get_field(msg, 847)
    by_tag = None
    if code is not None:
        by_tag = STRATEGY_FROM_FIX.get(code)
        if by_tag is None:
            raise FixDecodeError(
                f"TargetStrategy (847) {code!r} is not supported; use {_STRATEGY_TABLE}",
                tag=847,
                code=11,
            )
    name = params.get(PARAM_STRATEGY)
    if name is not None:
        if name not in STRATEGY_TO_FIX:
            raise FixDecodeError(
                f"StrategyParameterValue (960) of Strategy {name!r} is not supported; use one "
                f"of {', '.join(PARENT_STRATEGIES)}",
                tag=960,
                code=11,
            )
        if by_tag is not None and by_tag != name:
            raise FixDecodeError(
                f"TargetStrategy (847) {code} ({by_tag}) disagrees with the Strategy "
                f"parameter {name!r}",
                tag=847,
                code=11,
            )
        return name
    if by_tag is None:
        raise FixDecodeError(f"TargetStrategy (847) is required; use {_STRATEGY_TABLE}", tag=847)
    return by_tag


def _add_parameter(msg: fix.Message, name: str, kind: str, value: str) -> None:
    group = fix.Group(_GROUP, 958)
    group.setField(958, name)
    group.setField(959, kind)
    group.setField(960, value)
    msg.addGroup(group)


# --- D: NewOrderSingle ----------------------------------------------------------------------------


def encode_parent_order(order: ParentOrder) -> fix.Message:
    """NewOrderSingle (D) for a parent: TargetStrategy, ParticipationRate, times, parameters.

    TransactTime (60) is ``order.ts_init``.

    Raises
    ------
    ValueError
        ``order.strategy`` is not one of :data:`~engine.parent_events.PARENT_STRATEGIES`.
    """
    if order.strategy not in STRATEGY_TO_FIX:
        raise ValueError(f"strategy {order.strategy!r} is not one of {PARENT_STRATEGIES}")
    m = new_message(V44, "D")
    m.setField(11, order.cl_ord_id)
    m.setField(55, order.symbol)
    m.setField(54, SIDE_TO_FIX[order.side])
    m.setField(60, ts_to_fix(order.ts_init, V44))
    m.setField(38, str(order.qty))
    if order.limit_price is None:
        m.setField(40, "1")
    else:
        m.setField(40, "2")
        m.setField(44, price_to_fix(order.limit_price))
    m.setField(847, str(STRATEGY_TO_FIX[order.strategy]))
    if order.participation_cap is not None:
        m.setField(849, _float_to_fix(order.participation_cap))
    if order.start_ns is not None:
        m.setField(168, ts_to_fix(order.start_ns, V44))
    if order.end_ns is not None:
        m.setField(126, ts_to_fix(order.end_ns, V44))
    for name, value in ((PARAM_RISK_AVERSION, order.risk_aversion), (PARAM_URGENCY, order.urgency)):
        if value is not None:
            _add_parameter(m, name, _NUMERIC_TYPE, _float_to_fix(value))
    return m


def decode_parent_order(msg: fix.Message, ts_init: int, *, session: str = "") -> ParentOrder:
    """NewOrderSingle (D) -> :class:`ParentOrder`.

    Raises
    ------
    FixDecodeError
        A field is missing, malformed or not supported; the reason names its tag.
    """
    cl = require_field(msg, 11, "ClOrdID")
    symbol = require_field(msg, 55, "Symbol")
    side = _side(msg)
    qty = _qty(require_field(msg, 38, "OrderQty"))
    limit = _limit_price(msg, new_order=True)
    params = _parameters(msg)
    return ParentOrder(
        cl_ord_id=cl,
        symbol=symbol,
        side=side,
        qty=qty,
        strategy=_strategy(msg, params),
        end_ns=_time(msg, 126),
        ts_init=ts_init,
        start_ns=_time(msg, 168),
        limit_price=limit,
        risk_aversion=_param_float(params, PARAM_RISK_AVERSION),
        participation_cap=_participation(msg, params),
        urgency=_param_float(params, PARAM_URGENCY),
        session=session,
    )


# --- F, G, H ------------------------------------------------------------------------------------


def encode_parent_cancel(req: ParentCancel) -> fix.Message:
    """OrderCancelRequest (F)."""
    m = new_message(V44, "F")
    m.setField(41, req.orig_cl_ord_id)
    m.setField(11, req.cl_ord_id)
    m.setField(55, req.symbol)
    m.setField(54, SIDE_TO_FIX[req.side])
    m.setField(60, ts_to_fix(req.ts_init, V44))
    return m


def decode_parent_cancel(msg: fix.Message, ts_init: int, *, session: str = "") -> ParentCancel:
    """OrderCancelRequest (F) -> :class:`ParentCancel`; raises :class:`FixDecodeError`."""
    return ParentCancel(
        cl_ord_id=require_field(msg, 11, "ClOrdID"),
        orig_cl_ord_id=require_field(msg, 41, "OrigClOrdID"),
        symbol=require_field(msg, 55, "Symbol"),
        side=_side(msg),
        ts_init=ts_init,
        session=session,
    )


def encode_parent_replace(req: ParentReplace) -> fix.Message:
    """OrderCancelReplaceRequest (G): only the fields that change (``None`` keeps them).

    OrdType is limit when a new limit price is given, else market (FIX requires one; the
    decoder reads "no Price" as "keep the limit").
    """
    m = new_message(V44, "G")
    m.setField(41, req.orig_cl_ord_id)
    m.setField(11, req.cl_ord_id)
    m.setField(55, req.symbol)
    m.setField(54, SIDE_TO_FIX[req.side])
    m.setField(60, ts_to_fix(req.ts_init, V44))
    set_field(m, 38, req.qty)
    if req.limit_price is None:
        m.setField(40, "1")
    else:
        m.setField(40, "2")
        m.setField(44, price_to_fix(req.limit_price))
    if req.participation_cap is not None:
        m.setField(849, _float_to_fix(req.participation_cap))
    if req.end_ns is not None:
        m.setField(126, ts_to_fix(req.end_ns, V44))
    return m


def decode_parent_replace(msg: fix.Message, ts_init: int, *, session: str = "") -> ParentReplace:
    """OrderCancelReplaceRequest (G) -> :class:`ParentReplace` (module docstring: what may
    change); raises :class:`FixDecodeError`."""
    cl = require_field(msg, 11, "ClOrdID")
    orig = require_field(msg, 41, "OrigClOrdID")
    symbol = require_field(msg, 55, "Symbol")
    side = _side(msg)
    qty_text = get_field(msg, 38)
    qty = None if qty_text is None else _qty(qty_text)
    limit = _limit_price(msg, new_order=False)
    params = _parameters(msg)
    return ParentReplace(
        cl_ord_id=cl,
        orig_cl_ord_id=orig,
        symbol=symbol,
        side=side,
        ts_init=ts_init,
        qty=qty,
        end_ns=_time(msg, 126),
        participation_cap=_participation(msg, params),
        limit_price=limit,
        session=session,
    )


def encode_parent_status_request(
    req: ParentStatusRequest, *, ord_status_req_id: str | None = None
) -> fix.Message:
    """OrderStatusRequest (H); the answer echoes OrdStatusReqID (790)."""
    m = new_message(V44, "H")
    m.setField(11, req.cl_ord_id)
    m.setField(55, req.symbol)
    m.setField(54, SIDE_TO_FIX[req.side])
    set_field(m, 790, ord_status_req_id)
    return m


def decode_parent_status_request(
    msg: fix.Message, ts_init: int, *, session: str = ""
) -> ParentStatusRequest:
    """OrderStatusRequest (H) -> :class:`ParentStatusRequest`; raises :class:`FixDecodeError`."""
    return ParentStatusRequest(
        cl_ord_id=require_field(msg, 11, "ClOrdID"),
        symbol=require_field(msg, 55, "Symbol"),
        side=_side(msg),
        ts_init=ts_init,
        session=session,
    )


def decode_parent_command(msg: fix.Message, ts_init: int, *, session: str = "") -> ParentCommand:
    """D, F, G or H -> the matching parent command; raises :class:`FixDecodeError`."""
    kind = msg_type(msg)
    if kind == "D":
        return decode_parent_order(msg, ts_init, session=session)
    if kind == "F":
        return decode_parent_cancel(msg, ts_init, session=session)
    if kind == "G":
        return decode_parent_replace(msg, ts_init, session=session)
    if kind == "H":
        return decode_parent_status_request(msg, ts_init, session=session)
    raise FixDecodeError(f"MsgType (35) {kind!r} is not a parent order message", tag=35, code=3)


# --- parent reports (8) --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ParentReport:
    """A decoded parent ExecutionReport as the OMS sees it.

    ``ord_rej_reason`` is OrdRejReason (103) of a reject; ``ord_status_req_id`` echoes the
    OrderStatusRequest an ORDER_STATUS report answers.
    """

    report: ExecutionReport
    ord_rej_reason: int | None = None
    ord_status_req_id: str | None = None


def encode_parent_report(
    report: ExecutionReport,
    *,
    reject_reason: RejectReason | None = None,
    ord_status_req_id: str | None = None,
) -> fix.Message:
    """A parent ExecutionReport (8) in FIX 4.4.

    ``report.venue_order_id`` is the engine's parent id (OrderID, 37). A reject carries
    OrdRejReason (103) from ``reject_reason`` (see :data:`REJECT_REASON_TO_FIX`), else derived
    from the text, and the text in Text (58). A fill (TRADE, 150=F) carries LastQty (32),
    LastPx (31), CumQty (14), AvgPx (6) and LeavesQty (151) of the parent after it.
    """
    code = None if reject_reason is None else REJECT_REASON_TO_FIX[reject_reason]
    return encode_execution_report(
        report, V44, ord_status_req_id=ord_status_req_id, rej_reason_code=code
    )


def decode_parent_report(msg: fix.Message, ts_init: int) -> ParentReport:
    """ExecutionReport (8) -> :class:`ParentReport`; raises :class:`FixDecodeError`."""
    code = get_field(msg, 103)
    if code is not None and not code.isdigit():
        raise FixDecodeError(f"OrdRejReason (103) is not an integer: {code!r}", tag=103)
    return ParentReport(
        decode_execution_report(msg, ts_init),
        None if code is None else int(code),
        get_field(msg, 790),
    )
