"""The statistics of a backtest sweep, on hand-made runs whose answers are known."""

from __future__ import annotations

import dataclasses
import math

import pytest

from engine.backtest import RunResult
from engine.backtest_stats import (
    adversary_rows,
    day_kind,
    hunt_rows,
    kind_rows,
    mean_ci,
    paired_rows,
    strategy_rows,
    t_quantile,
    t_two_sided_p,
)

BASE = RunResult(
    day="sim-1",
    market="sim",
    strategy="twap",
    adversary=True,
    seed=1,
    side="sell",
    qty=1000,
    filled=1000,
    state="filled",
    arrival_mid=50.0,
    avg_price=49.99,
    shortfall_bps=2.0,
    cost_bps=2.0,
    delay_bps=0.0,
    timing_bps=2.0,
    spread_bps=0.0,
    opportunity_bps=0.0,
    vs_vwap_bps=0.0,
    participation=0.05,
    max_participation=0.1,
    market_volume=20_000,
    children=10,
    violations=(),
    hunted=0.0,
    hv=0.0,
)


def run(**kw: object) -> RunResult:
    return dataclasses.replace(BASE, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("t", "df", "p"),
    [(2.0, 10, 0.07339), (2.262157, 9, 0.05), (1.0, 1, 0.5), (0.0, 5, 1.0), (4.0, 30, 0.000382)],
)
def test_t_p_values_match_the_tables(t: float, df: int, p: float) -> None:
    assert t_two_sided_p(t, df) == pytest.approx(p, rel=2e-3, abs=1e-6)
    assert t_two_sided_p(-t, df) == t_two_sided_p(t, df)


def test_t_quantiles_match_the_tables() -> None:
    assert t_quantile(0.975, 9) == pytest.approx(2.262, abs=1e-3)
    assert t_quantile(0.975, 1000) == pytest.approx(1.962, abs=1e-3)


def test_mean_ci_is_the_t_interval() -> None:
    est = mean_ci([1.0, 2.0, 3.0, 4.0])
    sd = math.sqrt(5.0 / 3.0)
    half = 3.182446 * sd / 2.0  # t(0.975, 3) x sd / sqrt(4)
    assert (est.n, est.mean, est.sd) == (4, 2.5, pytest.approx(sd))
    assert (est.lo, est.hi) == (pytest.approx(2.5 - half, rel=1e-4), pytest.approx(2.5 + half))
    assert math.isnan(mean_ci([1.0]).sd) and mean_ci([]).n == 0


def test_paired_differences_are_per_day_and_only_where_both_ran() -> None:
    runs = [
        run(day="sim-1", cost_bps=5.0, shortfall_bps=25.0),
        run(day="sim-2", cost_bps=1.0, shortfall_bps=-19.0),
        run(day="sim-3", cost_bps=7.0),  # no adaptive run that day: not paired
        run(day="sim-1", strategy="adaptive", cost_bps=4.0, shortfall_bps=24.0),
        run(day="sim-2", strategy="adaptive", cost_bps=-1.0, shortfall_bps=-21.0),
    ]
    (short, cost) = paired_rows(runs)
    assert (short.metric, cost.metric) == ("shortfall", "cost")
    assert short.diff.n == 2 and short.diff.mean == pytest.approx(-1.5)
    assert cost.diff.mean == pytest.approx(-1.5) and cost.diff.sd == pytest.approx(math.sqrt(0.5))
    # The day's market cancels: 44 bps between the days does not reach the difference, and
    # with one degree of freedom t = -3 gives p = 1 - 2 atan(3) / pi.
    assert short.diff.sd == pytest.approx(math.sqrt(0.5)) and short.t == pytest.approx(-3.0)
    assert short.p == pytest.approx(1 - 2 * math.atan(3) / math.pi)


def test_strategy_rows_count_completion_peaks_and_violations() -> None:
    runs = [
        run(filled=1000, max_participation=0.12),
        run(day="sim-2", filled=900, max_participation=0.149, violations=("overfill",)),
    ]
    (row,) = strategy_rows(runs)
    assert row.completion == 0.5 and row.max_participation == 0.149 and row.violations == 1
    assert row.adversary is True


def test_the_predators_extra_cost_is_paired_by_day_and_given_back_against_twaps() -> None:
    runs = []
    for day, (tw_on, tw_off, ad_on, ad_off) in enumerate([(6, 2, 3, 2), (8, 2, 4, 3)]):
        runs += [
            run(day=f"sim-{day}", cost_bps=tw_on),
            run(day=f"sim-{day}", adversary=False, cost_bps=tw_off),
            run(day=f"sim-{day}", strategy="adaptive", cost_bps=ad_on),
            run(day=f"sim-{day}", strategy="adaptive", adversary=False, cost_bps=ad_off),
        ]
    rows = {r.strategy: r for r in adversary_rows(runs)}
    assert rows["twap"].extra.mean == pytest.approx(5.0) and rows["twap"].given_back is None
    assert rows["adaptive"].extra.mean == pytest.approx(1.0)
    assert rows["adaptive"].given_back == pytest.approx(0.8)


def test_a_pair_is_classed_on_both_its_runs_so_neither_run_selects_the_days() -> None:
    """The predator hunts whoever falls behind, which is that run's bad day: classing on the
    baseline's run alone made adaptive look cheaper on ADV days and dearer on calm ones."""
    assert day_kind(run(hunted=0.25, hv=0.9)) == "ADV"
    assert day_kind(run(hv=0.5)) == "HV"
    assert day_kind(run(hv=0.49, hunted=0.19)) == "LV"
    assert day_kind(run(), run(hunted=0.3)) == day_kind(run(hunted=0.3), run()) == "ADV"
    runs = [
        run(strategy="ac", hv=0.8, cost_bps=4.0),
        run(strategy="adaptive", hv=0.8, cost_bps=3.0),
        run(day="sim-2", strategy="ac", cost_bps=1.0),
        run(day="sim-2", strategy="adaptive", cost_bps=2.0),
        run(day="sim-3", strategy="ac", cost_bps=5.0),
        run(day="sim-3", strategy="adaptive", hunted=0.5, cost_bps=9.0),  # only adaptive hunted
        run(day="sim-4", strategy="ac", hunted=0.5, cost_bps=9.0),
        run(day="sim-4", strategy="adaptive", cost_bps=3.0),
    ]
    rows = {r.kind: r for r in kind_rows(runs)}
    assert rows["HV"].diff.mean == -1.0 and rows["LV"].diff.mean == 1.0
    assert rows["ADV"].diff.n == 2 and rows["ADV"].diff.mean == -1.0  # (+4 - 6) / 2
    (hunts,) = hunt_rows(runs)
    assert (hunts.both, hunts.only_strategy, hunts.only_baseline, hunts.neither) == (0, 1, 1, 2)
