"""The matching engine against a naive oracle, and its invariants, over random order streams."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from adapters.sim.book import OrderBook
from engine.events import OrderType, Side, TimeInForce
from tests.naive import NaiveBook

TICK = 100

add_op = st.tuples(
    st.just("add"),
    st.sampled_from([Side.BUY, Side.SELL]),
    st.integers(1, 8).map(lambda n: n * 10),  # quantity
    st.integers(95, 105).map(lambda p: p * TICK),  # price
    st.sampled_from(["limit", "limit", "limit", "ioc", "market"]),
    st.sampled_from([None, None, 0, 10, 20]),  # display
    st.sampled_from([None, None, "us", "them"]),  # owner
)
cancel_op = st.tuples(st.just("cancel"), st.integers(0, 40))
replace_op = st.tuples(
    st.just("replace"),
    st.integers(0, 40),
    st.integers(1, 8).map(lambda n: n * 10),
    st.integers(95, 105).map(lambda p: p * TICK),
)
ops = st.lists(st.one_of(add_op, add_op, cancel_op, replace_op), min_size=1, max_size=80)


def _apply(book: OrderBook, naive: NaiveBook, op, ids: list[int]):
    if op[0] == "add":
        _, side, qty, price, kind, display, owner = op
        order_type = OrderType.MARKET if kind == "market" else OrderType.LIMIT
        tif = TimeInForce.IOC if kind == "ioc" else TimeInForce.DAY
        r = book.add(
            side, qty, price=price, order_type=order_type, tif=tif, display=display, owner=owner
        )
        ids.append(r.order_id)
        n = naive.add(
            r.order_id,
            str(side),
            qty,
            price,
            "market" if kind == "market" else "limit",
            "ioc" if kind in ("ioc", "market") else "day",
            display,
            owner,
        )
        return r, n, qty
    if not ids:
        return None, None, 0
    oid = ids[op[1] % len(ids)]
    if op[0] == "cancel":
        return book.cancel(oid), naive.cancel(oid), 0
    _, _, qty, price = op
    resting = book.order(oid)
    before = resting.qty if resting is not None else None  # read now: replace mutates it
    r = book.replace(oid, qty, price)
    n = naive.replace(oid, qty, price)
    return r, n, (qty - before if before is not None else 0)


@given(ops)
def test_book_when_random_orders_then_fills_and_depth_match_naive_oracle(stream):
    book, naive, ids = OrderBook("X", tick=TICK), NaiveBook(), []
    for op in stream:
        r, n, _ = _apply(book, naive, op, ids)
        if op[0] == "cancel":
            assert r == n
        elif r is not None and r.reject_reason is None:
            assert [(f.price, f.qty, f.passive_id) for f in r.fills] == n[0]
            assert (r.rested, r.canceled) == (n[1], n[2])
        for side in (Side.BUY, Side.SELL):
            assert book.depth(side, 1000) == naive.depth(str(side))


@given(ops)
def test_book_when_random_orders_then_quantity_conserved_and_never_crossed(stream):
    book, naive, ids = OrderBook("X", tick=TICK), NaiveBook(), []
    submitted = filled = canceled = 0
    for op in stream:
        r, _, added = _apply(book, naive, op, ids)
        if op[0] == "add":
            submitted += added
            filled += 2 * r.filled  # both sides of every fill leave the book's accounting
            canceled += r.canceled
        elif op[0] == "cancel":
            canceled += r or 0
        elif r is not None and r.reject_reason is None:
            submitted += max(added, 0)
            canceled += max(-added, 0)
            filled += 2 * r.filled
            canceled += r.canceled
        # Every share submitted is resting, filled (counted once per side) or cancelled.
        assert submitted == book.total_qty() + filled + canceled
        bid, ask = book._prices[Side.BUY], book._prices[Side.SELL]
        if bid and ask:
            assert bid[-1] < ask[0], "book crossed after matching"


@given(ops, st.data())
def test_cancelled_order_when_later_orders_arrive_then_never_fills(stream, data):
    book, naive, ids = OrderBook("X", tick=TICK), NaiveBook(), []
    cancelled: set[int] = set()
    for op in stream:
        if ids and data.draw(st.booleans()):
            victim = ids[data.draw(st.integers(0, len(ids) - 1))]
            book.cancel(victim)
            cancelled.add(victim)
        r, _, _ = _apply(book, naive, op, ids)
        if op[0] == "add":
            assert not {f.passive_id for f in r.fills} & cancelled
            for oid in cancelled:
                assert oid not in book
