"""Our orders inside the replay venue, and the venue events that describe them (private).

:class:`ReplayOrder` is the venue's mutable record of one child order; :class:`Reports` turns
it into :class:`~engine.events.ExecutionReport` and :class:`~engine.events.CancelReject` values
with unique, sequential ids (``{name}-E{n}``), exactly as the market simulator shapes them.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

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
    order_report,
    rejected_new_order,
    unknown_order_status,
)

__all__ = ["FINAL", "ReplayOrder", "Reports", "crosses"]

FINAL = frozenset({OrdStatus.FILLED, OrdStatus.CANCELED, OrdStatus.REJECTED, OrdStatus.EXPIRED})


def crosses(side: Side, limit: int | None, price: int) -> bool:
    """Whether an order on ``side`` with ``limit`` (``None`` = market) may trade at ``price``."""
    if limit is None:
        return True
    return price <= limit if side is Side.BUY else price >= limit


@dataclass(slots=True, eq=False)  # identity, not field equality: two orders are never "equal"
class ReplayOrder:
    """One child order as the replay venue tracks it."""

    cl_ord_id: str
    venue_order_id: str
    side: Side
    order_type: OrderType
    tif: TimeInForce
    order_qty: int
    price: int | None  # None for a market order
    display_qty: int | None
    seq: int = 0  # priority among our orders at one price; renewed when priority is lost
    arrival: int = 0  # rows with an index below this happened before the order (re)joined
    queue_ahead: int | None = None  # None: its price was outside the displayed depth
    cum_qty: int = 0
    notional: int = 0  # sum of last_qty * last_price, for avg_price
    status: OrdStatus = OrdStatus.NEW
    history: list[str] = field(default_factory=list)  # every ClOrdID the order has had

    @property
    def leaves(self) -> int:
        return 0 if self.status in FINAL else self.order_qty - self.cum_qty

    @property
    def avg_price(self) -> float:
        return self.notional / self.cum_qty if self.cum_qty else 0.0

    @property
    def shown(self) -> int:
        """Displayed part of what is left (``display_qty``: None all, 0 hidden, else a cap)."""
        left = self.leaves
        return left if self.display_qty is None else min(self.display_qty, left)


class Reports:
    """Builds the venue events of one replay, numbering them."""

    def __init__(self, name: str, symbol: str) -> None:
        self._name = name
        self._symbol = symbol
        self._exec_ids = itertools.count(1)

    def _exec_id(self) -> str:
        return f"{self._name}-E{next(self._exec_ids)}"

    def report(
        self,
        o: ReplayOrder,
        exec_type: ExecType,
        ts: int,
        *,
        last_qty: int = 0,
        last_price: int | None = None,
        orig: str | None = None,
        text: str = "",
        liquidity: Liquidity | None = None,
    ) -> ExecutionReport:
        """The order's state after an event, as an ExecutionReport at venue time ``ts``."""
        return order_report(
            o,
            exec_type,
            exec_id=self._exec_id(),
            symbol=self._symbol,
            ts=ts,
            last_qty=last_qty,
            last_price=last_price,
            orig=orig,
            text=text,
            liquidity=liquidity,
        )

    def reject_new(self, order: NewOrder, reason: str, ts: int) -> ExecutionReport:
        """A refused new order: REJECTED, never acknowledged."""
        return rejected_new_order(order, exec_id=self._exec_id(), reason=reason, ts=ts)

    def unknown_status(self, request: StatusRequest, ts: int) -> ExecutionReport:
        """The answer to a status request for an order the venue never saw."""
        return unknown_order_status(request, exec_id=self._exec_id(), ts=ts)

    @staticmethod
    def cancel_reject(
        req: CancelOrder | ReplaceOrder, o: ReplayOrder | None, reason: str, ts: int
    ) -> CancelReject:
        """A refused cancel or replace, with the order's state when it is known."""
        return CancelReject(
            cl_ord_id=req.cl_ord_id,
            orig_cl_ord_id=req.orig_cl_ord_id,
            venue_order_id=None if o is None else o.venue_order_id,
            ord_status=None if o is None else o.status,
            response_to="cancel" if isinstance(req, CancelOrder) else "replace",
            reason=reason,
            ts_event=ts,
            ts_init=ts,
        )
