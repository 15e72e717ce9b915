"""Prometheus metrics of the daemon around the engine: FIX sessions, the WebSocket feed, the
journal and the event loop (the engine's own are in :mod:`engine.metrics`).

Read at scrape time on the loop thread, like the engine's: counts kept by QuickFIX's threads
(:class:`adapters.fix.stats.FixStats`) and the journal's writer are copied under their locks.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from engine.metrics import histogram_family

if TYPE_CHECKING:
    from engine.daemon import Daemon

__all__ = ["DaemonCollector"]


class DaemonCollector(Collector):
    """Reads ``daemon`` on every scrape (see the module docstring)."""

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon

    def describe(self) -> Iterable[Metric]:
        # Every name collect() may give, so a registry can refuse a duplicate.
        return [
            *self._families(),
            HistogramMetricFamily("unwind_journal_write_seconds", ""),
            HistogramMetricFamily("unwind_event_loop_lag_seconds", ""),
        ]

    def collect(self) -> Iterable[Metric]:
        d = self.daemon
        up, messages, resends, rejects, reconnects, records, dropped = self._families()
        venue, oms = d.venue, d.oms
        up.add_metric([venue.session_id, "venue"], 1.0 if venue.logged_on else 0.0)
        for session in oms.sessions:
            up.add_metric([session, "oms"], 1.0 if oms.logged_on(session) else 0.0)
        # Resends and rejects are rare: every session's series exist from 0, so the first one
        # is an increase an alert can see.
        for stats, own in ((venue.fix_stats, (venue.session_id,)), (oms.fix_stats, oms.sessions)):
            msgs, resent, rej = stats.snapshot()
            for (session, direction, msg_type), n in sorted(msgs.items()):
                messages.add_metric([session, direction, msg_type], n)
            for key in sorted({*((s, d) for s in own for d in ("in", "out")), *resent}):
                resends.add_metric(list(key), resent.get(key, 0))
            for key in sorted({*((s, k) for s in own for k in ("session", "business")), *rej}):
                rejects.add_metric(list(key), rej.get(key, 0))
        if d.ws is not None:
            reconnects.add_metric(["ws"], d.ws.counters.reconnects)
        out: list[Metric] = [up, messages, resends, rejects, reconnects]
        if d.journal is not None:
            records.add_metric([], d.journal.records)
            dropped.add_metric([], d.journal.dropped)
            out += [
                records,
                dropped,
                histogram_family(
                    "unwind_journal_write_seconds",
                    "Wall time of one journal commit (encode, insert, commit)",
                    d.journal.write_seconds,
                ),
            ]
        out.append(
            histogram_family(
                "unwind_event_loop_lag_seconds",
                "How late the event loop ran a 10 ms tick",
                d.loop_lag.histogram,
            )
        )
        return out

    @staticmethod
    def _families() -> tuple[
        GaugeMetricFamily,
        CounterMetricFamily,
        CounterMetricFamily,
        CounterMetricFamily,
        CounterMetricFamily,
        CounterMetricFamily,
        CounterMetricFamily,
    ]:
        return (
            GaugeMetricFamily(
                "unwind_fix_session_up",
                "1 while the FIX session is logged on",
                labels=["session", "role"],
            ),
            CounterMetricFamily(
                "unwind_fix_messages",
                "FIX messages by session, direction and MsgType",
                labels=["session", "direction", "msg_type"],
            ),
            CounterMetricFamily(
                "unwind_fix_resend_requests",
                "FIX ResendRequests (MsgType 2) sent (out) and received (in)",
                labels=["session", "direction"],
            ),
            CounterMetricFamily(
                "unwind_fix_rejects",
                "FIX rejects: session (MsgType 3) and business (MsgType j), either direction",
                labels=["session", "kind"],
            ),
            CounterMetricFamily(
                "unwind_ws_reconnects", "WebSocket market-data reconnections", labels=["feed"]
            ),
            CounterMetricFamily("unwind_journal_records", "Records put on the journal"),
            CounterMetricFamily(
                "unwind_journal_dropped", "Records not journaled (after a write failure)"
            ),
        )
