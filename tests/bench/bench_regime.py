"""Benchmark: the regime detector, scored on seeded simulator days, and its cost per update.

Targets (issue 4), printed beside the figures:

* on at least 20 seeded simulator days (regime switching on, a predatory adversary on, the
  probe trader of :mod:`adapters.sim.probe` working a sell order in alternating predictable and
  random phases): LV vs HV balanced accuracy >= 0.85; >= 80% of adversary episodes detected
  within 5 bars of their start; ADV raised in <= 5% of bars without an adversary;
* one detector update per market event: median < 5 us.

Evaluation seeds are 1-20; the score's ranges and thresholds were set on seeds 101-105.
Scoring is :func:`adapters.sim.scoring.score_regimes`. Run with ``make bench`` or
``.venv/bin/python tests/bench/bench_regime.py [N_DAYS [FIRST_SEED]]``.
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from adapters.sim.config import AdversaryConfig, MarketConfig
from adapters.sim.market import GroundTruth, MarketSimulator
from adapters.sim.probe import ProbeConfig, run_probe_day
from adapters.sim.scoring import RegimeScore, score_regimes
from engine.events import MarketEvent, Quote, Trade
from engine.regime_feed import RegimeFeed
from strategies.regime import RegimeDetector

PROBE = ProbeConfig()


WARM_UP_SEED_OFFSET = 1000  # the day before seed N is seed N + 1000 (never scored)


def _run(
    seed: int,
    detector: RegimeDetector,
    on_market: Callable[[MarketEvent], None] | None = None,
) -> GroundTruth:
    market = MarketSimulator(MarketConfig(seed=seed, adversaries=(AdversaryConfig(),)))
    feed = RegimeFeed(detector, market.symbol)

    def both(e: MarketEvent) -> None:
        feed.on_market_event(e)
        if on_market is not None:
            on_market(e)

    run_probe_day(market, PROBE, seed=seed, on_market=both, on_report=feed.on_execution_report)
    return market.ground_truth()


def _day(seed: int) -> tuple[RegimeScore, RegimeScore, RegimeScore]:
    """Score one day three ways: with the detector carried over from the day before
    (episodes hunting the probe's side; every episode), and cold (a fresh detector)."""
    detector = RegimeDetector()
    _run(seed + WARM_UP_SEED_OFFSET, detector)
    warm = detector.next_session()
    truth = _run(seed, warm)
    cold = RegimeDetector()
    _run(seed, cold)
    return (
        score_regimes(warm.history, truth, our_side=PROBE.side),
        score_regimes(warm.history, truth),
        score_regimes(cold.history, truth, our_side=PROBE.side),
    )


def _events(seed: int) -> list[Quote | Trade]:
    """The two-sided quotes and prints of one day, for the cost measurement."""
    keep: list[Quote | Trade] = []

    def on_market(e: MarketEvent) -> None:
        if type(e) is Trade or (
            type(e) is Quote and e.bid_price is not None and e.ask_price is not None
        ):
            keep.append(e)

    _run(seed, RegimeDetector(), on_market)
    return keep


def _update_cost(events: list[Quote | Trade]) -> tuple[float, float]:
    """Median and 99th percentile ns per market event through RegimeFeed (the adapter the
    engine uses) into the detector, over batches of 1,000 events."""
    per_event: list[float] = []
    for _ in range(3):
        feed = RegimeFeed(RegimeDetector(), events[0].symbol)
        for i in range(0, len(events) - 1000, 1000):
            batch = events[i : i + 1000]
            t0 = time.perf_counter_ns()
            for e in batch:
                feed.on_market_event(e)
            per_event.append((time.perf_counter_ns() - t0) / len(batch))
    per_event.sort()
    return statistics.median(per_event), per_event[int(0.99 * (len(per_event) - 1))]


def main() -> int:
    n_days = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    first = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
        f"Python {platform.python_version()}"
    )
    t0 = time.perf_counter()
    seeds = range(first, first + n_days)
    with ProcessPoolExecutor() as pool:
        days = list(pool.map(_day, seeds))
    for seed, (sc, _, sc_cold) in zip(seeds, days, strict=True):
        print(
            f"  seed {seed:2d}: HV bars {sc.hv_bars:3d}  balanced {sc.balanced_accuracy:5.3f} "
            f"(cold {sc_cold.balanced_accuracy:5.3f})  episodes {sc.episodes_detected:2d}/"
            f"{sc.episodes:2d}  false ADV {sc.false_adv_bars:3d}/{sc.quiet_bars:3d}"
        )
    pooled = RegimeScore.pooled([d[0] for d in days])
    pooled_every = RegimeScore.pooled([d[1] for d in days])
    cold = RegimeScore.pooled([d[2] for d in days])
    elapsed = time.perf_counter() - t0
    events = _events(first)
    median_ns, p99_ns = _update_cost(events)
    ok_bal = pooled.balanced_accuracy >= 0.85
    ok_det = pooled.detection_rate >= 0.80
    ok_fp = pooled.false_adv_rate <= 0.05
    ok_cost = median_ns < 5_000
    print(
        f"{n_days} days, {pooled.bars} bars of 60 s, each after a warm-up day (seed + "
        f"{WARM_UP_SEED_OFFSET}) carried over by RegimeDetector.next_session(); {elapsed:.0f} s"
    )
    print(
        f"LV vs HV balanced accuracy: {pooled.balanced_accuracy:.3f} (HV recall "
        f"{pooled.hv_recall:.3f} over {pooled.hv_bars} bars, LV recall {pooled.lv_recall:.3f} "
        f"over {pooled.lv_bars})  target >= 0.85  {'ok' if ok_bal else 'MISSED'}"
    )
    print(
        f"adversary episodes detected within 5 bars: {pooled.episodes_detected}/"
        f"{pooled.episodes} = {pooled.detection_rate:.3f}  target >= 0.80  "
        f"{'ok' if ok_det else 'MISSED'}  (episodes hunting our side; counting also those "
        f"hunting the other side: {pooled_every.episodes_detected}/{pooled_every.episodes} = "
        f"{pooled_every.detection_rate:.3f})"
    )
    print(
        f"ADV in bars without an adversary: {pooled.false_adv_bars}/{pooled.quiet_bars} = "
        f"{pooled.false_adv_rate:.3f}  target <= 0.05  {'ok' if ok_fp else 'MISSED'}"
    )
    print(
        f"cold start (a fresh detector each day, no warm-up): balanced accuracy "
        f"{cold.balanced_accuracy:.3f} (HV recall {cold.hv_recall:.3f}), episodes "
        f"{cold.episodes_detected}/{cold.episodes} = {cold.detection_rate:.3f}, false ADV "
        f"{cold.false_adv_bars}/{cold.quiet_bars} = {cold.false_adv_rate:.3f}"
    )
    print(
        f"detector update per market event ({len(events):,} events of seed {first}): median "
        f"{median_ns / 1000:.2f} us, p99 of batches {p99_ns / 1000:.2f} us  target < 5 us  "
        f"{'ok' if ok_cost else 'MISSED'}"
    )
    return 0 if ok_bal and ok_det and ok_fp and ok_cost else 1


if __name__ == "__main__":
    sys.exit(main())
