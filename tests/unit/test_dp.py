"""The exact DP against pure-Python references, and its error paths."""

from __future__ import annotations

import numpy as np
import pytest

from strategies.dp import is_convex_table, optimal_allocation
from strategies.errors import InfeasibleScheduleError, InvalidParameterError
from tests import naive


def _random_table(rng, n, k, *, integer=True, inf_rate=0.0):
    cost = rng.integers(0, 50, size=(n, k + 1)).astype(float) if integer else rng.random((n, k + 1))
    if inf_rate:
        cost[rng.random(cost.shape) < inf_rate] = np.inf
    return cost


@pytest.mark.parametrize("seed", range(12))
def test_general_path_when_table_non_convex_then_equals_triple_loop_exactly(seed):
    rng = np.random.default_rng(seed)
    n, k = rng.integers(1, 7), rng.integers(1, 12)
    total = int(rng.integers(0, n * k + 1))
    cost = _random_table(rng, n, k, inf_rate=0.15 if seed % 3 == 0 else 0.0)
    ref = naive.dp_triple_loop(cost, total)
    if ref is None:
        with pytest.raises(InfeasibleScheduleError):
            optimal_allocation(cost, total, method="general")
        return
    got = optimal_allocation(cost, total, method="general")
    assert got.method == "general"
    assert got.total_cost == ref[1]
    assert int(got.lots.sum()) == total


@pytest.mark.parametrize("seed", range(8))
def test_general_path_when_caps_given_then_equals_exhaustive_search(seed):
    rng = np.random.default_rng(100 + seed)
    n, k = 4, 5
    cost = _random_table(rng, n, k)
    caps = rng.integers(0, k + 1, size=n)
    total = int(rng.integers(0, caps.sum() + 1))
    got = optimal_allocation(cost, total, caps)
    assert got.total_cost == naive.dp_exhaustive(cost, total, caps)
    assert np.all(got.lots <= caps)


@pytest.mark.parametrize("seed", range(8))
def test_holding_cost_when_given_then_equals_triple_loop(seed):
    rng = np.random.default_rng(200 + seed)
    n, k, total = 6, 8, 20
    cost = _random_table(rng, n, k)
    holding = rng.integers(0, 30, size=(n, total + 1)).astype(float)
    ref = naive.dp_triple_loop(cost, total, holding=holding)
    got = optimal_allocation(cost, total, holding_cost=holding)
    assert got.method == "general"
    assert got.total_cost == ref[1]


def _convex_table(rng, n, k):
    # Cumulative sums of sorted non-negative integer marginals: convex, exactly representable.
    marg = np.sort(rng.integers(0, 40, size=(n, k)), axis=1).astype(float)
    base = rng.integers(0, 10, size=(n, 1)).astype(float)
    return np.hstack([base, base + np.cumsum(marg, axis=1)])


@pytest.mark.parametrize("seed", range(12))
def test_convex_path_when_rows_convex_then_same_optimum_as_general_path(seed):
    rng = np.random.default_rng(300 + seed)
    n, k = int(rng.integers(1, 20)), int(rng.integers(1, 30))
    cost = _convex_table(rng, n, k)
    caps = rng.integers(0, k + 1, size=n) if seed % 2 else None
    limit = n * k if caps is None else int(caps.sum())
    total = int(rng.integers(0, limit + 1))
    fast = optimal_allocation(cost, total, caps)
    slow = optimal_allocation(cost, total, caps, method="general")
    assert fast.method == "convex"
    assert fast.total_cost == slow.total_cost
    assert int(fast.lots.sum()) == total


def test_convex_path_when_inf_suffix_then_still_convex_and_respected():
    cost = np.array([[0, 1, 2, np.inf, np.inf], [0, 3, 7, 12, 18]], dtype=float)
    assert is_convex_table(cost, np.array([4, 4]))
    got = optimal_allocation(cost, 4)
    assert got.method == "convex"
    assert list(got.lots) == [2, 2]
    assert got.total_cost == 2 + 7


def test_auto_when_row_has_inf_hole_then_uses_general_path():
    cost = np.array([[0, np.inf, 1, 2], [0, 5, 10, 15]], dtype=float)
    got = optimal_allocation(cost, 2)
    assert got.method == "general"
    assert list(got.lots) == [2, 0]


def test_ties_when_equal_costs_then_allocation_is_deterministic():
    cost = np.zeros((5, 4))
    a = optimal_allocation(cost, 7, method="general")
    b = optimal_allocation(cost, 7, method="general")
    np.testing.assert_array_equal(a.lots, b.lots)
    c = optimal_allocation(cost, 7, method="convex")
    d = optimal_allocation(cost, 7, method="convex")
    np.testing.assert_array_equal(c.lots, d.lots)


def test_caps_when_too_tight_then_error_says_how_many_lots_fit():
    with pytest.raises(InfeasibleScheduleError, match="at most 6"):
        optimal_allocation(np.zeros((3, 10)), 7, caps=[2, 2, 2])


@pytest.mark.parametrize("method", ["general", "convex"])
def test_table_when_every_path_forbidden_then_infeasible(method):
    cost = np.array([[0, np.inf, np.inf], [0, 1, np.inf]])
    with pytest.raises(InfeasibleScheduleError, match="finite cost"):
        optimal_allocation(cost, 3, method=method)


@pytest.mark.parametrize(
    "cost,total,caps,match",
    [
        (np.array([[0.0, np.nan]]), 1, None, "NaN"),
        (np.array([[0.0, -np.inf]]), 1, None, "unbounded"),
        (np.zeros(4), 1, None, "shape"),
        (np.zeros((2, 3)), -1, None, "total_lots"),
        (np.zeros((2, 3)), 1.5, None, "total_lots"),
        (np.zeros((2, 3)), 1, [1], "one value per period"),
        (np.zeros((2, 3)), 1, [1, -1], "whole numbers"),
    ],
)
def test_inputs_when_malformed_then_invalid_parameter(cost, total, caps, match):
    with pytest.raises(InvalidParameterError, match=match):
        optimal_allocation(cost, total, caps)


def test_convex_method_when_table_not_convex_then_refused():
    cost = np.array([[0.0, 5.0, 6.0, 20.0]])
    with pytest.raises(InvalidParameterError, match="method='general'"):
        optimal_allocation(cost, 2, method="convex")


def test_zero_lots_when_asked_then_nothing_traded():
    cost = np.array([[1.0, 2.0], [3.0, 4.0]])
    got = optimal_allocation(cost, 0)
    assert list(got.lots) == [0, 0]
    assert got.total_cost == 4.0  # trading nothing may still cost something per period
