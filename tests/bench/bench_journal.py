"""Benchmark: the journal's cost to the engine, journal on vs off, side by side in one run.

Target (issue 7): engine throughput with the journal on is at least 80% of it with the journal
off. Run with ``make bench`` or ``.venv/bin/python tests/bench/bench_journal.py``.

What is timed: the engine's handling of every input (market events and venue reports: book
state, the regime detector, every parent deciding, the gate, children built, and with the
journal on, each input and decision put on the journal's queue), summed per session;
throughput is inputs handled per second of that time. The journal's writer thread (encoding,
SQLite inserts, group commits every 50 ms, WAL, ``synchronous=normal``) runs beside it on the
other core and competes for the GIL, so its cost shows up in the handling time; the process's
CPU time per session is given as well, which counts the writer's own work.

The same seeded sessions run with the journal off and on, alternating, so drift on the machine
hits both alike: four parents on one symbol (adaptive, pov, twap, vwap) over 20 minutes of the
simulator, after a warm-up session that is not counted. Logging is off: the figure is the
journal's cost, not the log's.
"""

from __future__ import annotations

import logging
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import structlog

from adapters.sim.config import MarketConfig
from engine.clock import NS
from engine.config import EngineConfig, SymbolConfig
from engine.gctune import tune_gc_for_latency
from engine.journal import Journal, verify
from engine.parent_events import ParentOrder
from engine.simrun import SimSession
from strategies.planner import warm_up
from strategies.schedule import Side

TARGET_RATIO = 0.80
SEEDS = range(1, 7)
STRATEGIES = ("adaptive", "pov", "twap", "vwap")
CFG = EngineConfig(symbols={"XYZ": SymbolConfig(daily_volume=6_000_000)}, seed=3)


def _session(seed: int, journal: Journal | None) -> tuple[int, float, float]:
    """(inputs handled, seconds handling them, process CPU seconds of the session)."""
    s = SimSession(MarketConfig(seed=seed), CFG, journal=journal)
    engine = s.engine
    spent = [0.0]
    count = [0]

    def timed(handler):  # type: ignore[no-untyped-def]
        def run(event):  # type: ignore[no-untyped-def]
            t0 = time.perf_counter()
            handler(event)
            spent[0] += time.perf_counter() - t0
            count[0] += 1

        return run

    # The simulator calls these: the market's subscription and the venue's sink.
    market_in = timed(engine.on_market_event)
    s.engine.on_market_event = market_in  # type: ignore[method-assign]
    s.venue.connect(timed(engine.on_venue_event))
    s.run_for(300)
    now = s.clock.now_ns()
    for i, strategy in enumerate(STRATEGIES):
        engine.submit(
            ParentOrder(
                cl_ord_id=f"P{i}",
                symbol="XYZ",
                side=Side.SELL if i % 2 else Side.BUY,
                qty=20_000,
                strategy=strategy,
                end_ns=now + 1200 * NS,
                ts_init=now,
                participation_cap=0.1,
            )
        )
    c0 = time.process_time()
    spent[0], count[0] = 0.0, 0
    s.run_for(1300)
    if journal is not None:
        journal.flush()  # the writer's backlog is part of the session's cost
    return count[0], spent[0], time.process_time() - c0


def main() -> int:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.CRITICAL))
    warm_up()
    tune_gc_for_latency()
    with tempfile.TemporaryDirectory() as tmp:
        _session(99, None)  # warm-up: first plans, imports
        rows: dict[str, list[tuple[int, float, float]]] = {"off": [], "on": []}
        records = 0
        writer_cpu = 0.0
        for seed in SEEDS:
            rows["off"].append(_session(seed, None))
            path = Path(tmp) / f"journal-{seed}.sqlite"
            journal = Journal(path)
            rows["on"].append(_session(seed, journal))
            records += journal.records
            journal.close()
            writer_cpu += journal.write_cpu_s
            assert verify(path).ok
        rate = {}
        for mode, rs in rows.items():
            n = sum(r[0] for r in rs)
            rate[mode] = n / sum(r[1] for r in rs)
            cpu = sum(r[2] for r in rs)
            print(
                f"journal {mode:>3}: {n:,} inputs, {rate[mode]:,.0f} inputs/s of handling, "
                f"process CPU {cpu:.2f} s"
            )
        ratio = rate["on"] / rate["off"]
        print(
            f"records journaled: {records:,} over {len(SEEDS)} sessions; writer thread CPU "
            f"{writer_cpu:.2f} s ({writer_cpu / records * 1e6:.1f} us per record)"
        )
        verdict = "meets" if ratio >= TARGET_RATIO else "MISSES"
        print(f"throughput on/off: {ratio:.1%} ({verdict} the {TARGET_RATIO:.0%} target)")
        cpu_name = platform.processor() or platform.machine()
        print(f"machine: {cpu_name}, Python {sys.version.split()[0]}")
        return 0 if ratio >= TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
