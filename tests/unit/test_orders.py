"""The parent and child state machines: the paths the engine relies on, and what is refused."""

from __future__ import annotations

import pytest

from engine.events import NewOrder, OrderType, Side, TimeInForce
from engine.orders import (
    CHILD_MACHINE,
    PARENT_MACHINE,
    ChildEvent,
    ChildOrder,
    ChildState,
    IllegalTransition,
    ParentEvent,
    ParentState,
)


def _child(qty: int = 500) -> ChildOrder:
    order = NewOrder("C1", "XYZ", Side.SELL, qty, OrderType.LIMIT, 500_000, TimeInForce.DAY, 0)
    return ChildOrder(order, "P1")


def test_parent_lifecycle_to_filled_through_a_pending_cancel_that_fills_first() -> None:
    s = PARENT_MACHINE.next(ParentState.PENDING_NEW, ParentEvent.ACCEPT)
    s = PARENT_MACHINE.next(s, ParentEvent.FILL)
    s = PARENT_MACHINE.next(s, ParentEvent.CANCEL_REQUEST)
    # Children are still live while the cancel works: a fill keeps the request pending ...
    assert PARENT_MACHINE.next(s, ParentEvent.FILL) is ParentState.PENDING_CANCEL
    # ... and the last fill ends it FILLED, not CANCELED.
    assert PARENT_MACHINE.next(s, ParentEvent.FILL_COMPLETE) is ParentState.FILLED


@pytest.mark.parametrize(
    "state",
    [ParentState.FILLED, ParentState.CANCELED, ParentState.REJECTED, ParentState.DONE_FOR_DAY],
)
@pytest.mark.parametrize(
    "event",
    [ParentEvent.FILL, ParentEvent.CANCEL_REQUEST, ParentEvent.ACCEPT, ParentEvent.REPLACE_REQUEST],
)
def test_a_final_parent_takes_no_event(state: ParentState, event: ParentEvent) -> None:
    assert state.final
    with pytest.raises(IllegalTransition, match=state.value):
        PARENT_MACHINE.next(state, event)


def test_unknown_child_counts_its_whole_leaves_until_the_venue_answers() -> None:
    c = _child()
    c.cum_qty = 200
    c.apply(ChildEvent.FILL)
    c.apply(ChildEvent.LOST)
    assert c.state is ChildState.UNKNOWN
    assert c.leaves == 300  # still may fill: never treated as failed
    c.apply(ChildEvent.VENUE_SAYS_PARTIAL)
    assert c.state is ChildState.PARTIALLY_FILLED


def test_a_fill_may_overtake_its_ack_and_a_late_ack_does_not_reset_it() -> None:
    c = _child()
    c.cum_qty = 100
    assert c.apply(ChildEvent.FILL) is ChildState.PARTIALLY_FILLED
    with pytest.raises(IllegalTransition):
        c.apply(ChildEvent.ACK)  # the engine only applies ACK from PENDING_NEW / UNKNOWN


def test_rejected_cancel_returns_to_the_working_state_its_fills_say() -> None:
    c = _child()
    c.apply(ChildEvent.ACK)
    c.cum_qty = 100
    c.apply(ChildEvent.FILL)
    c.apply(ChildEvent.CANCEL_REQUEST)
    assert c.apply(ChildEvent.CANCEL_REJECTED) is ChildState.PARTIALLY_FILLED


def test_final_child_has_nothing_left_to_fill_and_takes_no_more_events() -> None:
    c = _child()
    c.apply(ChildEvent.ACK)
    c.apply(ChildEvent.CANCELED)
    assert c.leaves == 0
    with pytest.raises(IllegalTransition):
        c.apply(ChildEvent.FILL)
    assert (ChildState.CANCELED, ChildEvent.ACK) not in CHILD_MACHINE.table
