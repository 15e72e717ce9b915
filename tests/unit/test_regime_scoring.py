"""Scoring detector bars against the simulator's ground truth: exact counts on a small case."""

from __future__ import annotations

import numpy as np
import pytest

from adapters.sim.config import Regime as TrueRegime
from adapters.sim.market import GroundTruth
from adapters.sim.scoring import RegimeScore, score_regimes
from strategies.regime import DEFAULT_POLICIES, Regime, RegimeState
from strategies.schedule import Side

BAR = 60 * 1_000_000_000


def _history(calls: str) -> list[RegimeState]:
    code = {"L": Regime.LV, "H": Regime.HV, "A": Regime.ADV}
    return [
        RegimeState((i + 1) * BAR, code[c], 1e-4, 1e-4, 1e-4, 0.0, 0.0, DEFAULT_POLICIES[code[c]])
        for i, c in enumerate(calls)
    ]


def _truth(second: Side = Side.SELL) -> GroundTruth:
    # Bars close at 1..12 x BAR. HV from bar 4 to bar 7; an adversary hunting a seller from
    # bar 9 to bar 10, and a second episode (hunting ``second``) starts at bar 12.
    return GroundTruth(
        regime_ts=np.array([0, 4 * BAR, 8 * BAR], dtype=np.int64),
        regime_values=(TrueRegime.LV, TrueRegime.HV, TrueRegime.LV),
        adversary_ts={"p": np.array([0, 9 * BAR, 11 * BAR, 12 * BAR], dtype=np.int64)},
        adversary_target={"p": (None, Side.SELL, None, second)},
    )


def test_score_when_bars_called_then_counts_follow_the_definitions():
    #          bar: 1  2  3  4  5  6  7  8  9  10 11 12
    sc = score_regimes(_history("LLHLHHHAAALL"), _truth())
    assert (sc.hv_bars, sc.lv_bars) == (4, 5)  # bars 4-7 HV; 1-3, 8, 11 LV (9, 10, 12 hunted)
    assert sc.hv_recall == pytest.approx(3 / 4)  # bar 4 missed
    # Bar 3 called HV is a miss; bar 8 called ADV is not HV, so right for this figure (it
    # is counted as a false ADV below instead).
    assert sc.lv_recall == pytest.approx(4 / 5)
    assert sc.balanced_accuracy == pytest.approx(0.5 * (0.75 + 0.8))
    assert (sc.episodes, sc.episodes_detected) == (2, 1)  # bar 9 detected; bar 12 not
    assert (sc.quiet_bars, sc.false_adv_bars) == (9, 1)  # bar 8


def test_episodes_when_our_side_given_then_only_those_hunting_us_count():
    calls = _history("LLHLHHHAAALL")
    other_side = _truth(second=Side.BUY)
    ours = score_regimes(calls, other_side, our_side=Side.SELL)
    assert (ours.episodes, ours.episodes_detected) == (1, 1)  # bar 12 hunts a buyer
    assert (ours.quiet_bars, ours.false_adv_bars) == (9, 1)  # ... and is not quiet either
    every = score_regimes(calls, other_side)
    assert (every.episodes, every.episodes_detected) == (2, 1)


def test_pooled_when_a_day_has_no_hv_then_recall_weighted_by_bars_not_nan():
    a = score_regimes(_history("LLHLHHHAAALL"), _truth())
    calm = RegimeScore(10, 0, 10, float("nan"), 1.0, 0, 0, 10, 0)
    p = RegimeScore.pooled([a, calm])
    assert p.hv_recall == pytest.approx(a.hv_recall)
    assert p.lv_recall == pytest.approx((4 + 10) / 15)
    assert p.detection_rate == pytest.approx(0.5)
    assert p.false_adv_rate == pytest.approx(1 / 19)
