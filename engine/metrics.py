"""Prometheus metrics read from the engine at scrape time.

A custom collector rather than gauges and counters updated as orders move: the hot path stays
free of metric calls, and what is exposed cannot drift from the engine's own state. A scrape
walks every parent and child, so its cost grows with the day's orders (thousands: well under a
millisecond). It runs on the loop thread, inside the REST handler, like every other engine read;
do not expose the registry from prometheus_client's own HTTP server thread.

| family | type | labels | meaning |
|---|---|---|---|
| ``unwind_parents_working`` | gauge | | parents not in a final state |
| ``unwind_parent_filled_ratio`` | gauge | ``parent`` | filled / quantity, every parent today |
| ``unwind_child_orders_total`` | counter | ``state`` | children that reached a final state |
| ``unwind_child_orders_working`` | gauge | ``state`` | children in each live state |
| ``unwind_regime`` | gauge | ``symbol``, ``regime`` | 1 for the current regime, else 0 |
| ``unwind_gate_runs_total`` | counter | ``outcome`` | children put to the gate: approved, denied |
| ``unwind_gate_verdicts_total`` | counter | ``check``, ``action``, ``reason`` | clips and denials |
| ``unwind_trading_state`` | gauge | ``scope``, ``key`` | 0 active, 1 reducing, 2 halted |
| ``unwind_parent_deadline_at_risk`` | gauge | ``parent`` | 1: the projection says at risk |
| ``unwind_breaker_trips_total`` | counter | ``breaker`` | trips of each breaker |
| ``unwind_alerts_total`` | counter | ``alert`` | alerts raised, by name |

Final child states are absorbing, and the children of a parent the engine forgets after its
retention live on in ``Engine.forgotten_children``, so the counter only rises (it restarts with
the process, as Prometheus expects); live states come and go, so they are a gauge of their own
rather than samples of the counter.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from engine.engine import Engine
from engine.orders import ChildState
from strategies.regime import Regime

__all__ = ["EngineCollector", "engine_registry"]


class EngineCollector(Collector):
    """Reads ``engine`` on every scrape (see the module docstring)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def describe(self) -> Iterable[Metric]:
        # Names without samples, so a registry can refuse a duplicate without a scrape.
        return self._families()

    def collect(self) -> Iterable[Metric]:
        families = self._families()
        working, ratio, finals, live, regime, runs, verdicts, trading, at_risk, trips, alerts = (
            families
        )
        children: Counter[ChildState] = Counter(self.engine.forgotten_children)
        n_working = 0
        for p in self.engine.parents.values():
            n_working += not p.state.final
            if not p.state.final:
                at_risk.add_metric([p.id], 1.0 if p.deadline_at_risk else 0.0)
            ratio.add_metric([p.id], p.filled / p.qty if p.qty else 0.0)
            children.update(c.state for c in p.children.values())
        working.add_metric([], n_working)
        for state in ChildState:
            (finals if state.final else live).add_metric([state.value], children[state])
        for name, sym in sorted(self.engine.symbols.items()):
            st = sym.detector.state
            for r in Regime:
                regime.add_metric(
                    [name, r.value], 1.0 if st is not None and st.regime is r else 0.0
                )
        engine = self.engine
        for outcome in ("approved", "denied"):
            runs.add_metric([outcome], engine.gate_outcomes[outcome])
        for (check, action, reason), n in sorted(engine.verdict_totals.items()):
            verdicts.add_metric([check, action, reason], n)
        for scope, key, st in engine.trading.all():
            trading.add_metric([scope.value, key], float(st.state))
        for name, n in sorted(engine.breaker_trips.items()):
            trips.add_metric([name], n)
        for name, n in sorted(engine.alerts.items()):
            alerts.add_metric([name], n)
        return list(families)

    @staticmethod
    def _families() -> tuple[
        GaugeMetricFamily,
        GaugeMetricFamily,
        CounterMetricFamily,
        GaugeMetricFamily,
        GaugeMetricFamily,
        CounterMetricFamily,
        CounterMetricFamily,
        GaugeMetricFamily,
        GaugeMetricFamily,
        CounterMetricFamily,
        CounterMetricFamily,
    ]:
        return (
            GaugeMetricFamily("unwind_parents_working", "Parents not in a final state"),
            GaugeMetricFamily(
                "unwind_parent_filled_ratio", "Filled over quantity", labels=["parent"]
            ),
            CounterMetricFamily(
                "unwind_child_orders", "Children that reached a final state", labels=["state"]
            ),
            GaugeMetricFamily(
                "unwind_child_orders_working", "Children in each live state", labels=["state"]
            ),
            GaugeMetricFamily(
                "unwind_regime", "1 for the symbol's current regime", labels=["symbol", "regime"]
            ),
            CounterMetricFamily(
                "unwind_gate_runs", "Children put to the risk gate", labels=["outcome"]
            ),
            CounterMetricFamily(
                "unwind_gate_verdicts",
                "Risk gate clips and denials",
                labels=["check", "action", "reason"],
            ),
            GaugeMetricFamily(
                "unwind_trading_state",
                "0 active, 1 reducing, 2 halted (the global scope and every scope not active)",
                labels=["scope", "key"],
            ),
            GaugeMetricFamily(
                "unwind_parent_deadline_at_risk",
                "1 when the remainder is past the at-risk share of what the cap allows to the end",
                labels=["parent"],
            ),
            CounterMetricFamily("unwind_breaker_trips", "Breaker trips", labels=["breaker"]),
            CounterMetricFamily("unwind_alerts", "Alerts raised", labels=["alert"]),
        )


def engine_registry(engine: Engine, registry: CollectorRegistry | None = None) -> CollectorRegistry:
    """Register an :class:`EngineCollector` for ``engine`` in ``registry`` (a new one if
    ``None``: never the process-wide default, so two engines in one process cannot collide).

    Raises
    ------
    ValueError
        If ``registry`` already has these metric names.
    """
    registry = CollectorRegistry() if registry is None else registry
    registry.register(EngineCollector(engine))
    return registry
