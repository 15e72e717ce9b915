"""Domain values between the OMS and the engine: parent-order commands in, parent reports out.

The OMS side mirrors the venue side (:mod:`engine.events`): an OMS adapter (FIX acceptor, REST)
decodes its wire format into these commands at the edge, and the engine answers with
:class:`~engine.events.ExecutionReport` values about the *parent* (``venue_order_id`` is the
engine's parent id) and :class:`~engine.events.CancelReject` values, which the adapter encodes
back. Decoding checks syntax and types only; whether an order makes sense (a known symbol, an
end after the start, a cap within the maximum, feasibility) is the engine's decision, answered
with a :class:`RejectReason` and a readable text.

Prices are integer units of 1/10,000 (:data:`engine.events.PRICE_SCALE`), times integer
nanoseconds since the Unix epoch (UTC), quantities whole shares.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final, NamedTuple

from strategies.schedule import Side

__all__ = [
    "PARENT_STRATEGIES",
    "ParentCancel",
    "ParentCommand",
    "ParentOrder",
    "ParentReplace",
    "ParentStatusRequest",
    "PendingReplace",
    "RejectReason",
]

# What a parent may ask for: the planner's strategies plus ``adaptive`` (the regime policy in
# full). ``aggressive``/``conservative`` are analysis baselines, not offered to an OMS.
PARENT_STRATEGIES: Final = ("ac", "dp", "twap", "vwap", "pov", "adaptive")


class RejectReason(enum.StrEnum):
    """Why a parent order or instruction is refused (encoded as FIX OrdRejReason, 103)."""

    UNKNOWN_SYMBOL = "unknown_symbol"  # 1
    EXCHANGE_CLOSED = "exchange_closed"  # 2 (halted, shutting down)
    EXCEEDS_LIMIT = "exceeds_limit"  # 3 (cap above the maximum, size limits)
    TOO_LATE = "too_late"  # 4 (end time passed, or before the start)
    UNKNOWN_ORDER = "unknown_order"  # 5
    DUPLICATE = "duplicate"  # 6 (ClOrdID already used)
    INCORRECT_QUANTITY = "incorrect_quantity"  # 13
    UNSUPPORTED = "unsupported"  # 11 (unknown strategy or parameter)
    INFEASIBLE = "infeasible"  # 99 (cannot finish under the cap and the volume forecast)
    OTHER = "other"  # 99


@dataclass(frozen=True, slots=True, kw_only=True)
class ParentOrder:
    """A new parent order (FIX NewOrderSingle with TargetStrategy and its parameters).

    ``start_ns`` ``None``: start now. ``end_ns`` ``None``: the OMS gave no end time (the engine
    refuses it: a liquidation needs a deadline). ``risk_aversion``, ``participation_cap`` and
    ``urgency`` ``None``: the configured defaults. ``session`` names the OMS connection the order
    came from, so its reports go back there.
    """

    cl_ord_id: str
    symbol: str
    side: Side
    qty: int
    strategy: str
    end_ns: int | None
    ts_init: int
    start_ns: int | None = None
    limit_price: int | None = None
    risk_aversion: float | None = None
    participation_cap: float | None = None
    urgency: float | None = None
    session: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ParentCancel:
    """Cancel the parent known as ``orig_cl_ord_id`` (FIX OrderCancelRequest)."""

    cl_ord_id: str
    orig_cl_ord_id: str
    symbol: str
    side: Side
    ts_init: int
    session: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ParentReplace:
    """Amend a parent (FIX OrderCancelReplaceRequest): ``None`` keeps the current value.

    ``qty`` is the new total quantity (it must exceed what has filled).
    """

    cl_ord_id: str
    orig_cl_ord_id: str
    symbol: str
    side: Side
    ts_init: int
    qty: int | None = None
    end_ns: int | None = None
    participation_cap: float | None = None
    limit_price: int | None = None
    session: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ParentStatusRequest:
    """Ask for a parent's current state (FIX OrderStatusRequest)."""

    cl_ord_id: str
    symbol: str
    side: Side
    ts_init: int
    session: str = ""


ParentCommand = ParentOrder | ParentCancel | ParentReplace | ParentStatusRequest


class PendingReplace(NamedTuple):
    """A parent replace the engine accepted but has not applied: the request and the values it
    leaves the parent with once the children that might fill past it are done."""

    cmd: ParentReplace
    qty: int
    end_ns: int
    cap: float
