"""Benchmark: the risk gate's cost per child order.

Target (issue 6): under 20 microseconds per child, median. Run with ``make bench`` or
``.venv/bin/python tests/bench/bench_gate.py``.

Two rows:

* **in the engine**: every gate run of five seeded 20-minute simulator sessions (four parents
  on one symbol: adaptive, pov, twap, vwap; a warm-up session first), timed from the start of
  the snapshot's construction (``ParentExecutor._gate_view``: the parent's children, the
  symbol's load across parents, the token bucket) to the chain's answer (``run_gate``). This is
  what a child pays.
* **the chain alone**: ``run_gate`` over a fixed snapshot that every check approves (all twelve
  run), 200,000 calls in batches of 1,000.
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np

import engine.executor as executor_module
from adapters.sim.config import MarketConfig
from engine.clock import NS
from engine.config import EngineConfig, SymbolConfig
from engine.executor import ParentExecutor
from engine.gctune import tune_gc_for_latency
from engine.logs import configure_logging
from engine.parent_events import ParentOrder
from engine.simrun import SimSession
from risk.gate import DEFAULT_CHECKS, GateView, run_gate
from strategies.planner import warm_up
from strategies.schedule import Side

TARGET_MEDIAN_US = 20.0
SEEDS = range(1, 6)
STRATEGIES = ("adaptive", "pov", "twap", "vwap")
CFG = EngineConfig(symbols={"XYZ": SymbolConfig(daily_volume=6_000_000)}, seed=3)


def _session(seed: int, samples: list[float] | None) -> None:
    s = SimSession(MarketConfig(seed=seed), CFG)
    s.run_for(300)
    now = s.clock.now_ns()
    for i, strategy in enumerate(STRATEGIES):
        s.engine.submit(
            ParentOrder(
                cl_ord_id=f"B{seed}-{i}",
                symbol="XYZ",
                side=Side.SELL if i % 2 else Side.BUY,
                qty=20_000,
                strategy=strategy,
                end_ns=now + 1200 * NS,
                ts_init=now,
                participation_cap=0.05,
            )
        )
    _timed(samples)
    s.run_for(1260)


_view_started: list[int] = []


def _timed(samples: list[float] | None) -> None:
    """Time each gate run, the snapshot's construction included."""
    original_view = _ORIGINAL_VIEW

    def view(self: ParentExecutor, *args: Any) -> GateView:
        _view_started.append(time.perf_counter_ns())
        return original_view(self, *args)

    def gate(view_: GateView, qty: int) -> Any:
        result = run_gate(view_, qty)
        if samples is not None:
            samples.append((time.perf_counter_ns() - _view_started.pop()) / 1000.0)
        else:
            _view_started.pop()
        return result

    ParentExecutor._gate_view = view  # type: ignore[method-assign]
    executor_module.run_gate = gate  # type: ignore[assignment]


_ORIGINAL_VIEW = ParentExecutor._gate_view

_FIXED = GateView(
    now_ns=100,
    end_ns=10**18,
    parent_qty=100_000,
    filled=20_000,
    working=500,
    lot=100,
    cap=0.15,
    ours_window=2_000,
    market_window_kept=400_000,
    ours_since_start=2_000,
    market_since_start=400_000,
    price=500_000,
    reference_price=500_050,
    collar=10_000,
    symbol_cap=0.15,
    symbol_ours_window=2_000,
    symbol_working=500,
    symbol_market_kept=400_000,
    max_child_qty=50_000,
    max_child_notional=5e10,
    max_parent_notional=1e12,
    parent_notional=1e9,
    rate_tokens=100.0,
)


def _chain_alone() -> list[float]:
    per_call = []
    for _ in range(200):
        t0 = time.perf_counter_ns()
        for _ in range(1_000):
            run_gate(_FIXED, 1_000)
        per_call.append((time.perf_counter_ns() - t0) / 1_000 / 1000.0)
    return per_call


def main() -> int:
    configure_logging("info", stream=open(os.devnull, "w"))  # noqa: SIM115 - the process's life
    warm_up()
    tune_gc_for_latency()
    assert run_gate(_FIXED, 1_000) == (1_000, [])  # every check runs and approves
    _session(99, None)  # warm-up: first plans, imports
    samples: list[float] = []
    for seed in SEEDS:
        _session(seed, samples)
    a = np.asarray(samples)
    chain = _chain_alone()
    p50 = float(np.percentile(a, 50))
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores; Python {platform.python_version()}"
    )
    print(
        f"gate per child in the engine ({len(a):,} runs, {len(SEEDS)} sessions): "
        f"p50 {p50:.1f} us, p90 {np.percentile(a, 90):.1f} us, p99 {np.percentile(a, 99):.1f} us, "
        f"max {a.max():.1f} us  target median < {TARGET_MEDIAN_US:.0f} us  "
        f"{'ok' if p50 < TARGET_MEDIAN_US else 'MISSED'}"
    )
    print(
        f"the chain alone ({len(DEFAULT_CHECKS)} checks, all approving): "
        f"median {statistics.median(chain):.2f} us per call"
    )
    return 0 if p50 < TARGET_MEDIAN_US else 1


if __name__ == "__main__":
    sys.exit(main())
