"""The accelerated clock anchored on the wall clock: separate processes agree on simulated time."""

from __future__ import annotations

import math
import time

import pytest

from engine.clock import NS, AcceleratedClock
from engine.daemon import ClockSettings

ORIGIN = 1_795_000_000 * NS


def test_two_clocks_on_the_same_anchor_tell_the_same_time() -> None:
    anchor = time.time_ns()
    a = AcceleratedClock(ORIGIN, 60.0, anchor_unix_ns=anchor)
    b = AcceleratedClock(ORIGIN, 60.0, anchor_unix_ns=anchor)
    # Read in turn: b is later than a by the few microseconds between the reads, times 60.
    ta, tb = a.now_ns(), b.now_ns()
    assert 0 <= tb - ta < 60 * 1_000_000  # under a simulated 60 ms: 1 wall ms apart at most


def test_an_anchor_in_the_past_counts_the_wall_time_since_times_the_speed() -> None:
    before = time.time_ns()
    clock = AcceleratedClock(ORIGIN, 100.0, anchor_unix_ns=before - 2 * NS)
    after = time.time_ns()
    now = clock.now_ns()
    assert ORIGIN + 200 * NS <= now <= ORIGIN + 200 * NS + 100 * (time.time_ns() - before)
    assert clock.anchor_unix_ns == before - 2 * NS and after >= before


def test_an_unanchored_clock_starts_at_its_origin() -> None:
    clock = AcceleratedClock(ORIGIN, 10.0)
    assert clock.anchor_unix_ns is None
    assert ORIGIN <= clock.now_ns() < ORIGIN + NS


@pytest.mark.parametrize("speed", [0.0, -1.0, math.inf, math.nan])
def test_a_speed_that_is_not_finite_and_positive_is_refused(speed: float) -> None:
    with pytest.raises(ValueError, match="speed must be a finite number > 0"):
        AcceleratedClock(ORIGIN, speed, anchor_unix_ns=1)


def test_the_daemon_clock_settings_build_the_clock_they_describe() -> None:
    anchor = time.time_ns() - NS
    settings = ClockSettings(
        mode="accelerated", speed=30.0, origin_ns=ORIGIN, anchor_unix_ns=anchor
    )
    clock = settings.build()
    assert isinstance(clock, AcceleratedClock)
    assert (clock.origin_ns, clock.speed, clock.anchor_unix_ns) == (ORIGIN, 30.0, anchor)
    assert clock.now_ns() >= ORIGIN + 30 * NS
    live = ClockSettings().build()
    assert abs(live.now_ns() - time.time_ns()) < NS
