"""Prometheus metrics of the FIX exchange simulator, served on ``unwind fixsim --metrics-port``.

What the simulator already knows, read at scrape time like the engine's collector
(:mod:`engine.metrics`): the venue counts as it goes (:class:`VenueCounts`, plain integers on
the loop thread), and a scrape reads them. The exposition is served by a small aiohttp app on
the simulator's own loop, so a scrape never reads the counts from another thread.

| family | type | labels | meaning |
|---|---|---|---|
| ``unwind_fixsim_sessions_logged_on`` | gauge | | FIX sessions logged on now |
| ``unwind_fixsim_orders_total`` | counter | ``symbol`` | new orders received and decoded |
| ``unwind_fixsim_fills_total`` | counter | ``symbol`` | executions on FIX clients' orders |
| ``unwind_fixsim_traded_shares_total`` | counter | ``symbol`` | shares printed, whole market |
| ``unwind_fixsim_faults_total`` | counter | ``fault`` | faults fired, by FaultStats field |

Fills are counted as the exchange makes them, before any delivery fault (a dropped report was
still a fill). ``traded_shares`` is the whole market (every print), not only the clients'
fills: beside the engine's ``unwind_filled_shares_total`` it gives the participation the venue
saw.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from adapters.fixsim.faults import FaultStats

__all__ = ["FixSimCollector", "MetricsServer", "VenueCounts", "fixsim_registry"]


@dataclass(slots=True)
class VenueCounts:
    """Running totals a :class:`~.venue.FixVenue` keeps; they outlive a market restart."""

    orders: Counter[str] = field(default_factory=Counter)
    fills: Counter[str] = field(default_factory=Counter)
    traded_shares: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True, slots=True)
class SimSnapshot:
    """What one scrape reads from the simulator."""

    logged_on: int
    counts: VenueCounts
    faults: FaultStats


class FixSimCollector(Collector):
    """Reads ``source()`` on every scrape (the module docstring lists the families)."""

    def __init__(self, source: Callable[[], SimSnapshot]) -> None:
        self._source = source

    def describe(self) -> Iterable[Metric]:
        return self._families()

    def collect(self) -> Iterable[Metric]:
        snap = self._source()
        sessions, orders, fills, traded, faults = families = self._families()
        sessions.add_metric([], snap.logged_on)
        for family, counts in (
            (orders, snap.counts.orders),
            (fills, snap.counts.fills),
            (traded, snap.counts.traded_shares),
        ):
            for symbol, n in sorted(counts.items()):
                family.add_metric([symbol], n)
        for f in dataclasses.fields(FaultStats):
            faults.add_metric([f.name], getattr(snap.faults, f.name))
        return list(families)

    @staticmethod
    def _families() -> tuple[
        GaugeMetricFamily,
        CounterMetricFamily,
        CounterMetricFamily,
        CounterMetricFamily,
        CounterMetricFamily,
    ]:
        return (
            GaugeMetricFamily("unwind_fixsim_sessions_logged_on", "FIX sessions logged on"),
            CounterMetricFamily(
                "unwind_fixsim_orders", "New orders received and decoded", labels=["symbol"]
            ),
            CounterMetricFamily(
                "unwind_fixsim_fills", "Executions on FIX clients' orders", labels=["symbol"]
            ),
            CounterMetricFamily(
                "unwind_fixsim_traded_shares",
                "Shares printed on the tape (the whole market)",
                labels=["symbol"],
            ),
            CounterMetricFamily("unwind_fixsim_faults", "Injected faults fired", labels=["fault"]),
        )


def fixsim_registry(source: Callable[[], SimSnapshot]) -> CollectorRegistry:
    """A registry of its own (never prometheus_client's global one) with the collector."""
    registry = CollectorRegistry()
    registry.register(FixSimCollector(source))
    return registry


class MetricsServer:
    """``GET /metrics`` for ``registry`` on ``host:port`` (``port=0``: any free port)."""

    def __init__(self, registry: CollectorRegistry, *, host: str, port: int) -> None:
        self._registry = registry
        self._host = host
        self._port = port
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    async def start(self) -> int:
        """Listen; return the bound port."""
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self._host, self._port).start()
        self.port = int(self._runner.addresses[0][1])
        return self.port

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _metrics(self, request: web.Request) -> web.Response:
        body = generate_latest(self._registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
