"""The numpy MLP learns, is deterministic for a seed, round-trips, and plans in the DP."""

from __future__ import annotations

import numpy as np
import pytest

from strategies.calibration import fit_quality
from strategies.errors import InvalidParameterError
from strategies.impact import PowerLawImpact
from strategies.nn_impact import ImpactMLP, MLPConfig, cost_table, train_mlp
from strategies.planner import PlanRequest, plan
from strategies.schedule import Side

FAST = MLPConfig(hidden=(16, 8), max_epochs=150, patience=15, seed=1)


def _data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1.0, 1.0, (n, 3))
    y = 2.0 + np.sin(2.0 * x[:, 0]) + 0.5 * x[:, 1] ** 2 - 0.3 * x[:, 2]
    return x, y


def test_train_mlp_when_the_target_is_a_smooth_function_then_held_out_error_is_small() -> None:
    x, y = _data(3_000, 0)
    r = train_mlp(x, y, FAST)
    xt, yt = _data(1_000, 1)
    q = fit_quality(yt, r.model.predict(xt))
    assert q.r2 > 0.97 and q.rmse < 0.1 * float(np.std(yt))
    assert min(r.val_loss) == r.val_loss[r.best_epoch]


def test_train_mlp_is_deterministic_for_a_seed_and_differs_across_seeds() -> None:
    x, y = _data(600, 2)
    cfg = MLPConfig(hidden=(8,), max_epochs=20, seed=5)
    a, b = train_mlp(x, y, cfg), train_mlp(x, y, cfg)
    for wa, wb in zip(a.model.weights, b.model.weights, strict=True):
        np.testing.assert_array_equal(wa, wb)
    assert a.val_loss == b.val_loss
    c = train_mlp(x, y, MLPConfig(hidden=(8,), max_epochs=20, seed=6))
    assert not np.array_equal(a.model.weights[0], c.model.weights[0])


def test_model_round_trips_through_npz(tmp_path) -> None:  # type: ignore[no-untyped-def]
    x, y = _data(300, 3)
    m = train_mlp(x, y, MLPConfig(hidden=(4, 3), max_epochs=5), feature_names=("a", "b", "c"))
    path = tmp_path / "m.npz"
    np.savez(path, **m.model.to_arrays())
    with np.load(path) as f:
        back = ImpactMLP.from_arrays(dict(f))
    np.testing.assert_array_equal(back.predict(x), m.model.predict(x))
    assert back.feature_names == ("a", "b", "c")
    with pytest.raises(InvalidParameterError, match=r"\(n, 3\)"):
        back.predict(x[:, :2])


def test_train_mlp_refuses_too_few_rows_and_bad_configs() -> None:
    with pytest.raises(InvalidParameterError, match="too few"):
        train_mlp(np.ones((2, 1)), np.ones(2))
    with pytest.raises(InvalidParameterError, match="hidden"):
        MLPConfig(hidden=(4, 4, 4))


def test_cost_table_in_the_dp_avoids_expensive_periods_and_beats_twap() -> None:
    grid = np.array([100.0, 200.0, 300.0, 400.0, 600.0])
    periods = 6
    # Per-share cost in bps rising with size; periods 1 and 4 are three times as expensive.
    level = np.array([1.0, 3.0, 1.0, 1.0, 3.0, 1.0])
    bps = level[:, None] * (2.0 + 0.01 * grid[None, :])
    table = cost_table(bps, grid, mid=50.0)
    assert table.max_shares == 600.0
    # cost of 200 shares in period 1: 3 * (2 + 2) bps of $50 on 200 shares
    assert float(table.temporary_cost(200.0, 1.0, 0.0, 1)) == pytest.approx(12e-4 * 50 * 200)
    req = dict(shares=1_200.0, side=Side.SELL, horizon=6.0, periods=periods, sigma=0.0,
               model=table, lot=100.0)  # fmt: skip
    dp = plan(PlanRequest(strategy="dp", **req))  # type: ignore[arg-type]
    twap = plan(PlanRequest(strategy="twap", **req))  # type: ignore[arg-type]
    assert dp.expected_cost < twap.expected_cost
    assert dp.trades[1] < twap.trades[1] and dp.trades[4] < twap.trades[4]
    # With the same cost in every period the DP can do no better than TWAP.
    flat = cost_table(np.tile(bps[0], (periods, 1)), grid, mid=50.0)
    req["model"] = flat
    assert plan(PlanRequest(strategy="dp", **req)).expected_cost == pytest.approx(  # type: ignore[arg-type]
        plan(PlanRequest(strategy="twap", **req)).expected_cost  # type: ignore[arg-type]
    )


def test_cost_table_from_a_trained_model_plans_with_the_planner() -> None:
    rng = np.random.default_rng(4)
    size = rng.choice([100.0, 200.0, 400.0], 2_000)
    hour = rng.uniform(0.0, 6.5, size.size)
    y = 2.0 + 0.005 * size * (1.0 + (hour < 1.0))  # the first hour costs twice as much to walk
    feats = np.column_stack([np.log(size), hour])
    m = train_mlp(feats, y, FAST).model
    hours = (np.arange(13) + 0.5) / 2.0
    grid = np.array([100.0, 200.0, 400.0])
    f = np.column_stack([np.tile(np.log(grid), hours.size), np.repeat(hours, grid.size)])
    table = cost_table(m.predict(f).reshape(hours.size, grid.size), grid, mid=100.0)
    req = dict(shares=2_600.0, side=Side.SELL, horizon=13.0, periods=13, sigma=0.0, model=table,
               lot=100.0)  # fmt: skip
    dp = plan(PlanRequest(strategy="dp", **req))  # type: ignore[arg-type]
    twap = plan(PlanRequest(strategy="twap", **req))  # type: ignore[arg-type]
    assert dp.expected_cost <= twap.expected_cost
    assert dp.trades[:2].sum() < twap.trades[:2].sum()  # the first hour is avoided
    with pytest.raises(InvalidParameterError):
        cost_table(np.ones((2, 2)), [100.0, 50.0], 1.0)
    # The power law is accepted by the same planner: the table is a drop-in ImpactModel.
    assert PowerLawImpact(1e-3, 0.5).n_periods is None
