"""What one parent did against its market, as plain values: the input of the TCA report.

A :class:`ParentTrace` holds everything the post-trade analysis (:mod:`engine.tca`) and its
PNG report (:func:`engine.plotting.plot_tca`) read: the order (side, quantity, cap and its
window), its times (decision, first child, end), the market (mids over time and every print),
our fills, the plans the engine put in force, and the regime the detector called at each bar.
It is built from plain values, so any source can build one: the engine's journal
(:func:`engine.tca_parent.parent_trace`) or a backtest's in-memory session.

Times are nanoseconds on one clock (the engine's); prices are in currency (not ticks).

Two series are derived here, so the chart and the tests read the same numbers:

* :func:`plan_steps`: the plan in force over time, as cumulative shares the parent should have
  filled (since its start). A plan made at ``start_ns`` with bucket ``b`` and cumulative
  targets ``c_0 .. c_{N-1}`` (since its own start, ``f`` already filled when it was made)
  wants ``f + c_{k-1}`` once ``k`` buckets have ended (``f`` before the first ends, ``f +
  c_{N-1}`` after the last). A re-plan replaces it from its own ``start_ns`` on.
* :func:`participation_series`: at each fill, our shares over the market's in the trailing cap
  window ``(t - w, t]`` (:func:`engine.invariants.window_ratios`, the invariants' own
  measure), to be read against the cap.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass

from engine.invariants import TapeIndex, window_ratios
from engine.tca import MARKOUT_HORIZONS_S, ParentTca, analyse
from strategies.schedule import Side

__all__ = ["ParentTrace", "PlanLine", "participation_series", "plan_steps", "planned_at"]


@dataclass(frozen=True, slots=True)
class PlanLine:
    """One plan as it was put in force (the fields of the engine's ``PlanState``)."""

    start_ns: int
    bucket_ns: int
    cum_targets: tuple[int, ...]  # after each bucket, shares since the plan's start
    filled_at_start: int  # the parent's fills when it was made
    strategy: str = ""
    reason: str = ""

    def __post_init__(self) -> None:
        if self.bucket_ns <= 0 or not self.cum_targets:
            raise ValueError("a plan needs a positive bucket and at least one target")
        object.__setattr__(self, "cum_targets", tuple(self.cum_targets))

    @property
    def end_ns(self) -> int:
        return self.start_ns + len(self.cum_targets) * self.bucket_ns

    def target_at(self, ts_ns: int) -> int:
        """Cumulative shares (since the parent's start) this plan wants filled by ``ts_ns``."""
        ended = (ts_ns - self.start_ns) // self.bucket_ns  # buckets ended by ts_ns
        if ended <= 0:
            return self.filled_at_start
        return self.filled_at_start + self.cum_targets[min(ended, len(self.cum_targets)) - 1]


@dataclass(frozen=True, slots=True, kw_only=True)
class ParentTrace:
    """One parent and its market, as plain values (see the module docstring).

    Sequences are kept as tuples, in time order: ``mids`` ``(ts, mid)``, ``tape`` every print
    ``(ts, shares, price)`` (ours among them), ``fills`` ours ``(ts, shares, price)``,
    ``plans`` in the order they were made, ``regimes`` ``(bar end ts, "LV" | "HV" | "ADV")``.
    """

    parent_id: str
    symbol: str
    side: Side
    qty: int
    strategy: str
    cap: float  # participation cap, fraction of the market's volume
    cap_window_ns: int  # the cap's trailing window
    order_start_ns: int  # the window the order gave: from here ...
    order_end_ns: int  # ... to its deadline
    decision_ns: int  # when the engine accepted it
    start_ns: int  # its first child (decision_ns if it sent none)
    end_ns: int  # when it ended (or the data's end if still working)
    mids: Sequence[tuple[int, float]]
    tape: Sequence[tuple[int, int, float]]
    fills: Sequence[tuple[int, int, float]]
    plans: Sequence[PlanLine] = ()
    regimes: Sequence[tuple[int, str]] = ()

    def __post_init__(self) -> None:
        if self.qty <= 0:
            raise ValueError(f"qty must be > 0, got {self.qty}")
        if not 0 < self.cap <= 1 or self.cap_window_ns <= 0:
            raise ValueError(f"cap must be in (0, 1] over a positive window, got {self.cap}")
        for name in ("mids", "tape", "fills", "plans", "regimes"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        object.__setattr__(self, "fills", tuple(sorted(self.fills)))

    @property
    def filled(self) -> int:
        return sum(q for _, q, _ in self.fills)

    def tca(
        self, *, fee_bps: float = 0.0, horizons_s: Sequence[float] = MARKOUT_HORIZONS_S
    ) -> ParentTca:
        """The post-trade analysis (:func:`engine.tca.analyse`) of this trace."""
        return analyse(
            side=self.side,
            qty=self.qty,
            fills=self.fills,
            mids=self.mids,
            tape=self.tape,
            decision_ns=self.decision_ns,
            start_ns=self.start_ns,
            end_ns=self.end_ns,
            fee_bps=fee_bps,
            horizons_s=horizons_s,
        )


def planned_at(trace: ParentTrace, ts_ns: int) -> int | None:
    """Cumulative shares the plan in force at ``ts_ns`` wanted filled by then (``None``
    before the first plan)."""
    starts = [p.start_ns for p in trace.plans]
    i = bisect.bisect_right(starts, ts_ns)
    return trace.plans[i - 1].target_at(ts_ns) if i else None


def plan_steps(trace: ParentTrace) -> list[tuple[int, int]]:
    """The plan in force over time, as the corners of a step line (each value holds from its
    time to the next): each plan from its start to the next plan's, with a corner at each of
    its bucket ends, then held to the trace's end."""
    out: list[tuple[int, int]] = []
    plans = list(trace.plans)
    for i, plan in enumerate(plans):
        until = plans[i + 1].start_ns if i + 1 < len(plans) else None
        out.append((plan.start_ns, plan.target_at(plan.start_ns)))
        for k in range(1, len(plan.cum_targets) + 1):
            t = plan.start_ns + k * plan.bucket_ns
            if until is not None and t >= until:
                break
            out.append((t, plan.target_at(t)))
    if out and trace.end_ns > out[-1][0]:
        out.append((trace.end_ns, out[-1][1]))
    return out


def participation_series(trace: ParentTrace) -> list[tuple[int, float]]:
    """At each fill, our shares over the market's in the trailing cap window to it (NaN where
    the window holds no print: a fill handled before its own print reached the tape)."""
    tape = TapeIndex((t, q) for t, q, _ in trace.tape)
    fills = [(t, q) for t, q, _ in trace.fills]
    return [
        (t, ours / mkt if mkt else math.nan)
        for t, ours, mkt, _ in window_ratios(fills, tape, trace.cap_window_ns)
    ]
