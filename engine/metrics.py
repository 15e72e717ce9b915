"""Prometheus metrics of the engine, read from it at scrape time.

A custom collector rather than gauges and counters updated as orders move: the hot path stays
free of metric calls (what it must count, it counts in :mod:`engine.stats`), and what is
exposed cannot drift from the engine's own state. A scrape walks every parent and its
children, so its cost grows with the day's orders (thousands: about a millisecond). It runs on
the loop thread, inside the REST handler, like every other engine read; do not expose the
registry from prometheus_client's own HTTP server thread. The daemon's own families (FIX
sessions, market-data feeds, the journal, the event loop) are in :mod:`engine.daemon_metrics`;
docs/metrics.md lists every family and what it means.

Per-parent families carry ``parent``, ``symbol`` and ``strategy``. A finished parent's series
are dropped ``finished_ttl_s`` after it finished, so a daemon that runs for weeks does not
grow its series with every order it ever worked; its outcome stays counted in
``unwind_parent_orders_total``.

Final child states are absorbing, and the children of a parent the engine forgets after its
retention live on in ``Engine.forgotten_children``, so ``unwind_child_orders_total`` only rises
(it restarts with the process, as Prometheus expects); live states come and go, so they are a
gauge of their own.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector, CollectorRegistry

from engine.clock import NS
from engine.engine import Engine
from engine.events import Side
from engine.executor import BREAKERS, ParentExecutor
from engine.orders import ChildState
from engine.stats import EngineStats, Histogram
from strategies.regime import Regime

__all__ = ["DEFAULT_FINISHED_TTL_S", "EngineCollector", "engine_registry", "histogram_family"]

DEFAULT_FINISHED_TTL_S = 900.0
_PARENT = ["parent", "symbol", "strategy"]


def histogram_family(name: str, doc: str, hist: Histogram) -> HistogramMetricFamily:
    """A Prometheus histogram of one of :mod:`engine.stats`'s histograms."""
    buckets, total = hist.cumulative()
    return HistogramMetricFamily(name, doc, buckets=buckets, sum_value=total)


def target_now(p: ParentExecutor, now_ns: int) -> float:
    """Where the plan in force wants the parent's cumulative fills now: its cumulative targets,
    interpolated within the current bucket (the parent's fills before the plan added back)."""
    plan = p.plan
    if plan is None:
        return 0.0
    elapsed = (now_ns - plan.start_ns) / plan.bucket_ns
    k = int(min(max(elapsed, 0.0), len(plan.cum_targets)))
    before = plan.cum_targets[k - 1] if k > 0 else 0
    if k >= len(plan.cum_targets):
        return float(plan.filled_at_start + before)
    step = plan.cum_targets[k] - before
    return plan.filled_at_start + before + step * (elapsed - k)


def shortfall_bps(p: ParentExecutor) -> float:
    """Implementation shortfall of the fills so far against the arrival mid, in bps (positive:
    a cost), as the post-trade report counts it."""
    arrival, avg = p.arrival_mid, p.avg_price
    if not arrival or not avg:
        return 0.0
    sign = 1.0 if p.side is Side.BUY else -1.0
    return sign * (avg - arrival) / arrival * 1e4


class EngineCollector(Collector):
    """Reads ``engine`` on every scrape (see the module docstring)."""

    def __init__(
        self,
        engine: Engine,
        *,
        finished_ttl_s: float = DEFAULT_FINISHED_TTL_S,
        feed: str = "sim",
    ) -> None:
        if finished_ttl_s < 0:
            raise ValueError(f"finished_ttl_s must be >= 0, got {finished_ttl_s}")
        self.engine = engine
        self.feed = feed  # where the market data comes from: fix, ws, sim
        self.finished_ttl_ns = round(finished_ttl_s * NS)

    def describe(self) -> Iterable[Metric]:
        # Names without samples, so a registry can refuse a duplicate without a scrape.
        return [*self._parents(), *self._engine_wide()]

    def collect(self) -> Iterable[Metric]:
        return [*self._collect_parents(), *self._collect_engine()]

    # --- per parent -------------------------------------------------------------------------------

    @staticmethod
    def _parents() -> tuple[GaugeMetricFamily, ...]:
        def g(name: str, doc: str) -> GaugeMetricFamily:
            return GaugeMetricFamily(name, doc, labels=_PARENT)

        return (
            g("unwind_parent_filled_ratio", "Filled over quantity"),
            g(
                "unwind_parent_schedule_deviation_shares",
                "Filled minus the plan's target now (negative: behind the plan)",
            ),
            g("unwind_parent_schedule_deviation_ratio", "Schedule deviation over the quantity"),
            g(
                "unwind_parent_participation_ratio",
                "The parent's fills over the market's volume in the cap's trailing window",
            ),
            g("unwind_parent_participation_cap_ratio", "The parent's participation cap"),
            g("unwind_parent_shortfall_bps", "Implementation shortfall vs arrival mid (cost > 0)"),
            g(
                "unwind_parent_deadline_at_risk",
                "1 when the remainder is past the at-risk share of what the cap allows to the end",
            ),
            g("unwind_parent_deadline_seconds", "Seconds left to the parent's end time"),
        )

    def _collect_parents(self) -> tuple[GaugeMetricFamily, ...]:
        families = self._parents()
        ratio, dev, dev_ratio, part, cap, shortfall, at_risk, deadline = families
        engine = self.engine
        now = engine.clock.now_ns()
        window = round(engine.cfg.cap_window_s * NS)
        finished = engine.stats.finished_ns
        for p in engine.parents.values():
            done_at = finished.get(p.id)
            if done_at is not None and now - done_at > self.finished_ttl_ns:
                continue
            labels = [p.id, p.symbol, p.strategy]
            ratio.add_metric(labels, p.filled / p.qty if p.qty else 0.0)
            if p.plan is not None and not p.state.final:
                deviation = p.filled - target_now(p, now)
                dev.add_metric(labels, deviation)
                dev_ratio.add_metric(labels, deviation / p.qty if p.qty else 0.0)
            market = p.market.volume_since(now - window)
            ours = p.fills.peek_after(now - window)
            part.add_metric(labels, ours / market if market else 0.0)
            cap.add_metric(labels, p.cap)
            shortfall.add_metric(labels, shortfall_bps(p))
            if not p.state.final:
                at_risk.add_metric(labels, 1.0 if p.deadline_at_risk else 0.0)
                deadline.add_metric(labels, max(p.end_ns - now, 0) / NS)
        return families

    # --- engine-wide ------------------------------------------------------------------------------

    @staticmethod
    def _engine_wide(stats: EngineStats | None = None) -> tuple[Metric, ...]:
        # The histograms carry their buckets when ``stats`` is given (a scrape), none when it
        # is not (describe).
        def histogram(name: str, doc: str, hist: Histogram | None) -> HistogramMetricFamily:
            return (
                HistogramMetricFamily(name, doc)
                if hist is None
                else histogram_family(name, doc, hist)
            )

        return (
            GaugeMetricFamily("unwind_parents_working", "Parents not in a final state"),
            CounterMetricFamily(
                "unwind_parent_orders",
                "Parents that reached a final state",
                labels=["strategy", "outcome"],
            ),
            CounterMetricFamily(
                "unwind_child_orders", "Children that reached a final state", labels=["state"]
            ),
            GaugeMetricFamily(
                "unwind_child_orders_working", "Children in each live state", labels=["state"]
            ),
            CounterMetricFamily(
                "unwind_child_orders_sent", "Children sent to the venue", labels=["symbol"]
            ),
            CounterMetricFamily(
                "unwind_child_orders_rejected", "Children the venue rejected", labels=["reason"]
            ),
            CounterMetricFamily("unwind_fills", "Fills of children", labels=["symbol", "side"]),
            CounterMetricFamily("unwind_filled_shares", "Shares filled", labels=["symbol", "side"]),
            histogram(
                "unwind_child_ack_latency_seconds",
                "From a child's sending to the venue's first report on it (wall time)",
                None if stats is None else stats.ack_seconds,
            ),
            histogram(
                "unwind_decision_latency_seconds",
                "Handling of one input (market event, venue report, timer, command): wall time",
                None if stats is None else stats.input_seconds,
            ),
            GaugeMetricFamily(
                "unwind_regime", "1 for the symbol's current regime", labels=["symbol", "regime"]
            ),
            GaugeMetricFamily(
                "unwind_volatility",
                "The regime filter's volatility estimate (fraction of price over a session)",
                labels=["symbol"],
            ),
            GaugeMetricFamily(
                "unwind_adversarial_score", "The adversarial-flow score (0..1)", labels=["symbol"]
            ),
            CounterMetricFamily(
                "unwind_market_data_messages",
                "Market-data events the engine consumed",
                labels=["feed", "symbol"],
            ),
            GaugeMetricFamily(
                "unwind_market_data_last_timestamp_seconds",
                "Engine time of the symbol's last market-data event (Unix seconds)",
                labels=["feed", "symbol"],
            ),
            GaugeMetricFamily(
                "unwind_market_data_stale", "1 while the symbol's data is stale", labels=["symbol"]
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
            CounterMetricFamily("unwind_breaker_trips", "Breaker trips", labels=["breaker"]),
            CounterMetricFamily("unwind_alerts", "Alerts raised", labels=["alert"]),
        )

    def _collect_engine(self) -> list[Metric]:
        engine = self.engine
        stats = engine.stats
        families = self._engine_wide(stats)
        (
            working,
            outcomes,
            finals,
            live,
            sent,
            rejected,
            fills,
            shares,
            _ack,  # filled by _engine_wide(stats)
            _decision,
            regime,
            vol,
            adv,
            md_messages,
            md_last,
            md_stale,
            runs,
            verdicts,
            trading,
            trips,
            alerts,
        ) = families
        children: Counter[ChildState] = Counter(engine.forgotten_children)
        n_working = 0
        for p in engine.parents.values():
            n_working += not p.state.final
            children.update(c.state for c in p.children.values())
        working.add_metric([], n_working)
        for (strategy, outcome), n in sorted(stats.parent_outcomes.items()):
            outcomes.add_metric([strategy, outcome], n)
        for state in ChildState:
            (finals if state.final else live).add_metric([state.value], children[state])
        for symbol, n in sorted(stats.children_sent.items()):
            sent.add_metric([symbol], n)
        for reason, n in sorted(stats.child_rejects.items()):
            rejected.add_metric([reason], n)
        for (symbol, side), n in sorted(stats.fills.items()):
            fills.add_metric([symbol, side], n)
            shares.add_metric([symbol, side], stats.filled_shares[(symbol, side)])
        for name, sym in sorted(engine.symbols.items()):
            st = sym.detector.state
            for r in Regime:
                regime.add_metric(
                    [name, r.value], 1.0 if st is not None and st.regime is r else 0.0
                )
            if st is not None:
                vol.add_metric([name], st.sigma_daily)
                adv.add_metric([name], st.adv_score)
            md_messages.add_metric([self.feed, name], stats.market_messages[name])
            last = stats.market_last_ns.get(name)
            if last is not None:
                md_last.add_metric([self.feed, name], last / NS)
            md_stale.add_metric([name], 1.0 if sym.market.stale else 0.0)
        for outcome in ("approved", "denied"):
            runs.add_metric([outcome], engine.gate_outcomes[outcome])
        for (check, action, reason), n in sorted(engine.verdict_totals.items()):
            verdicts.add_metric([check, action, reason], n)
        for scope, key, st in engine.trading.all():
            trading.add_metric([scope.value, key], float(st.state))
        for name in sorted({*BREAKERS, *engine.breaker_trips}):
            trips.add_metric([name], engine.breaker_trips[name])  # from 0: see BREAKERS
        for name, n in sorted(engine.alerts.items()):
            alerts.add_metric([name], n)
        return list(families)


def engine_registry(
    engine: Engine,
    registry: CollectorRegistry | None = None,
    *,
    finished_ttl_s: float = DEFAULT_FINISHED_TTL_S,
    feed: str = "sim",
) -> CollectorRegistry:
    """Register an :class:`EngineCollector` for ``engine`` in ``registry`` (a new one if
    ``None``: never the process-wide default, so two engines in one process cannot collide).

    Raises
    ------
    ValueError
        If ``registry`` already has these metric names.
    """
    registry = CollectorRegistry() if registry is None else registry
    registry.register(EngineCollector(engine, finished_ttl_s=finished_ttl_s, feed=feed))
    return registry
