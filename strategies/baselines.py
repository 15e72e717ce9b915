"""Baseline schedules: TWAP, VWAP, POV, front-loaded and back-loaded.

Each returns the unsigned quantity to trade in each period, summing to the parent quantity; the
planner scores it like any other schedule. These are the comparisons of the seed write-up:
TWAP trades evenly in time, VWAP in proportion to forecast volume, POV a fixed fraction of
forecast volume until done, and the front-loaded ("aggressive") and back-loaded
("conservative") schedules trade on a linear ramp, ``N, N-1, ..., 1`` and ``1, 2, ..., N``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from strategies._validate import non_negative, non_negative_array, positive_int
from strategies.errors import InfeasibleScheduleError, InvalidParameterError

__all__ = ["back_loaded", "front_loaded", "pov", "twap", "vwap"]

FloatArray = NDArray[np.float64]


def _by_weights(shares: float, weights: FloatArray) -> FloatArray:
    trades = shares * weights / weights.sum()
    # Put the rounding residue on the largest trade so the total is exact.
    trades[int(np.argmax(trades))] += shares - trades.sum()
    return trades


def twap(shares: float, periods: int) -> FloatArray:
    """Trade the same quantity in every period."""
    shares = non_negative("shares", shares)
    periods = positive_int("periods", periods)
    return np.full(periods, shares / periods)


def vwap(shares: float, volumes: ArrayLike) -> FloatArray:
    """Trade in proportion to the forecast volume of each period.

    Raises
    ------
    InvalidParameterError
        If the volume forecast is empty, negative, or sums to zero.
    """
    shares = non_negative("shares", shares)
    v = non_negative_array("volumes", volumes)
    if v.size == 0 or v.sum() <= 0.0:
        raise InvalidParameterError("VWAP needs a volume forecast with a positive total")
    return _by_weights(shares, v.copy())


def pov(shares: float, volumes: ArrayLike, rate: float, lot: float | None = None) -> FloatArray:
    """Trade ``rate`` times each period's forecast volume until the parent is done.

    With a ``lot``, each period's capacity is the whole number of lots within ``rate`` times
    its volume (as the DP's caps are), so the schedule is in whole lots and never above the cap.

    Raises
    ------
    InvalidParameterError
        If ``rate`` is not in ``(0, 1]``.
    InfeasibleScheduleError
        If ``rate`` times the horizon's volume is less than ``shares``.
    """
    shares = non_negative("shares", shares)
    v = non_negative_array("volumes", volumes)
    if not 0.0 < rate <= 1.0:
        raise InvalidParameterError(f"participation rate must be in (0, 1], got {rate!r}")
    capacity = rate * v
    if lot is not None:
        # A hair of slack so 0.15 * 1000 / 150 is 1 lot, not 0 because of rounding.
        capacity = np.floor(capacity / lot + 1e-9) * lot
    reachable = float(capacity.sum())
    if reachable < shares * (1.0 - 1e-12):
        raise InfeasibleScheduleError(
            f"at {rate:.1%} of forecast volume the horizon allows {reachable:,.0f} of "
            f"{shares:,.0f} shares; raise the participation rate, lengthen the horizon or "
            "trade less"
        )
    done_before = np.concatenate(([0.0], np.cumsum(capacity)[:-1]))
    trades = np.clip(shares - done_before, 0.0, capacity)
    if shares > 0.0:
        # Summation rounding (a few ulps) goes on the last period that trades.
        trades[int(np.flatnonzero(trades)[-1])] += shares - trades.sum()
    return trades


def front_loaded(shares: float, periods: int) -> FloatArray:
    """The "aggressive" schedule: trades fall linearly, ``N, N-1, ..., 1``."""
    shares = non_negative("shares", shares)
    periods = positive_int("periods", periods)
    return _by_weights(shares, np.arange(periods, 0, -1, dtype=np.float64))


def back_loaded(shares: float, periods: int) -> FloatArray:
    """The "conservative" schedule: trades rise linearly, ``1, 2, ..., N``."""
    shares = non_negative("shares", shares)
    periods = positive_int("periods", periods)
    return _by_weights(shares, np.arange(1, periods + 1, dtype=np.float64))
