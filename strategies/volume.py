"""Volume profiles: how market volume is spread over the periods of a horizon.

Pure functions over arrays. A profile is absolute (shares per period) once scaled; the shape
alone is a set of non-negative weights.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from strategies._validate import non_negative_array, positive_int
from strategies.errors import InvalidParameterError

__all__ = ["resample", "u_shape"]


def u_shape(periods: int, total: float = 1.0, *, depth: float = 0.6) -> NDArray[np.float64]:
    """Return a U-shaped intraday profile summing to ``total``.

    Weights are ``1 + a (2u - 1)^2`` at period mid-points ``u`` in ``(0, 1)``, scaled so that the
    middle of the day trades ``(1 - depth)`` times the rate of the open and close; the default
    (60% dip at midday) is the common shape of US equity volume.

    Raises
    ------
    InvalidParameterError
        If ``periods < 1``, ``total < 0`` or ``depth`` is outside ``[0, 1)``.
    """
    periods = positive_int("periods", periods)
    if total < 0:
        raise InvalidParameterError(f"total volume must be >= 0, got {total!r}")
    if not 0.0 <= depth < 1.0:
        raise InvalidParameterError(f"depth must be in [0, 1), got {depth!r}")
    u = (np.arange(periods) + 0.5) / periods
    a = depth / (1.0 - depth)
    w = 1.0 + a * (2.0 * u - 1.0) ** 2
    return total * w / w.sum()


def resample(volumes: ArrayLike, periods: int) -> NDArray[np.float64]:
    """Spread volumes given over equal sub-intervals of a horizon onto ``periods`` equal periods.

    The cumulative volume curve is interpolated linearly, so the total is preserved exactly
    (up to rounding) whatever the two lengths are.

    Raises
    ------
    InvalidParameterError
        If the volumes are empty, negative or not finite.
    """
    v = non_negative_array("volumes", volumes)
    periods = positive_int("periods", periods)
    if v.size == 0:
        raise InvalidParameterError("volumes must not be empty")
    if v.size == periods:
        return v.copy()
    cum = np.concatenate(([0.0], np.cumsum(v)))
    src = np.linspace(0.0, 1.0, v.size + 1)
    dst = np.linspace(0.0, 1.0, periods + 1)
    out = np.diff(np.interp(dst, src, cum))
    return np.maximum(out, 0.0)
