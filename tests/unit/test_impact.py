"""Impact models: formulas, per-period coefficients, book walking and domain errors."""

from __future__ import annotations

import numpy as np
import pytest

from strategies.errors import InvalidParameterError
from strategies.impact import LinearImpact, PowerLawImpact, SquareRootImpact, TableImpact


def test_linear_when_trading_then_half_spread_plus_quadratic_rate_cost():
    m = LinearImpact(eta=2e-6, epsilon=0.01)
    got = m.temporary_cost([0.0, 1000.0, 2000.0], 0.5, 0.0, 0)
    np.testing.assert_allclose(got, [0.0, 10 + 2e-6 * 1e6 / 0.5, 20 + 2e-6 * 4e6 / 0.5])


def test_coefficients_when_per_period_then_each_period_uses_its_own():
    m = LinearImpact(eta=[1.0, 2.0, 3.0])
    got = m.temporary_cost(np.full(3, 2.0), 1.0, np.ones(3), np.arange(3))
    np.testing.assert_allclose(got, [4.0, 8.0, 12.0])
    assert m.n_periods == 3


def test_coefficients_when_too_few_periods_then_error_names_counts():
    m = LinearImpact(eta=[1.0, 2.0])
    with pytest.raises(InvalidParameterError, match="2 per-period values"):
        m.temporary_cost(np.ones(3), 1.0, np.ones(3), np.arange(3))


def test_power_law_when_beta_is_one_then_equals_linear():
    x = np.linspace(0, 5e4, 11)
    lin = LinearImpact(eta=3e-6, epsilon=0.02).temporary_cost(x, 0.25, 0.0, 0)
    pw = PowerLawImpact(eta=3e-6, beta=1.0, epsilon=0.02).temporary_cost(x, 0.25, 0.0, 0)
    np.testing.assert_allclose(pw, lin, rtol=1e-14)


def test_power_law_when_rate_doubles_then_per_share_impact_scales_by_two_to_beta():
    m = PowerLawImpact(eta=1e-3, beta=0.6)
    c1, c2 = m.temporary_cost([1e4, 2e4], 1.0, 0.0, 0)
    assert (c2 / 2e4) / (c1 / 1e4) == pytest.approx(2**0.6)


def test_square_root_when_volume_quadruples_then_impact_halves():
    m = SquareRootImpact(sigma=0.5, y=0.8)
    a, b = m.temporary_cost([1e4, 1e4], 4.0, [1e6, 4e6], [0, 0])
    assert a == pytest.approx(0.8 * 0.5 * 2.0 * 1e4 * np.sqrt(1e4 / 1e6))
    assert b == pytest.approx(a / 2)


def test_square_root_when_no_volume_then_trading_impossible_but_idle_free():
    m = SquareRootImpact(sigma=0.5)
    got = m.temporary_cost([0.0, 100.0], 1.0, [0.0, 0.0], [0, 0])
    assert got[0] == 0.0
    assert np.isinf(got[1])


def test_book_when_walking_two_levels_then_cost_is_exact_and_ends_at_depth():
    # Bids 99.99 x 100, 99.98 x 200 around a 100.00 mid: selling walks them.
    m = TableImpact.from_book([99.99, 99.98], [100, 200], 100.0, "sell")
    got = m.temporary_cost([50, 100, 200, 300, 301], 1.0, 0.0, 0)
    np.testing.assert_allclose(got[:4], [0.5, 1.0, 1.0 + 100 * 0.02, 1.0 + 200 * 0.02])
    assert np.isinf(got[4])
    assert m.max_shares == 300


def test_book_when_levels_unsorted_for_side_then_rejected():
    with pytest.raises(InvalidParameterError, match="ask prices must strictly increase"):
        TableImpact.from_book([100.02, 100.01], [1, 1], 100.0, "buy")


def test_table_when_one_per_period_then_period_selects_row():
    m = TableImpact([0, 10], [[0, 1.0], [0, 5.0]])
    np.testing.assert_allclose(m.temporary_cost([5, 5], 1.0, 0.0, [0, 1]), [0.5, 2.5])


@pytest.mark.parametrize(
    "build,match",
    [
        (lambda: LinearImpact(eta=0.0), "eta must be > 0"),
        (lambda: LinearImpact(eta=1e-6, epsilon=-1.0), "epsilon must be >= 0"),
        (lambda: PowerLawImpact(eta=1e-6, beta=0.0), "beta"),
        (lambda: SquareRootImpact(sigma=1.0, y=-1.0), "Y must be > 0"),
        (lambda: TableImpact([0, 1, 1], [0, 1, 2]), "strictly increase"),
        (lambda: TableImpact([0, 1], [1, 2]), "costs at 0 shares must be 0"),
    ],
)
def test_models_when_parameters_invalid_then_rejected(build, match):
    with pytest.raises(InvalidParameterError, match=match):
        build()


def test_cost_when_shares_negative_then_rejected():
    with pytest.raises(InvalidParameterError, match=">= 0"):
        LinearImpact(eta=1e-6).temporary_cost([-1.0], 1.0, 0.0, 0)


def test_permanent_cost_when_constant_gamma_then_matches_separable_identity():
    m = LinearImpact(eta=1e-6, gamma=2e-7)
    trades = np.array([300.0, 500.0, 200.0])
    after = 1000.0 - np.cumsum(trades)
    lhs = m.permanent_cost(after, trades)
    rhs = 0.5 * m.gamma * 1000.0**2 - 0.5 * m.gamma * np.sum(trades**2)
    assert lhs == pytest.approx(rhs, rel=1e-12)
