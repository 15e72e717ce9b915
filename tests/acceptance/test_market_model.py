"""Whole simulated days: the market model's stylised facts, adversaries and determinism.

Each day is seeded; the same seed gives the same events, so every figure below is exact and
repeatable. Thresholds sit well inside what the model produces (measured values in comments)
and well outside what a plausible bug (no U-shape, no regimes, book draining, an adversary
blind or trigger-happy) would produce.
"""

from __future__ import annotations

import dataclasses
import random

import numpy as np
import pytest

from adapters.sim.config import AdversaryConfig, MarketConfig, Regime
from adapters.sim.market import MarketSimulator
from engine.events import CancelOrder, ExecType, NewOrder, OrderType, Side, TimeInForce

NS = 1_000_000_000


def _day(seed: int, **kw):
    sim = MarketSimulator(MarketConfig(seed=seed, **kw))
    tape: list[tuple[int, int, int, Side]] = []
    sim.exchange.trade_listeners.append(
        lambda s, f, now: tape.append((now, f.price, f.qty, f.aggressor_side))
    )
    book = sim.exchange.books[sim.symbol]
    samples = []  # (ts, mid, spread, bid depth over 5 levels) every 10 s
    t = sim.start_ns
    while t < sim.end_ns:
        t = min(t + 10 * NS, sim.end_ns)
        sim.advance_to(t)
        bid, ask = book.best(Side.BUY), book.best(Side.SELL)
        if bid and ask:
            depth = sum(s for _, s in book.depth(Side.BUY, 5))
            samples.append((t, 0.5 * (bid[0] + ask[0]), ask[0] - bid[0], depth))
    return sim, np.array(tape, dtype=object), np.array(samples, dtype=float)


@pytest.fixture(scope="module")
def days():
    return {seed: _day(seed) for seed in (1, 2, 3)}


def test_day_when_simulated_then_about_100k_events_and_book_stays_populated(days):
    for sim, _, samples in days.values():
        assert 95_000 <= sim.flow.events <= 105_000
        assert samples.shape[0] > 2300  # both sides quoted in nearly every 10 s sample
        assert samples[:, 3].min() > 0


def test_same_seed_when_run_twice_then_identical_tape_and_ground_truth(days):
    sim1, tape1, _ = days[1]
    sim2, tape2, _ = _day(1)
    assert tape1.tolist() == tape2.tolist()
    assert sim1.ground_truth().regime_ts.tolist() == sim2.ground_truth().regime_ts.tolist()
    assert days[2][1].tolist() != tape1.tolist()


def test_volume_when_bucketed_by_half_hour_then_u_shaped(days):
    for sim, tape, _ in days.values():
        edges = sim.start_ns + np.arange(14) * 1800 * NS
        vol = np.histogram(
            tape[:, 0].astype(np.int64), bins=edges, weights=tape[:, 2].astype(float)
        )[0]
        midday = vol[5:9].mean()
        # Measured: open 1.7-2.1x midday, close 1.3-1.9x (an HV episode at the close thins
        # the book and the volume with it).
        assert vol[0] > 1.5 * midday and vol[-1] > 1.2 * midday


def test_returns_when_pooled_then_volatility_clusters_but_returns_do_not_trend(days):
    abs_r, r_all, ac_r = [], [], []
    for _, _, s in days.values():
        mid = s[::6, 1]  # one-minute mids
        r = np.diff(np.log(mid))
        r_all.append(r)
        ac_r.append(np.corrcoef(r[:-1], r[1:])[0, 1])
        abs_r.append(np.abs(r - r.mean()))
    a = np.concatenate(abs_r)
    acf_abs = [np.corrcoef(a[:-k], a[k:])[0, 1] for k in range(1, 6)]
    n = a.size
    assert min(acf_abs) > 3 / np.sqrt(n)  # |r| is autocorrelated at every lag: clustering
    assert max(abs(x) for x in ac_r) < 0.25  # but r itself is close to a random walk


def test_regimes_when_high_volatility_then_spread_wider_and_depth_thinner(days):
    sim, _, s = days[3]  # seed 3 spends time in both regimes (27% HV)
    regime = sim.ground_truth().regime_at(s[:, 0].astype(np.int64))
    hv, lv = regime == Regime.HV, regime == Regime.LV
    assert hv.mean() > 0.1 and lv.mean() > 0.1
    assert s[hv, 2].mean() > 1.5 * s[lv, 2].mean()  # spread (measured 3.2x)
    assert s[hv, 3].mean() < 0.6 * s[lv, 3].mean()  # depth (measured 0.31x)


def test_market_order_cost_when_size_grows_then_rises_concavely():
    sim = MarketSimulator(MarketConfig(seed=4))
    book = sim.exchange.books[sim.symbol]
    sizes = np.array([100, 200, 400, 800, 1600, 3200, 6400])
    curves = []

    def walk(levels, q, mid, sign):
        left, cost = q, 0.0
        for p, s in levels:
            take = min(left, s)
            cost += take * (p - mid) * sign
            left -= take
            if not left:
                return cost / q
        return np.nan

    t = sim.start_ns
    while t < sim.end_ns - 60 * NS:
        t += 60 * NS
        sim.advance_to(t)
        bids, asks = book.depth(Side.BUY, 200), book.depth(Side.SELL, 200)
        mid = 0.5 * (bids[0][0] + asks[0][0])
        curves.append([walk(asks, q, mid, 1) for q in sizes])
        curves.append([walk(bids, q, mid, -1) for q in sizes])
    cost = np.nanmean(np.array(curves), axis=0)  # per share, price units
    marginal = np.diff(cost) / np.diff(sizes)
    assert np.all(np.diff(cost) > 0)  # bigger orders cost more per share ...
    assert np.all(np.diff(marginal) < 0)  # ... at a falling rate: concave
    beta = np.polyfit(np.log(sizes), np.log(cost), 1)[0]
    assert 0.05 < beta < 0.8  # measured 0.3


def test_book_when_swept_then_depth_recovers_within_a_minute():
    ratios = []
    for seed in range(10, 16):
        sim = MarketSimulator(MarketConfig(seed=seed))
        book = sim.exchange.books[sim.symbol]
        venue = sim.venue()
        venue.connect(lambda e: None)
        t0 = sim.start_ns + 3600 * NS
        sim.advance_to(t0)
        before = sum(s for _, s in book.depth(Side.BUY, 5))
        qty = int(0.6 * before) // 100 * 100
        venue.submit(
            NewOrder(
                "sweep", sim.symbol, Side.SELL, qty, OrderType.MARKET, None, TimeInForce.IOC, t0
            )
        )
        sim.advance_to(t0 + NS // 100)
        right_after = sum(s for _, s in book.depth(Side.BUY, 5)) / before
        sim.advance_to(t0 + 60 * NS)
        ratios.append((right_after, sum(s for _, s in book.depth(Side.BUY, 5)) / before))
    r = np.array(ratios)
    assert r[:, 0].mean() < 0.75  # the sweep really took the liquidity (measured 0.64)
    assert r[:, 1].mean() > 0.9  # and the book refilled within a minute (measured ~1.0)


def _hunted(seed: int, trader: str) -> float:
    """Fraction of a 2-hour window an adversary is active, for a given kind of seller."""
    sim = MarketSimulator(MarketConfig(seed=seed, adversaries=(AdversaryConfig(),)))
    venue = sim.venue()
    venue.connect(lambda e: None)
    rng = random.Random(seed)
    start = t = sim.start_ns + 1800 * NS
    end = start + 7200 * NS
    i = 0
    while t < end:
        sim.advance_to(t)
        if trader != "none":
            qty = 500 if trader == "naive" else 100 * rng.randint(2, 8)
            venue.submit(
                NewOrder(
                    f"c{i}", sim.symbol, Side.SELL, qty, OrderType.MARKET, None, TimeInForce.IOC, t
                )
            )
            i += 1
        t += 30 * NS if trader != "random" else round(rng.expovariate(1 / 30) * NS)
    sim.advance_to(end)
    return float(sim.ground_truth().adversary_active_at(np.arange(start, end, NS)).mean())


@pytest.mark.parametrize("seed", [1, 3])
def test_adversary_when_seller_is_regular_then_detected_and_when_randomised_then_not(seed):
    # Measured (seeds 1, 3): naive 0.96 / 0.84, randomised 0.0 / 0.0, none 0.0 / 0.0.
    assert _hunted(seed, "naive") > 0.6
    assert _hunted(seed, "random") < 0.2
    assert _hunted(seed, "none") < 0.1


def test_adversary_when_hunting_then_withdraws_liquidity_and_trades_ahead():
    sim = MarketSimulator(MarketConfig(seed=1, adversaries=(AdversaryConfig(),)))
    venue = sim.venue()
    fills = []
    venue.connect(fills.append)
    adv = sim.adversaries[0]
    t = sim.start_ns + 1800 * NS
    for i in range(80):
        sim.advance_to(t)
        venue.submit(
            NewOrder(
                f"c{i}", sim.symbol, Side.SELL, 500, OrderType.MARKET, None, TimeInForce.IOC, t
            )
        )
        t += 30 * NS
    sim.advance_to(t)
    assert adv.target is Side.SELL
    assert adv.inventory < 0  # it sold ahead of us
    assert adv._quotes[Side.BUY] is None  # and pulled its bid
    assert sum(f.last_qty for f in fills if f.exec_type is ExecType.TRADE) == 80 * 500


def test_ground_truth_when_exported_then_step_functions_match_recorded_changes(days):
    sim, _, _ = days[2]
    gt = sim.ground_truth()
    assert gt.regime_values[0] is Regime.LV and gt.regime_ts[0] == sim.start_ns
    for ts, value in zip(gt.regime_ts[1:], gt.regime_values[1:], strict=True):
        assert gt.regime_at(ts) == value
        assert gt.regime_at(ts - 1) != value


_BOUNDED = AdversaryConfig(
    sensitivity=0.9, aggressiveness=0.8, max_inventory_lots=30, unwind="passive", make_markets=False
)


def test_bounded_adversary_when_hunting_then_holds_at_most_its_limit_and_buys_back_passively():
    # The backtest's predator: it trades ahead up to its limit, then, once the seller has
    # stopped and its cooldown has passed, buys back with a resting bid, never a market order.
    sim = MarketSimulator(MarketConfig(seed=1, adversaries=(_BOUNDED,)))
    venue = sim.venue()
    venue.connect(lambda e: None)
    adv = sim.adversaries[0]
    orders: list[tuple[Side, OrderType]] = []
    add = sim.exchange.add_order

    def spy(symbol, side, qty, **kw):
        if kw.get("owner") == adv.name:
            orders.append((side, kw.get("order_type", OrderType.LIMIT)))
        return add(symbol, side, qty, **kw)

    sim.exchange.add_order = spy  # type: ignore[method-assign]
    t = sim.start_ns + 1800 * NS
    lowest = 0
    for i in range(60):
        sim.advance_to(t)
        venue.submit(
            NewOrder(
                f"c{i}", sim.symbol, Side.SELL, 500, OrderType.MARKET, None, TimeInForce.IOC, t
            )
        )
        t += 30 * NS
        lowest = min(lowest, adv.inventory)
    assert adv.target is Side.SELL
    assert lowest == -30 * 100  # it sold ahead up to its limit, and no further
    hunted = len(orders)
    # The seller has gone: the tape's memory and the cooldown run out, then the buy-back
    # (measured: flat again 16.5 minutes after the last sale).
    for _ in range(60):
        t += 30 * NS
        sim.advance_to(t)
        if adv.inventory == 0:
            break
    assert adv.inventory == 0  # bought back all it sold ...
    unwind = orders[hunted:]
    assert unwind and all(o == (Side.BUY, OrderType.LIMIT) for o in unwind)  # ... passively


_CLOCKED = dataclasses.replace(_BOUNDED, evidence=("clock",))  # the backtest's evidence


def _hunted_passive(seed: int, trader: str) -> tuple[float, float, bool]:
    """The clock predator over an hour in which a seller keeps one 900-share ask at the touch,
    re-posted every 30 s ("clocked") or at random times ("random"), or nobody trades ("none"):
    the fraction of the hour it hunts a seller and a buyer, and whether it still hunts 25
    minutes after the seller has stopped (its 15-minute window and 5-minute cooldown)."""
    sim = MarketSimulator(MarketConfig(seed=seed, diffusion_step_s=1.0, adversaries=(_CLOCKED,)))
    venue = sim.venue()
    venue.connect(lambda e: None)
    rng = random.Random(seed)
    start = t = sim.start_ns + 1800 * NS
    end = start + 3600 * NS
    live, i = None, 0
    while t < end:
        sim.advance_to(t)
        if trader != "none":
            if live is not None:
                venue.cancel(CancelOrder(f"x{i}", live, sim.symbol, Side.SELL, t))
            ask = sim.exchange.books[sim.symbol].best(Side.SELL)
            assert ask is not None
            live = f"c{i}"
            venue.submit(
                NewOrder(
                    live, sim.symbol, Side.SELL, 900, OrderType.LIMIT, ask[0], TimeInForce.DAY, t
                )
            )
        i += 1
        t += 30 * NS if trader != "random" else round(rng.expovariate(1 / 30) * NS)
    if live is not None:
        venue.cancel(CancelOrder("x-last", live, sim.symbol, Side.SELL, end))
    sim.advance_to(end + 1500 * NS)
    gt = sim.ground_truth()
    grid = np.arange(start, end, NS)
    return (
        float(gt.adversary_active_at(grid, against=Side.SELL).mean()),
        float(gt.adversary_active_at(grid, against=Side.BUY).mean()),
        sim.adversaries[0].active,
    )


@pytest.mark.parametrize("seed", [1, 3])
def test_clock_predator_when_a_passive_seller_keeps_a_clock_then_hunts_it_and_nobody_else(seed):
    # Measured (seeds 1, 3): clocked 0.91 / 0.94 of the hour; the same orders at random times
    # and no trader at all, 0. The print-and-refill predator on the same days hunted the
    # clocked seller no more than nobody (0.26 / 0.08 against 0.05 / 0.12) and a phantom buyer
    # 10-34% of the hour.
    seller, buyer, still = _hunted_passive(seed, "clocked")
    assert seller > 0.6 and buyer == 0.0
    assert not still  # the clock fades from its window once the seller stops
    for trader in ("random", "none"):
        assert max(_hunted_passive(seed, trader)[:2]) < 0.1


def test_adversary_that_makes_no_markets_when_it_finds_nobody_then_leaves_the_day_unchanged():
    # A backtest pairs each day with and without the predator: where it hunts nobody, the two
    # must be the same day, event for event, or the pair measures chaos rather than predation
    # (with the diffusion on its grid, as in a backtest: otherwise its turns add draws).
    quiet = dataclasses.replace(_BOUNDED, min_prints=100_000)  # never sure enough to hunt
    tapes = []
    for adversaries in ((), (quiet,)):
        cfg = MarketConfig(seed=2, duration_s=1800.0, diffusion_step_s=1.0, adversaries=adversaries)
        sim = MarketSimulator(cfg)
        tape: list[tuple[int, int, int]] = []
        sim.exchange.trade_listeners.append(
            lambda s, f, now, tape=tape: tape.append((now, f.price, f.qty))
        )
        sim.run()
        tapes.append(tape)
        if adversaries:
            assert len(sim.ground_truth().adversary_ts[_BOUNDED.name]) == 1  # never active
    assert len(tapes[0]) > 1000 and tapes[0] == tapes[1]
