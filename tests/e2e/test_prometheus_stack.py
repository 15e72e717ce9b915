"""A real Prometheus scrapes a paper session, and every dashboard query and alert runs on it.

The whole stack in this process over real FIX sessions (:func:`paper_rig`, with the engine's
REST server and fixsim's ``/metrics`` on free loopback ports) and Debian's ``prometheus``
binary beside it: a 1 s scrape of both, the shipped alerts.yml loaded, a temporary data
directory. The demo OMS sends a short parent (so one finishes: outcomes) and a long one (still
working while the queries run); fixsim rejects a seeded share of orders (reject reasons).

Then, through Prometheus's HTTP API: every panel query of deploy/grafana/dashboards/unwind.json
with its variables substituted (``$parent`` the working parent, ``$symbol`` XYZ, Grafana's
intervals at a few scrapes) parses and returns data, and every alert expression parses and its
rule evaluates without error. The wait polls Prometheus's API until every query has data, with
a wall-clock timeout as the fail-safe; nothing sleeps for the market.

Breaker trips and FIX resends and rejects are exposed from 0, so their queries return data like
every other. Alerts and WebSocket reconnects (this session's feed is FIX) only have series once
one happens: for those the engine must expose the family (its ``# TYPE`` in ``/metrics``), and
their queries must parse; everything else must return samples. A family the
engine does not expose fails the test by name.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from adapters.fixsim.faults import FaultConfig
from engine.events import Side
from tests.e2e.test_fix_end_to_end import FILLING, Rig, paper_rig
from tests.kit.deploy import REPO, dashboard, dashboard_queries, substitute
from tests.kit.fix_client import free_port

PROMETHEUS = shutil.which("prometheus")
ALERTS = REPO / "deploy" / "prometheus" / "alerts.yml"
# Families whose series appear only when a rare event happens; see the module docstring.
EVENT_ONLY = frozenset(
    {
        "unwind_alerts_total",
        "unwind_ws_reconnects_total",
    }
)
WAIT_S = 45.0  # wall seconds for every query to have data: the fail-safe, not a schedule

pytestmark = [
    pytest.mark.skipif(
        PROMETHEUS is None, reason="prometheus not installed (apt-get install prometheus)"
    ),
    pytest.mark.slow,
]


@contextlib.asynccontextmanager
async def prometheus(tmp: Path, engine_port: int, sim_port: int) -> AsyncIterator[str]:
    """A Prometheus server scraping both targets every second with the shipped alert rules;
    yields its base URL once it is ready."""
    assert PROMETHEUS is not None
    port = free_port()
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(ALERTS)],
        "scrape_configs": [  # the job names of deploy/prometheus/prometheus.yml
            {
                "job_name": "unwind-engine",
                "static_configs": [{"targets": [f"127.0.0.1:{engine_port}"]}],
            },
            {
                "job_name": "unwind-fixsim",
                "static_configs": [{"targets": [f"127.0.0.1:{sim_port}"]}],
            },
        ],
    }
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "prometheus.yml").write_text(yaml.safe_dump(config))
    log = (tmp / "prometheus.log").open("w")
    proc = subprocess.Popen(
        [
            PROMETHEUS,
            f"--config.file={tmp / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http, asyncio.timeout(20):
            while True:
                assert proc.poll() is None, (tmp / "prometheus.log").read_text()
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(f"{url}/-/ready") as resp:
                        if resp.status == 200:
                            break
                await asyncio.sleep(0.1)  # polling Prometheus's start-up, bounded above
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


async def _query(http: aiohttp.ClientSession, url: str, expr: str) -> dict[str, Any]:
    async with http.get(f"{url}/api/v1/query", params={"query": expr}) as resp:
        body: dict[str, Any] = await resp.json()
    return body


def _families(expr: str) -> set[str]:
    return set(re.findall(r"\bunwind_[a-z0-9_]+", expr))


async def _exposed(port: int) -> set[str]:
    """Families the engine's /metrics declares (``# TYPE`` lines), counters with ``_total``
    and histograms with ``_bucket`` as queries name them."""
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{port}/metrics") as resp,
    ):
        text = await resp.text()
    names: set[str] = set()
    for name, kind in re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M):
        names.add(name)
        if kind == "counter":
            names.add(name if name.endswith("_total") else name + "_total")
        if kind == "histogram":
            names.update({name + "_bucket", name + "_sum", name + "_count"})
    return names


async def _send(rig: Rig, **kw: Any) -> str:
    order = rig.order(**kw)
    assert rig.oms.send_parent(order)
    async with asyncio.timeout(10):
        while (parent := rig.engine.parent_by_clordid(order.cl_ord_id)) is None:
            await rig.report()  # the engine's New (or a fill) arrives after it accepted it
    return parent.id


@pytest.mark.asyncio
async def test_prometheus_when_scraping_a_paper_session_then_every_panel_has_data_and_every_alert_evaluates(  # noqa: E501
    tmp_path: Path,
) -> None:
    faults = FaultConfig(seed=3, reject_orders=0.15)
    async with paper_rig(tmp_path, speed=120.0, warmup_s=120.0, faults=faults, metrics=True) as rig:
        engine_port, sim_port = rig.daemon.rest.port, rig.sim.metrics_port
        assert sim_port
        async with prometheus(tmp_path / "prom", engine_port, sim_port) as url:
            # A short parent that ends (outcomes), then a long one working throughout.
            await _send(rig, qty=5_000, minutes=1.0, strategy=FILLING)
            # Its horizon (120 wall s at 120x) outlasts WAIT_S: its series are there while we look.
            working = await _send(rig, qty=60_000, minutes=240.0, side=Side.BUY)
            values = {
                "parent": working,
                "symbol": "XYZ",
                "__rate_interval": "5s",
                "__interval": "1s",
                "__range": "1m",
            }
            queries = [(q, substitute(q.expr, values)) for q in dashboard_queries(dashboard())]
            exposed = await _exposed(engine_port)
            missing = sorted(
                {f for _, e in queries for f in _families(e)} - exposed - _fixsim_families()
            )
            assert not missing, f"the engine does not expose {missing}"

            empty: dict[str, str] = {}
            loop = asyncio.get_running_loop()
            deadline = loop.time() + WAIT_S
            async with aiohttp.ClientSession() as http:
                while True:
                    empty = {}
                    for q, expr in queries:
                        body = await _query(http, url, expr)
                        assert body["status"] == "success", (q.panel, q.ref, expr, body)
                        if not body["data"]["result"] and not _families(expr) <= EVENT_ONLY:
                            empty[f"{q.panel} [{q.ref}]"] = expr
                    if not empty or loop.time() > deadline:
                        break
                    await asyncio.sleep(1.0)  # one scrape; polling Prometheus, bounded above
                assert not empty, f"panels without data after {WAIT_S:g} s: {empty}"
                assert rig.engine.parents[working].state.final is False  # queried while working

                for variable, metric, want in (
                    ("parent", "unwind_parent_filled_ratio", working),
                    ("symbol", "unwind_regime", "XYZ"),
                ):
                    async with http.get(
                        f"{url}/api/v1/label/{variable}/values", params={"match[]": metric}
                    ) as resp:
                        assert want in (await resp.json())["data"], variable

                for expr in _alert_exprs():
                    body = await _query(http, url, expr)
                    assert body["status"] == "success", (expr, body)
                async with http.get(f"{url}/api/v1/rules") as resp:
                    rules = [r for g in (await resp.json())["data"]["groups"] for r in g["rules"]]
                assert len(rules) == len(_alert_exprs())
                for r in rules:
                    assert r["health"] == "ok", (r["name"], r.get("lastError"))
                up = await _query(http, url, "up")
                assert {(s["metric"]["job"], s["value"][1]) for s in up["data"]["result"]} == {
                    ("unwind-engine", "1"),
                    ("unwind-fixsim", "1"),
                }


def _alert_exprs() -> list[str]:
    doc = yaml.safe_load(ALERTS.read_text())
    return [r["expr"] for g in doc["groups"] for r in g["rules"]]


def _fixsim_families() -> set[str]:
    return {
        "unwind_fixsim_sessions_logged_on",
        "unwind_fixsim_orders_total",
        "unwind_fixsim_fills_total",
        "unwind_fixsim_traded_shares_total",
        "unwind_fixsim_faults_total",
    }
