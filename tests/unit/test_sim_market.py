"""The simulator's ports: latency, time, and determinism of our own interactions; and the
config checks of its participants."""

from __future__ import annotations

import itertools

import pytest

from adapters.sim.config import AdversaryConfig, MarketConfig
from adapters.sim.market import MarketSimulator
from engine.events import BookSnapshot, ExecType, NewOrder, OrderType, Quote, Side, TimeInForce
from engine.ports import SimulatedMarket

NS = 1_000_000_000


def _sim(**kw):
    return MarketSimulator(MarketConfig(duration_s=600.0, latency_s=0.002, **kw))


def test_simulator_when_checked_against_ports_then_implements_them():
    sim = _sim()
    assert isinstance(sim, SimulatedMarket)


def test_order_when_submitted_then_reaches_exchange_after_latency():
    sim = _sim()
    venue = sim.venue()
    got = []
    venue.connect(got.append)
    t0 = sim.start_ns + 5 * NS
    sim.advance_to(t0)
    venue.submit(NewOrder("c1", "XYZ", Side.BUY, 100, OrderType.MARKET, None, TimeInForce.IOC, t0))
    sim.advance_to(t0 + 2 * NS // 1000 - 1)
    assert got == []  # still on the wire
    sim.advance_to(t0 + 2 * NS // 1000)
    assert got[0].exec_type is ExecType.NEW and got[0].ts_event == t0 + 2_000_000
    assert sum(e.last_qty for e in got if e.exec_type is ExecType.TRADE) == 100


def test_subscription_when_started_then_snapshot_then_quotes_in_time_order():
    sim = _sim()
    events = []
    sim.subscribe("XYZ", events.append)
    sim.advance_to(sim.start_ns + 60 * NS)
    assert isinstance(events[0], BookSnapshot) and events[0].bids and events[0].asks
    quotes = [e for e in events if isinstance(e, Quote)]
    assert quotes and all(a.ts_event <= b.ts_event for a, b in itertools.pairwise(quotes))
    assert all(q.bid_price < q.ask_price for q in quotes if q.bid_price and q.ask_price)


def test_time_when_asked_to_go_backwards_then_refused():
    sim = _sim()
    sim.advance_to(sim.start_ns + NS)
    with pytest.raises(ValueError, match="time runs forward"):
        sim.advance_to(sim.start_ns)


def test_our_orders_when_replayed_with_same_seed_then_same_fills():
    def run():
        sim = _sim(seed=7)
        venue = sim.venue()
        got = []
        venue.connect(got.append)
        for i in range(10):
            t = sim.start_ns + (i + 1) * 30 * NS
            sim.advance_to(t)
            venue.submit(
                NewOrder(f"c{i}", "XYZ", Side.SELL, 300, OrderType.MARKET, None, TimeInForce.IOC, t)
            )
        sim.run()
        return [(e.exec_id, e.last_qty, e.last_price, e.ts_event) for e in got]

    assert run() == run()


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"evidence": ()}, "evidence must name"),
        ({"evidence": ("prints", "tape")}, "evidence must name"),
        ({"clock_periods_s": ()}, "clock_periods_s"),
        ({"clock_periods_s": (30.0, 0.0)}, "clock_periods_s"),
        ({"clock_min_orders": 2}, "clock_min_orders"),
    ],
)
def test_adversary_config_when_its_evidence_is_impossible_then_refused_with_the_reason(
    change, reason
):
    with pytest.raises(ValueError, match=reason):
        AdversaryConfig(**change)
