"""Score a regime detector's bars against the simulator's ground truth.

Three figures (those the regime-detector issue sets targets for):

* **balanced accuracy, LV vs HV**: the mean of HV recall (HV bars called HV) and LV recall
  (LV bars not called HV). A bar called ADV is judged on whether it is *not HV*: ADV answers a
  different question, and counting it as a volatility miss would punish correct ADV calls.
  Only bars without an active adversary are counted, for the same reason.
* **adversary episodes detected**: an episode is a maximal run of bars with an adversary
  hunting *us* (a trader on ``our_side``); it is detected if ADV is raised at least once in its
  first ``within_bars + 1`` bars (the bar in which it started and the ``within_bars`` after).
  A predator sometimes mistakes background flow for a trader and hunts the side we are not on:
  the score measures how the market reacts to our executions, so such an episode is not one it
  should detect (and its bars are not quiet either). Without ``our_side`` every episode counts.
* **false ADV**: the share of bars without any active adversary in which ADV is raised.

A bar's truth is the state at its closing time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from adapters.sim.market import GroundTruth
from strategies.regime import Regime, RegimeState
from strategies.schedule import Side

__all__ = ["RegimeScore", "score_regimes"]


@dataclass(frozen=True, slots=True)
class RegimeScore:
    bars: int
    hv_bars: int
    lv_bars: int
    hv_recall: float
    lv_recall: float
    episodes: int
    episodes_detected: int
    quiet_bars: int
    false_adv_bars: int

    @property
    def balanced_accuracy(self) -> float:
        return 0.5 * (self.hv_recall + self.lv_recall)

    @property
    def detection_rate(self) -> float:
        return self.episodes_detected / self.episodes if self.episodes else float("nan")

    @property
    def false_adv_rate(self) -> float:
        return self.false_adv_bars / self.quiet_bars if self.quiet_bars else float("nan")

    @staticmethod
    def pooled(scores: Sequence[RegimeScore]) -> RegimeScore:
        """Pool several days bar by bar (recalls weighted by each day's bars)."""
        hv = sum(s.hv_bars for s in scores)
        lv = sum(s.lv_bars for s in scores)
        return RegimeScore(
            bars=sum(s.bars for s in scores),
            hv_bars=hv,
            lv_bars=lv,
            hv_recall=sum(s.hv_recall * s.hv_bars for s in scores if s.hv_bars) / hv
            if hv
            else float("nan"),
            lv_recall=sum(s.lv_recall * s.lv_bars for s in scores if s.lv_bars) / lv
            if lv
            else float("nan"),
            episodes=sum(s.episodes for s in scores),
            episodes_detected=sum(s.episodes_detected for s in scores),
            quiet_bars=sum(s.quiet_bars for s in scores),
            false_adv_bars=sum(s.false_adv_bars for s in scores),
        )


def score_regimes(
    history: Sequence[RegimeState],
    truth: GroundTruth,
    *,
    our_side: Side | None = None,
    within_bars: int = 5,
) -> RegimeScore:
    """Score the detector's bars (``history``) against ``truth``; ``our_side``: the side our
    executions were on."""
    ts = np.array([s.ts_ns for s in history], dtype=np.int64)
    called = np.array([str(s.regime) for s in history])
    regime = truth.regime_at(ts) if ts.size else np.array([], dtype=str)
    hunted = truth.adversary_active_at(ts) if ts.size else np.array([], dtype=bool)
    hunting_us = (
        truth.adversary_active_at(ts, against=our_side) if ts.size else np.array([], dtype=bool)
    )
    said_hv = called == Regime.HV
    said_adv = called == Regime.ADV
    hv = (regime == "HV") & ~hunted
    lv = (regime == "LV") & ~hunted
    starts = np.flatnonzero(np.diff(np.concatenate(([0], hunting_us.astype(np.int8)))) == 1)
    detected = sum(bool(said_adv[s : s + within_bars + 1].any()) for s in starts)
    return RegimeScore(
        bars=int(ts.size),
        hv_bars=int(hv.sum()),
        lv_bars=int(lv.sum()),
        hv_recall=float(said_hv[hv].mean()) if hv.any() else float("nan"),
        lv_recall=float((~said_hv[lv]).mean()) if lv.any() else float("nan"),
        episodes=int(starts.size),
        episodes_detected=int(detected),
        quiet_bars=int((~hunted).sum()),
        false_adv_bars=int((said_adv & ~hunted).sum()),
    )
