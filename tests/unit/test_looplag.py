"""The event-loop lag monitor, on a loop whose time the test drives: a callback run late by a
handler that held the loop shows up as lag (and a warning past the threshold), one on time
does not, and the monitor keeps ticking."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
import structlog

from engine.looplag import LoopLagMonitor


class _ManualLoop:
    """Just what the monitor uses of a loop: ``time`` and ``call_at``, time moved by hand."""

    def __init__(self) -> None:
        self.now = 100.0
        self.due: list[tuple[float, Callable[[], None]]] = []

    def time(self) -> float:
        return self.now

    def call_at(self, when: float, callback: Callable[[], None]) -> _Handle:
        self.due.append((when, callback))
        return _Handle()

    def run_next(self, late_by: float) -> None:
        """Run the next timer ``late_by`` seconds after it was due (a busy loop)."""
        when, callback = self.due.pop(0)
        self.now = when + late_by
        callback()


class _Handle:
    def cancel(self) -> None:
        pass


def test_lag_is_how_late_the_loop_ran_the_tick_and_warns_past_the_threshold() -> None:
    loop = _ManualLoop()
    mon = LoopLagMonitor(0.01, warn_s=0.05)
    mon.start(loop)  # type: ignore[arg-type]
    saved = structlog.get_config()  # other test modules filter warnings out
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG))
    try:
        with structlog.testing.capture_logs() as logs:
            loop.run_next(0.0)
            loop.run_next(0.002)
            loop.run_next(0.08)  # a handler held the loop for 80 ms
            loop.run_next(0.0)
    finally:
        structlog.configure(**saved)
    assert list(mon.samples) == pytest.approx([0.0, 0.002, 0.08, 0.0])
    assert mon.count == 4 and mon.max_s == pytest.approx(0.08)
    assert [(e["event"], e["lag_ms"]) for e in logs] == [("event loop lag", 80.0)]
    # The next tick is due one interval after the late one ran, not in the past.
    assert loop.due[0][0] == pytest.approx(loop.now + 0.01)


def test_interval_must_be_positive() -> None:
    with pytest.raises(ValueError, match="interval_s"):
        LoopLagMonitor(0.0)
