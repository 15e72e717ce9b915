"""Baseline schedules: totals, shapes and infeasibility."""

from __future__ import annotations

import numpy as np
import pytest

from strategies import baselines
from strategies.errors import InfeasibleScheduleError, InvalidParameterError
from strategies.volume import resample, u_shape


def test_vwap_when_profile_given_then_trades_follow_volume():
    v = np.array([100.0, 300.0, 600.0])
    np.testing.assert_allclose(baselines.vwap(1000.0, v), [100.0, 300.0, 600.0])


def test_pov_when_volume_ample_then_trades_rate_times_volume_until_done():
    got = baselines.pov(250.0, [1000.0, 1000.0, 1000.0], 0.1)
    np.testing.assert_allclose(got, [100.0, 100.0, 50.0])


def test_pov_when_volume_insufficient_then_error_says_what_to_change():
    with pytest.raises(InfeasibleScheduleError, match="raise the participation rate"):
        baselines.pov(400.0, [1000.0, 1000.0, 1000.0], 0.1)


def test_front_and_back_loaded_when_built_then_monotone_and_complete():
    f = baselines.front_loaded(1000.0, 10)
    b = baselines.back_loaded(1000.0, 10)
    assert np.all(np.diff(f) < 0) and np.all(np.diff(b) > 0)
    assert f.sum() == pytest.approx(1000.0, abs=1e-9)
    np.testing.assert_allclose(f, b[::-1])


def test_vwap_when_profile_all_zero_then_rejected():
    with pytest.raises(InvalidParameterError, match="positive total"):
        baselines.vwap(10.0, [0.0, 0.0])


def test_u_shape_when_built_then_ends_heavier_than_middle_and_sums_to_total():
    v = u_shape(390, 1e6)
    assert v.sum() == pytest.approx(1e6)
    assert v[0] > 2 * v[195] and v[-1] > 2 * v[195]


def test_resample_when_lengths_differ_then_total_preserved():
    v = np.arange(1.0, 14.0)
    out = resample(v, 5)
    assert out.size == 5
    assert out.sum() == pytest.approx(v.sum())


def test_pov_when_lot_given_then_whole_lots_within_cap_even_when_cap_binds_everywhere():
    # Found by hypothesis: rounding a continuous POV to lots had nowhere to put the remainders,
    # since every period was exactly at its cap. Capacity is now counted in lots up front.
    v = np.array([38000.0, 59729.0, 66000.0, 108000.0, 180542.0, 6000.0])
    got = baselines.pov(22700.0, v, 0.05, lot=100.0)
    assert got.sum() == 22700.0
    assert np.all(np.mod(got, 100.0) == 0)
    assert np.all(got <= 0.05 * v)
