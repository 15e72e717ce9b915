"""The matching engine's rules, each on a hand-checked example."""

from __future__ import annotations

from adapters.sim.book import OrderBook
from engine.events import OrderType, Side, TimeInForce


def _book():
    return OrderBook("X", tick=100, lot=10)


def test_priority_when_same_price_then_earlier_displayed_first_and_hidden_last():
    b = _book()
    hidden = b.add(Side.SELL, 50, price=10000, display=0).order_id
    first = b.add(Side.SELL, 30, price=10000).order_id
    second = b.add(Side.SELL, 30, price=10000).order_id
    r = b.add(Side.BUY, 100, price=10000)
    assert [(f.passive_id, f.qty) for f in r.fills] == [(first, 30), (second, 30), (hidden, 40)]
    assert b.best(Side.SELL) is None  # the hidden rest is not displayed
    assert b.order(hidden).qty == 10


def test_price_when_better_level_exists_then_it_trades_first_at_its_own_price():
    b = _book()
    b.add(Side.SELL, 10, price=10100)
    b.add(Side.SELL, 10, price=10000)
    r = b.add(Side.BUY, 20, price=10100)
    assert [(f.price, f.qty) for f in r.fills] == [(10000, 10), (10100, 10)]


def test_iceberg_when_peak_consumed_then_refills_behind_later_orders():
    b = _book()
    ice = b.add(Side.BUY, 100, price=9900, display=20).order_id
    other = b.add(Side.BUY, 20, price=9900).order_id
    assert b.best(Side.BUY) == (9900, 40)
    r = b.add(Side.SELL, 30, price=9900)
    assert [(f.passive_id, f.qty) for f in r.fills] == [(ice, 20), (other, 10)]
    assert b.queue_ahead(ice) == 10  # behind what is left of `other`
    assert b.best(Side.BUY) == (9900, 30)


def test_replace_when_quantity_down_then_keeps_priority():
    b = _book()
    a = b.add(Side.SELL, 50, price=10000).order_id
    c = b.add(Side.SELL, 50, price=10000).order_id
    b.replace(a, 20)
    r = b.add(Side.BUY, 30, order_type=OrderType.MARKET)
    assert [(f.passive_id, f.qty) for f in r.fills] == [(a, 20), (c, 10)]


def test_replace_when_quantity_up_or_price_changes_then_loses_priority():
    b = _book()
    a = b.add(Side.SELL, 50, price=10000).order_id
    c = b.add(Side.SELL, 50, price=10000).order_id
    b.replace(a, 60)
    assert b.queue_ahead(a) == 50
    d = b.add(Side.SELL, 10, price=10100).order_id
    b.replace(d, 10, 10000)
    assert b.queue_ahead(d) == 110
    assert b.queue_ahead(c) == 0


def test_replace_when_new_price_crosses_then_trades_immediately():
    b = _book()
    b.add(Side.BUY, 40, price=9900)
    s = b.add(Side.SELL, 60, price=10000).order_id
    r = b.replace(s, 60, 9900)
    assert r.filled == 40 and r.rested == 20
    assert b.best(Side.SELL) == (9900, 20)


def test_self_trade_when_same_owner_then_incoming_rest_cancelled_fills_before_stand():
    b = _book()
    b.add(Side.SELL, 10, price=10000, owner="them")
    b.add(Side.SELL, 10, price=10000, owner="us")
    b.add(Side.SELL, 10, price=10100, owner="them")
    r = b.add(Side.BUY, 30, price=10100, owner="us")
    assert r.filled == 10 and r.canceled == 20 and r.self_trade_prevented
    assert b.best(Side.SELL) == (10000, 10)  # our resting sell is untouched


def test_market_and_ioc_when_liquidity_short_then_rest_cancelled_never_rests():
    b = _book()
    b.add(Side.SELL, 20, price=10000)
    m = b.add(Side.BUY, 50, order_type=OrderType.MARKET)
    assert (m.filled, m.rested, m.canceled) == (20, 0, 30)
    i = b.add(Side.BUY, 50, price=10000, tif=TimeInForce.IOC)
    assert (i.filled, i.rested, i.canceled) == (0, 0, 50)
    assert b.best(Side.BUY) is None


def test_grid_when_price_or_quantity_off_then_rejected_with_reason():
    b = _book()
    assert "tick grid" in b.add(Side.BUY, 10, price=10050).reject_reason
    assert "lot size" in b.add(Side.BUY, 15, price=10000).reject_reason
    assert "needs a price" in b.add(Side.BUY, 10).reject_reason
    assert b.total_qty() == 0


def test_touched_when_levels_change_then_reports_new_visible_sizes_once():
    b = _book()
    b.add(Side.SELL, 30, price=10000)
    b.add(Side.BUY, 10, price=9900, display=0)  # hidden: no displayed change
    assert b.touched() == [(Side.SELL, 10000, 30)]
    b.add(Side.BUY, 30, price=10000)
    assert b.touched() == [(Side.SELL, 10000, 0)]
    assert b.touched() == []
