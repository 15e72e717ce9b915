"""The statistics of a backtest sweep: per-strategy tables, paired differences, the adversary.

* :func:`strategy_rows`: per strategy (and adversary mode), mean and standard deviation of the
  shortfall and of the control-variate cost (:mod:`engine.backtest`), each with a 95%
  confidence interval for the mean (Student t), completion, the highest participation over
  the cap's window in any run, and the invariant violations (which must be none).
* :func:`paired_rows`: each strategy minus the baseline (TWAP) on the same day, so the day's
  market cancels: the mean difference, its 95% interval, t and the two-sided p-value.
* :func:`adversary_rows`: with each simulated day run with and without the predator, the extra
  cost the predator inflicts on each strategy (paired by day), and how much of TWAP's extra
  cost a strategy gives back: ``1 - extra_s / extra_twap``.

Student's t distribution is computed here (the regularised incomplete beta function by its
continued fraction, Numerical Recipes 6.4) so the engine needs no scipy at run time.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from engine.backtest import RunResult

__all__ = [
    "HUNTED_DAY",
    "AdversaryRow",
    "HuntRow",
    "KindRow",
    "PairedRow",
    "StrategyRow",
    "adversary_rows",
    "day_kind",
    "hunt_rows",
    "kind_rows",
    "mean_ci",
    "paired_rows",
    "strategy_rows",
    "t_quantile",
    "t_two_sided_p",
]


def _betacf(a: float, b: float, x: float) -> float:
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 300):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-15:
            break
    return h


def _betai(a: float, b: float, x: float) -> float:
    """The regularised incomplete beta function I_x(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    lbeta = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
    front = math.exp(lbeta + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def t_two_sided_p(t: float, df: int) -> float:
    """P(|T| >= |t|) for Student's t with ``df`` degrees of freedom."""
    if df <= 0 or math.isnan(t):
        return math.nan
    if math.isinf(t):
        return 0.0
    return _betai(df / 2.0, 0.5, df / (df + t * t))


def t_quantile(p: float, df: int) -> float:
    """The ``p`` quantile (``p`` in (0.5, 1)) of Student's t, by bisection on the tail."""
    lo, hi = 0.0, 1e3
    target = 2.0 * (1.0 - p)  # the two-sided tail at that quantile
    for _ in range(200):
        mid = (lo + hi) / 2.0
        if t_two_sided_p(mid, df) > target:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2.0


@dataclass(frozen=True, slots=True)
class Estimate:
    n: int
    mean: float
    sd: float
    lo: float  # 95% confidence interval of the mean
    hi: float


def mean_ci(values: Sequence[float], level: float = 0.95) -> Estimate:
    n = len(values)
    if n == 0:
        return Estimate(0, math.nan, math.nan, math.nan, math.nan)
    mean = math.fsum(values) / n
    if n == 1:
        return Estimate(1, mean, math.nan, math.nan, math.nan)
    sd = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1))
    half = t_quantile(0.5 + level / 2.0, n - 1) * sd / math.sqrt(n)
    return Estimate(n, mean, sd, mean - half, mean + half)


@dataclass(frozen=True, slots=True)
class StrategyRow:
    strategy: str
    adversary: bool | None  # None: a replay (no adversary)
    shortfall: Estimate
    cost: Estimate
    completion: float  # share of runs that filled the whole order
    max_participation: float  # the highest over the cap window, any run
    participation: float  # mean realised participation
    children: float  # mean child orders per run
    hunted: float  # mean share of the window hunted by a predator
    hunted_other: float  # mean share it hunted the other side (a false alarm)
    violations: int


@dataclass(frozen=True, slots=True)
class PairedRow:
    strategy: str
    adversary: bool | None
    metric: str  # "shortfall" or "cost"
    diff: Estimate  # strategy minus baseline, per day
    t: float
    p: float


@dataclass(frozen=True, slots=True)
class AdversaryRow:
    strategy: str
    extra: Estimate  # cost with the predator minus without, per day (control-variate cost)
    given_back: float | None  # 1 - extra / TWAP's extra (None for TWAP itself)


def _group(results: Sequence[RunResult]) -> dict[tuple[str, bool | None], list[RunResult]]:
    out: dict[tuple[str, bool | None], list[RunResult]] = defaultdict(list)
    for r in results:
        out[(r.strategy, r.adversary if r.market == "sim" else None)].append(r)
    return out


def strategy_rows(results: Sequence[RunResult]) -> list[StrategyRow]:
    rows = []
    for (strategy, adv), rs in _group(results).items():
        rows.append(
            StrategyRow(
                strategy=strategy,
                adversary=adv,
                shortfall=mean_ci([r.shortfall_bps for r in rs]),
                cost=mean_ci([r.cost_bps for r in rs]),
                completion=sum(r.completed for r in rs) / len(rs),
                max_participation=max(r.max_participation for r in rs),
                participation=math.fsum(r.participation for r in rs) / len(rs),
                children=sum(r.children for r in rs) / len(rs),
                hunted=math.fsum(r.hunted for r in rs) / len(rs),
                hunted_other=math.fsum(r.hunted_other for r in rs) / len(rs),
                violations=sum(len(r.violations) for r in rs),
            )
        )
    return rows


def _t_test(est: Estimate) -> tuple[float, float]:
    """t of a mean of paired differences against zero, and its two-sided p."""
    t = est.mean / (est.sd / math.sqrt(est.n)) if est.n > 1 and est.sd > 0 else math.nan
    return t, t_two_sided_p(t, est.n - 1)


def paired_rows(results: Sequence[RunResult], baseline: str = "twap") -> list[PairedRow]:
    """Each strategy minus ``baseline`` on the same market (day and adversary mode)."""
    by_day: dict[tuple[str, bool, str], RunResult] = {
        (r.day, r.adversary, r.strategy): r for r in results
    }
    rows = []
    for (strategy, adv), rs in _group(results).items():
        if strategy == baseline:
            continue
        for metric in ("shortfall", "cost"):
            diffs = []
            for r in rs:
                b = by_day.get((r.day, r.adversary, baseline))
                if b is not None:
                    diffs.append(getattr(r, f"{metric}_bps") - getattr(b, f"{metric}_bps"))
            est = mean_ci(diffs)
            t, p = _t_test(est)
            rows.append(PairedRow(strategy, adv, metric, est, t, p))
    return rows


HUNTED_DAY = 0.2  # a run is hunted when the predator was on our side this much of the window


def day_kind(*runs: RunResult) -> str:
    """What a simulated day was over the order's window, from the simulator's ground truth:
    ADV when a predator hunted our side for at least a fifth of it in any of ``runs`` (the
    runs of one day that are compared), else HV when the high-volatility regime held for at
    least half of it (the regimes are the same whatever we trade), else LV.

    A pair is classed on both its runs, never on one: whether the predator hunts depends on
    what we do, and a run it hunts is an expensive run (2-3 bps, docs/results.md), so
    classing by the baseline's run alone selects the baseline's bad days as "ADV" and its
    good ones as "LV". On the 1,000-day sweep that made
    adaptive look 0.95 bps cheaper than AC on ADV days and 0.87 dearer on calm ones; classed
    by adaptive's own run the signs flipped, and classed on both the differences were nil."""
    if any(r.hunted >= HUNTED_DAY for r in runs):
        return "ADV"
    return "HV" if runs[0].hv >= 0.5 else "LV"


@dataclass(frozen=True, slots=True)
class KindRow:
    kind: str  # LV / HV / ADV day
    adversary: bool
    strategy: str
    baseline: str
    diff: Estimate  # cost of strategy minus baseline on the same days of this kind
    p: float


@dataclass(frozen=True, slots=True)
class HuntRow:
    """On how many days the predator hunted (a fifth of the window or more) which of the
    pair: what stealth is worth is the days it spares the strategy against the baseline."""

    strategy: str
    baseline: str
    both: int
    only_strategy: int
    only_baseline: int
    neither: int


def _pairs(
    results: Sequence[RunResult], strategy: str, baseline: str
) -> list[tuple[bool, RunResult, RunResult]]:
    runs = {(r.day, r.adversary, r.strategy): r for r in results if r.market == "sim"}
    return [
        (adv, r, b)
        for (day, adv, s), r in runs.items()
        if s == strategy and (b := runs.get((day, adv, baseline))) is not None
    ]


def kind_rows(
    results: Sequence[RunResult], pairs: Sequence[tuple[str, str]] = (("adaptive", "ac"),)
) -> list[KindRow]:
    """Paired cost differences by kind of day (:func:`day_kind` of both runs of the pair)."""
    rows = []
    for strategy, baseline in pairs:
        diffs: dict[tuple[str, bool], list[float]] = defaultdict(list)
        for adv, r, b in _pairs(results, strategy, baseline):
            diffs[(day_kind(r, b), adv)].append(r.cost_bps - b.cost_bps)
        for (kind, adv), xs in sorted(diffs.items()):
            est = mean_ci(xs)
            rows.append(KindRow(kind, adv, strategy, baseline, est, _t_test(est)[1]))
    return rows


def hunt_rows(
    results: Sequence[RunResult], pairs: Sequence[tuple[str, str]] = (("adaptive", "ac"),)
) -> list[HuntRow]:
    """Per pair, the days (with the predator on) it hunted both, only one, or neither."""
    rows = []
    for strategy, baseline in pairs:
        counts = [0, 0, 0, 0]
        for adv, r, b in _pairs(results, strategy, baseline):
            if adv:
                counts[(r.hunted < HUNTED_DAY) * 2 + (b.hunted < HUNTED_DAY)] += 1
        if any(counts):
            rows.append(HuntRow(strategy, baseline, counts[0], counts[1], counts[2], counts[3]))
    return rows


def adversary_rows(results: Sequence[RunResult], baseline: str = "twap") -> list[AdversaryRow]:
    """Per strategy, the predator's extra cost paired by day (needs days run both ways)."""
    runs = {(r.day, r.strategy, r.adversary): r for r in results if r.market == "sim"}
    extras: dict[str, list[float]] = defaultdict(list)
    for (day, strategy, adv), r in runs.items():
        twin = runs.get((day, strategy, False))
        if adv and twin is not None:
            extras[strategy].append(r.cost_bps - twin.cost_bps)
    base = mean_ci(extras.get(baseline, []))
    rows = []
    for strategy, xs in extras.items():
        est = mean_ci(xs)
        given = None
        if strategy != baseline and base.n and base.mean > 0:
            given = 1.0 - est.mean / base.mean
        rows.append(AdversaryRow(strategy, est, given))
    return rows
