"""Configuration of the WebSocket market-data client: frozen, keyword-only, defaults documented.

Times are seconds. The staleness threshold is measured on the client's injected clock, so under
an :class:`~engine.clock.AcceleratedClock` it is in simulated seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["WsFeedConfig"]


def _check(cond: bool, message: str) -> None:
    if not cond:
        raise ValueError(message)


@dataclass(frozen=True, slots=True, kw_only=True)
class WsFeedConfig:
    """Where the feed is and how hard to hold on to it.

    Raises
    ------
    ValueError
        For a URL that is not ``ws://`` or ``wss://``, or a non-positive time.
    """

    url: str  # e.g. ws://127.0.0.1:8765/ws
    # Ping every heartbeat_s; a pong missing for heartbeat_s / 2 closes the connection as dead
    # (aiohttp's heartbeat). None disables it and relies on TCP alone to notice a dead peer.
    heartbeat_s: float | None = 5.0
    connect_timeout_s: float = 5.0  # TCP connect plus WebSocket handshake
    close_timeout_s: float = 2.0  # wait for the server's close frame on stop()
    backoff_base_s: float = 0.25  # first reconnect waits up to this
    backoff_cap_s: float = 30.0  # no reconnect waits longer than this
    stale_after_s: float = 5.0  # a symbol with no event for this long is stale

    def __post_init__(self) -> None:
        _check(
            self.url.startswith(("ws://", "wss://")),
            f"url must start with ws:// or wss://, got {self.url!r}",
        )
        _check(
            self.heartbeat_s is None or self.heartbeat_s > 0,
            f"heartbeat_s must be > 0 or None, got {self.heartbeat_s}",
        )
        _check(self.connect_timeout_s > 0, "connect_timeout_s must be > 0")
        _check(self.close_timeout_s > 0, "close_timeout_s must be > 0")
        _check(self.backoff_base_s > 0, "backoff_base_s must be > 0")
        _check(
            self.backoff_cap_s >= self.backoff_base_s,
            f"backoff_cap_s ({self.backoff_cap_s}) must be >= backoff_base_s "
            f"({self.backoff_base_s})",
        )
        _check(self.stale_after_s > 0, "stale_after_s must be > 0")

    @property
    def stale_after_ns(self) -> int:
        return round(self.stale_after_s * 1_000_000_000)
