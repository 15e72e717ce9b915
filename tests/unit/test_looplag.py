"""The event-loop lag monitor: a loop blocked by a slow handler shows up as lag, an idle one
does not, and it warns past its threshold."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest
import structlog

from engine.looplag import LoopLagMonitor


async def _ticks(mon: LoopLagMonitor, n: int) -> None:
    # Wait for the monitor's own ticks, not for a fixed time.
    target = mon.count + n
    while mon.count < target:
        await asyncio.sleep(mon.interval_s)


@pytest.mark.asyncio
async def test_a_handler_that_blocks_the_loop_is_measured_as_lag_and_warned() -> None:
    mon = LoopLagMonitor(0.002, warn_s=0.03)
    mon.start()
    try:
        await _ticks(mon, 3)
        idle = max(mon.samples)
        saved = structlog.get_config()  # other test modules filter warnings out
        structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG))
        try:
            with structlog.testing.capture_logs() as logs:
                time.sleep(0.06)  # a handler hogging the loop
                await _ticks(mon, 2)
        finally:
            structlog.configure(**saved)
    finally:
        mon.stop()
    assert mon.max_s >= 0.05 > idle
    assert [e["event"] for e in logs] == ["event loop lag"]
    assert logs[0]["lag_ms"] >= 50


def test_interval_must_be_positive() -> None:
    with pytest.raises(ValueError, match="interval_s"):
        LoopLagMonitor(0.0)
