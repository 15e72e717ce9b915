"""Each fault flag of the FIX simulator, over real QuickFIX sessions (FIX 4.2 and 4.4).

Every test turns one fault on at rate 1 (or schedules it) so the outcome is certain, then
checks what the engine will have to cope with, and that the exchange's state stayed true.
Timed faults fire at the times :class:`FaultSchedule` draws for the seed; the test steps the
simulated clock there (no wall-clock waiting, except QuickFIX's own 1 s reconnect interval).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
import quickfix as fix

from adapters.fix.codec import (
    decode_execution_report,
    encode_cancel,
    encode_new_order,
    encode_replace,
    encode_status_request,
)
from adapters.fix.mdcodec import (
    MarketDataRequest,
    MDEntryType,
    SubscriptionType,
    decode_security_status,
    encode_md_request,
)
from adapters.fix.wire import FixVersion, ts_from_fix
from adapters.fixsim.faults import REJECT_REASON, FaultConfig, FaultSchedule
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
    TradingState,
)
from tests.kit.fix_client import NS, FixSimHarness

pytestmark = pytest.mark.asyncio(loop_scope="module")
VERSIONS = [FixVersion.FIX42, FixVersion.FIX44]
PX = 1_000_000


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def h(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[FixSimHarness]:
    sim = await FixSimHarness.start(Path(tmp_path_factory.mktemp("fixsim-faults")))
    yield sim
    await sim.close()


def _order(cl: str, side: Side, qty: int, price: int = PX) -> NewOrder:
    return NewOrder(cl, "XYZ", side, qty, OrderType.LIMIT, price, TimeInForce.DAY, 0)


async def _report(h: FixSimHarness, v: FixVersion) -> ExecutionReport:
    return decode_execution_report(await h.expect(v, "8"), 0)


async def _status(h: FixSimHarness, v: FixVersion, cl: str, side: Side) -> ExecutionReport:
    h.send(v, encode_status_request(StatusRequest(cl, "XYZ", side, 0), v))
    st = await _report(h, v)
    assert st.exec_type is ExecType.ORDER_STATUS
    return st


async def _resting(h: FixSimHarness, v: FixVersion, cl: str, qty: int = 300) -> ExecutionReport:
    h.send(v, encode_new_order(_order(cl, Side.SELL, qty), v))
    ack = await _report(h, v)
    assert ack.exec_type is ExecType.NEW
    return ack


@pytest.mark.parametrize("v", VERSIONS)
async def test_drop_reports_when_all_dropped_then_status_request_recovers_fills(
    h: FixSimHarness, v: FixVersion
) -> None:
    await h.fresh(FaultConfig(drop_reports=1.0))
    h.send(v, encode_new_order(_order("d1", Side.BUY, 600, 1_000_200), v))
    assert await h.sync(v) == []  # NEW and both fills dropped
    st = await _status(h, v, "d1", Side.BUY)
    assert (st.ord_status, st.cum_qty, st.leaves_qty) == (OrdStatus.FILLED, 600, 0)
    assert st.avg_price == (400 * 1_000_100 + 200 * 1_000_200) / 600
    assert h.server.stats.dropped == 3


@pytest.mark.parametrize("v", VERSIONS)
async def test_duplicate_reports_when_on_then_copy_has_possdup_and_same_exec_id(
    h: FixSimHarness, v: FixVersion
) -> None:
    await h.fresh(FaultConfig(duplicate_reports=1.0))
    h.send(v, encode_new_order(_order("u1", Side.SELL, 300), v))
    first, copy = await h.expect(v, "8"), await h.expect(v, "8")
    assert first.getField(17) == copy.getField(17)
    assert not first.getHeader().isSetField(43)
    assert copy.getHeader().getField(43) == "Y"
    orig_sent, resent = copy.getHeader().getField(122), copy.getHeader().getField(52)
    assert orig_sent == first.getHeader().getField(52) and orig_sent <= resent
    assert decode_execution_report(copy, 0).possible_duplicate
    h.exchange.add_order("XYZ", Side.BUY, 100, price=PX)
    fill, fill_copy = await _report(h, v), await _report(h, v)
    assert (fill.exec_id, fill.last_qty) == (fill_copy.exec_id, 100)
    assert fill_copy.possible_duplicate and not fill.possible_duplicate
    # Counted once per ExecID, the fills add up to the exchange's truth.
    assert h.exchange.order_state(h.venue_key(v), "u1").cum_qty == 100  # type: ignore[union-attr]


@pytest.mark.parametrize("v", VERSIONS)
async def test_delay_acks_when_on_then_new_arrives_after_delay_and_fills_queue_behind(
    h: FixSimHarness, v: FixVersion
) -> None:
    market = await h.fresh(FaultConfig(delay_acks=1.0, ack_delay_ns=2 * NS))
    t0 = market.now_ns
    h.send(v, encode_new_order(_order("a1", Side.SELL, 300), v))
    assert await h.sync(v) == []
    h.exchange.add_order("XYZ", Side.BUY, 100, price=PX)  # fills while the ack is pending
    h.server.step(t0 + 2 * NS - 1)
    assert await h.sync(v) == []
    h.server.step(t0 + 2 * NS)
    ack_msg = await h.expect(v, "8")
    ack, fill = decode_execution_report(ack_msg, 0), await _report(h, v)
    assert (ack.exec_type, fill.exec_type, fill.cum_qty) == (ExecType.NEW, ExecType.TRADE, 100)
    assert ts_from_fix(ack_msg.getField(60)) == t0 + h.server.origin_ns  # accepted at t0


@pytest.mark.parametrize("v", VERSIONS)
async def test_fill_after_cancel_when_on_then_cancel_ack_first_and_cum_qty_consistent(
    h: FixSimHarness, v: FixVersion
) -> None:
    await h.fresh(FaultConfig(fill_after_cancel=1.0))
    await _resting(h, v, "c1")
    h.exchange.add_order("XYZ", Side.BUY, 100, price=PX)  # the fill happens now...
    assert await h.sync(v) == []  # ...but its report is held
    h.send(v, encode_cancel(CancelOrder("c2", "c1", "XYZ", Side.SELL, 0), v))
    canceled, late = await _report(h, v), await _report(h, v)
    assert (canceled.exec_type, canceled.cum_qty, canceled.leaves_qty) == (
        ExecType.CANCELED,
        100,
        0,
    )
    assert (late.exec_type, late.cl_ord_id, late.last_qty) == (ExecType.TRADE, "c1", 100)
    assert late.cum_qty == canceled.cum_qty == 100  # count it once: CumQty already has it
    assert late.ts_event <= canceled.ts_event
    assert h.exchange.order_state(h.venue_key(v), "c1").cum_qty == 100  # type: ignore[union-attr]


@pytest.mark.parametrize("v", VERSIONS)
async def test_fill_races_replace_when_on_then_replaced_first_then_fill_on_old_clordid(
    h: FixSimHarness, v: FixVersion
) -> None:
    await h.fresh(FaultConfig(fill_races_replace=1.0))
    await _resting(h, v, "r1")
    h.exchange.add_order("XYZ", Side.BUY, 100, price=PX)
    assert await h.sync(v) == []
    h.send(v, encode_replace(ReplaceOrder("r2", "r1", "XYZ", Side.SELL, 250, None, 0), v))
    replaced, late = await _report(h, v), await _report(h, v)
    assert (replaced.exec_type, replaced.cl_ord_id, replaced.order_qty) == (
        ExecType.REPLACED,
        "r2",
        250,
    )
    assert (replaced.cum_qty, replaced.leaves_qty) == (100, 150)  # the fill already counts
    assert (late.exec_type, late.cl_ord_id, late.order_qty) == (ExecType.TRADE, "r1", 300)
    assert (late.last_qty, late.cum_qty) == (100, 100)


@pytest.mark.parametrize("v", VERSIONS)
async def test_reject_orders_when_on_then_rejected_with_reason_and_never_booked(
    h: FixSimHarness, v: FixVersion
) -> None:
    await h.fresh(FaultConfig(reject_orders=1.0))
    h.send(v, encode_new_order(_order("j1", Side.BUY, 100), v))
    msg = await h.expect(v, "8")
    rej = decode_execution_report(msg, 0)
    assert (rej.exec_type, rej.ord_status, rej.text) == (
        ExecType.REJECTED,
        OrdStatus.REJECTED,
        REJECT_REASON,
    )
    assert msg.getField(103) == ("99" if v is FixVersion.FIX44 else "0")
    assert (await _status(h, v, "j1", Side.BUY)).text == "unknown order"


@pytest.mark.parametrize("v", VERSIONS)
async def test_halt_when_scheduled_then_status_published_orders_rejected_until_resume(
    h: FixSimHarness, v: FixVersion
) -> None:
    cfg = FaultConfig(seed=5, halt_every_ns=30 * NS, halt_duration_ns=60 * NS)
    market = await h.fresh(cfg)
    req = MarketDataRequest("h", SubscriptionType.SUBSCRIBE, 1, (MDEntryType.TRADE,), ("XYZ",))
    h.send(v, encode_md_request(req, v))
    await h.expect_snapshot(v)
    t_halt = FaultSchedule(cfg, ["XYZ"], market.start_ns).next_time()
    assert t_halt is not None
    h.server.step(t_halt - 1)
    assert await h.sync(v) == []
    h.server.step(t_halt)
    halted_msg = await h.expect(v, "f")
    halted = decode_security_status(halted_msg, 0)
    assert halted.state is TradingState.HALTED
    assert halted.ts_event == t_halt + h.server.origin_ns - (
        t_halt % 1_000_000 if v is FixVersion.FIX42 else 0
    )
    h.send(v, encode_new_order(_order("h1", Side.BUY, 100), v))
    rej_msg = await h.expect(v, "8")
    assert (decode_execution_report(rej_msg, 0).text, rej_msg.getField(103)) == (
        "trading halted",
        "2",
    )
    h.server.step(t_halt + 60 * NS)
    assert decode_security_status(await h.expect(v, "f"), 0).state is TradingState.TRADING
    await _resting(h, v, "h2")


@pytest.mark.parametrize("v", VERSIONS)
async def test_disconnect_when_scheduled_then_reports_sent_during_outage_resent_without_gap(
    h: FixSimHarness, v: FixVersion
) -> None:
    cfg = FaultConfig(seed=7, disconnect_every_ns=30 * NS)
    market = await h.fresh(cfg)
    h.send(v, encode_new_order(_order("x1", Side.SELL, 300), v))
    ack_msg = await h.expect(v, "8")
    key = h.key(v)
    logons = h.client.logons[key]
    t_drop = FaultSchedule(cfg, ["XYZ"], market.start_ns).next_time()
    assert t_drop is not None
    h.server.step(t_drop)
    await h.client.wait_logout(key)
    assert h.server.stats.disconnects == 1
    h.exchange.add_order("XYZ", Side.BUY, 100, price=PX)  # filled while nobody listens
    await h.client.wait_logon(key, count=logons + 1)  # QuickFIX reconnects on its own
    resent = await h.expect(v, "8")
    fill = decode_execution_report(resent, 0)
    assert (fill.exec_type, fill.cl_ord_id, fill.last_qty, fill.cum_qty) == (
        ExecType.TRADE, "x1", 100, 100)  # fmt: skip
    assert resent.getHeader().getField(43) == "Y"  # came through QuickFIX's resend
    # No gap: the report stored during the outage took the very next sequence number and was
    # delivered; nothing the acceptor sent after the barrier is missing.
    seq = int(resent.getHeader().getField(34))
    assert seq == int(ack_msg.getHeader().getField(34)) + 1
    assert await h.sync(v) == []
    acceptor = fix.Session.lookupSession(h.server.session_id(h.venue_key(v)))
    assert acceptor.getExpectedSenderNum() == h.last_sync_seq + 1
