"""``unwind regimes``: run the regime detector over a day of data and print it bar by bar.

Input is either a LOBSTER message file (its order-book file is found beside it by name) or a
tape written by ``unwind simulate`` (:mod:`adapters.sim.tape`). A tape carries our own fills,
which feed the adversarial-flow score, and the simulator's ground truth, against which the
bars are scored (printed after the table; not in ``--json`` output).

Output per bar: the bar's closing time, the volatility estimate (a fraction of price over a
6.5-hour session: multiply by 100 for percent a day), the regime and the adversarial score.
``--json`` prints a list of objects with exactly the keys ``t`` (seconds after midnight),
``sigma``, ``regime`` and ``score``. Errors a person can fix print ``unwind regimes: error: ...``
and exit 2.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

from adapters.lobster.loader import (
    LobsterError,
    load_day,
    market_events,
    parse_file_name,
)
from adapters.sim.market import GroundTruth
from adapters.sim.scoring import score_regimes
from adapters.sim.tape import OwnFill, TapeEvent, TapeFormatError, is_tape, read_tape
from engine.events import PRICE_SCALE, MarketEvent, Quote
from engine.regime_feed import RegimeFeed
from strategies.errors import StrategyError
from strategies.ou_filter import OUFilterConfig
from strategies.regime import RegimeDetector, RegimeState

__all__ = ["add_regimes_arguments", "detect", "run_regimes"]

EXIT_OK = 0
EXIT_USAGE = 2
_NS = 1_000_000_000


def add_regimes_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--data",
        required=True,
        metavar="PATH",
        help="a LOBSTER *_message_N.csv[.gz] file (order book beside it) or a tape from "
        "'unwind simulate'",
    )
    p.add_argument("--bar", type=float, default=60.0, metavar="SECONDS", help="bar length")
    p.add_argument("--json", action="store_true", help="print a JSON list of bars")
    p.add_argument("--plot", metavar="FILE.png", help="price, volatility and regime bands")


class RegimesInputError(ValueError):
    """Input the user must fix."""


def detect(
    events: Iterable[MarketEvent | OwnFill], symbol: str, bar_s: float
) -> tuple[RegimeDetector, list[tuple[int, float]]]:
    """Run a fresh detector over ``events``; return it and the (time, mid) of every quote."""
    sub = min(5.0, bar_s / 12.0)
    detector = RegimeDetector(filter_cfg=OUFilterConfig(bar_s=bar_s, sub_s=sub))
    feed = RegimeFeed(detector, symbol)
    mids: list[tuple[int, float]] = []
    for e in events:
        if isinstance(e, OwnFill):
            detector.on_execution(e.ts_event, e.side, e.qty)
            continue
        feed.on_market_event(e)
        if isinstance(e, Quote) and e.bid_price is not None and e.ask_price is not None:
            mids.append((e.ts_event, 0.5 * (e.bid_price + e.ask_price) / PRICE_SCALE))
    return detector, mids


def _load(path: Path) -> tuple[str, Iterable[TapeEvent | MarketEvent], GroundTruth | None]:
    if not path.exists():
        raise RegimesInputError(f"no such file: {path}")
    if is_tape(path):
        tape = read_tape(path)
        return tape.symbol, tape.events, tape.truth
    try:
        name = parse_file_name(path)
    except LobsterError as exc:
        raise RegimesInputError(
            f"{path} is neither a tape from 'unwind simulate' nor a LOBSTER message file: {exc}"
        ) from None
    if name.kind != "message":
        raise RegimesInputError(f"{path} is an order-book file: pass the message file")
    book = path.with_name(path.name.replace("_message_", "_orderbook_", 1))
    if not book.exists():
        raise RegimesInputError(f"the order-book file {book.name} is not beside {path.name}")
    day = load_day(path, book)
    return day.symbol, market_events(day), None


def _row(s: RegimeState) -> dict[str, object]:
    return {
        "t": round(s.ts_ns / _NS, 3),
        "sigma": s.sigma_daily,
        "regime": str(s.regime),
        "score": round(s.adv_score, 4),
    }


def _clock(ts_ns: int) -> str:
    secs = ts_ns // _NS
    return f"{secs // 3600 % 24:02d}:{secs // 60 % 60:02d}:{secs % 60:02d}"


def run_regimes(args: argparse.Namespace, *, out: TextIO, err: TextIO) -> int:
    """Run ``unwind regimes``; return the exit code."""
    try:
        if not args.bar >= 3.0:
            raise RegimesInputError(f"--bar must be at least 3 seconds, got {args.bar:g}")
        symbol, events, truth = _load(Path(args.data))
        detector, mids = detect(events, symbol, args.bar)
    except (RegimesInputError, LobsterError, TapeFormatError, StrategyError) as exc:
        print(f"unwind regimes: error: {exc}", file=err)
        return EXIT_USAGE
    except OSError as exc:
        print(f"unwind regimes: error: cannot read {args.data}: {exc.strerror}", file=err)
        return EXIT_USAGE
    history = detector.history
    if args.json:
        json.dump([_row(s) for s in history], out)
        out.write("\n")
    else:
        print(f"{symbol}: {len(history)} bars of {args.bar:g} s", file=out)
        print(f"{'time':>8}  {'sigma/day':>9}  {'regime':<6}  {'score':>5}", file=out)
        for s in history:
            print(
                f"{_clock(s.ts_ns):>8}  {100 * s.sigma_daily:8.3f}%  "
                f"{s.regime!s:<6}  {s.adv_score:5.2f}",
                file=out,
            )
        if truth is not None and history:
            # Episodes are those hunting the side we traded, when we traded only one.
            sides = {e.side for e in events if type(e) is OwnFill}
            ours = sides.pop() if len(sides) == 1 else None
            sc = score_regimes(history, truth, our_side=ours)
            whose = "" if ours is None else f" (those hunting our {ours.value} side)"
            print(
                f"against the simulator's ground truth: LV/HV balanced accuracy "
                f"{sc.balanced_accuracy:.3f} (HV recall {sc.hv_recall:.3f}, LV recall "
                f"{sc.lv_recall:.3f}); adversary episodes detected within 5 bars "
                f"{sc.episodes_detected}/{sc.episodes}{whose}; "
                f"ADV in {sc.false_adv_bars} of "
                f"{sc.quiet_bars} bars without an adversary",
                file=out,
            )
    if args.plot:
        from engine.plotting import plot_regimes

        try:
            plot_regimes(Path(args.plot), symbol, history, mids, truth)
        except OSError as exc:
            print(f"unwind regimes: error: cannot write {args.plot}: {exc.strerror}", file=err)
            return EXIT_USAGE
        if not args.json:
            print(f"plot written to {args.plot}", file=out)
    return EXIT_OK
