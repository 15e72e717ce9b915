"""A token bucket for a venue's message rate: orders, cancels and replaces per second.

``rate`` tokens a second, at most ``burst`` banked. A new order needs a whole token (the gate's
``rate`` check); a cancel or replace takes one too, but is never refused: it reduces risk, so it
may drive the bucket into debt, which new orders then wait out. Time is an argument (ns).
"""

from __future__ import annotations

__all__ = ["TokenBucket"]

_NS = 1_000_000_000


class TokenBucket:
    def __init__(self, rate_per_s: float, burst: float, now_ns: int = 0) -> None:
        if not rate_per_s > 0 or not burst >= 1:
            raise ValueError(f"need rate > 0 and burst >= 1, got {rate_per_s}, {burst}")
        self.rate = rate_per_s
        self.burst = burst
        self._tokens = burst
        self._at = now_ns
        self.taken = 0  # messages counted
        self.in_debt = 0  # messages taken with no token left (cancels and replaces)

    def available(self, now_ns: int) -> float:
        if now_ns > self._at:
            self._tokens = min(self.burst, self._tokens + (now_ns - self._at) / _NS * self.rate)
            self._at = now_ns
        return self._tokens

    def take(self, now_ns: int) -> None:
        """Count one message (whether or not a token was there)."""
        if self.available(now_ns) < 1.0:
            self.in_debt += 1
        self._tokens -= 1.0
        self.taken += 1

    def next_token_ns(self, now_ns: int) -> int:
        """When a whole token will be there (``now_ns`` if it is)."""
        missing = 1.0 - self.available(now_ns)
        return now_ns if missing <= 0 else now_ns + int(missing / self.rate * _NS) + 1
