"""What the engine counts for its metrics, kept off prometheus_client on the hot path.

prometheus_client's ``Histogram.observe`` takes a lock and costs about a microsecond; the
engine observes its input latency on every input. :class:`Histogram` here is a bisect and
three additions on the loop thread (``threadsafe=True`` adds a lock for one observed from
another thread: the journal's writer, QuickFIX's threads). The collector in
:mod:`engine.metrics` turns these into Prometheus families at scrape time.

Nothing here feeds a decision: the engine's choices stay a function of its inputs and their
times (what the journal records), never of the wall-clock latencies measured here.
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = [
    "ACK_BOUNDS",
    "INPUT_BOUNDS",
    "LAG_BOUNDS",
    "WRITE_BOUNDS",
    "EngineStats",
    "Histogram",
    "reject_reason",
]

# Upper bounds in seconds. An input is handled in tens of microseconds (docs/performance.md),
# so its buckets resolve single microseconds; acknowledgements cross a network.
INPUT_BOUNDS = (
    1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4,
    1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 5e-2, 0.1, 0.25, 0.5, 1.0,
)  # fmt: skip
ACK_BOUNDS = (
    1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 5e-2,
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip
LAG_BOUNDS = (1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 5e-2, 0.1, 0.25, 0.5, 1.0, 5.0)
WRITE_BOUNDS = LAG_BOUNDS


class Histogram:
    """Counts of observations per bucket (upper bounds in seconds), their sum and number."""

    __slots__ = ("_lock", "bounds", "count", "counts", "sum")

    def __init__(self, bounds: Sequence[float], *, threadsafe: bool = False) -> None:
        if list(bounds) != sorted(set(bounds)) or not bounds:
            raise ValueError(f"bucket bounds must be increasing and distinct, got {bounds}")
        self.bounds = tuple(bounds)
        self.counts = [0] * (len(self.bounds) + 1)  # the last: above every bound (+Inf)
        self.sum = 0.0
        self.count = 0
        self._lock = threading.Lock() if threadsafe else None

    def observe(self, seconds: float) -> None:
        if self._lock is None:
            self.counts[bisect_left(self.bounds, seconds)] += 1
            self.sum += seconds
            self.count += 1
            return
        with self._lock:
            self.counts[bisect_left(self.bounds, seconds)] += 1
            self.sum += seconds
            self.count += 1

    def cumulative(self) -> tuple[list[tuple[str, int]], float]:
        """``([(le, count at or below), ..., ("+Inf", all)], sum)`` as Prometheus wants."""
        out = []
        running = 0
        for bound, n in zip((*map(repr, self.bounds), "+Inf"), self.counts, strict=True):
            running += n
            out.append((bound, running))
        return out, self.sum


# Venue reject texts are free text: the metric's label is one of a few stable reasons, so a
# venue cannot make the series grow without bound.
_REJECT_WORDS = (
    ("halt", "halted"),
    ("symbol", "unknown_symbol"),
    ("price", "price"),
    ("collar", "price"),
    ("qty", "quantity"),
    ("quantity", "quantity"),
    ("rate", "rate"),
    ("throttl", "rate"),
    ("duplicate", "duplicate"),
    ("closed", "market_closed"),
)


def reject_reason(text: str) -> str:
    """The label for a venue reject's text (``other`` when nothing matches)."""
    lowered = text.lower()
    for word, reason in _REJECT_WORDS:
        if word in lowered:
            return reason
    return "other"


@dataclass(slots=True)
class EngineStats:
    """The engine's counts for the metrics (loop thread only)."""

    input_seconds: Histogram = field(default_factory=lambda: Histogram(INPUT_BOUNDS))
    ack_seconds: Histogram = field(default_factory=lambda: Histogram(ACK_BOUNDS))
    children_sent: Counter[str] = field(default_factory=Counter)  # by symbol
    child_rejects: Counter[str] = field(default_factory=Counter)  # by reject_reason
    fills: Counter[tuple[str, str]] = field(default_factory=Counter)  # (symbol, side)
    filled_shares: Counter[tuple[str, str]] = field(default_factory=Counter)
    parent_outcomes: Counter[tuple[str, str]] = field(default_factory=Counter)  # (strategy, state)
    market_messages: Counter[str] = field(default_factory=Counter)  # by symbol
    market_last_ns: dict[str, int] = field(default_factory=dict)  # engine clock, by symbol
    finished_ns: dict[str, int] = field(default_factory=dict)  # parent id -> when it finished
