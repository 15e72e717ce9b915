"""Order entry against the FIX simulator over real QuickFIX sessions (FIX 4.2 and 4.4).

One acceptor and one initiator serve the whole module; each test gets a fresh market (resting
liquidity: bids 99.99x500, 99.98x300, 99.97x200; asks 100.01x400, 100.02x300, 100.03x200).
Time never moves unless a test steps it: the market is the test's stand-in.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
import quickfix as fix

from adapters.fix.codec import (
    decode_business_reject,
    decode_cancel_reject,
    decode_execution_report,
    encode_cancel,
    encode_new_order,
    encode_replace,
    encode_status_request,
)
from adapters.fix.wire import FixVersion
from engine.events import (
    CancelOrder,
    ExecType,
    ExecutionReport,
    NewOrder,
    OrderType,
    OrdStatus,
    ReplaceOrder,
    Side,
    StatusRequest,
    TimeInForce,
)
from tests.kit.fix_client import FixSimHarness

pytestmark = pytest.mark.asyncio(loop_scope="module")
VERSIONS = [FixVersion.FIX42, FixVersion.FIX44]
PX = 1_000_000  # 100.00: inside the spread


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def sim(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[FixSimHarness]:
    h = await FixSimHarness.start(Path(tmp_path_factory.mktemp("fixsim-orders")))
    yield h
    await h.close()


@pytest_asyncio.fixture(loop_scope="module")
async def h(sim: FixSimHarness) -> FixSimHarness:
    await sim.fresh()
    return sim


def _order(cl: str, side: Side, qty: int, price: int | None = PX, **kw: object) -> NewOrder:
    kind = OrderType.LIMIT if price is not None else OrderType.MARKET
    return NewOrder(cl, "XYZ", side, qty, kind, price, kw.pop("tif", TimeInForce.DAY), 0, **kw)  # type: ignore[arg-type]


async def _report(h: FixSimHarness, v: FixVersion) -> ExecutionReport:
    return decode_execution_report(await h.expect(v, "8"), 0)


async def _new(h: FixSimHarness, v: FixVersion, order: NewOrder) -> ExecutionReport:
    h.send(v, encode_new_order(order, v))
    ack = await _report(h, v)
    assert (ack.exec_type, ack.ord_status, ack.cl_ord_id) == (
        ExecType.NEW,
        OrdStatus.NEW,
        order.cl_ord_id,
    )
    return ack


@pytest.mark.parametrize("v", VERSIONS)
async def test_new_order_when_hit_twice_then_partial_fill_then_filled_in_dialect(
    h: FixSimHarness, v: FixVersion
) -> None:
    ack = await _new(h, v, _order("s1", Side.SELL, 300))
    h.exchange.add_order("XYZ", Side.BUY, 100, price=PX)
    partial_msg = await h.expect(v, "8")
    h.exchange.add_order("XYZ", Side.BUY, 250, price=PX)
    fill_msg = await h.expect(v, "8")
    partial, fill = decode_execution_report(partial_msg, 0), decode_execution_report(fill_msg, 0)
    assert (partial.exec_type, partial.ord_status) == (ExecType.TRADE, OrdStatus.PARTIALLY_FILLED)
    assert (partial.last_qty, partial.last_price, partial.cum_qty, partial.leaves_qty) == (
        100,
        PX,
        100,
        200,
    )
    assert (fill.exec_type, fill.ord_status) == (ExecType.TRADE, OrdStatus.FILLED)
    assert (fill.last_qty, fill.cum_qty, fill.leaves_qty, fill.avg_price) == (200, 300, 0, PX)
    assert fill.venue_order_id == partial.venue_order_id == ack.venue_order_id
    assert len({ack.exec_id, partial.exec_id, fill.exec_id}) == 3
    if v is FixVersion.FIX42:
        assert [m.getField(150) for m in (partial_msg, fill_msg)] == ["1", "2"]
        assert [m.getField(20) for m in (partial_msg, fill_msg)] == ["0", "0"]
    else:
        assert [m.getField(150) for m in (partial_msg, fill_msg)] == ["F", "F"]
        assert partial_msg.getField(851) == "1"  # we added liquidity


@pytest.mark.parametrize("v", VERSIONS)
async def test_new_order_when_sweeping_two_levels_then_exact_avg_price(
    h: FixSimHarness, v: FixVersion
) -> None:
    await _new(h, v, _order("b1", Side.BUY, 600, 1_000_200))
    first, second = await _report(h, v), await _report(h, v)
    assert (first.last_qty, first.last_price) == (400, 1_000_100)
    assert (second.last_qty, second.last_price, second.ord_status) == (
        200,
        1_000_200,
        OrdStatus.FILLED,
    )
    assert second.avg_price == (400 * 1_000_100 + 200 * 1_000_200) / 600


@pytest.mark.parametrize("v", VERSIONS)
async def test_ioc_when_partly_marketable_then_rest_canceled_with_reason(
    h: FixSimHarness, v: FixVersion
) -> None:
    await _new(h, v, _order("b2", Side.BUY, 500, 1_000_100, tif=TimeInForce.IOC))
    fill, rest = await _report(h, v), await _report(h, v)
    assert (fill.last_qty, fill.leaves_qty) == (400, 100)
    assert (rest.exec_type, rest.ord_status, rest.cum_qty, rest.leaves_qty) == (
        ExecType.CANCELED,
        OrdStatus.CANCELED,
        400,
        0,
    )
    assert "IOC" in rest.text


@pytest.mark.parametrize("v", VERSIONS)
async def test_market_order_when_book_deep_enough_then_filled_at_best_bid(
    h: FixSimHarness, v: FixVersion
) -> None:
    await _new(h, v, _order("m1", Side.SELL, 300, None))
    fill = await _report(h, v)
    assert (fill.last_qty, fill.last_price, fill.ord_status) == (300, 999_900, OrdStatus.FILLED)


@pytest.mark.parametrize("v", VERSIONS)
@pytest.mark.parametrize(("floor", "shown", "fills"), [(100, 100, [100, 100, 100]), (0, 0, [300])])
async def test_max_floor_when_given_then_book_displays_only_the_floor(
    h: FixSimHarness, v: FixVersion, floor: int, shown: int, fills: list[int]
) -> None:
    await _new(h, v, _order("i1", Side.SELL, 500, display_qty=floor))
    assert h.exchange.books["XYZ"].visible_at(Side.SELL, PX) == shown
    h.exchange.add_order("XYZ", Side.BUY, 300, price=PX)  # hidden or not, it trades
    # An iceberg trades one displayed peak per fill (refilled from the reserve in between).
    reports = [await _report(h, v) for _ in fills]
    assert [r.last_qty for r in reports] == fills
    assert (reports[-1].cum_qty, reports[-1].leaves_qty) == (300, 200)


@pytest.mark.parametrize("v", VERSIONS)
async def test_cancel_when_resting_then_canceled_on_new_clordid(
    h: FixSimHarness, v: FixVersion
) -> None:
    ack = await _new(h, v, _order("c1", Side.SELL, 300))
    h.send(v, encode_cancel(CancelOrder("c2", "c1", "XYZ", Side.SELL, 0), v))
    done = await _report(h, v)
    assert (done.exec_type, done.ord_status, done.cl_ord_id, done.orig_cl_ord_id) == (
        ExecType.CANCELED,
        OrdStatus.CANCELED,
        "c2",
        "c1",
    )
    assert (done.leaves_qty, done.cum_qty, done.venue_order_id) == (0, 0, ack.venue_order_id)
    assert h.exchange.books["XYZ"].visible_at(Side.SELL, PX) == 0


@pytest.mark.parametrize("v", VERSIONS)
async def test_cancel_when_order_unknown_then_cancel_reject_unknown_order(
    h: FixSimHarness, v: FixVersion
) -> None:
    h.send(v, encode_cancel(CancelOrder("c9", "nope", "XYZ", Side.SELL, 0), v))
    msg = await h.expect(v, "9")
    rej = decode_cancel_reject(msg, 0)
    assert (rej.cl_ord_id, rej.orig_cl_ord_id, rej.venue_order_id) == ("c9", "nope", None)
    assert (rej.response_to, rej.reason) == ("cancel", "unknown order")
    assert (msg.getField(102), msg.getField(434), msg.getField(37)) == ("1", "1", "NONE")


@pytest.mark.parametrize("v", VERSIONS)
async def test_cancel_when_already_filled_then_cancel_reject_too_late(
    h: FixSimHarness, v: FixVersion
) -> None:
    await _new(h, v, _order("f1", Side.BUY, 100, 1_000_100))
    assert (await _report(h, v)).ord_status is OrdStatus.FILLED
    h.send(v, encode_cancel(CancelOrder("f2", "f1", "XYZ", Side.BUY, 0), v))
    msg = await h.expect(v, "9")
    rej = decode_cancel_reject(msg, 0)
    assert rej.ord_status is OrdStatus.FILLED
    assert rej.reason.startswith("too late to cancel")
    assert (msg.getField(102), msg.getField(39)) == ("0", "2")


@pytest.mark.parametrize("v", VERSIONS)
async def test_replace_when_quantity_down_same_price_then_keeps_priority(
    h: FixSimHarness, v: FixVersion
) -> None:
    await _new(h, v, _order("r1", Side.SELL, 300))
    h.exchange.add_order("XYZ", Side.SELL, 100, price=PX)  # queues behind us
    h.send(v, encode_replace(ReplaceOrder("r2", "r1", "XYZ", Side.SELL, 200, PX, 0), v))
    rep_msg = await h.expect(v, "8")
    rep = decode_execution_report(rep_msg, 0)
    assert (rep.exec_type, rep.cl_ord_id, rep.orig_cl_ord_id) == (ExecType.REPLACED, "r2", "r1")
    assert (rep.order_qty, rep.leaves_qty, rep.ord_status) == (200, 200, OrdStatus.NEW)
    assert rep_msg.getField(39) == ("5" if v is FixVersion.FIX42 else "0")
    h.exchange.add_order("XYZ", Side.BUY, 150, price=PX)
    fill = await _report(h, v)
    assert (fill.cl_ord_id, fill.last_qty, fill.leaves_qty) == ("r2", 150, 50)


@pytest.mark.parametrize("v", VERSIONS)
async def test_replace_when_quantity_up_then_loses_priority(
    h: FixSimHarness, v: FixVersion
) -> None:
    await _new(h, v, _order("q1", Side.SELL, 300))
    h.exchange.add_order("XYZ", Side.SELL, 100, price=PX)
    h.send(v, encode_replace(ReplaceOrder("q2", "q1", "XYZ", Side.SELL, 400, None, 0), v))
    rep = await _report(h, v)
    assert (rep.exec_type, rep.order_qty, rep.price) == (ExecType.REPLACED, 400, PX)
    h.exchange.add_order("XYZ", Side.BUY, 100, price=PX)  # the other order is now first
    assert await h.sync(v) == []
    h.exchange.add_order("XYZ", Side.BUY, 50, price=PX)
    fill = await _report(h, v)
    assert (fill.cl_ord_id, fill.last_qty, fill.cum_qty) == ("q2", 50, 50)


@pytest.mark.parametrize("v", VERSIONS)
async def test_replace_when_below_filled_quantity_then_cancel_reject_with_reason(
    h: FixSimHarness, v: FixVersion
) -> None:
    await _new(h, v, _order("p1", Side.SELL, 300))
    h.exchange.add_order("XYZ", Side.BUY, 200, price=PX)
    await _report(h, v)
    h.send(v, encode_replace(ReplaceOrder("p2", "p1", "XYZ", Side.SELL, 150, None, 0), v))
    rej = decode_cancel_reject(await h.expect(v, "9"), 0)
    assert (rej.response_to, rej.ord_status) == ("replace", OrdStatus.PARTIALLY_FILLED)
    assert "not above the 200 already filled" in rej.reason


@pytest.mark.parametrize("v", VERSIONS)
async def test_status_request_when_partially_filled_then_order_status_with_cum_qty(
    h: FixSimHarness, v: FixVersion
) -> None:
    await _new(h, v, _order("t1", Side.SELL, 300))
    h.exchange.add_order("XYZ", Side.BUY, 120, price=PX)
    await _report(h, v)
    h.send(
        v,
        encode_status_request(StatusRequest("t1", "XYZ", Side.SELL, 0), v, ord_status_req_id="st7"),
    )
    msg = await h.expect(v, "8")
    st = decode_execution_report(msg, 0)
    assert (st.exec_type, st.ord_status) == (ExecType.ORDER_STATUS, OrdStatus.PARTIALLY_FILLED)
    assert (st.cum_qty, st.leaves_qty, st.avg_price) == (120, 180, PX)
    if v is FixVersion.FIX42:
        assert (msg.getField(20), msg.getField(150)) == ("3", "1")
    else:
        assert (msg.getField(150), msg.getField(790)) == ("I", "st7")


@pytest.mark.parametrize("v", VERSIONS)
async def test_status_request_when_unknown_order_then_rejected_status_unknown_order(
    h: FixSimHarness, v: FixVersion
) -> None:
    h.send(v, encode_status_request(StatusRequest("ghost", "XYZ", Side.BUY, 0), v))
    st = await _report(h, v)
    assert (st.exec_type, st.ord_status, st.text) == (
        ExecType.ORDER_STATUS,
        OrdStatus.REJECTED,
        "unknown order",
    )


# --- malformed messages --------------------------------------------------------------------------


@pytest.mark.parametrize("v", VERSIONS)
async def test_new_order_when_side_missing_then_session_reject_and_session_stays_up(
    h: FixSimHarness, v: FixVersion
) -> None:
    msg = encode_new_order(_order("x1", Side.BUY, 100), v)
    msg.removeField(54)
    h.send(v, msg)
    rej = await h.expect(v, "3")
    assert (rej.getField(373), rej.getField(371), rej.getField(372)) == ("1", "54", "D")
    assert h.client.logged_on(h.key(v))
    await _new(h, v, _order("x2", Side.BUY, 100))


@pytest.mark.parametrize("v", VERSIONS)
async def test_new_order_when_quantity_negative_then_rejected_with_reason_and_next_order_works(
    h: FixSimHarness, v: FixVersion
) -> None:
    msg = encode_new_order(_order("n1", Side.BUY, 100), v)
    msg.setField(38, "-100")
    h.send(v, msg)
    out = await h.expect(v, "8")
    rej = decode_execution_report(out, 0)
    assert (rej.exec_type, rej.ord_status, rej.cl_ord_id) == (
        ExecType.REJECTED,
        OrdStatus.REJECTED,
        "n1",
    )
    assert rej.text == "OrderQty (38) must be > 0, got -100"
    assert out.getField(103) == ("13" if v is FixVersion.FIX44 else "0")
    assert h.exchange.order_state(h.venue_key(v), "n1") is None
    assert h.client.logged_on(h.key(v))
    await _new(h, v, _order("n2", Side.BUY, 100))


@pytest.mark.parametrize("v", VERSIONS)
async def test_new_order_when_side_unsupported_then_rejected_naming_allowed_values(
    h: FixSimHarness, v: FixVersion
) -> None:
    msg = encode_new_order(_order("u1", Side.SELL, 100), v)
    msg.setField(54, "5")  # sell short: valid FIX, not offered here
    h.send(v, msg)
    rej = await h.expect(v, "8")
    assert rej.getField(39) == "8"
    assert "Side (54) '5' is not supported here; use 1 (buy) or 2 (sell)" in rej.getField(58)


@pytest.mark.parametrize("v", VERSIONS)
async def test_message_when_type_unsupported_then_business_reject_and_session_stays_up(
    h: FixSimHarness, v: FixVersion
) -> None:
    msg = fix.Message()
    msg.getHeader().setField(8, v.value)
    msg.getHeader().setField(35, "R")  # QuoteRequest: exists in both versions, not offered
    msg.setField(131, "q1")
    group = fix.Group(146, 55)
    group.setField(55, "XYZ")
    msg.addGroup(group)
    h.send(v, msg)
    rej = decode_business_reject(await h.expect(v, "j"))
    assert (rej.ref_msg_type, rej.reason_code) == ("R", 3)
    assert h.client.logged_on(h.key(v))
    await _new(h, v, _order("k1", Side.BUY, 100))
