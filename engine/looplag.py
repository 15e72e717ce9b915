"""Event-loop lag: how late the loop runs a callback that was due.

Everything the engine does runs on one asyncio loop, so a handler that takes too long delays
every market event, report and timer behind it. :class:`LoopLagMonitor` schedules a callback
every ``interval_s`` and records how late it ran (``loop.time()`` at the call minus the time it
was due): the loop's queueing delay, sampled. The daemon runs one and warns when a sample
exceeds ``warn_s``; the load benchmark (``tests/bench/bench_load.py``) reads its samples.
"""

from __future__ import annotations

import asyncio
from collections import deque

import structlog

from engine.stats import LAG_BOUNDS, Histogram

__all__ = ["LoopLagMonitor"]

log = structlog.get_logger("unwind.loop")


class LoopLagMonitor:
    """Samples the running loop's lag (see the module docstring). Not thread-safe: start,
    stop and read it on the loop's thread."""

    def __init__(
        self, interval_s: float = 0.01, *, keep: int = 100_000, warn_s: float | None = 0.1
    ) -> None:
        if not interval_s > 0:
            raise ValueError(f"interval_s must be > 0, got {interval_s}")
        self.interval_s = interval_s
        self.warn_s = warn_s
        self.samples: deque[float] = deque(maxlen=keep)  # seconds late, latest last
        self.count = 0
        self.max_s = 0.0
        self.histogram = Histogram(LAG_BOUNDS)  # every sample, for the metrics
        self._loop: asyncio.AbstractEventLoop | None = None
        self._handle: asyncio.TimerHandle | None = None
        self._due = 0.0

    def start(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        """Start sampling ``loop`` (the running one by default)."""
        self._loop = loop or asyncio.get_running_loop()
        self._schedule(self._loop.time())

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _schedule(self, now: float) -> None:
        assert self._loop is not None
        self._due = now + self.interval_s
        self._handle = self._loop.call_at(self._due, self._tick)

    def _tick(self) -> None:
        assert self._loop is not None
        now = self._loop.time()
        lag = max(now - self._due, 0.0)
        self.samples.append(lag)
        self.histogram.observe(lag)
        self.count += 1
        self.max_s = max(self.max_s, lag)
        if self.warn_s is not None and lag > self.warn_s:
            log.warning("event loop lag", lag_ms=round(lag * 1000, 1))
        self._schedule(now)
