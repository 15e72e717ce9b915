"""Quantities over a trailing window with their running total: what the cap checks read.

The participation checks need "our shares in the last five minutes" for every child the gate
sees, per parent and per symbol. Summing the window's fills each time cost more than the rest
of the gate together (a symbol holds hundreds of fills in five minutes); here the total is kept
as fills come in and go out of the window.
"""

from __future__ import annotations

import bisect
from collections import deque

__all__ = ["TrailingSum"]


class TrailingSum:
    """``(ts, qty)`` items in time order and their total; :meth:`after` drops what is no longer
    after a time and returns the total of the rest. Exact: an item that arrives out of time
    order (a fill learned late, stamped with its own time) is put in its place."""

    def __init__(self) -> None:
        self._ts: deque[int] = deque()
        self._qty: deque[int] = deque()
        self.total = 0

    def __len__(self) -> int:
        return len(self._ts)

    def add(self, ts_ns: int, qty: int) -> None:
        if self._ts and ts_ns < self._ts[-1]:
            i = bisect.bisect_right(self._ts, ts_ns)  # rare: a late report
            self._ts.insert(i, ts_ns)
            self._qty.insert(i, qty)
        else:
            self._ts.append(ts_ns)
            self._qty.append(qty)
        self.total += qty

    def after(self, start_ns: int) -> int:
        """The total of the items stamped after ``start_ns``; earlier ones are dropped for
        good, so ``start_ns`` must not go back in time between calls."""
        ts, qty = self._ts, self._qty
        while ts and ts[0] <= start_ns:
            ts.popleft()
            self.total -= qty.popleft()
        return self.total

    def peek_after(self, start_ns: int) -> int:
        """The total of the items stamped after ``start_ns``, dropping nothing: for readers
        (the metrics) that must not move the window the engine's checks depend on."""
        older = 0
        for t, q in zip(self._ts, self._qty, strict=True):
            if t > start_ns:
                break
            older += q
        return self.total - older
