"""The regime-switching OU volatility process and the simulator's config validation."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from adapters.sim.config import (
    SESSION_SECONDS,
    AdversaryConfig,
    FlowConfig,
    MarketConfig,
    Regime,
    VolatilityConfig,
)
from adapters.sim.volatility import VolatilityProcess


def _path(cfg: VolatilityConfig, seconds: float, dt: float = 1.0, seed: int = 5):
    p = VolatilityProcess(cfg, SESSION_SECONDS, random.Random(seed))
    var, hv = [], []
    for _ in range(int(seconds / dt)):
        p.step(dt)
        var.append(p.sigma**2)
        hv.append(p.regime is Regime.HV)
    return np.array(var), np.array(hv)


def test_variance_when_no_switching_then_mean_matches_configured_daily_volatility():
    cfg = VolatilityConfig(lv_to_hv_per_hour=0.0, lv_daily=0.02)
    var, _ = _path(cfg, 200 * 3600.0, dt=5.0)
    daily = math.sqrt(var.mean() * SESSION_SECONDS)
    assert daily == pytest.approx(0.02, rel=0.1)


def test_regimes_when_switching_then_time_in_hv_matches_markov_chain():
    cfg = VolatilityConfig(lv_to_hv_per_hour=0.5, hv_to_lv_per_hour=1.5)
    _, hv = _path(cfg, 400 * 3600.0, dt=5.0)
    assert hv.mean() == pytest.approx(0.5 / (0.5 + 1.5), abs=0.05)


def test_variance_when_regimes_long_lived_then_each_settles_at_its_configured_level():
    # Episodes of ~20 hours: long against the 14-minute half-life of log-variance, so each
    # regime's mean variance is its configured long-run level.
    cfg = VolatilityConfig(lv_to_hv_per_hour=0.05, hv_to_lv_per_hour=0.05)
    var, hv = _path(cfg, 400 * 3600.0, dt=5.0)
    ratio = math.sqrt(var[hv].mean() / var[~hv].mean())
    assert ratio == pytest.approx(cfg.hv_daily / cfg.lv_daily, rel=0.15)


def test_variance_when_regime_switches_then_relaxes_with_ou_half_life():
    cfg = VolatilityConfig(xi_per_sqrt_hour=0.0, lv_to_hv_per_hour=0.0, hv_to_lv_per_hour=0.0)
    p = VolatilityProcess(cfg, SESSION_SECONDS, random.Random(1))
    p.regime = Regime.HV  # force a switch; h starts at the LV level
    gap0 = p.theta[Regime.HV] - p.h
    half_life = math.log(2) / p.kappa
    p.step(half_life)
    assert p.theta[Regime.HV] - p.h == pytest.approx(gap0 / 2, rel=1e-9)


def test_switch_when_regime_changes_then_level_moves_at_once_keeping_the_deviation():
    cfg = VolatilityConfig(xi_per_sqrt_hour=0.0, lv_to_hv_per_hour=1e12, hv_to_lv_per_hour=0.0)
    p = VolatilityProcess(cfg, SESSION_SECONDS, random.Random(1))
    p.h += 0.3  # a deviation from the LV level, to be carried over
    _, switched = p.step(1e-6)
    assert switched and p.regime is Regime.HV
    # No relaxation toward HV: the volatility is at the HV level (plus the deviation) at once.
    assert p.h == pytest.approx(p.theta[Regime.HV] + 0.3, abs=1e-6)


def test_same_seed_when_replayed_then_same_path():
    a, _ = _path(VolatilityConfig(), 3600.0, seed=9)
    b, _ = _path(VolatilityConfig(), 3600.0, seed=9)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "build,match",
    [
        (lambda: VolatilityConfig(lv_daily=0.05, hv_daily=0.03), "lv_daily < hv_daily"),
        (lambda: FlowConfig(limit_share=0.7, cancel_share=0.4), "sum < 1"),
        (lambda: FlowConfig(lv_half_spread_ticks=3, hv_half_spread_ticks=2), "half_spread"),
        (lambda: AdversaryConfig(sensitivity=1.5), "sensitivity"),
        (lambda: MarketConfig(start_price=-1.0), "start_price"),
        (lambda: MarketConfig(adversaries=(AdversaryConfig(), AdversaryConfig())), "unique"),
    ],
)
def test_config_when_invalid_then_rejected_with_reason(build, match):
    with pytest.raises(ValueError, match=match):
        build()
