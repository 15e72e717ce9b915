"""``unwind simulate``: one seeded simulator day with the probe trader, written as a tape.

The tape (:mod:`adapters.sim.tape`) holds the top of book, the prints, the probe's fills and
the ground truth (regimes, adversary activity); ``unwind regimes --data FILE`` reads it.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TextIO

from adapters.sim.config import AdversaryConfig, MarketConfig
from adapters.sim.market import MarketSimulator
from adapters.sim.probe import ProbeConfig, run_probe_day
from adapters.sim.tape import TapeRecorder
from engine.events import Side

__all__ = ["add_simulate_arguments", "run_simulate"]


def add_simulate_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=int, default=1, help="the day's seed")
    p.add_argument("--out", required=True, metavar="FILE", help="tape to write (.gz compresses)")
    p.add_argument(
        "--adversary",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="a predatory participant in the market (default: on)",
    )
    p.add_argument(
        "--probe-side",
        choices=("buy", "sell", "none"),
        default="sell",
        help="the probe trader's side, or none for a day without our trading",
    )
    p.add_argument("--clip", type=int, default=500, help="probe order size, shares")


def run_simulate(args: argparse.Namespace, *, out: TextIO, err: TextIO) -> int:
    """Run ``unwind simulate``; return the exit code."""
    try:
        adversaries = (AdversaryConfig(),) if args.adversary else ()
        market = MarketSimulator(MarketConfig(seed=args.seed, adversaries=adversaries))
        probe = (
            None
            if args.probe_side == "none"
            else ProbeConfig(side=Side(args.probe_side), clip=args.clip)
        )
    except ValueError as exc:
        print(f"unwind simulate: error: {exc}", file=err)
        return 2
    tape = TapeRecorder(market.symbol, args.seed)
    if probe is None:
        market.subscribe(market.symbol, tape.on_market_event)
        market.run()
    else:
        run_probe_day(
            market,
            probe,
            seed=args.seed,
            on_market=tape.on_market_event,
            on_report=tape.on_venue_event,
        )
    truth = market.ground_truth()
    try:
        tape.write(Path(args.out), truth)
    except OSError as exc:
        print(f"unwind simulate: error: cannot write {args.out}: {exc.strerror}", file=err)
        return 2
    print(
        f"{args.out}: seed {args.seed}, {len(truth.regime_values) - 1} regime switches, "
        f"adversary {'on' if args.adversary else 'off'}",
        file=out,
    )
    return 0
