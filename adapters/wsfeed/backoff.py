"""Reconnect delays: exponential backoff with full jitter.

Attempt ``n`` (0 for the first retry after a loss) waits a delay drawn uniformly from
``[0, min(cap_s, base_s * 2**n)]`` seconds ("full jitter", M. Brooker, *Exponential Backoff
And Jitter*, AWS Architecture Blog, 2015). Full jitter spreads clients that lost the same
server at the same moment, so they do not all come back in one burst. The random source is
injected: a seeded ``random.Random`` gives the same schedule every run.
"""

from __future__ import annotations

import random

__all__ = ["Backoff", "backoff_ceiling"]

# 2**64 times any positive base exceeds every sensible cap; clamping the exponent keeps a
# client that has been down for days from overflowing a float.
_MAX_EXPONENT = 64


def backoff_ceiling(attempt: int, base_s: float, cap_s: float) -> float:
    """The largest delay attempt ``attempt`` may wait: ``min(cap_s, base_s * 2**attempt)``.

    Raises
    ------
    ValueError
        If ``attempt`` is negative.
    """
    if attempt < 0:
        raise ValueError(f"attempt must be >= 0, got {attempt}")
    return min(cap_s, base_s * 2.0 ** min(attempt, _MAX_EXPONENT))


class Backoff:
    """The delay before each reconnect attempt; :meth:`reset` after a connection proves good.

    Raises
    ------
    ValueError
        If ``base_s`` is not positive or ``cap_s < base_s``.
    """

    def __init__(self, base_s: float, cap_s: float, rng: random.Random) -> None:
        if not base_s > 0:
            raise ValueError(f"backoff base must be > 0 s, got {base_s}")
        if not cap_s >= base_s:
            raise ValueError(f"backoff cap ({cap_s} s) must be >= its base ({base_s} s)")
        self.base_s = base_s
        self.cap_s = cap_s
        self._rng = rng
        self.attempt = 0

    def next_delay(self) -> float:
        """Draw the delay for the next attempt, in seconds, and count the attempt."""
        delay = self._rng.uniform(0.0, backoff_ceiling(self.attempt, self.base_s, self.cap_s))
        self.attempt += 1
        return delay

    def reset(self) -> None:
        """Start again from ``base_s``: the server answered, so the outage is over."""
        self.attempt = 0
