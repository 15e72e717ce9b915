"""The planner: every strategy on one footing, caps, lots, and the DP/AC relationship."""

from __future__ import annotations

import numpy as np
import pytest

from strategies.cost_table import build_cost_table
from strategies.errors import InfeasibleScheduleError, InvalidParameterError
from strategies.impact import LinearImpact, PowerLawImpact, SquareRootImpact
from strategies.planner import PlanRequest, plan
from strategies.schedule import Side
from strategies.volume import u_shape


def _req(**kw):
    base = dict(
        strategy="ac",
        shares=1e6,
        side=Side.SELL,
        horizon=5.0,
        periods=10,
        sigma=0.95,
        model=LinearImpact(eta=2.5e-6, gamma=2.5e-7, epsilon=0.0625),
        risk_aversion=1e-6,
    )
    base.update(kw)
    return PlanRequest(**base)


def test_dp_when_linear_impact_and_risk_then_between_ac_optimum_and_ac_rounded_to_lots():
    lot = 5_000.0
    ac = plan(_req())
    ac_lots = plan(_req(lot=lot))
    dp = plan(_req(strategy="dp", lot=lot))
    lam = 1e-6
    # The continuous optimum is a lower bound; rounding AC to lots is one lot schedule among
    # those the DP searches exactly.
    assert ac.utility(lam) <= dp.utility(lam) <= ac_lots.utility(lam)
    assert dp.utility(lam) == pytest.approx(dp.details["objective"], rel=1e-12)
    np.testing.assert_allclose(dp.holdings, ac.holdings, atol=lot)


def test_dp_when_risk_neutral_and_linear_then_trades_evenly():
    dp = plan(_req(strategy="dp", risk_aversion=0.0, lot=10_000.0))
    np.testing.assert_array_equal(dp.trades, np.full(10, 100_000.0))


def test_dp_when_cap_binds_then_never_above_cap_and_complete():
    v = u_shape(10, 5e6)
    s = plan(_req(strategy="dp", lot=1_000.0, volumes=v, pov_cap=0.25, risk_aversion=1e-5))
    assert np.all(s.trades <= 0.25 * v + 1e-6)
    assert s.trades.sum() == 1e6


def test_dp_when_impact_is_power_law_then_plans_and_beats_twap():
    model = PowerLawImpact(eta=1e-3, beta=0.6, epsilon=0.01)
    dp = plan(_req(strategy="dp", model=model, lot=10_000.0, risk_aversion=1e-7))
    twap = plan(_req(strategy="twap", model=model, lot=10_000.0))
    assert dp.utility(1e-7) <= twap.utility(1e-7)


def test_twap_when_it_breaks_the_cap_then_refused_naming_the_periods():
    v = u_shape(10, 1e6)  # 100k per period at most x 15% is far below 100k
    with pytest.raises(InfeasibleScheduleError, match=r"breaks the 15.0% participation cap"):
        plan(_req(strategy="twap", volumes=v, pov_cap=0.15))


def test_cap_when_horizon_volume_too_small_then_dp_infeasible():
    with pytest.raises(InfeasibleScheduleError, match="allows"):
        plan(_req(strategy="dp", lot=1000.0, volumes=np.full(10, 1e5), pov_cap=0.15))


def test_ac_when_impact_not_linear_then_refused_pointing_at_dp():
    with pytest.raises(InvalidParameterError, match="--strategy dp"):
        plan(_req(model=PowerLawImpact(eta=1e-3)))


def test_vwap_when_no_volume_forecast_then_refused():
    with pytest.raises(InvalidParameterError, match="volume forecast"):
        plan(_req(strategy="vwap"))


def test_lots_when_quantity_not_a_multiple_then_refused():
    with pytest.raises(InvalidParameterError, match="whole number of lots"):
        plan(_req(strategy="twap", lot=300.0))


@pytest.mark.parametrize("strategy", ["ac", "twap", "vwap", "pov", "aggressive", "conservative"])
def test_lots_when_given_then_every_trade_is_a_whole_lot(strategy):
    s = plan(_req(strategy=strategy, lot=100.0, volumes=np.full(10, 2e6), pov_cap=0.5))
    assert np.all(np.mod(s.trades, 100.0) == 0)
    assert s.trades.sum() == 1e6


def test_cost_table_when_built_then_optimum_scores_as_schedule_objective():
    v = u_shape(8, 4e6)
    model = SquareRootImpact(sigma=0.95, y=0.7, gamma=1e-7, epsilon=0.02)
    s = plan(_req(strategy="dp", periods=8, model=model, volumes=v, lot=10_000.0))
    table = build_cost_table(
        model,
        shares=1e6,
        lot=10_000.0,
        periods=8,
        tau=5 / 8,
        volumes=v,
        sigma=0.95,
        risk_aversion=1e-6,
    )
    lots = (s.trades / 10_000.0).astype(int)
    remaining = 100 - np.cumsum(lots)
    periods = np.arange(8)
    table_total = table.cost[periods, lots].sum() + table.holding[periods, remaining].sum()
    assert table_total + table.constant == pytest.approx(s.utility(1e-6), rel=1e-10)


def test_request_when_strategy_unknown_then_lists_choices():
    with pytest.raises(InvalidParameterError, match="choose one of ac, dp"):
        _req(strategy="iceberg")
