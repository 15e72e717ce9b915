"""The simulator's Prometheus endpoint, scraped over HTTP on loopback while real FIX sessions
trade: what it counts (sessions, orders, fills, the tape, faults) and that its counters only
rise when a new market replaces the old one."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from adapters.fix.codec import decode_execution_report, encode_new_order
from adapters.fix.wire import FixVersion
from adapters.fixsim.faults import FaultConfig
from engine.events import ExecType, NewOrder, OrderType, Side, TimeInForce
from tests.kit.fix_client import FixSimHarness

V = FixVersion.FIX44


async def _scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of ``/metrics`` as ``{(name, sorted labels): value}``."""
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{port}/metrics") as resp,
    ):
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain")
        text = await resp.text()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _order(cl: str, qty: int, price: int) -> NewOrder:
    return NewOrder(cl, "XYZ", Side.BUY, qty, OrderType.LIMIT, price, TimeInForce.DAY, 0)


@pytest.mark.asyncio
async def test_metrics_when_a_session_trades_then_orders_fills_tape_and_faults_are_counted(
    tmp_path: Path,
) -> None:
    h = await FixSimHarness.start(tmp_path, metrics=True)
    client_stopped = False
    try:
        port = h.server.metrics_port
        assert port
        first = await _scrape(port)
        assert first[("unwind_fixsim_sessions_logged_on", ())] == 2  # FIX 4.2 and 4.4
        assert not any(name == "unwind_fixsim_orders_total" for name, _ in first)
        assert first[("unwind_fixsim_faults_total", (("fault", "rejected"),))] == 0

        # A market whose fault profile rejects every order: arrives, is counted, fires a fault.
        await h.fresh(FaultConfig(reject_orders=1.0))
        h.send(V, encode_new_order(_order("r1", 100, 1_000_100), V))
        rejected = decode_execution_report(await h.expect(V, "8"), 0)
        assert rejected.exec_type is ExecType.REJECTED

        # A new market (the counters must survive it): a buy sweeping 400 @ 100.01, 200 @ 100.02.
        await h.fresh()
        h.send(V, encode_new_order(_order("b1", 600, 1_000_200), V))
        reports = [decode_execution_report(await h.expect(V, "8"), 0) for _ in range(3)]
        assert [r.exec_type for r in reports] == [ExecType.NEW, ExecType.TRADE, ExecType.TRADE]

        got = await _scrape(port)
        sym = (("symbol", "XYZ"),)
        assert got[("unwind_fixsim_orders_total", sym)] == 2
        assert got[("unwind_fixsim_fills_total", sym)] == 2
        assert got[("unwind_fixsim_traded_shares_total", sym)] == 600
        assert got[("unwind_fixsim_faults_total", (("fault", "rejected"),))] == 1
        assert got[("unwind_fixsim_faults_total", (("fault", "dropped"),))] == 0

        await h.client.stop()  # logs out and waits for the venue's Logout answers
        client_stopped = True
        assert (await _scrape(port))[("unwind_fixsim_sessions_logged_on", ())] == 0
    finally:
        if not client_stopped:
            await h.client.stop()
        await h.server.close()
    assert h.server.metrics_port is None  # the endpoint is closed with the server
    assert h.server.errors == []
