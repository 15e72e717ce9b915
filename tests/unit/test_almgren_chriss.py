"""Almgren-Chriss closed form against an independent solver and the paper's formulas."""

from __future__ import annotations

import math

import numpy as np
import pytest

from strategies.almgren_chriss import almgren_chriss, efficient_frontier, min_risk_aversion
from strategies.errors import InvalidParameterError
from strategies.schedule import Side, evaluate
from tests import naive
from tests.kit import paper_example

RTOL = 1e-9

CASES = [
    dict(),  # the paper's worked example
    dict(risk_aversion=2e-7),
    dict(risk_aversion=0.0),
    dict(risk_aversion=-1e-8),  # risk-loving: trigonometric branch
    dict(risk_aversion=-5e-7),
    dict(periods=390, horizon=1.0, sigma=0.3, risk_aversion=3e-6),
    dict(periods=50, horizon=2.0, risk_aversion=1e-5, gamma=0.0, epsilon=0.0),
    dict(side=Side.BUY, risk_aversion=4e-6, periods=20),
    dict(drift=0.05, risk_aversion=1e-6, periods=30),
    dict(drift=-0.2, risk_aversion=0.0, periods=12),
    dict(drift=0.1, risk_aversion=-2e-8, periods=10, side=Side.BUY),
]


def _case_id(overrides: dict) -> str:
    return ",".join(f"{k}={v}" for k, v in overrides.items()) or "paper"


def _signed(p, schedule):
    return p.side.sign * np.asarray(schedule.holdings)


@pytest.mark.parametrize("overrides", CASES, ids=_case_id)
def test_trajectory_when_solved_then_matches_independent_kkt_solution(overrides):
    p = paper_example(**overrides)
    s = almgren_chriss(p)
    ref = naive.ac_kkt(
        p.shares,
        p.horizon,
        p.periods,
        p.sigma,
        p.eta,
        p.gamma,
        p.risk_aversion,
        drift=p.drift,
        sign=p.side.sign,
    )
    np.testing.assert_allclose(_signed(p, s), ref, rtol=RTOL, atol=RTOL * p.shares)


@pytest.mark.parametrize("overrides", CASES, ids=_case_id)
def test_cost_and_variance_when_reported_then_equal_term_by_term_sums(overrides):
    p = paper_example(**overrides)
    s = almgren_chriss(p)
    objective, e, v = naive.ac_objective(
        _signed(p, s),
        p.horizon,
        p.sigma,
        p.eta,
        p.gamma,
        p.epsilon,
        p.risk_aversion,
        drift=p.drift,
    )
    assert s.expected_cost == pytest.approx(e, rel=RTOL)
    assert s.variance == pytest.approx(v, rel=RTOL)
    assert s.utility(p.risk_aversion) == pytest.approx(objective, rel=RTOL)


def test_optimum_when_trajectory_perturbed_then_objective_rises():
    p = paper_example(periods=25, risk_aversion=2e-6)
    s = almgren_chriss(p)
    base = s.utility(p.risk_aversion)
    rng = np.random.default_rng(7)
    for _ in range(50):
        x = np.array(s.holdings)
        x[1:-1] += rng.normal(0.0, 1_000.0, x.size - 2)
        e, v = evaluate(x, p.impact_model(), tau=p.tau, sigma=p.sigma)
        assert e + p.risk_aversion * v > base


def test_kappa_when_computed_then_solves_the_discrete_cosh_equation():
    for lam in (1e-8, 1e-6, 1e-4, 1e-2):
        p = paper_example(risk_aversion=lam)
        kappa = almgren_chriss(p).details["kappa"]
        lhs = math.cosh(kappa * p.tau)
        rhs = 1 + p.tau**2 * p.kappa_tilde_sq / 2
        assert lhs == pytest.approx(rhs, rel=1e-12)


def test_paper_example_when_lambda_is_1e6_then_kappa_and_half_life_match_section_4():
    # The paper reports kappa ~ 0.6/day and a half-life of under two days for this example.
    s = almgren_chriss(paper_example())
    assert s.details["kappa"] == pytest.approx(0.607, abs=1e-3)
    assert s.details["half_life"] == pytest.approx(1 / s.details["kappa"])
    assert 1.6 < s.details["half_life"] < 1.7


def test_risk_aversion_when_zero_then_linear_trajectory_and_linear_closed_forms():
    p = paper_example(risk_aversion=0.0, periods=8)
    s = almgren_chriss(p)
    np.testing.assert_allclose(s.holdings, np.linspace(p.shares, 0.0, 9), rtol=0, atol=1e-9)
    n, t, x = p.periods, p.horizon, p.shares
    assert s.expected_cost == pytest.approx(
        0.5 * p.gamma * x**2 + p.epsilon * x + p.eta_tilde * x**2 / t, rel=1e-12
    )
    assert s.variance == pytest.approx(
        p.sigma**2 * x**2 * t * (1 - 1 / n) * (1 - 1 / (2 * n)) / 3, rel=1e-12
    )
    assert math.isinf(s.details["half_life"])


def test_risk_aversion_when_tiny_then_continuous_with_linear_case():
    lin = almgren_chriss(paper_example(risk_aversion=0.0, drift=0.05, periods=20))
    tiny = almgren_chriss(paper_example(risk_aversion=1e-15, drift=0.05, periods=20))
    np.testing.assert_allclose(tiny.holdings, lin.holdings, rtol=1e-6)


def test_risk_aversion_when_negative_then_trades_later_than_linear():
    s = almgren_chriss(paper_example(risk_aversion=-5e-7, periods=10))
    linear = np.linspace(1e6, 0.0, 11)
    assert np.all(s.holdings[1:-1] > linear[1:-1])
    assert s.details["kappa"] < 0


def test_risk_aversion_when_below_bound_then_error_names_the_bound():
    p = paper_example(periods=10)
    bound = min_risk_aversion(p)
    almgren_chriss(p.with_risk_aversion(bound * 0.99))  # just inside: fine
    with pytest.raises(InvalidParameterError, match=r"use lambda > -"):
        almgren_chriss(p.with_risk_aversion(bound * 1.01))


def test_buy_program_when_no_drift_then_mirrors_sell_program():
    sell = almgren_chriss(paper_example(periods=15))
    buy = almgren_chriss(paper_example(periods=15, side=Side.BUY))
    np.testing.assert_array_equal(buy.holdings, sell.holdings)
    assert buy.expected_cost == sell.expected_cost
    assert buy.variance == sell.variance


def test_drift_when_price_rising_then_seller_waits_and_buyer_hurries():
    flat = almgren_chriss(paper_example(periods=10))
    sell = almgren_chriss(paper_example(periods=10, drift=0.1))
    buy = almgren_chriss(paper_example(periods=10, drift=0.1, side=Side.BUY))
    assert np.all(sell.holdings[1:-1] > flat.holdings[1:-1])
    assert np.all(buy.holdings[1:-1] < flat.holdings[1:-1])


def test_eta_when_not_above_permanent_term_then_error_says_what_to_change():
    with pytest.raises(InvalidParameterError, match="more periods"):
        paper_example(eta=1e-7, gamma=1e-6, periods=1)


@pytest.mark.parametrize(
    "field,value",
    [
        ("shares", -1.0),
        ("periods", 0),
        ("horizon", 0.0),
        ("sigma", -0.1),
        ("risk_aversion", math.nan),
    ],
)
def test_parameters_when_out_of_domain_then_rejected(field, value):
    with pytest.raises(InvalidParameterError, match=field):
        paper_example(**{field: value})


def test_frontier_when_lambda_rises_then_variance_falls_and_cost_rises():
    p = paper_example(periods=20)
    lams = np.geomspace(1e-8, 1e-4, 25)
    f = efficient_frontier(p, lams)
    assert np.all(np.diff(f.variance) < 0)
    assert np.all(np.diff(f.expected_cost) > 0)
    # Each point minimises its own E + lambda V among all frontier points.
    for i, lam in enumerate(lams):
        assert np.argmin(f.expected_cost + lam * f.variance) == i


@pytest.mark.parametrize("lam", [5e-6, 0.0, -1e-7])
def test_optimum_when_brute_forced_numerically_then_closed_form_is_no_worse(lam):
    # A generic optimiser over the full objective, |n_k| term included, knowing nothing of the
    # structure: the closed form must match its minimiser and never be beaten by it.
    from scipy.optimize import minimize

    p = paper_example(periods=6, risk_aversion=lam)
    s = almgren_chriss(p)

    def f(u):
        x = p.shares * np.concatenate(([1.0], u, [0.0]))
        return naive.ac_objective(x, p.horizon, p.sigma, p.eta, p.gamma, p.epsilon, lam)[0]

    scale = f(np.linspace(1.0, 0.0, 7)[1:-1])
    res = minimize(
        lambda u: f(u) / scale,
        np.full(5, 0.5),
        method="Nelder-Mead",
        options={"xatol": 1e-10, "fatol": 1e-15, "maxiter": 20_000},
    )
    best = res.fun * scale
    assert s.utility(lam) <= best * (1 + 1e-12)
    assert s.utility(lam) == pytest.approx(best, rel=1e-9)
    np.testing.assert_allclose(s.holdings[1:-1] / p.shares, res.x, atol=1e-4)


@pytest.mark.parametrize("sigma", [1e-113, 1e-9, 1e-6, 1e-4])
def test_kappa_when_vanishingly_small_then_cost_and_variance_stay_exact(sigma):
    # kappa*T from ~1e-115 to ~1e-3: the paper's V formula would divide by an underflowed
    # sinh^2 or lose most of its digits to cancellation.
    p = paper_example(sigma=sigma, risk_aversion=1e-7, periods=20)
    s = almgren_chriss(p)
    _, e, v = naive.ac_objective(
        _signed(p, s), p.horizon, p.sigma, p.eta, p.gamma, p.epsilon, p.risk_aversion
    )
    assert s.expected_cost == pytest.approx(e, rel=RTOL)
    assert s.variance == pytest.approx(v, rel=RTOL)
    linear = almgren_chriss(paper_example(sigma=sigma, risk_aversion=0.0, periods=20))
    np.testing.assert_allclose(s.holdings, linear.holdings, rtol=1e-6)
