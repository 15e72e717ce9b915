"""The engine's only source of time, and the timers that run on it.

Three clocks share one interface (:class:`Clock`):

* :class:`SimClock`: time moves only when its driver calls :meth:`SimClock.advance_to`, which
  runs every timer due up to then, in time order (ties in the order they were set), and leaves
  the clock at the target. Tests, backtests and replays use it: nothing sleeps, and the same
  inputs give the same timer order, bit for bit.
* :class:`LiveClock`: wall-clock UTC nanoseconds; timers run on the asyncio loop.
* :class:`AcceleratedClock`: simulated time running ``speed`` times faster than the wall from a
  chosen origin (paper sessions against the FIX simulator at ``--speed 60``); timers run on the
  asyncio loop at the wall moment their simulated time comes. Anchored at construction on the
  monotonic clock, or (``anchor_unix_ns``) on a wall-clock Unix instant, so that separate
  processes (the FIX simulator and an engine daemon, or a daemon and its restart) reading the
  same three numbers tell the same simulated time.

Timer callbacks run on the loop thread (or inside ``advance_to``) and must not block.
"""

from __future__ import annotations

import abc
import asyncio
import heapq
import itertools
import math
import time
from collections.abc import Callable
from typing import Protocol

__all__ = ["AcceleratedClock", "Clock", "LiveClock", "SimClock", "Timer"]

NS = 1_000_000_000


class Timer(Protocol):
    def cancel(self) -> None: ...


class Clock(Protocol):
    def now_ns(self) -> int:
        """The current time, integer nanoseconds since the Unix epoch (UTC)."""
        ...

    def call_at(self, ts_ns: int, callback: Callable[[], None]) -> Timer:
        """Run ``callback`` once the clock reaches ``ts_ns`` (at once if already past)."""
        ...


class _SimTimer:
    __slots__ = ("callback", "cancelled", "ts")

    def __init__(self, ts: int, callback: Callable[[], None]) -> None:
        self.ts = ts
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class SimClock:
    """Simulated time, advanced by its driver (see the module docstring)."""

    def __init__(self, start_ns: int = 0) -> None:
        self._now = start_ns
        self._heap: list[tuple[int, int, _SimTimer]] = []
        self._seq = itertools.count()

    def now_ns(self) -> int:
        return self._now

    def call_at(self, ts_ns: int, callback: Callable[[], None]) -> Timer:
        t = _SimTimer(max(ts_ns, self._now), callback)
        heapq.heappush(self._heap, (t.ts, next(self._seq), t))
        return t

    def next_timer_ns(self) -> int | None:
        """When the next live timer is due, or ``None``."""
        while self._heap and self._heap[0][2].cancelled:
            heapq.heappop(self._heap)
        return self._heap[0][0] if self._heap else None

    def advance_to(self, ts_ns: int) -> None:
        """Run every timer due up to ``ts_ns`` (timers they set included), then stand there."""
        if ts_ns < self._now:
            raise ValueError(f"time cannot go back: at {self._now}, asked for {ts_ns}")
        while self._heap and self._heap[0][0] <= ts_ns:
            ts, _, t = heapq.heappop(self._heap)
            if t.cancelled:
                continue
            self._now = ts
            t.callback()
        self._now = ts_ns


class _LoopClock(abc.ABC):
    """Timers on the running asyncio loop, for clocks that follow the wall."""

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self._loop = loop

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self._loop

    @abc.abstractmethod
    def now_ns(self) -> int: ...

    def _wall_delay_s(self, ts_ns: int) -> float:
        return max(ts_ns - self.now_ns(), 0) / NS

    def call_at(self, ts_ns: int, callback: Callable[[], None]) -> Timer:
        return self.loop.call_later(self._wall_delay_s(ts_ns), callback)


class LiveClock(_LoopClock):
    """Wall-clock time (UTC)."""

    def now_ns(self) -> int:
        return time.time_ns()


class AcceleratedClock(_LoopClock):
    """Simulated time from ``origin_ns``, ``speed`` simulated seconds per wall second.

    Parameters
    ----------
    origin_ns
        The simulated time (Unix ns) at the anchor.
    speed
        Simulated seconds per wall second; finite and > 0.
    loop
        The loop timers run on (default: the running loop, at the first timer).
    anchor_unix_ns
        The wall-clock instant (``time.time_ns()``) at which simulated time is ``origin_ns``;
        any process that knows the three numbers computes the same simulated now (to within
        the host's wall clock; a step of that clock moves simulated time too). ``None``: the
        moment of construction, on the monotonic clock (one process only; immune to steps).

    Raises
    ------
    ValueError
        ``speed`` is not a finite number > 0.
    """

    def __init__(
        self,
        origin_ns: int,
        speed: float,
        loop: asyncio.AbstractEventLoop | None = None,
        *,
        anchor_unix_ns: int | None = None,
    ) -> None:
        if not (speed > 0 and math.isfinite(speed)):
            raise ValueError(f"speed must be a finite number > 0, got {speed}")
        super().__init__(loop)
        self.origin_ns = origin_ns
        self.speed = speed
        self.anchor_unix_ns = anchor_unix_ns
        if anchor_unix_ns is None:
            self._wall: Callable[[], int] = time.monotonic_ns
            self._wall0 = time.monotonic_ns()
        else:
            self._wall = time.time_ns
            self._wall0 = anchor_unix_ns

    def now_ns(self) -> int:
        return self.origin_ns + round((self._wall() - self._wall0) * self.speed)

    def _wall_delay_s(self, ts_ns: int) -> float:
        return max(ts_ns - self.now_ns(), 0) / NS / self.speed
