"""Benchmark: one simulated 6.5-hour day of one symbol (~100,000 background events).

Target (issue 3): under 10 s. Run with ``make bench`` or
``.venv/bin/python tests/bench/bench_sim.py``. Two configurations: the bare market, and the
market with one adversary subscribed to the feed (which makes the exchange publish every
book change as market data).
"""

from __future__ import annotations

import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from adapters.sim.config import AdversaryConfig, MarketConfig
from adapters.sim.market import MarketSimulator


def _day(cfg: MarketConfig) -> tuple[float, int, int]:
    t0 = time.perf_counter()
    sim = MarketSimulator(cfg)
    trades = [0]
    sim.exchange.trade_listeners.append(lambda s, f, n: trades.__setitem__(0, trades[0] + 1))
    sim.run()
    return time.perf_counter() - t0, sim.flow.events, trades[0]


def main() -> int:
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
        f"Python {platform.python_version()}"
    )
    ok = True
    for label, cfg in (
        ("market only", MarketConfig(seed=1)),
        ("market + adversary on the feed", MarketConfig(seed=1, adversaries=(AdversaryConfig(),))),
    ):
        secs, events, fills = _day(cfg)
        passed = secs < 10.0
        ok &= passed
        print(
            f"  {label:<32} {secs:6.2f} s  {events:,} events  {fills:,} fills  "
            f"{events / secs:,.0f} events/s   target < 10 s  {'PASS' if passed else 'FAIL'}"
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
