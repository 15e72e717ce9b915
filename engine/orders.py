"""Parent and child order state machines: every allowed transition is a row in a table.

A transition not in the table is a bug or a venue misbehaving; :meth:`_Machine.apply` raises
:class:`IllegalTransition` naming the state and the event, and the engine logs it and leaves the
order where it was rather than guessing.

Parent (what the OMS sees)::

    PENDING_NEW -accept-> NEW -fill-> PARTIALLY_FILLED -fill_complete-> FILLED
    any working state -cancel_request-> PENDING_CANCEL -cancel_done-> CANCELED
    any working state -replace_request-> PENDING_REPLACE -replace_done-> (working state)
    PENDING_NEW -reject-> REJECTED;  working -end_of_day-> DONE_FOR_DAY;  working -expire-> EXPIRED

Fills may arrive in PENDING_CANCEL and PENDING_REPLACE (children still live at the venue), so
those states take ``fill`` too and stay where they are until the request completes.

Child (what we know of an order at the venue)::

    PENDING_NEW -ack-> NEW -fill-> PARTIALLY_FILLED -fill_complete-> FILLED
    working -cancel_request-> PENDING_CANCEL -canceled-> CANCELED
    working -replace_request-> PENDING_REPLACE -replaced-> NEW / PARTIALLY_FILLED
    PENDING_NEW -reject-> REJECTED;  working -expired-> EXPIRED
    any live state -lost-> UNKNOWN (ack timeout, session lost): resolved only by what the venue
    says next (a status answer or any report), never assumed failed.

A child in UNKNOWN may still be live with its whole leaves quantity: it counts as working for
every invariant until the venue answers.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from engine.events import NewOrder
from strategies.schedule import Side

__all__ = [
    "ChildEvent",
    "ChildOrder",
    "ChildState",
    "IllegalTransition",
    "ParentEvent",
    "ParentState",
]


class ParentState(enum.StrEnum):
    PENDING_NEW = "pending_new"
    NEW = "new"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    PENDING_CANCEL = "pending_cancel"
    CANCELED = "canceled"
    PENDING_REPLACE = "pending_replace"
    REJECTED = "rejected"
    DONE_FOR_DAY = "done_for_day"
    EXPIRED = "expired"

    @property
    def final(self) -> bool:
        return self in _PARENT_FINAL


_PARENT_FINAL = frozenset(
    {
        ParentState.FILLED,
        ParentState.CANCELED,
        ParentState.REJECTED,
        ParentState.DONE_FOR_DAY,
        ParentState.EXPIRED,
    }
)


class ParentEvent(enum.StrEnum):
    ACCEPT = "accept"
    REJECT = "reject"
    FILL = "fill"
    FILL_COMPLETE = "fill_complete"
    CANCEL_REQUEST = "cancel_request"
    CANCEL_DONE = "cancel_done"
    REPLACE_REQUEST = "replace_request"
    REPLACE_DONE = "replace_done"  # back to NEW or PARTIALLY_FILLED (by cum qty)
    END_OF_DAY = "end_of_day"
    EXPIRE = "expire"


class ChildState(enum.StrEnum):
    PENDING_NEW = "pending_new"
    NEW = "new"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    PENDING_CANCEL = "pending_cancel"
    CANCELED = "canceled"
    PENDING_REPLACE = "pending_replace"
    REJECTED = "rejected"
    EXPIRED = "expired"
    UNKNOWN = "unknown"

    @property
    def final(self) -> bool:
        return self in _CHILD_FINAL


_CHILD_FINAL = frozenset(
    {ChildState.FILLED, ChildState.CANCELED, ChildState.REJECTED, ChildState.EXPIRED}
)


class ChildEvent(enum.StrEnum):
    ACK = "ack"
    REJECT = "reject"
    FILL = "fill"
    FILL_COMPLETE = "fill_complete"
    CANCEL_REQUEST = "cancel_request"
    CANCEL_REJECTED = "cancel_rejected"  # back to the working state it had
    CANCELED = "canceled"
    REPLACE_REQUEST = "replace_request"
    REPLACED = "replaced"
    EXPIRED = "expired"
    LOST = "lost"
    # What the venue says about an order in UNKNOWN (or any state) by status or report.
    VENUE_SAYS_NEW = "venue_says_new"
    VENUE_SAYS_PARTIAL = "venue_says_partial"


S = TypeVar("S", bound=enum.Enum)
E = TypeVar("E", bound=enum.Enum)


class IllegalTransition(RuntimeError):
    def __init__(self, what: str, state: enum.Enum, event: enum.Enum) -> None:
        super().__init__(f"{what}: no transition from {state.value} on {event.value}")
        self.state = state
        self.event = event


class _Machine(Generic[S, E]):
    def __init__(self, what: str, table: dict[tuple[S, E], S]) -> None:
        self.what = what
        self.table = table

    def next(self, state: S, event: E) -> S:
        try:
            return self.table[state, event]
        except KeyError:
            raise IllegalTransition(self.what, state, event) from None


def _parent_table() -> dict[tuple[ParentState, ParentEvent], ParentState]:
    P, Ev = ParentState, ParentEvent
    t: dict[tuple[ParentState, ParentEvent], ParentState] = {
        (P.PENDING_NEW, Ev.ACCEPT): P.NEW,
        (P.PENDING_NEW, Ev.REJECT): P.REJECTED,
    }
    working = (P.NEW, P.PARTIALLY_FILLED)
    for s in working:
        t[s, Ev.FILL] = P.PARTIALLY_FILLED
        t[s, Ev.FILL_COMPLETE] = P.FILLED
        t[s, Ev.CANCEL_REQUEST] = P.PENDING_CANCEL
        t[s, Ev.REPLACE_REQUEST] = P.PENDING_REPLACE
        t[s, Ev.END_OF_DAY] = P.DONE_FOR_DAY
        t[s, Ev.EXPIRE] = P.EXPIRED
    for s in (P.PENDING_CANCEL, P.PENDING_REPLACE):
        t[s, Ev.FILL] = s  # children still live: the fill counts, the request goes on
        t[s, Ev.FILL_COMPLETE] = P.FILLED  # nothing left to cancel or replace
        t[s, Ev.END_OF_DAY] = P.DONE_FOR_DAY
    t[P.PENDING_CANCEL, Ev.CANCEL_DONE] = P.CANCELED
    # To NEW; the executor makes it PARTIALLY_FILLED if anything filled (replace_done).
    t[P.PENDING_REPLACE, Ev.REPLACE_DONE] = P.NEW
    t[P.PENDING_REPLACE, Ev.CANCEL_REQUEST] = P.PENDING_CANCEL
    return t


def _child_table() -> dict[tuple[ChildState, ChildEvent], ChildState]:
    C, Ev = ChildState, ChildEvent
    t: dict[tuple[ChildState, ChildEvent], ChildState] = {
        (C.PENDING_NEW, Ev.ACK): C.NEW,
        (C.PENDING_NEW, Ev.REJECT): C.REJECTED,
        (C.PENDING_REPLACE, Ev.REPLACED): C.NEW,  # the engine picks NEW or PARTIAL by cum
    }
    live = (C.PENDING_NEW, C.NEW, C.PARTIALLY_FILLED, C.PENDING_CANCEL, C.PENDING_REPLACE)
    for s in (*live, C.UNKNOWN):
        # A fill may overtake its ack, and fills keep coming while a cancel is in flight.
        t[s, Ev.FILL] = s if s in (C.PENDING_CANCEL, C.PENDING_REPLACE) else C.PARTIALLY_FILLED
        t[s, Ev.FILL_COMPLETE] = C.FILLED
        t[s, Ev.CANCELED] = C.CANCELED
        t[s, Ev.EXPIRED] = C.EXPIRED
        t[s, Ev.LOST] = C.UNKNOWN
        t[s, Ev.VENUE_SAYS_NEW] = C.NEW
        t[s, Ev.VENUE_SAYS_PARTIAL] = C.PARTIALLY_FILLED
    # While a cancel or replace is pending the venue's word does not end the request.
    for s in (C.PENDING_CANCEL, C.PENDING_REPLACE):
        t[s, Ev.VENUE_SAYS_NEW] = s
        t[s, Ev.VENUE_SAYS_PARTIAL] = s
    t[C.UNKNOWN, Ev.REJECT] = C.REJECTED
    t[C.UNKNOWN, Ev.ACK] = C.NEW
    for s in (C.NEW, C.PARTIALLY_FILLED, C.PENDING_NEW):
        t[s, Ev.CANCEL_REQUEST] = C.PENDING_CANCEL
        t[s, Ev.REPLACE_REQUEST] = C.PENDING_REPLACE
    t[C.UNKNOWN, Ev.CANCEL_REQUEST] = C.PENDING_CANCEL
    t[C.PENDING_CANCEL, Ev.CANCEL_REJECTED] = C.NEW  # the engine corrects to PARTIAL by cum
    t[C.PENDING_REPLACE, Ev.CANCEL_REJECTED] = C.NEW
    return t


PARENT_MACHINE: _Machine[ParentState, ParentEvent] = _Machine("parent", _parent_table())
CHILD_MACHINE: _Machine[ChildState, ChildEvent] = _Machine("child", _child_table())


@dataclass(slots=True)
class ChildOrder:
    """One child order as the engine knows it.

    ``leaves`` is what may still fill: for a live or UNKNOWN child the whole unfilled
    quantity, for a final one 0. ``reason`` is why it was sent (the audit trail).
    """

    order: NewOrder
    parent_id: str
    state: ChildState = ChildState.PENDING_NEW
    cum_qty: int = 0
    notional: float = 0.0  # sum of fill qty x price (price units)
    venue_order_id: str = ""
    sent_ns: int = 0
    # When a resting child is cancelled (its time to live, cut to its plan bucket's end) and
    # when it can no longer fill (that plus the cancel allowance: the gate's horizon for the
    # cap). A child left resting past ``expires_ns`` fills against a window that has slid past
    # the volume that let it in.
    stale_ns: int = 0
    expires_ns: int = 0
    reason: str = ""
    cancel_id: str | None = None  # the ClOrdID of our pending cancel, if any
    cancel_ns: int = 0  # when it was sent
    status_asked: bool = False
    fills: list[tuple[int, int, int]] = field(default_factory=list)  # (ts, qty, price)
    exec_ids: set[str] = field(default_factory=set)  # of the venue reports already applied
    # perf_counter() when it was sent, until the venue's first report: the metrics' ack latency
    # (wall time, never read by a decision).
    sent_wall: float = 0.0

    @property
    def cl_ord_id(self) -> str:
        return self.order.cl_ord_id

    @property
    def side(self) -> Side:
        return self.order.side

    @property
    def qty(self) -> int:
        return self.order.qty

    @property
    def leaves(self) -> int:
        return 0 if self.state.final else max(self.order.qty - self.cum_qty, 0)

    def apply(self, event: ChildEvent) -> ChildState:
        new = CHILD_MACHINE.next(self.state, event)
        if new is ChildState.NEW and self.cum_qty > 0:
            new = ChildState.PARTIALLY_FILLED
        self.state = new
        return new
