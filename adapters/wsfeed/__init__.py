"""WebSocket market data: a resilient client for JSON trade/quote feeds (docs/wsfeed.md).

* :mod:`.client`: :class:`WsFeedClient`, the engine's market-data port over aiohttp;
* :mod:`.core`: the sans-I/O rules (subscriptions, gaps, snapshot gating) and the counters;
* :mod:`.watchdog`: per-symbol staleness on the injected clock;
* :mod:`.dialect`: the per-provider mapping (:class:`FeedDialect`), the simulator's included;
* :mod:`.backoff`: exponential backoff with full jitter;
* :mod:`.config`: :class:`WsFeedConfig`.
"""

from adapters.wsfeed.backoff import Backoff, backoff_ceiling
from adapters.wsfeed.client import WsFeedClient
from adapters.wsfeed.config import WsFeedConfig
from adapters.wsfeed.core import FeedCore, FeedCounters
from adapters.wsfeed.dialect import FeedDialect, Frame, FrameError, SimulatorDialect
from adapters.wsfeed.watchdog import StalenessWatchdog

__all__ = [
    "Backoff",
    "FeedCore",
    "FeedCounters",
    "FeedDialect",
    "Frame",
    "FrameError",
    "SimulatorDialect",
    "StalenessWatchdog",
    "WsFeedClient",
    "WsFeedConfig",
    "backoff_ceiling",
]
