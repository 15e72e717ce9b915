"""Regime classification, the policy table, the detector, and the adversarial-flow score."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from strategies.adverse import AdverseConfig, AdverseFlowScore
from strategies.errors import InvalidParameterError
from strategies.regime import (
    DEFAULT_POLICIES,
    Policy,
    Regime,
    RegimeClassifier,
    RegimeDetector,
    RegimeThresholds,
)
from strategies.schedule import Side

NS = 1_000_000_000


def _run(cls: RegimeClassifier, zs, scores=None):
    scores = scores or [0.0] * len(zs)
    return [cls.update(z, a) for z, a in zip(zs, scores, strict=True)]


def test_hv_when_z_crosses_entry_then_held_until_below_exit_threshold():
    cls = RegimeClassifier(RegimeThresholds(min_dwell_bars=1))
    got = _run(cls, [0.0, 1.2, 0.7, 0.6, 0.4, 0.9])
    assert got == [Regime.LV, Regime.HV, Regime.HV, Regime.HV, Regime.LV, Regime.LV]


def test_dwell_when_signal_flickers_then_regime_does_not():
    cls = RegimeClassifier(RegimeThresholds(min_dwell_bars=3))
    got = _run(cls, [0.0, 0.0, 0.0, 2.0, 0.0, 2.0, 0.0, 2.0, 2.0, 2.0])
    changes = [i for i in range(1, len(got)) if got[i] is not got[i - 1]]
    assert changes  # it does move ...
    assert all(b - a >= 3 for a, b in itertools.pairwise(changes))  # ... never within 3 bars
    assert got[-1] is Regime.HV


def test_adv_when_score_high_then_overrides_volatility_and_exits_below_its_own_threshold():
    cls = RegimeClassifier(RegimeThresholds(adv_enter=0.5, adv_exit=0.3, min_dwell_bars=1))
    got = _run(cls, [2.0, 2.0, 2.0, 2.0, 2.0], [0.1, 0.6, 0.35, 0.25, 0.25])
    assert got == [Regime.HV, Regime.ADV, Regime.ADV, Regime.HV, Regime.HV]


def test_adv_when_score_falls_then_left_at_once_while_hv_keeps_its_dwell():
    cls = RegimeClassifier(RegimeThresholds(adv_enter=0.5, adv_exit=0.3, min_dwell_bars=3))
    # ADV entered after LV's dwell, left the very next bar the score is below its exit.
    got = _run(cls, [0.0] * 6, [0.0, 0.0, 0.6, 0.2, 0.0, 0.0])
    assert got == [Regime.LV, Regime.LV, Regime.ADV, Regime.LV, Regime.LV, Regime.LV]
    # HV is still held for the dwell once entered.
    cls = RegimeClassifier(RegimeThresholds(min_dwell_bars=3))
    got = _run(cls, [0.0, 0.0, 0.0, 2.0, 0.0, 0.0, 0.0])
    assert got[3:6] == [Regime.HV, Regime.HV, Regime.HV] and got[6] is Regime.LV


def test_thresholds_when_exit_not_below_entry_then_rejected():
    with pytest.raises(InvalidParameterError, match="below entry"):
        RegimeThresholds(hv_enter_z=1.0, hv_exit_z=1.0)


def test_default_policies_when_compared_then_follow_the_seed_design():
    lv, hv, adv = (DEFAULT_POLICIES[r] for r in (Regime.LV, Regime.HV, Regime.ADV))
    # LV keeps plain AC's urgency (trading faster cost more, docs/results.md); HV is slower.
    assert lv.risk_aversion_mult == 1.0 and hv.risk_aversion_mult < lv.risk_aversion_mult
    assert hv.max_child_depth_frac < lv.max_child_depth_frac  # HV: smaller children ...
    assert hv.passive_fraction > lv.passive_fraction  # ... more passive
    assert hv.impact_mult > lv.impact_mult  # impact is up
    assert adv.display_frac == 0.0  # ADV: hidden ...
    assert adv.max_child_depth_frac < hv.max_child_depth_frac  # ... smaller ...
    assert adv.time_jitter > hv.time_jitter and adv.size_jitter > hv.size_jitter  # randomised


def test_policy_when_fraction_out_of_range_then_rejected():
    with pytest.raises(InvalidParameterError, match="display_frac"):
        Policy(
            risk_aversion_mult=1,
            impact_mult=1,
            max_child_depth_frac=0.1,
            passive_fraction=0.5,
            display_frac=1.5,
            time_jitter=0,
            size_jitter=0,
        )


def _quotes(det: RegimeDetector, sigmas_per_s, seed=1, sub=5.0, start=0):
    rng = np.random.default_rng(seed)
    logp = math.log(50.0)
    for i, sig in enumerate(sigmas_per_s):
        logp += sig * math.sqrt(sub) * rng.standard_normal()
        mid = math.exp(logp)
        det.on_quote(start + round(i * sub * NS), mid - 0.005, 500, mid + 0.005, 500)


def test_detector_when_volatility_steps_up_then_hv_within_a_few_bars_and_never_adv():
    base = 0.015 / math.sqrt(23_400)
    det = RegimeDetector()
    steps_per_bar = 12
    calm, storm = 300 * steps_per_bar, 40 * steps_per_bar
    _quotes(det, [base] * calm + [3 * base] * storm)
    regimes = [s.regime for s in det.history]
    storm_start = calm // steps_per_bar
    first_hv = next(i for i, r in enumerate(regimes) if i >= storm_start and r is Regime.HV)
    assert first_hv - storm_start <= 6
    assert Regime.ADV not in regimes  # no executions of ours: no adversarial evidence
    assert np.mean([r is Regime.LV for r in regimes[50:storm_start]]) > 0.9


def test_next_session_when_day_opens_in_high_volatility_then_judged_against_yesterday():
    calm = 0.01 / math.sqrt(23_400)
    steps_per_bar, bars = 12, 390
    yesterday = RegimeDetector()
    _quotes(yesterday, [calm] * bars * steps_per_bar)
    warm = yesterday.next_session()
    cold = RegimeDetector()
    storm = [2 * calm] * 120 * steps_per_bar  # today opens at twice yesterday's volatility
    day2 = 2 * 86_400 * NS
    _quotes(warm, storm, seed=2, start=day2)
    _quotes(cold, storm, seed=2, start=day2)
    assert warm.volatility.params.theta == pytest.approx(yesterday.volatility.params.theta, abs=0.5)
    warm_hv = np.mean([s.regime is Regime.HV for s in warm.history[10:]])
    cold_hv = np.mean([s.regime is Regime.HV for s in cold.history[10:]])
    assert warm_hv > 0.8  # yesterday's level is the reference
    assert cold_hv < 0.2  # a fresh detector takes today's level for normal
    assert warm.history[0].ts_ns > day2  # nothing of yesterday's bars is replayed


def test_adv_policy_when_hunted_then_impact_scaled_by_score():
    det = RegimeDetector(
        thresholds=RegimeThresholds(adv_enter=0.0001, adv_exit=0.00005, min_dwell_bars=1)
    )
    det._adv._score = 0.8  # evidence as if measured
    det._adv._score_ts = 0
    _quotes(det, [1e-4] * 13)
    state = det.state
    assert state.regime is Regime.ADV
    assert state.policy.impact_mult == pytest.approx(1.0 + 2.0 * state.adv_score)


# --- the adversarial-flow score -----------------------------------------------------------


def _market(
    score: AdverseFlowScore,
    t0: int,
    seconds: int,
    sell_per_s: int,
    buy_per_s: int,
    bid_size=1000,
    sell_orders_per_s=1,
):
    """One buy order a second and ``sell_orders_per_s`` sell orders (their shares split
    evenly), each at its own instant; the quote before them."""
    step = NS // (sell_orders_per_s + 2)
    for k in range(seconds):
        ts = t0 + k * NS
        score.on_quote(ts, 49.99, bid_size, 50.01, 1000)
        if sell_per_s:
            for j in range(sell_orders_per_s):
                score.on_trade(ts + (j + 1) * step, Side.SELL, sell_per_s // sell_orders_per_s)
        if buy_per_s:
            score.on_trade(ts, Side.BUY, buy_per_s)


def test_score_when_no_executions_of_ours_then_stays_neutral_zero():
    s = AdverseFlowScore()
    _market(s, 0, 3600, 300, 50, sell_orders_per_s=5)
    assert s.score(3600 * NS) == 0.0


def test_score_when_sellers_pile_in_after_our_prints_then_high():
    s = AdverseFlowScore(AdverseConfig(alpha=0.5))
    _market(s, 0, 1800, 50, 50)  # a calm baseline: one order a second each way
    t = 1800 * NS
    for _ in range(10):
        s.on_execution(t, Side.SELL, 200)
        s.on_trade(t, Side.SELL, 200)  # our own print, netted out
        # Sellers pile in: four small orders a second against one buyer; bids fade.
        _market(s, t + NS, 60, 200, 50, bid_size=300, sell_orders_per_s=4)
        t += 61 * NS
    assert s.score(t) > 0.9
    last = s.history[-1]
    horizon = round(s.cfg.horizon_s)
    # The window is (fill, fill + horizon]: the buyer prints on each whole second in it, the
    # sellers inside the seconds, so the last second's sellers fall outside.
    assert (last.same_orders, last.other_orders) == ((horizon - 1) * 4, horizon)
    assert (last.same_volume, last.other_volume) == ((horizon - 1) * 200, horizon * 50)
    assert last.fade == pytest.approx(1 - 300 / 1000)
    assert s.components()["flow"] == pytest.approx(1.0)


def test_flow_when_one_large_seller_against_many_small_buyers_then_not_adverse():
    # Shares alone would read 5:1 against us; what is counted is orders, and one large
    # order a second is not a crowd trading ahead of us.
    s = AdverseFlowScore(AdverseConfig(alpha=0.5))
    t = 0
    for _ in range(10):
        s.on_quote(t, 49.99, 1000, 50.01, 1000)
        s.on_execution(t, Side.SELL, 200)
        for k in range(1, 62):
            ts = t + k * NS
            s.on_quote(ts, 49.99, 1000, 50.01, 1000)
            s.on_trade(ts, Side.SELL, 500)
            for j in range(1, 3):
                s.on_trade(ts + j * NS // 4, Side.BUY, 50)
        t += 61 * NS
    assert s.pooled()["flow"] == pytest.approx(1 / 3, abs=0.01)
    assert s.score(t) == 0.0


def test_own_print_when_on_the_tape_before_our_report_then_not_counted():
    s = AdverseFlowScore()
    _market(s, 0, 60, 50, 50)
    t = 60 * NS
    s.on_execution(t, Side.SELL, 100)  # an earlier order of ours opens a window
    t2 = t + 5 * NS
    s.on_trade(t2, Side.SELL, 300)  # our next order prints first ...
    s.on_execution(t2, Side.SELL, 300)  # ... and its report follows
    s.on_trade(t2, Side.SELL, 300)  # (a venue may also repeat it after the report)
    s.on_quote(t + 100 * NS, 49.99, 1000, 50.01, 1000)
    first = s.history[0]
    assert (first.same_orders, first.same_volume) == (0, 0)


def test_score_when_market_ignores_us_then_stays_low_and_fades_with_time():
    s = AdverseFlowScore(AdverseConfig(alpha=0.5))
    _market(s, 0, 1800, 50, 50)
    t = 1800 * NS
    for _ in range(10):
        s.on_execution(t, Side.SELL, 200)
        s.on_trade(t, Side.SELL, 200)
        _market(s, t + NS, 60, 50, 50)
        t += 61 * NS
    # A balanced market sits at a quarter of the flow ramp: far below leaving ADV.
    assert s.score(t) == pytest.approx(0.25, abs=0.02)
    assert s.score(t) < RegimeThresholds().adv_exit
    hot = AdverseFlowScore()
    hot._score, hot._score_ts = 0.8, 0
    assert hot.score(round(hot.cfg.decay_halflife_s * NS)) == pytest.approx(0.4)


def test_execution_when_quantity_not_positive_then_rejected():
    with pytest.raises(InvalidParameterError, match="quantity"):
        AdverseFlowScore().on_execution(0, Side.SELL, 0)


def test_fills_when_one_order_walks_levels_at_one_instant_then_one_observation():
    s = AdverseFlowScore()
    _market(s, 0, 60, 50, 50)
    t = 60 * NS
    s.on_execution(t, Side.SELL, 300)
    s.on_execution(t, Side.SELL, 200)  # the same market order, next level down
    s.on_trade(t, Side.SELL, 300)
    s.on_trade(t, Side.SELL, 200)
    _market(s, t + NS, 90, 50, 50)
    assert len(s.history) == 1
    horizon = round(s.cfg.horizon_s)
    # Both prints netted out; the market's sell orders inside (fill, fill + horizon] counted.
    assert (s.history[0].same_volume, s.history[0].same_orders) == (
        (horizon - 1) * 50,
        horizon - 1,
    )


def test_a_detector_with_a_history_limit_keeps_the_latest_bars_only() -> None:
    kept = RegimeDetector(history_limit=5)
    full = RegimeDetector()
    for det in (kept, full):
        for i in range(1, 400):
            ts = i * 10 * NS
            mid = 100.0 + 0.01 * ((i * 7) % 5)
            det.on_quote(ts, mid - 0.01, 500, mid + 0.01, 500)
    assert len(full.history) > 20
    assert 5 <= len(kept.history) < 10
    assert kept.history[-1] == full.history[-1]  # the same states, only fewer kept
    assert kept.history == full.history[-len(kept.history) :]


def test_adverse_impact_of_one_window_is_clipped_before_pooling():
    # A sell, then the mid falls 100 half-spreads within the window (a jump, not our impact):
    # pooled, it counts as impact_clip expected moves, not 100.
    from strategies.adverse import AdverseConfig, AdverseFlowScore

    def pooled_impact(clip: float) -> float:
        s = AdverseFlowScore(AdverseConfig(alpha=1.0, impact_clip=clip))
        s.on_quote(0, 99.99, 500, 100.01, 500)
        s.on_execution(1 * NS, Side.SELL, 100)
        s.on_quote(2 * NS, 98.99, 500, 99.01, 500)  # mid down by 1.00 = 100 half-spreads
        s.on_quote(40 * NS, 98.99, 500, 99.01, 500)  # the 30 s window closes
        return s.pooled()["impact"]

    assert pooled_impact(5.0) == pytest.approx(5.0)
    assert pooled_impact(1000.0) == pytest.approx(100.0)
