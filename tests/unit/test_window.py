"""The trailing sum the cap checks read: exact when fills arrive out of time order."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from engine.window import TrailingSum


def test_items_at_or_before_the_start_are_dropped_and_the_rest_summed() -> None:
    w = TrailingSum()
    for ts, q in ((10, 100), (20, 200), (30, 300)):
        w.add(ts, q)
    assert w.after(9) == 600
    assert w.after(10) == 500  # an item exactly at the start is out (the window is (start, now])
    assert w.after(25) == 300 and len(w) == 1


def test_a_late_item_is_put_in_its_time_place() -> None:
    w = TrailingSum()
    w.add(10, 100)
    w.add(30, 300)
    w.add(20, 200)  # a fill learned late, stamped with its own time
    assert w.after(15) == 500
    assert w.after(20) == 300


@given(
    st.lists(st.tuples(st.integers(0, 1_000), st.integers(1, 500)), max_size=60),
    st.lists(st.integers(0, 1_000), max_size=10),
)
def test_equals_a_plain_sum_for_any_order_of_items_and_rising_starts(
    items: list[tuple[int, int]], starts: list[int]
) -> None:
    w = TrailingSum()
    for ts, q in items:
        w.add(ts, q)
    for start in sorted(starts):
        assert w.after(start) == sum(q for ts, q in items if ts > start)
