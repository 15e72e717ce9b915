"""The OU volatility filter: parameter recovery, tracking, forecasts, edge cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from strategies.errors import InvalidParameterError
from strategies.ou_filter import OUFilterConfig, OUVolatilityFilter

SUB = 5.0
KAPPA = math.log(2) / 600.0  # per second: 10-minute half-life of log-variance
THETA = math.log(0.02**2 / 23_400.0)  # 2% a day
XI = 0.02


def _ou_path(n_bars: int, seed: int, theta=THETA, kappa=KAPPA, xi=XI, m=12):
    rng = np.random.default_rng(seed)
    n = n_bars * m
    phi = math.exp(-kappa * SUB)
    q = math.sqrt(xi**2 * (1 - phi**2) / (2 * kappa))
    z = rng.standard_normal(n)
    h = np.empty(n)
    h[0] = theta
    for i in range(1, n):
        h[i] = theta + (h[i - 1] - theta) * phi + q * z[i]
    r = np.exp(0.5 * h) * math.sqrt(SUB) * rng.standard_normal(n)
    return h, np.log(100.0) + np.concatenate(([0.0], np.cumsum(r)))


def _feed(f: OUVolatilityFilter, log_mids, record=False):
    out = []
    for i, lp in enumerate(log_mids):
        if f.on_mid(round(i * SUB * 1e9), math.exp(lp)) and record:
            out.append(f.log_variance[0])
    return np.array(out)


def test_parameters_when_long_series_then_recovered_within_tolerance():
    n = 20_000
    _, lp = _ou_path(n, seed=1)
    # Estimate once over the whole series (window = min_bars = n): the long-series estimate.
    f = OUVolatilityFilter(OUFilterConfig(window_bars=n, min_bars=n))
    _feed(f, lp)
    p = f.params
    assert p.kappa == pytest.approx(KAPPA, rel=0.2)
    assert p.xi == pytest.approx(XI, rel=0.2)
    assert p.theta == pytest.approx(THETA, rel=0.1)
    assert p.long_run_sigma == pytest.approx(math.exp(THETA / 2), rel=0.1)


def test_filter_when_volatility_wanders_then_tracks_the_true_log_variance():
    h, lp = _ou_path(3_000, seed=2)
    est = _feed(OUVolatilityFilter(), lp, record=True)
    true_bar = h[11::12][: est.size]  # the true state at each bar end
    # For these settings the steady-state posterior variance is P ~ 0.05 against a stationary
    # variance of 0.173, so no filter correlates better than sqrt(1 - P/s^2) ~ 0.84.
    assert np.corrcoef(est[100:], true_bar[100:])[0, 1] > 0.7
    # and it is far more precise than the one-bar measurement it is built from (R = 0.217)
    raw_noise = (math.pi**2 / 4 + math.pi - 3) / 12
    assert np.mean((est[100:] - true_bar[100:]) ** 2) < 0.5 * raw_noise


def test_uncertainty_when_reported_then_interval_covers_the_truth_mostly():
    h, lp = _ou_path(3_000, seed=3)
    f = OUVolatilityFilter()
    hits = total = 0
    for i, x in enumerate(lp):
        if f.on_mid(round(i * SUB * 1e9), math.exp(x)) and f.bars > 100:
            lo, hi = f.sigma_interval
            truth = math.exp(0.5 * h[min(i, h.size - 1)])
            hits += lo <= truth <= hi
            total += 1
    assert 0.85 < hits / total <= 1.0


def test_forecast_when_integrated_then_matches_independent_quadrature():
    _, lp = _ou_path(500, seed=4)
    f = OUVolatilityFilter()
    _feed(f, lp)
    p, (m, var) = f.params, f.log_variance
    horizon = 1800.0
    s = np.linspace(0.0, horizon, 200_001)
    d = np.exp(-p.kappa * s)
    integrand = np.exp(
        p.theta + (m - p.theta) * d + 0.5 * (var * d**2 + p.stationary_var * (1 - d**2))
    )
    reference = float(np.sum((integrand[1:] + integrand[:-1]) * 0.5 * np.diff(s)))
    assert f.forecast_integrated_variance(horizon) == pytest.approx(reference, rel=1e-6)
    assert f.forecast_integrated_variance(0.0) == 0.0
    assert f.forecast_integrated_variance(60.0) < f.forecast_integrated_variance(600.0)


def test_forecast_when_far_horizon_then_reverts_to_long_run_rate():
    _, lp = _ou_path(500, seed=5)
    f = OUVolatilityFilter()
    _feed(f, lp)
    p = f.params
    long_run_rate = math.exp(p.theta + 0.5 * p.stationary_var)
    h1, h2 = 50 * 3600.0, 51 * 3600.0
    slope = (f.forecast_integrated_variance(h2) - f.forecast_integrated_variance(h1)) / 3600.0
    assert slope == pytest.approx(long_run_rate, rel=1e-3)


def test_flat_prices_when_bars_carry_no_change_then_estimate_stays_finite():
    f = OUVolatilityFilter()
    for i in range(2_000):
        f.on_mid(i * 5_000_000_000, 50.0)
    assert math.isfinite(f.sigma) and f.sigma > 0
    assert f.bars > 100


def test_mid_when_not_positive_then_rejected():
    with pytest.raises(InvalidParameterError, match="mid price"):
        OUVolatilityFilter().on_mid(0, 0.0)


def test_config_when_bar_too_short_for_grid_then_rejected():
    with pytest.raises(InvalidParameterError, match="3 grid steps"):
        OUFilterConfig(bar_s=10.0, sub_s=5.0)


def test_outlier_bar_when_one_jump_then_estimate_moves_a_bounded_amount():
    _, lp = _ou_path(400, seed=3)
    f = OUVolatilityFilter()
    _feed(f, lp)
    before, var = f.log_variance
    bound = f.cfg.outlier_sd * math.sqrt(var + f._r) + 1.0  # + one bar of OU prediction drift
    t0 = round(len(lp) * SUB * 1e9)
    f.on_mid(t0, math.exp(lp[-1] + 0.5))  # a 50% jump: far beyond any bar's variance
    f.on_mid(t0 + round(61 * 1e9), math.exp(lp[-1] + 0.5))
    after, _ = f.log_variance
    assert 0 < after - before < bound
    unclipped = OUVolatilityFilter(OUFilterConfig(outlier_sd=1e9))
    _feed(unclipped, lp)
    unclipped.on_mid(t0, math.exp(lp[-1] + 0.5))
    unclipped.on_mid(t0 + round(61 * 1e9), math.exp(lp[-1] + 0.5))
    assert unclipped.log_variance[0] - before > after - before  # the clip did the bounding


def test_silent_bar_when_estimate_above_resolution_then_pulled_down_not_to_minus_infinity():
    _, lp = _ou_path(200, seed=4)
    f = OUVolatilityFilter()
    _feed(f, lp)
    before = f.log_variance[0]
    t = round(len(lp) * SUB * 1e9)
    for k in range(1, 40):  # three minutes without a price change
        f.on_mid(t + k * round(SUB * 1e9), math.exp(lp[-1]))
    after = f.log_variance[0]
    assert after < before  # no move is evidence of low variance ...
    assert after > math.log(f._min_sq / f.cfg.bar_s) - 3.0  # ... censored at the resolution


def test_config_when_estimator_unknown_then_rejected():
    with pytest.raises(InvalidParameterError, match="estimator"):
        OUFilterConfig(estimator="garch")
