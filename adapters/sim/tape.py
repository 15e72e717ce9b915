"""The simulator's tape: a day's top of book, prints, our fills and the ground truth, in one file.

What ``unwind simulate`` writes and ``unwind regimes`` reads. CSV, gzip-compressed when the
name ends in ``.gz``; times are integer nanoseconds, prices integer 1/10,000 currency units
(``engine.events.PRICE_SCALE``), one record per line:

==========================================  ===========================================
record                                      meaning
==========================================  ===========================================
``# unwind-tape 1 symbol=XYZ seed=7``       header (first line; version, then key=value)
``Q,ts,bid,bid_size,ask,ask_size``          top of book changed (empty price: no level)
``T,ts,price,size,aggressor``               a print; aggressor ``B``, ``S`` or empty
``F,ts,price,qty,side``                     a fill of ours (``B`` or ``S``)
``R,ts,regime``                             ground truth: regime ``LV``/``HV`` from ts on
``A,ts,name,target``                        ground truth: adversary ``name`` hunts a trader
                                            on side ``B`` or ``S`` (empty: it does not)
                                            from ts on
==========================================  ===========================================

Market records come in time order; the ground truth follows them.
"""

from __future__ import annotations

import gzip
import io
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import numpy as np

from adapters.sim.config import Regime
from adapters.sim.market import GroundTruth
from engine.events import ExecType, ExecutionReport, MarketEvent, Quote, Side, Trade, VenueEvent
from strategies.errors import UnwindError

__all__ = ["OwnFill", "Tape", "TapeFormatError", "TapeRecorder", "is_tape", "read_tape"]

MAGIC = "# unwind-tape"
VERSION = 2
_SIDE = {"B": Side.BUY, "S": Side.SELL}
_CODE = {Side.BUY: "B", Side.SELL: "S"}


class TapeFormatError(UnwindError, ValueError):
    """A tape file that cannot be read; the message names the file and line."""


@dataclass(frozen=True, slots=True)
class OwnFill:
    """One fill of ours, as the tape records it."""

    ts_event: int
    price: int
    qty: int
    side: Side


TapeEvent = Quote | Trade | OwnFill


@dataclass(frozen=True, slots=True)
class Tape:
    symbol: str
    seed: int | None
    events: list[TapeEvent]
    truth: GroundTruth | None


def _open_text(path: Path, mode: str) -> TextIO:
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, mode + "b"), encoding="ascii", newline="")
    return open(path, mode, encoding="ascii", newline="")


class TapeRecorder:
    """Collects a day from the market-data and venue sinks; :meth:`write` saves it."""

    def __init__(self, symbol: str, seed: int | None = None) -> None:
        self.symbol = symbol
        self.seed = seed
        self._lines: list[str] = []

    def on_market_event(self, e: MarketEvent) -> None:
        if isinstance(e, Quote) and e.symbol == self.symbol:
            bid = "" if e.bid_price is None else str(e.bid_price)
            ask = "" if e.ask_price is None else str(e.ask_price)
            self._lines.append(f"Q,{e.ts_event},{bid},{e.bid_size},{ask},{e.ask_size}\n")
        elif isinstance(e, Trade) and e.symbol == self.symbol:
            side = "" if e.aggressor is None else _CODE[e.aggressor]
            self._lines.append(f"T,{e.ts_event},{e.price},{e.size},{side}\n")

    def on_venue_event(self, e: VenueEvent) -> None:
        if (
            isinstance(e, ExecutionReport)
            and e.exec_type is ExecType.TRADE
            and e.last_qty > 0
            and e.last_price is not None
        ):
            self._lines.append(f"F,{e.ts_event},{e.last_price},{e.last_qty},{_CODE[e.side]}\n")

    def write(self, path: Path, truth: GroundTruth | None = None) -> None:
        """Write the tape (and the ground truth, if given) to ``path``.

        Raises
        ------
        OSError
            If the file cannot be written.
        """
        seed = "" if self.seed is None else f" seed={self.seed}"
        with _open_text(path, "w") as f:
            f.write(f"{MAGIC} {VERSION} symbol={self.symbol}{seed}\n")
            f.writelines(self._lines)
            if truth is not None:
                f.writelines(_truth_lines(truth))


def _truth_lines(truth: GroundTruth) -> Iterable[str]:
    for ts, regime in zip(truth.regime_ts, truth.regime_values, strict=True):
        yield f"R,{int(ts)},{regime}\n"
    for name, times in truth.adversary_ts.items():
        for ts, target in zip(times, truth.adversary_target[name], strict=True):
            yield f"A,{int(ts)},{name},{_CODE[target] if target else ''}\n"


def is_tape(path: Path) -> bool:
    """Whether ``path`` starts like a tape (cheap: reads the first line)."""
    try:
        with _open_text(path, "r") as f:
            return f.readline().startswith(MAGIC)
    except (OSError, UnicodeDecodeError, EOFError):
        return False


def read_tape(path: Path) -> Tape:
    """Read a tape written by :class:`TapeRecorder`.

    Raises
    ------
    OSError
        If the file cannot be opened.
    TapeFormatError
        On a bad header or record, naming the line.
    """
    events: list[TapeEvent] = []
    regimes: list[tuple[int, Regime]] = []
    adversaries: dict[str, list[tuple[int, Side | None]]] = {}
    with _open_text(path, "r") as f:
        header = f.readline().split()
        if header[:2] != MAGIC.split() or len(header) < 3:
            raise TapeFormatError(f"{path}:1: not an unwind tape (no '{MAGIC}' header)")
        if header[2] != str(VERSION):
            raise TapeFormatError(f"{path}:1: tape version {header[2]}, this reads {VERSION}")
        meta = dict(kv.split("=", 1) for kv in header[3:] if "=" in kv)
        symbol = meta.get("symbol", "")
        for lineno, line in enumerate(f, start=2):
            try:
                _parse(line.rstrip("\n").split(","), symbol, events, regimes, adversaries)
            except (ValueError, KeyError, IndexError) as exc:
                raise TapeFormatError(f"{path}:{lineno}: bad record {line.strip()!r}") from exc
    truth = None
    if regimes:
        truth = GroundTruth(
            regime_ts=np.array([t for t, _ in regimes], dtype=np.int64),
            regime_values=tuple(r for _, r in regimes),
            adversary_ts={
                n: np.array([t for t, _ in v], dtype=np.int64) for n, v in adversaries.items()
            },
            adversary_target={n: tuple(a for _, a in v) for n, v in adversaries.items()},
        )
    seed = int(meta["seed"]) if "seed" in meta else None
    return Tape(symbol, seed, events, truth)


def _parse(
    f: list[str],
    symbol: str,
    events: list[TapeEvent],
    regimes: list[tuple[int, Regime]],
    adversaries: dict[str, list[tuple[int, Side | None]]],
) -> None:
    kind, ts = f[0], int(f[1])
    if kind == "Q" and len(f) == 6:
        bid = int(f[2]) if f[2] else None
        ask = int(f[4]) if f[4] else None
        events.append(Quote(symbol, bid, int(f[3]), ask, int(f[5]), ts, ts))
    elif kind == "T" and len(f) == 5:
        aggressor = _SIDE[f[4]] if f[4] else None
        events.append(Trade(symbol, int(f[2]), int(f[3]), aggressor, "", ts, ts))
    elif kind == "F" and len(f) == 5:
        events.append(OwnFill(ts, int(f[2]), int(f[3]), _SIDE[f[4]]))
    elif kind == "R" and len(f) == 3:
        regimes.append((ts, Regime(f[2])))
    elif kind == "A" and len(f) == 4:
        adversaries.setdefault(f[2], []).append((ts, _SIDE[f[3]] if f[3] else None))
    else:
        raise ValueError(kind)
