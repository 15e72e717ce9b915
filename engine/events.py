"""Domain values that cross the engine's edges: market events, order instructions, venue events.

Every value is a frozen, slotted dataclass. Prices are integers in units of 1/10,000 of the
currency (:data:`PRICE_SCALE`, LOBSTER's convention): equality and tick arithmetic are exact.
Quantities are whole shares. Timestamps are integer nanoseconds: ``ts_event`` when the venue or
exchange says it happened, ``ts_init`` when we created or received the value. Adapters translate
their wire formats (FIX, JSON, LOBSTER CSV) into these at the edge and back; nothing else does.

Venue events mirror a FIX ExecutionReport (one shape for acks, fills, cancels, replaces,
rejects and status answers) and OrderCancelReject, so a FIX venue and a simulated one produce
the same values.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol

from strategies.schedule import Side

__all__ = [
    "PRICE_SCALE",
    "BookSnapshot",
    "BookUpdate",
    "CancelOrder",
    "CancelReject",
    "ExecType",
    "ExecutionReport",
    "Liquidity",
    "MarketEvent",
    "NewOrder",
    "OrdStatus",
    "OrderState",
    "OrderType",
    "Quote",
    "ReplaceOrder",
    "Side",
    "StatusRequest",
    "TimeInForce",
    "Trade",
    "TradingState",
    "TradingStatus",
    "VenueEvent",
    "VenueInstruction",
    "order_report",
    "price_from_float",
    "price_to_float",
    "refused_report",
    "rejected_new_order",
    "unknown_order_status",
]

PRICE_SCALE = 10_000


def price_to_float(price: int) -> float:
    """Convert integer price units to currency."""
    return price / PRICE_SCALE


def price_from_float(value: float) -> int:
    """Convert currency to integer price units, rounding to the nearest unit."""
    return round(value * PRICE_SCALE)


# --- market data -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Quote:
    """Top of book. A price of ``None`` (with size 0) means that side is empty."""

    symbol: str
    bid_price: int | None
    bid_size: int
    ask_price: int | None
    ask_size: int
    ts_event: int
    ts_init: int

    @property
    def mid(self) -> float | None:
        """Mid price in price units, or ``None`` if either side is empty."""
        if self.bid_price is None or self.ask_price is None:
            return None
        return 0.5 * (self.bid_price + self.ask_price)


@dataclass(frozen=True, slots=True)
class Trade:
    """A print on the tape. ``aggressor`` is the side of the order that took liquidity."""

    symbol: str
    price: int
    size: int
    aggressor: Side | None
    trade_id: str
    ts_event: int
    ts_init: int


@dataclass(frozen=True, slots=True)
class BookSnapshot:
    """Displayed depth: ``(price, size)`` per level, best first."""

    symbol: str
    bids: tuple[tuple[int, int], ...]
    asks: tuple[tuple[int, int], ...]
    ts_event: int
    ts_init: int


@dataclass(frozen=True, slots=True)
class BookUpdate:
    """One displayed level changed: its new aggregate ``size`` (0 = level gone)."""

    symbol: str
    side: Side
    price: int
    size: int
    ts_event: int
    ts_init: int


class TradingState(enum.StrEnum):
    TRADING = "trading"
    HALTED = "halted"


@dataclass(frozen=True, slots=True)
class TradingStatus:
    """The symbol's trading state changed (a halt or a resumption)."""

    symbol: str
    state: TradingState
    reason: str
    ts_event: int
    ts_init: int


MarketEvent = Quote | Trade | BookSnapshot | BookUpdate | TradingStatus


# --- order instructions (engine -> venue) ----------------------------------------------------


class OrderType(enum.StrEnum):
    LIMIT = "limit"
    MARKET = "market"


class TimeInForce(enum.StrEnum):
    DAY = "day"
    IOC = "ioc"


@dataclass(frozen=True, slots=True)
class NewOrder:
    """A child order. ``display_qty``: ``None`` fully displayed, ``0`` hidden, else iceberg."""

    cl_ord_id: str
    symbol: str
    side: Side
    qty: int
    order_type: OrderType
    price: int | None
    tif: TimeInForce
    ts_init: int
    display_qty: int | None = None


@dataclass(frozen=True, slots=True)
class CancelOrder:
    """Cancel the order known as ``orig_cl_ord_id``; ``cl_ord_id`` names this request."""

    cl_ord_id: str
    orig_cl_ord_id: str
    symbol: str
    side: Side
    ts_init: int


@dataclass(frozen=True, slots=True)
class ReplaceOrder:
    """Change quantity and/or price of ``orig_cl_ord_id``; the order is then ``cl_ord_id``."""

    cl_ord_id: str
    orig_cl_ord_id: str
    symbol: str
    side: Side
    qty: int
    price: int | None
    ts_init: int


@dataclass(frozen=True, slots=True)
class StatusRequest:
    """Ask the venue for the current state of ``cl_ord_id``."""

    cl_ord_id: str
    symbol: str
    side: Side
    ts_init: int


VenueInstruction = NewOrder | CancelOrder | ReplaceOrder | StatusRequest


# --- venue events (venue -> engine) -----------------------------------------------------------


class ExecType(enum.StrEnum):
    """What happened (FIX tag 150)."""

    NEW = "new"
    TRADE = "trade"
    CANCELED = "canceled"
    REPLACED = "replaced"
    REJECTED = "rejected"
    EXPIRED = "expired"
    DONE_FOR_DAY = "done_for_day"
    PENDING_NEW = "pending_new"
    PENDING_CANCEL = "pending_cancel"
    PENDING_REPLACE = "pending_replace"
    ORDER_STATUS = "order_status"
    SUSPENDED = "suspended"  # a parent halted (kill switch, breaker): nothing is being worked
    RESTATED = "restated"  # the engine changed the order on its own (here: resumed)


class OrdStatus(enum.StrEnum):
    """State of the order after the event (FIX tag 39)."""

    PENDING_NEW = "pending_new"
    NEW = "new"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELED = "canceled"
    REPLACED = "replaced"
    PENDING_CANCEL = "pending_cancel"
    PENDING_REPLACE = "pending_replace"
    REJECTED = "rejected"
    EXPIRED = "expired"
    DONE_FOR_DAY = "done_for_day"
    SUSPENDED = "suspended"


class Liquidity(enum.StrEnum):
    ADDED = "added"
    REMOVED = "removed"


@dataclass(frozen=True, slots=True)
class ExecutionReport:
    """One venue event about one order (FIX ExecutionReport, MsgType 8).

    ``exec_id`` is unique per venue event: a receiver deduplicates on it. For a fill,
    ``last_qty``/``last_price`` describe this fill and ``cum_qty``/``leaves_qty``/``avg_price``
    the order after it. ``possible_duplicate`` is FIX PossDupFlag: the venue may have sent it.
    """

    exec_id: str
    cl_ord_id: str
    orig_cl_ord_id: str | None
    venue_order_id: str
    exec_type: ExecType
    ord_status: OrdStatus
    symbol: str
    side: Side
    order_qty: int
    price: int | None
    last_qty: int
    last_price: int | None
    cum_qty: int
    leaves_qty: int
    avg_price: float
    ts_event: int
    ts_init: int
    text: str = ""
    liquidity: Liquidity | None = None
    possible_duplicate: bool = False


@dataclass(frozen=True, slots=True)
class CancelReject:
    """A cancel or replace was refused (FIX OrderCancelReject, MsgType 9)."""

    cl_ord_id: str
    orig_cl_ord_id: str
    venue_order_id: str | None
    ord_status: OrdStatus | None
    response_to: str  # "cancel" or "replace"
    reason: str
    ts_event: int
    ts_init: int


VenueEvent = ExecutionReport | CancelReject


class OrderState(Protocol):
    """What a venue knows of one order: enough to report its state (see :func:`order_report`)."""

    cl_ord_id: str
    venue_order_id: str
    status: OrdStatus
    side: Side
    order_qty: int
    price: int | None
    cum_qty: int

    @property
    def leaves(self) -> int: ...

    @property
    def avg_price(self) -> float: ...


def order_report(
    o: OrderState,
    exec_type: ExecType,
    *,
    exec_id: str,
    symbol: str,
    ts: int,
    last_qty: int = 0,
    last_price: int | None = None,
    orig: str | None = None,
    text: str = "",
    liquidity: Liquidity | None = None,
) -> ExecutionReport:
    """The report of an order's state after an event, at venue time ``ts``."""
    return ExecutionReport(
        exec_id=exec_id,
        cl_ord_id=o.cl_ord_id,
        orig_cl_ord_id=orig,
        venue_order_id=o.venue_order_id,
        exec_type=exec_type,
        ord_status=o.status,
        symbol=symbol,
        side=o.side,
        order_qty=o.order_qty,
        price=o.price,
        last_qty=last_qty,
        last_price=last_price,
        cum_qty=o.cum_qty,
        leaves_qty=o.leaves,
        avg_price=o.avg_price,
        ts_event=ts,
        ts_init=ts,
        text=text,
        liquidity=liquidity,
    )


def refused_report(
    *,
    exec_id: str,
    cl_ord_id: str,
    symbol: str,
    side: Side,
    ts: int,
    text: str,
    exec_type: ExecType = ExecType.REJECTED,
    order_qty: int = 0,
    price: int | None = None,
) -> ExecutionReport:
    """A report about an order that never lived (refused, or unknown): status REJECTED,
    OrderID ``NONE``, nothing filled or left."""
    return ExecutionReport(
        exec_id=exec_id,
        cl_ord_id=cl_ord_id,
        orig_cl_ord_id=None,
        venue_order_id="NONE",
        exec_type=exec_type,
        ord_status=OrdStatus.REJECTED,
        symbol=symbol,
        side=side,
        order_qty=order_qty,
        price=price,
        last_qty=0,
        last_price=None,
        cum_qty=0,
        leaves_qty=0,
        avg_price=0.0,
        ts_event=ts,
        ts_init=ts,
        text=text,
    )


def rejected_new_order(order: NewOrder, *, exec_id: str, reason: str, ts: int) -> ExecutionReport:
    """The report for a new order a venue refuses: REJECTED, never acknowledged."""
    return refused_report(
        exec_id=exec_id,
        cl_ord_id=order.cl_ord_id,
        symbol=order.symbol,
        side=order.side,
        ts=ts,
        text=reason,
        order_qty=order.qty,
        price=order.price,
    )


def unknown_order_status(request: StatusRequest, *, exec_id: str, ts: int) -> ExecutionReport:
    """The answer to a status request for an order the venue never saw."""
    return refused_report(
        exec_id=exec_id,
        cl_ord_id=request.cl_ord_id,
        symbol=request.symbol,
        side=request.side,
        ts=ts,
        text="unknown order",
        exec_type=ExecType.ORDER_STATUS,
    )
