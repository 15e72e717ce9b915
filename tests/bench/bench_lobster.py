"""Benchmark of the LOBSTER loader, measured beside a pure-Python reference in the same run.

Run with ``.venv/bin/python tests/bench/bench_lobster.py`` (or ``make bench``). Skips, saying
why, when the LOBSTER folder is absent (``UNWIND_LOBSTER_DIR`` or ../shared/data/lobster).

Figures, for the GOOG 2012-06-21 level-10 day (147,916 events, 40 MB of CSV text once
decompressed, 1.7 MB gzip):

1. gzip decompression of both files alone, as the loader does it;
2. ``load_day`` on the .csv.gz pair, decompression included: the target, >= 1,000,000 events/s
   (message and order-book rows of one event count once);
3. ``load_day`` with one thread, and on plain .csv copies (in a temporary folder, not the
   repository), to show where the time goes;
4. the reference: ``gzip.open`` + the ``csv`` module + ``int()`` per field, then numpy arrays;
   the speed ratio, and a check that both give identical arrays;
5. replay throughput, for scale: the whole day through ``ReplayVenue`` with one subscriber.

Each timing is the median of several runs after a warm-up (the first call also loads the
compiled kernel from numba's cache, or compiles it: that is reported separately).
"""

from __future__ import annotations

import csv
import gzip
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numba

from adapters.lobster import loader
from adapters.lobster.loader import ENV_VAR, default_data_dir, find_files, load_day
from adapters.lobster.replay import ReplayConfig, ReplayVenue

TARGET = 1_000_000  # events per second, decompression included


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _median(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _row(name: str, value: str, target: str = "", ok: bool | None = None) -> None:
    verdict = "" if ok is None else ("PASS" if ok else "FAIL")
    print(f"  {name:<58} {value:>22}   {target:<16} {verdict}")


def _exact_ns(text: str) -> int:
    whole, _, frac = text.partition(".")
    return int(whole) * 1_000_000_000 + int((frac + "000000000")[:9])


def reference_parse(message: Path, orderbook: Path) -> tuple[np.ndarray, np.ndarray]:
    """The straightforward way: csv module over gzip text, int() per field, then numpy."""
    with gzip.open(message, "rt", newline="") as f:
        msg = [[_exact_ns(r[0]), *map(int, r[1:])] for r in csv.reader(f)]
    with gzip.open(orderbook, "rt", newline="") as f:
        book = [list(map(int, r)) for r in csv.reader(f)]
    return np.array(msg, dtype=np.int64), np.array(book, dtype=np.int64)


def main() -> int:
    print(
        f"machine: {_cpu()}, {os.cpu_count()} cores, load average "
        f"{os.getloadavg()[0]:.2f}; Python {platform.python_version()}, "
        f"numpy {np.__version__}, numba {numba.__version__}"
    )
    if os.environ.get("NUMBA_DISABLE_JIT") == "1":
        print("NUMBA_DISABLE_JIT=1: figures are for the pure-Python reading of the kernel")
    folder = default_data_dir()
    if not folder.is_dir():
        print(f"SKIP: LOBSTER data not found at {folder}; set {ENV_VAR}")
        return 0
    message, orderbook = find_files(folder, "GOOG", 10)
    print(f"data: {message.name} + {orderbook.name}")

    t0 = time.perf_counter()
    day = load_day(message, orderbook)
    first = time.perf_counter() - t0
    n = len(day)
    print(f"\nLoader, GOOG level 10, {n:,} events")
    _row("first call (kernel from cache or compiled), whole load", f"{first * 1e3:,.1f} ms")

    t_unzip = _median(lambda: (loader._read_bytes(message), loader._read_bytes(orderbook)), 7)
    _row("gzip decompression of both files alone", f"{t_unzip * 1e3:,.1f} ms")
    t_load = _median(lambda: load_day(message, orderbook), 9)
    rate = n / t_load
    ok = rate >= TARGET
    _row("load_day(.csv.gz), decompression included", f"{t_load * 1e3:,.1f} ms")
    _row("  events/s", f"{rate:,.0f}", f">= {TARGET:,}", ok)
    t_one = _median(lambda: load_day(message, orderbook, threads=1), 5)
    _row("load_day(.csv.gz), one thread", f"{t_one * 1e3:,.1f} ms  {n / t_one:,.0f}/s")
    with tempfile.TemporaryDirectory() as tmp:
        plain = []
        for p in (message, orderbook):
            out = Path(tmp) / p.name.removesuffix(".gz")
            with gzip.open(p, "rb") as src, out.open("wb") as dst:
                shutil.copyfileobj(src, dst)
            plain.append(out)
        t_plain = _median(lambda: load_day(*plain), 9)
    _row(
        "load_day(.csv), parse only (files in page cache)",
        f"{t_plain * 1e3:,.1f} ms  {n / t_plain:,.0f}/s",
    )

    t0 = time.perf_counter()
    ref_msg, ref_book = reference_parse(message, orderbook)
    t_ref = time.perf_counter() - t0
    same = (
        np.array_equal(ref_msg[:, 0], day.ts_ns)
        and np.array_equal(ref_msg[:, 3], day.size)
        and np.array_equal(ref_book[:, 0::4], day.ask_px)
        and np.array_equal(ref_book[:, 3::4], day.bid_sz)
    )
    _row("reference: csv module + int(), once", f"{t_ref * 1e3:,.0f} ms  {n / t_ref:,.0f}/s")
    _row(
        "speed ratio load_day / reference; arrays identical",
        f"{t_ref / t_load:,.1f}x; {'yes' if same else 'NO'}",
        "identical",
        same,
    )

    venue = ReplayVenue(day, ReplayConfig(origin_ns=0))
    seen: list[object] = []
    venue.subscribe("GOOG", seen.append)
    t0 = time.perf_counter()
    venue.advance_to(int(day.ts_ns[-1]))
    t_replay = time.perf_counter() - t0
    print("\nReplay, for scale (no target)")
    _row(
        "whole day, one subscriber, no orders",
        f"{t_replay * 1e3:,.0f} ms  {n / t_replay:,.0f} rows/s",
    )
    _row("  market events delivered", f"{len(seen):,}")

    ok &= same
    print("\nall targets met" if ok else "\nSOME TARGETS MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
