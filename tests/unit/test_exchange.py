"""Exchange order handling (FIX semantics) and market data fan-out."""

from __future__ import annotations

import pytest

from adapters.sim.exchange import Exchange, Instrument
from engine.events import (
    BookSnapshot,
    CancelOrder,
    CancelReject,
    ExecType,
    ExecutionReport,
    Liquidity,
    NewOrder,
    OrderType,
    OrdStatus,
    Quote,
    ReplaceOrder,
    Side,
    StatusRequest,
    TimeInForce,
    Trade,
    TradingState,
)


class Clock:
    def __init__(self):
        self.t = 1_000

    def __call__(self):
        return self.t


@pytest.fixture
def x():
    return Exchange([Instrument("XYZ", tick=100, lot=1)], Clock())


@pytest.fixture
def us(x):
    events: list = []
    s = x.session("us")
    s.connect(events.append)
    s.events = events
    return s


def _new(cl, side=Side.SELL, qty=100, price=10000, kind=OrderType.LIMIT, tif=TimeInForce.DAY):
    return NewOrder(cl, "XYZ", side, qty, kind, price, tif, 0)


def test_submit_when_marketable_then_new_then_trade_with_cumulative_figures(x, us):
    x.add_order("XYZ", Side.BUY, 60, price=10000)
    x.add_order("XYZ", Side.BUY, 100, price=9900)
    us.submit(_new("c1", qty=100, price=9900))
    kinds = [(e.exec_type, e.ord_status, e.last_qty, e.last_price) for e in us.events]
    assert kinds == [
        (ExecType.NEW, OrdStatus.NEW, 0, None),
        (ExecType.TRADE, OrdStatus.PARTIALLY_FILLED, 60, 10000),
        (ExecType.TRADE, OrdStatus.FILLED, 40, 9900),
    ]
    last = us.events[-1]
    assert (last.cum_qty, last.leaves_qty) == (100, 0)
    assert last.avg_price == pytest.approx((60 * 10000 + 40 * 9900) / 100)
    assert last.liquidity is Liquidity.REMOVED
    assert len({e.exec_id for e in us.events}) == 3


def test_resting_order_when_background_hits_it_then_passive_fill_reported(x, us):
    us.submit(_new("c1", qty=100, price=10100))
    x.add_order("XYZ", Side.BUY, 30, order_type=OrderType.MARKET)
    fill = us.events[-1]
    assert (fill.exec_type, fill.last_qty, fill.leaves_qty) == (ExecType.TRADE, 30, 70)
    assert fill.liquidity is Liquidity.ADDED


def test_cancel_when_live_then_canceled_on_new_id_and_never_fills_after(x, us):
    us.submit(_new("c1", price=10100))
    us.cancel(CancelOrder("c2", "c1", "XYZ", Side.SELL, 0))
    done = us.events[-1]
    assert (done.exec_type, done.cl_ord_id, done.orig_cl_ord_id) == (ExecType.CANCELED, "c2", "c1")
    x.add_order("XYZ", Side.BUY, 500, order_type=OrderType.MARKET)
    assert us.events[-1] is done


def test_cancel_when_unknown_or_filled_then_cancel_reject_with_reason(x, us):
    us.cancel(CancelOrder("c9", "nope", "XYZ", Side.SELL, 0))
    assert isinstance(us.events[-1], CancelReject) and us.events[-1].reason == "unknown order"
    x.add_order("XYZ", Side.BUY, 100, price=10000)
    us.submit(_new("c1"))
    us.cancel(CancelOrder("c2", "c1", "XYZ", Side.SELL, 0))
    rej = us.events[-1]
    assert isinstance(rej, CancelReject) and "too late" in rej.reason
    assert rej.ord_status is OrdStatus.FILLED


def test_replace_when_quantity_down_then_keeps_priority_and_reports_replaced(x, us):
    us.submit(_new("c1", qty=100, price=10100))
    x.add_order("XYZ", Side.SELL, 100, price=10100)
    us.replace(ReplaceOrder("c2", "c1", "XYZ", Side.SELL, 50, 10100, 0))
    rep = us.events[-1]
    assert (rep.exec_type, rep.cl_ord_id, rep.order_qty, rep.leaves_qty) == (
        ExecType.REPLACED,
        "c2",
        50,
        50,
    )
    x.add_order("XYZ", Side.BUY, 50, order_type=OrderType.MARKET)
    assert us.events[-1].exec_type is ExecType.TRADE and us.events[-1].last_qty == 50


def test_replace_when_below_filled_quantity_then_rejected_and_order_untouched(x, us):
    us.submit(_new("c1", qty=100, price=10100))
    x.add_order("XYZ", Side.BUY, 60, order_type=OrderType.MARKET)
    us.replace(ReplaceOrder("c2", "c1", "XYZ", Side.SELL, 60, 10100, 0))
    rej = us.events[-1]
    assert isinstance(rej, CancelReject) and "already filled" in rej.reason
    assert x.order_state("us", "c1").leaves == 40


def test_status_when_known_or_unknown_then_answered_not_raised(x, us):
    us.submit(_new("c1", price=10100))
    us.request_status(StatusRequest("c1", "XYZ", Side.SELL, 0))
    st = us.events[-1]
    assert (st.exec_type, st.ord_status, st.leaves_qty) == (
        ExecType.ORDER_STATUS,
        OrdStatus.NEW,
        100,
    )
    us.request_status(StatusRequest("zz", "XYZ", Side.SELL, 0))
    assert us.events[-1].ord_status is OrdStatus.REJECTED and us.events[-1].text == "unknown order"


@pytest.mark.parametrize(
    "order,reason",
    [
        (_new("a", price=10050), "tick grid"),
        (_new("b", qty=0), "quantity must be > 0"),
        (
            NewOrder("c", "NOPE", Side.SELL, 1, OrderType.LIMIT, 100, TimeInForce.DAY, 0),
            "unknown symbol",
        ),
        (_new("d", price=None), "needs a price"),
    ],
)
def test_submit_when_invalid_then_rejected_never_acknowledged(x, us, order, reason):
    us.submit(order)
    (only,) = us.events
    assert only.exec_type is ExecType.REJECTED and reason in only.text


def test_submit_when_duplicate_clordid_or_halted_then_rejected(x, us):
    us.submit(_new("c1", price=10100))
    us.submit(_new("c1", price=10100))
    assert "duplicate ClOrdID" in us.events[-1].text
    x.set_trading_state("XYZ", TradingState.HALTED, "news pending")
    us.submit(_new("c2", price=10100))
    assert us.events[-1].text == "trading halted"


def test_ioc_when_unfilled_then_rest_canceled_with_reason(x, us):
    us.submit(_new("c1", qty=100, price=10000, tif=TimeInForce.IOC))
    assert [e.exec_type for e in us.events] == [ExecType.NEW, ExecType.CANCELED]
    assert us.events[-1].leaves_qty == 0


def test_market_data_when_subscribed_then_snapshot_then_trades_and_quotes(x, us):
    x.add_order("XYZ", Side.BUY, 100, price=9900)
    got: list = []
    x.subscribe("XYZ", got.append)
    assert isinstance(got[0], BookSnapshot) and got[0].bids == ((9900, 100),)
    x.add_order("XYZ", Side.SELL, 40, order_type=OrderType.MARKET)
    trades = [e for e in got if isinstance(e, Trade)]
    quotes = [e for e in got if isinstance(e, Quote)]
    assert [(t.price, t.size, t.aggressor) for t in trades] == [(9900, 40, Side.SELL)]
    assert quotes[-1].bid_price == 9900 and quotes[-1].bid_size == 60


def test_fills_when_many_partials_then_cum_qty_equals_sum_of_fills(x, us):
    us.submit(_new("c1", qty=1000, price=10100))
    for q in (7, 93, 150, 250, 500):
        x.add_order("XYZ", Side.BUY, q, order_type=OrderType.MARKET)
    fills = [
        e for e in us.events if isinstance(e, ExecutionReport) and e.exec_type is ExecType.TRADE
    ]
    assert sum(f.last_qty for f in fills) == fills[-1].cum_qty == 1000
    assert fills[-1].ord_status is OrdStatus.FILLED
