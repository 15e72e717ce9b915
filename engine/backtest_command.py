"""``unwind backtest``: strategies side by side on the same markets, with the engine's own code.

    unwind backtest --data sim --seeds 1-200 --adversary both --strategies twap,ac,adaptive
    unwind backtest --data GOOG,AAPL --windows 10 --qty 5% --strategies twap,vwap,adaptive

Each (day, strategy) is one run of :mod:`engine.backtest`; the sweep runs on every core
(:mod:`engine.backtest_sweep`) and the statistics come from :mod:`engine.backtest_stats`.
Prints a table per strategy (mean and standard deviation of shortfall and of the
control-variate cost, 95% intervals, completion, the highest participation, invariant
violations), paired differences against TWAP with their p-values, and with ``--adversary
both`` the predator's extra cost per strategy. ``--json`` prints all of it (and every run) as
one JSON object; ``--plots DIR`` writes the cost distributions and the mean trajectories.
Exit status: 0, or 1 when any run broke an invariant; 2 for bad arguments or missing data.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from engine.backtest import RunResult
from engine.backtest_stats import (
    adversary_rows,
    hunt_rows,
    kind_rows,
    paired_rows,
    strategy_rows,
)
from engine.backtest_sweep import run_sweep, sweep_jobs
from engine.logs import configure_logging
from engine.parent_events import PARENT_STRATEGIES
from strategies.schedule import Side

__all__ = ["add_backtest_arguments", "run_backtest"]

LOBSTER_SYMBOLS = ("GOOG", "AAPL")


def _clock(text: str) -> float:
    try:
        h, m = text.split(":")
        value = int(h) * 3600 + int(m) * 60
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected HH:MM, got {text!r}") from None
    if not 9 * 3600 + 30 * 60 <= value <= 16 * 3600:
        raise argparse.ArgumentTypeError(f"{text} is outside the 09:30-16:00 session")
    return float(value)


def _seeds(text: str) -> list[int]:
    out: list[int] = []
    try:
        for part in text.split(","):
            if "-" in part:
                lo, hi = (int(x) for x in part.split("-"))
                if hi < lo:
                    raise ValueError
                out.extend(range(lo, hi + 1))
            else:
                out.append(int(part))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--seeds takes numbers and ranges such as 1-100,200; got {text!r}"
        ) from None
    return out


def _qty(text: str) -> tuple[int, float]:
    try:
        if text.endswith("%"):
            pct = float(text[:-1]) / 100.0
            if not 0 < pct <= 0.15:
                raise ValueError
            return 0, pct
        qty = int(text)
        if qty <= 0:
            raise ValueError
        return qty, 0.0
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--qty takes shares (30000) or a share of the window's forecast volume up to the "
            f"15% cap (5%); got {text!r}"
        ) from None


def _strategies(text: str) -> list[str]:
    names = [s.strip() for s in text.split(",") if s.strip()]
    bad = [s for s in names if s not in PARENT_STRATEGIES]
    if bad or not names:
        raise argparse.ArgumentTypeError(
            f"unknown strategy {', '.join(bad) or '(none)'}; known: {', '.join(PARENT_STRATEGIES)}"
        )
    return names


def add_backtest_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--data",
        default="sim",
        help="sim (seeded simulator days) or LOBSTER symbols, e.g. GOOG,AAPL (default sim)",
    )
    p.add_argument(
        "--data-dir",
        default=None,
        help="LOBSTER folder (default: $UNWIND_LOBSTER_DIR or ../shared/data/lobster)",
    )
    p.add_argument("--side", choices=("buy", "sell"), default="sell")
    p.add_argument("--qty", type=_qty, default=(30_000, 0.0), help="shares, or N%% of volume")
    p.add_argument("--start", type=_clock, default=_clock("10:00"), help="HH:MM (default 10:00)")
    p.add_argument("--end", type=_clock, default=_clock("10:30"), help="HH:MM (default 10:30)")
    p.add_argument(
        "--strategies", type=_strategies, default=["twap", "vwap", "pov", "ac", "dp", "adaptive"]
    )
    p.add_argument("--seeds", type=_seeds, default=list(range(1, 21)), help="sim days (1-20)")
    p.add_argument(
        "--adversary",
        choices=("on", "off", "both"),
        default="on",
        help="sim: a predator in the market; both: each day also without it (paired)",
    )
    p.add_argument(
        "--windows",
        type=int,
        default=1,
        help="LOBSTER: back-to-back windows of the order's length from --start (default 1)",
    )
    p.add_argument("--workers", type=int, default=None, help="processes (default: every core)")
    p.add_argument("--json", action="store_true", help="one JSON object, every run included")
    p.add_argument("--plots", type=Path, default=None, metavar="DIR", help="write PNG plots here")


def _check(args: argparse.Namespace) -> str | None:
    if args.end <= args.start:
        return "--end must be after --start"
    if args.workers is not None and args.workers < 1:
        return "--workers must be >= 1"
    if args.windows < 1:
        return "--windows must be >= 1"
    if args.data != "sim":
        bad = [s for s in args.data.split(",") if s not in LOBSTER_SYMBOLS]
        if bad:
            return f"--data: sim or LOBSTER symbols {', '.join(LOBSTER_SYMBOLS)}; got {bad}"
        span = args.end - args.start
        if args.start + args.windows * span > 16 * 3600:
            return f"{args.windows} windows of {span / 60:.0f} min from --start pass 16:00"
    return None


def run_backtest(args: argparse.Namespace, *, out: TextIO, err: TextIO) -> int:
    problem = _check(args)
    if problem:
        print(f"unwind backtest: {problem}", file=err)
        return 2
    # The runs' own logs (every child, every plan) would drown the table; errors still show.
    # Set before the pool starts, so its processes inherit it.
    configure_logging("error", err)
    qty, pct = args.qty
    side = Side.BUY if args.side == "buy" else Side.SELL
    data_dir = ""
    if args.data != "sim":
        from adapters.lobster.loader import LobsterError, default_data_dir, find_files

        data_dir = str(args.data_dir or default_data_dir())
        try:
            for sym in args.data.split(","):
                find_files(data_dir, sym, 10 if sym == "GOOG" else 1)
        except LobsterError as exc:
            print(f"unwind backtest: {exc}", file=err)
            return 2
    span = args.end - args.start
    jobs = sweep_jobs(
        market="sim" if args.data == "sim" else "lobster",
        strategies=args.strategies,
        side=side,
        start_s=args.start,
        end_s=args.end,
        qty=qty,
        qty_pct=pct,
        seeds=args.seeds,
        adversary=args.adversary,
        symbols=[] if args.data == "sim" else args.data.split(","),
        data_dir=data_dir,
        windows=[(args.start + k * span, args.end + k * span) for k in range(args.windows)],
    )
    t0 = time.perf_counter()
    last = [0.0]

    def progress(done: int, total: int) -> None:
        now = time.perf_counter()
        if not args.json and (now - last[0] > 5 or done == total):
            last[0] = now
            print(f"  {done}/{total} runs, {now - t0:.0f} s", file=err, flush=True)

    results = run_sweep(jobs, workers=args.workers, progress=progress)
    wall = time.perf_counter() - t0
    report = build_report(results, wall_s=wall, workers=args.workers or os.cpu_count() or 1)
    if args.plots is not None:
        from engine.backtest_plot import plot_backtest

        args.plots.mkdir(parents=True, exist_ok=True)
        report["plots"] = [str(p) for p in plot_backtest(results, args.plots)]
    if args.json:
        report["runs"] = [dataclasses.asdict(r) for r in results]
        json.dump(report, out, indent=1, default=_json_default)
        out.write("\n")
    else:
        out.write("\n".join(format_report(report)) + "\n")
    return 1 if report["violations"] else 0


def _json_default(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return None
    raise TypeError(f"not JSON: {type(x)}")


def _clean(x: Any) -> Any:
    """NaN to None, for JSON and for the reader."""
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_clean(v) for v in x]
    return x


def build_report(results: Sequence[RunResult], *, wall_s: float, workers: int) -> dict[str, Any]:
    rows = strategy_rows(results)
    strategies = sorted({r.strategy for r in results})
    pairs = [("adaptive", b) for b in ("ac", "twap") if {"adaptive", b} <= set(strategies)]
    return _clean(
        {
            "runs_total": len(results),
            "wall_s": wall_s,
            "workers": workers,
            "violations": sum(len(r.violations) for r in results),
            "strategies": [dataclasses.asdict(r) for r in rows],
            "paired_vs_twap": [dataclasses.asdict(r) for r in paired_rows(results)],
            "adversary": [dataclasses.asdict(r) for r in adversary_rows(results)],
            "by_day_kind": [dataclasses.asdict(r) for r in kind_rows(results, pairs)],
            "hunted_days": [dataclasses.asdict(r) for r in hunt_rows(results, pairs)],
        }
    )


def _f(x: float | None, fmt: str = "+.2f") -> str:
    return "n/a" if x is None else format(x, fmt)


def format_report(report: dict[str, Any]) -> list[str]:
    lines = [
        f"{report['runs_total']} runs in {report['wall_s']:.0f} s on {report['workers']} "
        f"worker(s); invariant violations: {report['violations']}",
        "",
        "bps of the order at the arrival mid, positive = cost; [95% interval of the mean]",
        "cost = shortfall less the exogenous price path at our holdings (same mean, less noise)",
        f"{'strategy':10} {'adv':4} {'n':>5} {'shortfall':>9} {'sd':>6} {'interval':>17} "
        f"{'cost':>7} {'sd':>6} {'interval':>17} {'filled':>6} {'maxpart':>7} {'hunted':>6} "
        f"{'other':>6} {'viol':>4}",
    ]
    for r in report["strategies"]:
        s, c = r["shortfall"], r["cost"]
        adv = {True: "on", False: "off", None: "-"}[r["adversary"]]
        lines.append(
            f"{r['strategy']:10} {adv:4} {s['n']:>5} {_f(s['mean']):>9} {_f(s['sd'], '.2f'):>6} "
            f"[{_f(s['lo'])}, {_f(s['hi'])}]".ljust(0)
            + f" {_f(c['mean']):>8} {_f(c['sd'], '.2f'):>6} [{_f(c['lo'])}, {_f(c['hi'])}]"
            + f" {r['completion']:>6.1%} {r['max_participation']:>7.1%} {r['hunted']:>6.1%}"
            + f" {r['hunted_other']:>6.1%} {r['violations']:>4}"
        )
    lines += ["", "paired with TWAP on the same day: strategy - twap (bps), t, two-sided p"]
    for r in report["paired_vs_twap"]:
        d = r["diff"]
        adv = {True: "on", False: "off", None: "-"}[r["adversary"]]
        lines.append(
            f"{r['strategy']:10} {adv:4} {r['metric']:9} {_f(d['mean']):>7} "
            f"[{_f(d['lo'])}, {_f(d['hi'])}]  t {_f(r['t'], '+.2f')}  p {_f(r['p'], '.3g')}"
        )
    if report["adversary"]:
        lines += ["", "the predator's extra cost, paired by day (cost with it - without it)"]
        for r in report["adversary"]:
            e = r["extra"]
            given = r["given_back"]
            given = "" if given is None else f"  gives back {given:.0%} of TWAP's extra cost"
            lines.append(
                f"{r['strategy']:10} {_f(e['mean']):>7} [{_f(e['lo'])}, {_f(e['hi'])}]{given}"
            )
    if report["by_day_kind"]:
        lines += [
            "",
            "by kind of day (simulator's truth over the window, ADV if either run was hunted): "
            "cost difference, bps",
        ]
        for r in report["by_day_kind"]:
            d = r["diff"]
            lines.append(
                f"{r['kind']:3} adv {'on ' if r['adversary'] else 'off'} {r['strategy']} - "
                f"{r['baseline']:5} n {d['n']:>4} {_f(d['mean']):>7} [{_f(d['lo'])}, "
                f"{_f(d['hi'])}]  p {_f(r['p'], '.3g')}"
            )
    for r in report.get("hunted_days", []):
        lines.append(
            f"days hunted, {r['strategy']} / {r['baseline']}: both {r['both']}, only "
            f"{r['strategy']} {r['only_strategy']}, only {r['baseline']} {r['only_baseline']}, "
            f"neither {r['neither']}"
        )
    if report.get("plots"):
        lines += ["", "plots: " + ", ".join(report["plots"])]
    return lines


def main(argv: Sequence[str] | None = None) -> int:  # pragma: no cover - python -m use
    p = argparse.ArgumentParser(prog="unwind backtest")
    add_backtest_arguments(p)
    return run_backtest(p.parse_args(argv), out=sys.stdout, err=sys.stderr)
