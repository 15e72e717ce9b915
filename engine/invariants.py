"""What must never happen, re-derived from the record, independently of the engine's counts.

A :class:`Record` is the engine (its parents and children) beside the venue's truth: the
reports the exchange made before any delivery fault, the market tape (every print, ours
included) and, over FIX, when each order reached the venue. Two sources build one: the
in-process simulator (:meth:`engine.simrun.SimSession.record`) and a paper session against the
FIX simulator (:mod:`engine.paper`, from :class:`adapters.fixsim.venue.VenueRecord`).

Time. Every timestamp is on the engine's clock. In-process the engine and the market share one
clock. Over FIX the venue stamps the wire with its simulated time plus the wire origin, and the
paper engine's :class:`~engine.clock.AcceleratedClock` starts at that same origin plus the
market's time, so the two count alike; they still differ by the wire's latency and by how far
the market lags its clock task (a tick, 20 wall ms). So each check compares times taken by one
side: fills against prints (both the venue's), child sends against the deadline (both the
engine's), and, for one child at a time, the next child's *arrival at the venue* against the
previous child's end *at the venue*. No clock-skew allowance enters any check.

:func:`find_violations` checks, per parent: no overfill; the engine's fills equal the venue's;
participation within the parent's cap over every trailing window and since the start; every
child sent before the deadline; a child sent only once the previous one could no longer fill;
and, per symbol, every parent together within the symbol's cap over the window.
:func:`check_ends` adds what a finished session must show: every parent in a final state that
agrees with its fills, nothing of it still live at the venue, and the OMS told the same.
"""

from __future__ import annotations

import bisect
import enum
import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from engine.clock import NS
from engine.events import ExecType, ExecutionReport
from engine.orders import ParentState

if TYPE_CHECKING:
    from engine.engine import Engine
    from engine.executor import ParentExecutor

__all__ = [
    "HasRecord",
    "Kind",
    "Record",
    "TapeIndex",
    "Violation",
    "check_ends",
    "check_invariants",
    "find_violations",
    "window_peaks",
    "window_ratios",
]

_EPS = 1e-6  # shares: the caps are compared in floating point


@dataclass(frozen=True, slots=True)
class Record:
    """The engine beside the venue's truth, every time on the engine's clock.

    ``arrivals`` is when each order reached the venue (over FIX, where engine and venue have
    clocks of their own); ``None`` where they share one clock and a child arrives as it is
    sent (in-process), and the engine's ``sent_ns`` stands for it.
    """

    engine: Engine
    reports: Sequence[ExecutionReport]
    tape: Sequence[tuple[int, int]]  # (ts, size) of every print
    arrivals: Mapping[str, int] | None = None


class HasRecord(Protocol):
    def record(self) -> Record: ...


class Kind(enum.StrEnum):
    OVERFILL = "overfill"
    FILLS = "fills"  # the engine's count differs from the venue's
    CAP = "cap"  # a parent's or the symbol's participation cap
    DEADLINE = "deadline"
    TWO_LIVE = "two_live"  # a child sent while another of the parent could still fill
    ORPHAN = "orphan"  # the venue worked an order no parent owns
    END = "end"  # a parent's end disagrees with its fills or leaves work at the venue
    REPLAY = "replay"  # the session's journal replays to different decisions (engine/replay.py)


@dataclass(frozen=True, slots=True)
class Violation:
    kind: Kind
    text: str

    def __str__(self) -> str:
        return self.text


class _Truth:
    """The venue's side of a record, indexed once for the checks."""

    def __init__(self, record: Record, cap_window_s: float) -> None:
        self.window = round(cap_window_s * NS)
        self.cum: dict[str, int] = {}
        self.fills: dict[str, dict[str, ExecutionReport]] = {}  # by ClOrdID, by ExecID
        # When the venue first spoke of each order: it had arrived by then.
        self.first: dict[str, int] = {}
        for r in record.reports:
            self.cum[r.cl_ord_id] = max(self.cum.get(r.cl_ord_id, 0), r.cum_qty)
            self.first.setdefault(r.cl_ord_id, r.ts_event)
            if r.exec_type is ExecType.TRADE:
                self.fills.setdefault(r.cl_ord_id, {})[r.exec_id] = r
        self.final = _final_times(record.reports)
        self.tape = TapeIndex(record.tape)

    def market_volume(self, lo: int, hi: int) -> int:
        """Prints in ``(lo, hi]``."""
        return self.tape.volume(lo, hi)

    def fills_of(self, children: Iterable[str]) -> list[tuple[int, int]]:
        """The venue's own fills of these ClOrdIDs, ``(ts, qty)`` at the times they happened
        (not the engine's record: a fill learned late, from a status answer, is stamped late)."""
        return sorted(
            (r.ts_event, r.last_qty) for c in children for r in self.fills.get(c, {}).values()
        )

    def window_ratios(self, fills: list[tuple[int, int]]) -> list[tuple[int, int, int, int]]:
        return window_ratios(fills, self.tape, self.window)


class TapeIndex:
    """Every print's cumulative volume, for the market's volume over any interval."""

    def __init__(self, tape: Iterable[tuple[int, int]]) -> None:
        prints = list(tape)  # (ts, size), time order
        self._ts = [t for t, _ in prints]
        self._cum = list(itertools.accumulate((q for _, q in prints), initial=0))

    def volume(self, lo: int, hi: int) -> int:
        """Prints in ``(lo, hi]``."""
        cum, ts = self._cum, self._ts
        return cum[bisect.bisect_right(ts, hi)] - cum[bisect.bisect_right(ts, lo)]


def window_ratios(
    fills: Sequence[tuple[int, int]], tape: TapeIndex, window_ns: int
) -> list[tuple[int, int, int, int]]:
    """For each fill ``(ts, ours, market, since)``: our fills and the market's prints over the
    trailing window ``(ts - window_ns, ts]`` to it, and our fills up to it. ``fills`` are
    ``(ts, qty)`` in time order; of fills at one time, each counts those before it and itself
    (the last counts them all)."""
    ts_list = [t for t, _ in fills]
    cum = list(itertools.accumulate((q for _, q in fills), initial=0))
    out = []
    for i, (ts, _) in enumerate(fills):
        ours = cum[i + 1] - cum[bisect.bisect_right(ts_list, ts - window_ns)]
        out.append((ts, ours, tape.volume(ts - window_ns, ts), cum[i + 1]))
    return out


def find_violations(source: Record | HasRecord, *, cap_window_s: float) -> list[Violation]:
    """Every invariant violation in the record (empty when all hold); see the module docstring."""
    record = source if isinstance(source, Record) else source.record()
    truth = _Truth(record, cap_window_s)
    engine = record.engine
    problems: list[Violation] = []
    for parent in engine.parents.values():
        problems += _parent_violations(record, truth, parent)
    # Every parent on the symbol together, over the trailing window.
    symbol_cap = engine.cfg.symbol_participation
    every = sorted((r.ts_event, r.last_qty) for f in truth.fills.values() for r in f.values())
    for ts, ours, mkt, _ in truth.window_ratios(every):
        if ours > symbol_cap * mkt + _EPS:
            text = f"symbol: {ours} of {mkt} in the window to {ts} breaks its cap"
            problems.append(Violation(Kind.CAP, text))
    if record.arrivals is not None:
        known = {c for p in engine.parents.values() for c in p.children}
        for cl_ord_id in sorted(set(record.arrivals) - known):
            text = f"the venue received {cl_ord_id}, which no parent of the engine owns"
            problems.append(Violation(Kind.ORPHAN, text))
    return problems


def check_invariants(source: Record | HasRecord, *, cap_window_s: float) -> list[str]:
    """Every invariant violation in the record, as text (empty when all hold)."""
    return [v.text for v in find_violations(source, cap_window_s=cap_window_s)]


def _parent_violations(record: Record, truth: _Truth, parent: ParentExecutor) -> list[Violation]:
    pid = parent.id
    out: list[Violation] = []
    total = sum(c.cum_qty for c in parent.children.values())
    if total > parent.qty:
        out.append(Violation(Kind.OVERFILL, f"{pid}: overfilled {total} > {parent.qty}"))
    at_venue = sum(truth.cum.get(c, 0) for c in parent.children)
    if at_venue > parent.qty:
        out.append(Violation(Kind.OVERFILL, f"{pid}: the venue filled {at_venue} > {parent.qty}"))
    if total != parent.filled:
        text = f"{pid}: children filled {total}, parent says {parent.filled}"
        out.append(Violation(Kind.FILLS, text))
    if at_venue != total:
        text = f"{pid}: the venue filled {at_venue}, the engine counted {total}"
        out.append(Violation(Kind.FILLS, text))
    for ts, ours, mkt, since in truth.window_ratios(truth.fills_of(parent.children)):
        if ours > parent.cap * mkt + _EPS:
            text = f"{pid}: {ours} of {mkt} in the window to {ts} breaks the cap"
            out.append(Violation(Kind.CAP, text))
        mkt_since = truth.market_volume(parent.start_ns - 1, ts)
        if since > parent.cap * mkt_since + _EPS:
            text = f"{pid}: {since} of {mkt_since} since start breaks the cap"
            out.append(Violation(Kind.CAP, text))
    for child in parent.children.values():
        if child.sent_ns >= parent.end_ns:
            text = f"{pid}: child {child.cl_ord_id} sent after the deadline"
            out.append(Violation(Kind.DEADLINE, text))
    # One child at a time: a child goes out only once the previous one is final at the venue.
    # Over FIX both ends are the venue's times, and children follow each other in the order
    # they reached it (a child adopted after a restart was sent long before the engine's
    # sent_ns says); an order that never reached the venue could not fill and conflicts with
    # nothing. In-process the send time is the engine's, except for an adopted child, whose
    # sent_ns is its adoption: it was sent by the time the venue first reported on it.
    arrivals = record.arrivals
    if arrivals is None:
        order = sorted(
            (min(c.sent_ns, truth.first.get(c.cl_ord_id, c.sent_ns)), c.cl_ord_id)
            for c in parent.children.values()
        )
    else:
        order = sorted((arrivals[c], c) for c in parent.children if c in arrivals)
    for (_, a), (b_at, b) in itertools.pairwise(order):
        final_at = truth.final.get(a)
        if final_at is None or final_at > b_at:
            text = f"{pid}: child {b} sent at {b_at} while {a} could still fill"
            out.append(Violation(Kind.TWO_LIVE, text))
    return out


def check_ends(
    source: Record | HasRecord, *, oms_cum: Mapping[str, int] | None = None
) -> list[Violation]:
    """What a finished session must show, per parent: a final state that agrees with its fills
    (FILLED with every share; DoneForDay, Canceled or Expired with fewer; Rejected with none),
    no child still live at the venue, and (``oms_cum``: the last CumQty the OMS was told, by
    the parent's ClOrdID) the OMS told the fills the venue made."""
    record = source if isinstance(source, Record) else source.record()
    final = _final_times(record.reports)
    arrivals = record.arrivals
    out: list[Violation] = []
    for parent in record.engine.parents.values():
        pid, state, filled = parent.id, parent.state, parent.filled
        if not state.final:
            out.append(Violation(Kind.END, f"{pid}: still {state.value} at the end"))
        elif (state is ParentState.FILLED) != (filled == parent.qty):
            text = f"{pid}: ended {state.value} with {filled} of {parent.qty} filled"
            out.append(Violation(Kind.END, text))
        elif state is ParentState.REJECTED and parent.children:
            out.append(Violation(Kind.END, f"{pid}: rejected but sent children"))
        for c in parent.children:
            reached = arrivals is None or c in arrivals
            if reached and c not in final:
                text = f"{pid}: child {c} is still live at the venue after the parent ended"
                out.append(Violation(Kind.END, text))
        if oms_cum is not None:
            told = oms_cum.get(parent.cl_ord_id, 0)
            if told != filled:
                text = f"{pid}: the OMS was told {told} filled, the engine filled {filled}"
                out.append(Violation(Kind.END, text))
    return out


def window_peaks(source: Record | HasRecord, *, cap_window_s: float) -> dict[str, float]:
    """Each parent's highest participation over a trailing window (the venue's fills against
    the tape), 0 for a parent with no fill."""
    record = source if isinstance(source, Record) else source.record()
    truth = _Truth(record, cap_window_s)
    peaks: dict[str, float] = {}
    for parent in record.engine.parents.values():
        ratios = truth.window_ratios(truth.fills_of(parent.children))
        peaks[parent.id] = max((ours / mkt for _, ours, mkt, _ in ratios if mkt), default=0.0)
    return peaks


def _final_times(reports: Sequence[ExecutionReport]) -> dict[str, int]:
    """When the venue said each order was done (filled, cancelled, rejected, expired)."""
    done = {ExecType.CANCELED, ExecType.REJECTED, ExecType.EXPIRED}
    final: dict[str, int] = {}
    for r in reports:
        if r.exec_type in done or (r.exec_type is ExecType.TRADE and r.leaves_qty == 0):
            for key in (r.cl_ord_id, r.orig_cl_ord_id):
                if key is not None:
                    final.setdefault(key, r.ts_event)
    return final
