"""Fitting recovers known parameters from synthetic data (strategies/calibration.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from strategies.calibration import (
    fit_permanent,
    fit_power_law,
    fit_quality,
    fit_volatility,
    previous_tick,
    quality_by_bucket,
)
from strategies.errors import InvalidParameterError


def test_fit_power_law_when_data_follow_the_law_then_parameters_are_recovered() -> None:
    rng = np.random.default_rng(7)
    x = rng.choice([10.0, 25, 50, 100, 200, 300, 500, 800], 20_000)
    y = 2.5 + 0.04 * x**0.7 + rng.normal(0.0, 0.3, x.size)
    f = fit_power_law(x, y)
    assert f.epsilon == pytest.approx(2.5, abs=0.1)
    assert f.beta == pytest.approx(0.7, abs=0.03)
    assert f.eta == pytest.approx(0.04, rel=0.15)
    assert f.in_sample.r2 > 0.9 and f.in_sample.rmse == pytest.approx(0.3, rel=0.05)


def test_fit_power_law_when_noise_free_then_exact_and_weights_ignore_zero_weight_rows() -> None:
    x = np.array([1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 1.0])
    y = 1.0 + 0.5 * x**1.3
    y[-1] = 100.0  # an outlier that carries no weight
    w = np.array([1.0, 1, 1, 1, 1, 1, 0])
    f = fit_power_law(x, y, weights=w)
    assert (f.epsilon, f.eta, f.beta) == pytest.approx((1.0, 0.5, 1.3), rel=1e-6)
    np.testing.assert_allclose(f.predict(x[:-1]), y[:-1], rtol=1e-6)
    assert f.eta_adv(1000.0) == pytest.approx(0.5 * 1000.0**1.3, rel=1e-6)


def test_fit_power_law_without_epsilon_then_the_fixed_part_is_zero() -> None:
    x = np.array([1.0, 2.0, 3.0, 5.0, 8.0])
    f = fit_power_law(x, 3.0 * x**0.5, fit_epsilon=False)
    assert f.epsilon == 0.0 and f.eta == pytest.approx(3.0, rel=1e-6)
    assert f.beta == pytest.approx(0.5, abs=1e-5)


@pytest.mark.parametrize(
    ("x", "y", "words"),
    [([1.0, 2.0], [1.0, 2.0], "at least 3"), ([1.0, 1, 2], [1.0, 2, 3], "distinct"),
     ([0.0, 1, 2], [1.0, 2, 3], "> 0"), ([1.0, 2, np.nan], [1.0, 2, 3], "finite")],
)  # fmt: skip
def test_fit_power_law_when_inputs_are_bad_then_it_says_why(
    x: list[float], y: list[float], words: str
) -> None:
    with pytest.raises(InvalidParameterError, match=words):
        fit_power_law(x, y)


def test_fit_permanent_recovers_lambda_and_its_r2_matches_the_signal_share() -> None:
    rng = np.random.default_rng(3)
    q = rng.normal(0.0, 2_000.0, 5_000)
    dm = 0.2 + 0.003 * q + rng.normal(0.0, 6.0, q.size)
    k = fit_permanent(q, dm)
    assert k.lam == pytest.approx(0.003, rel=0.03)
    assert k.intercept == pytest.approx(0.2, abs=0.25)
    assert k.in_sample.r2 == pytest.approx(36.0 / 72.0, abs=0.03)  # var(signal) / var(total)
    assert k.gamma(500.0) == pytest.approx(k.lam * 500.0 / 1e4)
    assert fit_permanent(q, 0.003 * q, intercept=False).lam == pytest.approx(0.003)
    with pytest.raises(InvalidParameterError, match="not identified"):
        fit_permanent(np.ones(5), np.arange(5.0))


def test_fit_quality_of_perfect_and_of_mean_predictions() -> None:
    y = np.array([1.0, 2.0, 3.0, 6.0])
    perfect = fit_quality(y, y)
    assert (perfect.r2, perfect.rmse, perfect.mae) == (1.0, 0.0, 0.0)
    mean = fit_quality(y, np.full(4, 3.0))
    assert mean.r2 == pytest.approx(0.0) and mean.mae == pytest.approx(1.5)
    assert mean.rmse == pytest.approx(math.sqrt(14.0 / 4.0))
    worse = fit_quality(y, np.full(4, 10.0))
    assert worse.r2 < 0.0  # worse than the held-out mean
    off = np.array([0.0, 0.0, 1.0, -1.0])
    buckets = quality_by_bucket([1.0, 5.0, 50.0, 60.0], y, y + off, [0, 10, 100])
    assert [(b.lo, b.quality.n, b.quality.rmse) for b in buckets] == [(0, 2, 0.0), (10, 2, 1.0)]


def test_previous_tick_takes_the_last_value_at_or_before_each_time() -> None:
    out = previous_tick([1.0, 2.0, 2.0, 5.0], [10.0, 20.0, 21.0, 50.0], [0.5, 1.0, 3.0, 9.0])
    np.testing.assert_array_equal(out, [np.nan, 10.0, 21.0, 50.0])


def test_fit_volatility_when_prices_carry_noise_then_interval_grows_and_sigma_is_right() -> None:
    rng = np.random.default_rng(11)
    sigma, dt = 1e-4, 0.5
    t = np.arange(0.0, 23_400.0, dt)
    efficient = np.cumsum(rng.normal(0.0, sigma * math.sqrt(dt), t.size))
    noisy = 100.0 * np.exp(efficient + rng.normal(0.0, 2e-4, t.size))
    v = fit_volatility(t, noisy, 0.0, 23_400.0)
    # RV at 1 s is ~ sigma^2 + 2 noise^2 / (1 s) per second: 9x the truth.
    assert v.signature_var[0] > 6 * sigma**2
    assert v.interval_s >= 20.0
    assert v.sigma == pytest.approx(sigma, rel=0.15)
    assert v.sigma_tsrv == pytest.approx(sigma, rel=0.15)
    assert math.sqrt(v.noise_var) == pytest.approx(2e-4, rel=0.1)
    clean = fit_volatility(t, 100.0 * np.exp(efficient), 0.0, 23_400.0)
    assert clean.interval_s <= 2.0 and clean.sigma == pytest.approx(sigma, rel=0.05)
