"""The REST API over a real aiohttp server on loopback, against an engine in a simulated market.

Time is the simulation's: a test moves it with ``session.run_for`` between requests, and nothing
sleeps. The simulator's clock counts from midnight of 1970-01-01 UTC, so the ISO times in the
bodies are on that day (09:35 when each test starts).
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pytest
import pytest_asyncio
import structlog
from aiohttp import ClientSession, web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families

from adapters.sim.config import MarketConfig
from engine.clock import NS
from engine.config import EngineConfig, SymbolConfig
from engine.events import Side
from engine.metrics import EngineCollector
from engine.orders import ChildState, ParentState
from engine.rest import ROUTES, RestServer, build_app
from engine.simrun import SimSession

pytestmark = pytest.mark.asyncio

structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))

CFG = EngineConfig(symbols={"XYZ": SymbolConfig(daily_volume=6_000_000)}, seed=3)
TOKEN = "s3cret-token-for-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _iso(ns: int) -> str:
    return dt.datetime.fromtimestamp(ns / NS, dt.UTC).isoformat()


@dataclass
class Rig:
    session: SimSession
    client: TestClient[web.Request, web.Application]

    def body(self, **kw: Any) -> dict[str, Any]:
        now = self.session.clock.now_ns()
        out: dict[str, Any] = {
            "cl_ord_id": "R1",
            "symbol": "XYZ",
            "side": "sell",
            "qty": 20_000,
            "strategy": "twap",
            "end_time": _iso(now + 1200 * NS),
        }
        out.update(kw)
        return out

    async def submit(self, **kw: Any) -> str:
        resp = await self.client.post("/parents", json=self.body(**kw), headers=AUTH)
        assert resp.status == 201, await resp.text()
        pid: str = (await resp.json())["id"]
        return pid


async def _rig(
    token: str | None = TOKEN,
    ready: Callable[[], bool | Mapping[str, bool]] | None = None,
) -> AsyncIterator[Rig]:
    session = SimSession(MarketConfig(seed=3), CFG)
    session.run_for(300)  # a book, a tape and a first regime bar to start from
    app = build_app(session.engine, token=token, ready=ready)
    async with TestClient(TestServer(app)) as client:
        yield Rig(session, client)


@pytest_asyncio.fixture
async def rig() -> AsyncIterator[Rig]:
    async for r in _rig():
        yield r


# --- submit and inspect ---------------------------------------------------------------------------


async def test_submit_when_valid_then_201_and_the_parent_works_in_the_engine(rig: Rig) -> None:
    pid = await rig.submit(limit_price=40.0)
    parent = rig.session.engine.parents[pid]
    assert parent.order.session == "rest"
    assert parent.limit_price == 400_000  # currency to 1/10,000 units
    assert parent.end_ns == rig.session.clock.now_ns() + 1200 * NS
    rig.session.run_for(600)

    resp = await rig.client.get(f"/parents/{pid}")
    assert resp.status == 200
    d = await resp.json()
    assert d["id"] == pid and d["cl_ord_id"] == "R1" and d["side"] == "sell"
    assert d["state"] in ("new", "partially_filled")
    assert 0 < d["filled"] == parent.filled < d["qty"] == 20_000
    assert d["regime"] in ("LV", "HV", "ADV")
    assert d["deadline_at_risk"] is False
    plan = d["plan"]
    assert plan["filled_now"] == d["filled"]
    assert plan["targets"][-1]["cum_qty"] == 20_000  # the plan finishes the parent...
    assert plan["targets"][-1]["ts_ns"] <= d["end_ns"]  # ...by the deadline
    assert all(a["ts_ns"] < b["ts_ns"] for a, b in itertools.pairwise(plan["targets"]))
    assert (
        d["children"] and {"state", "qty", "cum_qty", "price", "reason"} <= d["children"][0].keys()
    )
    assert sum(f["qty"] for f in d["fills"]) == d["filled"]
    assert len(d["verdicts"]) == min(d["verdicts_total"], 100)
    assert all(v["action"] in ("clip", "deny") and v["check"] for v in d["verdicts"])

    listing = await (await rig.client.get("/parents")).json()
    assert [(p["id"], p["filled"], p["strategy"]) for p in listing] == [(pid, d["filled"], "twap")]


async def test_get_parent_when_unknown_then_404_with_a_message(rig: Rig) -> None:
    resp = await rig.client.get("/parents/NOPE")
    assert resp.status == 404
    assert "NOPE" in (await resp.json())["error"]


async def test_get_parent_when_given_the_cl_ord_id_then_found(rig: Rig) -> None:
    pid = await rig.submit(cl_ord_id="OMS-7")
    assert (await (await rig.client.get("/parents/OMS-7")).json())["id"] == pid


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"qty": "100"}, "qty"),
        ({"qty": 0}, "qty"),
        ({"side": "short"}, "side"),
        ({"strategy": "magic"}, "strategy"),
        ({"end_time": "1970-01-01T10:00:00"}, "end_time"),  # no offset: refused, not guessed
        ({"colour": "red"}, "colour"),
        ({"end_time": None}, "end_time"),
    ],
)
async def test_submit_when_a_field_is_bad_then_400_naming_it(
    rig: Rig, change: dict[str, Any], field: str
) -> None:
    resp = await rig.client.post("/parents", json=rig.body(**change), headers=AUTH)
    assert resp.status == 400
    body = await resp.json()
    assert body["error"].startswith(f"{field}: ") and body["fields"] == [field]
    assert not rig.session.engine.parents


async def test_submit_when_a_field_is_missing_or_the_json_broken_then_400(rig: Rig) -> None:
    body = rig.body()
    del body["symbol"]
    resp = await rig.client.post("/parents", json=body, headers=AUTH)
    assert resp.status == 400
    assert (await resp.json())["error"] == "symbol: Field required"
    resp = await rig.client.post("/parents", data=b"{not json", headers=AUTH)
    assert resp.status == 400
    assert "Invalid JSON" in (await resp.json())["error"]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"qty": 5_000_000}, "infeasible"),
        ({"symbol": "ABC"}, "unknown_symbol"),
        ({"qty": 150}, "incorrect_quantity"),  # not whole lots
        ({"participation_cap": 0.5}, "exceeds_limit"),
        ({"limit_price": 40.001}, "other"),  # off the tick
    ],
)
async def test_submit_when_the_engine_refuses_then_422_with_the_reason(
    rig: Rig, change: dict[str, Any], reason: str
) -> None:
    resp = await rig.client.post("/parents", json=rig.body(**change), headers=AUTH)
    assert resp.status == 422
    body = await resp.json()
    assert body["reason"] == reason and body["error"]
    assert not rig.session.engine.parents


async def test_submit_when_the_cl_ord_id_is_reused_then_422_duplicate(rig: Rig) -> None:
    await rig.submit()
    resp = await rig.client.post("/parents", json=rig.body(), headers=AUTH)
    assert (resp.status, (await resp.json())["reason"]) == (422, "duplicate")


# --- auth -----------------------------------------------------------------------------------------


async def test_post_when_the_token_is_missing_then_401_and_wrong_then_403(rig: Rig) -> None:
    resp = await rig.client.post("/parents", json=rig.body())
    assert resp.status == 401
    assert resp.headers["WWW-Authenticate"] == "Bearer"
    assert "token" in (await resp.json())["error"]
    resp = await rig.client.post("/halt", headers={"Authorization": "Bearer nope"})
    assert resp.status == 403
    resp = await rig.client.post("/halt", headers={"Authorization": f"Basic {TOKEN}"})
    assert resp.status == 401
    assert not rig.session.engine.parents and not rig.session.engine.halted
    assert (await rig.client.get("/parents")).status == 200  # reads need no token


async def test_post_when_no_token_is_configured_then_403_fail_closed() -> None:
    async for r in _rig(token=None):
        resp = await r.client.post("/parents", json=r.body(), headers=AUTH)
        assert resp.status == 403
        assert "configure" in (await resp.json())["error"]
        assert not r.session.engine.parents


# --- operator actions -----------------------------------------------------------------------------


async def test_cancel_when_working_then_the_parent_ends_canceled(rig: Rig) -> None:
    pid = await rig.submit()
    rig.session.run_for(120)
    resp = await rig.client.post(f"/parents/{pid}/cancel", headers=AUTH)
    assert resp.status == 200
    rig.session.run_for(30)
    parent = rig.session.engine.parents[pid]
    assert parent.state is ParentState.CANCELED
    assert not parent.live_children
    again = await rig.client.post(f"/parents/{pid}/cancel", headers=AUTH)
    assert again.status == 409
    assert (await rig.client.post("/parents/NOPE/cancel", headers=AUTH)).status == 404


async def test_halt_then_resume_one_parent_stops_then_restarts_its_children(rig: Rig) -> None:
    pid = await rig.submit()
    rig.session.run_for(120)
    parent = rig.session.engine.parents[pid]
    assert (await rig.client.post(f"/parents/{pid}/halt", headers=AUTH)).status == 200
    rig.session.run_for(30)
    assert parent.halted and not parent.live_children
    sent = len(parent.children)
    rig.session.run_for(120)
    assert len(parent.children) == sent  # nothing new while halted
    listing = await (await rig.client.get("/parents")).json()
    assert listing[0]["halted"] is True

    assert (await rig.client.post(f"/parents/{pid}/resume", headers=AUTH)).status == 200
    rig.session.run_for(120)
    assert not parent.halted and len(parent.children) > sent


async def test_global_halt_refuses_new_parents_until_resumed(rig: Rig) -> None:
    pid = await rig.submit()
    rig.session.run_for(60)
    resp = await rig.client.post("/halt", headers=AUTH)
    assert (resp.status, await resp.json()) == (200, {"halted": True})
    engine = rig.session.engine
    rig.session.run_for(30)
    assert engine.halted and engine.parents[pid].halted
    refused = await rig.client.post("/parents", json=rig.body(cl_ord_id="R2"), headers=AUTH)
    assert (refused.status, (await refused.json())["reason"]) == (422, "exchange_closed")
    # One parent cannot be resumed while the whole engine is halted.
    assert (await rig.client.post(f"/parents/{pid}/resume", headers=AUTH)).status == 409

    resp = await rig.client.post("/resume", headers=AUTH)
    assert (resp.status, await resp.json()) == (200, {"halted": False})
    assert not engine.parents[pid].halted
    await rig.submit(cl_ord_id="R2")


async def test_trading_state_per_symbol_halts_reduces_and_resets(rig: Rig) -> None:
    pid = await rig.submit()
    rig.session.run_for(60)
    parent = rig.session.engine.parents[pid]

    async def post(**body: object) -> tuple[int, object]:
        resp = await rig.client.post("/trading-state", json=body, headers=AUTH)
        return resp.status, await resp.json()

    status, states = await post(scope="symbol", key="XYZ", state="halted", reason="news pending")
    assert status == 200
    assert {
        "scope": "symbol",
        "key": "XYZ",
        "state": "halted",
        "reason": "news pending",
    }.items() <= (
        next(s for s in states if s["scope"] == "symbol").items()  # type: ignore[union-attr]
    )
    rig.session.run_for(30)
    assert parent.halted and not parent.live_children
    listing = await (await rig.client.get("/trading-state")).json()
    assert [(s["scope"], s["state"]) for s in listing] == [
        ("global", "active"),
        ("symbol", "halted"),
    ]

    # REDUCING on the parent by its OMS ClOrdID; the symbol's HALTED still wins until reset.
    cl_ord_id = parent.cl_ord_id
    assert (await post(scope="parent", key=cl_ord_id, state="reducing", reason="VaR"))[0] == 200
    assert parent.halted
    assert (await post(scope="symbol", key="XYZ", state="active", reason="news out"))[0] == 200
    assert not parent.halted and parent.effective_urgency == 1.0

    assert (await post(scope="symbol", key="NOPE", state="halted", reason="x"))[0] == 404
    assert (await post(scope="parent", key="NOPE", state="halted", reason="x"))[0] == 404
    status, body = await post(scope="symbol", key="XYZ", state="paused", reason="x")
    assert status == 400 and "state" in str(body)
    unauth = await rig.client.post(
        "/trading-state", json={"scope": "global", "state": "halted", "reason": "x"}
    )
    assert unauth.status == 401 and not rig.session.engine.halted


# --- state, health, metrics, schema ---------------------------------------------------------------


async def test_regimes_when_a_bar_has_closed_then_each_symbol_has_its_state(rig: Rig) -> None:
    body = await (await rig.client.get("/regimes")).json()
    xyz = body["XYZ"]
    assert xyz["regime"] in ("LV", "HV", "ADV")
    assert xyz["sigma"] > 0 and isinstance(xyz["z"], float) and xyz["adv_score"] >= 0
    assert xyz["ts_ns"] <= rig.session.clock.now_ns()
    assert (xyz["stale"], xyz["halted"]) == (False, False)
    rig.session.engine.on_market_stale("XYZ", True)
    assert (await (await rig.client.get("/regimes")).json())["XYZ"]["stale"] is True


async def test_readyz_when_the_check_fails_then_503_naming_it_then_200() -> None:
    state = {"venue": True, "oms": False}
    async for r in _rig(ready=lambda: dict(state)):
        assert (await r.client.get("/healthz")).status == 200
        resp = await r.client.get("/readyz")
        assert resp.status == 503
        assert (await resp.json())["not_ready"] == ["oms"]
        state["oms"] = True
        assert (await r.client.get("/readyz")).status == 200


async def test_readyz_by_default_follows_the_engines_venue_session(rig: Rig) -> None:
    assert (await rig.client.get("/readyz")).status == 200
    rig.session.engine.on_venue_session(False)
    resp = await rig.client.get("/readyz")
    assert (resp.status, (await resp.json())["not_ready"]) == (503, ["venue"])


async def test_metrics_when_scraped_then_the_families_parse_with_the_engines_numbers(
    rig: Rig,
) -> None:
    pid = await rig.submit()
    rig.session.run_for(300)
    parent = rig.session.engine.parents[pid]
    resp = await rig.client.get("/metrics")
    assert resp.status == 200 and resp.content_type == "text/plain"
    families = {f.name: f for f in text_string_to_metric_families(await resp.text())}
    assert {
        "unwind_parents_working",
        "unwind_parent_filled_ratio",
        "unwind_child_orders",
        "unwind_child_orders_working",
        "unwind_regime",
    } <= families.keys()
    assert families["unwind_child_orders"].type == "counter"
    assert families["unwind_parents_working"].samples[0].value == 1
    (ratio,) = families["unwind_parent_filled_ratio"].samples
    labels = {"parent": pid, "symbol": "XYZ", "strategy": parent.strategy}
    assert ratio.labels == labels
    assert ratio.value == pytest.approx(parent.filled / parent.qty)
    engine = rig.session.engine
    now = engine.clock.now_ns()

    def one(name: str) -> float:
        (sample,) = families[name].samples
        assert sample.labels == labels, name
        return sample.value

    # Where the plan wants the parent now, interpolated in its bucket, against what it filled.
    plan = parent.plan
    assert plan is not None
    k = (now - plan.start_ns) // plan.bucket_ns
    lo = plan.filled_at_start + (plan.cum_targets[k - 1] if k else 0)
    hi = plan.filled_at_start + plan.cum_targets[k]
    deviation = one("unwind_parent_schedule_deviation_shares")
    assert parent.filled - hi <= deviation <= parent.filled - lo
    assert one("unwind_parent_schedule_deviation_ratio") == pytest.approx(deviation / parent.qty)
    window_start = now - round(engine.cfg.cap_window_s * NS)
    ours = sum(q for c in parent.children.values() for t, q, _ in c.fills if t > window_start)
    market = parent.market.volume_since(window_start)
    assert ours > 0 and one("unwind_parent_participation_ratio") == pytest.approx(ours / market)
    assert one("unwind_parent_participation_cap_ratio") == parent.cap
    arrival = parent.arrival_mid
    assert arrival is not None
    cost = (parent.avg_price - arrival) / arrival * 1e4 * (1 if parent.side is Side.BUY else -1)
    assert one("unwind_parent_shortfall_bps") == pytest.approx(cost)
    assert one("unwind_parent_deadline_seconds") == pytest.approx((parent.end_ns - now) / NS)
    # Children sent, fills and shares, the latencies: the engine's own counts.
    sent = {s.labels["symbol"]: s.value for s in families["unwind_child_orders_sent"].samples}
    assert sent == {"XYZ": len(parent.children)}
    n_fills = sum(len(c.fills) for c in parent.children.values())
    side = parent.side.value
    fills = {
        (s.labels["symbol"], s.labels["side"]): s.value
        for s in families["unwind_fills"].samples
        if s.name.endswith("_total")
    }
    assert fills == {("XYZ", side): n_fills}
    shares = {
        (s.labels["symbol"], s.labels["side"]): s.value
        for s in families["unwind_filled_shares"].samples
        if s.name.endswith("_total")
    }
    assert shares == {("XYZ", side): parent.filled}
    decision = {s.name: s for s in families["unwind_decision_latency_seconds"].samples}
    assert (
        decision["unwind_decision_latency_seconds_count"].value
        == (engine.stats.input_seconds.count)
        > 100
    )
    buckets = [
        s for s in families["unwind_decision_latency_seconds"].samples if s.name.endswith("_bucket")
    ]
    assert buckets[0].labels["le"] == "1e-06" and buckets[-1].labels["le"] == "+Inf"
    ack = {s.name: s.value for s in families["unwind_child_ack_latency_seconds"].samples}
    assert ack["unwind_child_ack_latency_seconds_count"] == len(parent.children)
    md = {
        (s.labels["feed"], s.labels["symbol"]): s.value
        for s in families["unwind_market_data_messages"].samples
        if s.name.endswith("_total")
    }
    assert md == {("sim", "XYZ"): engine.stats.market_messages["XYZ"]} and md["sim", "XYZ"] > 0
    (last,) = families["unwind_market_data_last_timestamp_seconds"].samples
    assert last.value == engine.stats.market_last_ns["XYZ"] / NS
    st = engine.symbols["XYZ"].detector.state
    assert st is not None
    (vol,) = families["unwind_volatility"].samples
    (adv,) = families["unwind_adversarial_score"].samples
    assert vol.value == st.sigma_daily > 0 and adv.value == st.adv_score
    finals = {
        s.labels["state"]: s.value
        for s in families["unwind_child_orders"].samples
        if s.name == "unwind_child_orders_total"
    }
    filled = sum(c.state is ChildState.FILLED for c in parent.children.values())
    assert finals["filled"] == filled > 0
    regime = {
        (s.labels["symbol"], s.labels["regime"]): s.value for s in families["unwind_regime"].samples
    }
    assert sum(regime.values()) == 1 and regime["XYZ", parent.regime.value] == 1  # type: ignore[union-attr]
    # The gate: every run counted, and the clips and denials by check and reason.
    runs = {
        s.labels["outcome"]: s.value
        for s in families["unwind_gate_runs"].samples
        if s.name.endswith("_total")
    }
    assert runs["approved"] == len(parent.children) > 0
    assert runs["denied"] == sum(
        n for (_, action, _), n in engine.verdict_totals.items() if action == "deny"
    )
    verdicts = {
        (s.labels["check"], s.labels["action"], s.labels["reason"]): s.value
        for s in families["unwind_gate_verdicts"].samples
        if s.name.endswith("_total")
    }
    assert verdicts == dict(engine.verdict_totals)
    assert sum(verdicts.values()) >= engine.verdict_counts[pid] > 0
    states = {
        (s.labels["scope"], s.labels["key"]): s.value
        for s in families["unwind_trading_state"].samples
    }
    assert states == {("global", ""): 0.0}
    (at_risk,) = families["unwind_parent_deadline_at_risk"].samples
    assert at_risk.labels == labels and at_risk.value == float(parent.deadline_at_risk)
    assert {"unwind_breaker_trips", "unwind_alerts"} <= families.keys()
    trips = {
        s.labels["breaker"]: s.value
        for s in families["unwind_breaker_trips"].samples
        if s.name.endswith("_total")
    }
    assert trips == {"breaker:shortfall": 0.0, "breaker:var": 0.0}  # from 0: see BREAKERS
    # describe() names every family collect() gives, so a registry can refuse duplicates.
    collector = EngineCollector(engine)
    assert [m.name for m in collector.describe()] == [m.name for m in collector.collect()]


async def test_a_finished_parents_series_leave_the_metrics_after_their_time(rig: Rig) -> None:
    pid = await rig.submit(qty=2_000)
    engine = rig.session.engine
    collector = EngineCollector(engine, finished_ttl_s=600)

    def scrape() -> dict[str, list[Any]]:
        return {m.name: m.samples for m in collector.collect()}

    rig.session.run_for(1300)
    parent = engine.parents[pid]
    assert parent.state is ParentState.FILLED
    # Finished, within its time: its fills and cost are still on the dashboard.
    (ratio,) = scrape()["unwind_parent_filled_ratio"]
    assert ratio.labels["parent"] == pid and ratio.value == 1.0
    assert [s.labels["parent"] for s in scrape()["unwind_parent_shortfall_bps"]] == [pid]
    assert scrape()["unwind_parent_deadline_at_risk"] == []  # only for working parents
    rig.session.run_for(700)  # past finished_ttl_s
    families = scrape()
    per_parent = [name for name, samples in families.items() if name.startswith("unwind_parent_")]
    assert per_parent and all(
        families[name] == [] for name in per_parent if name != "unwind_parent_orders"
    )
    outcomes = {
        (s.labels["strategy"], s.labels["outcome"]): s.value
        for s in families["unwind_parent_orders"]
        if s.name.endswith("_total")
    }
    assert outcomes == {("twap", "filled"): 1}
    assert pid in engine.parents  # the engine still holds it (its own retention is longer)


async def test_openapi_when_fetched_then_every_route_is_described(rig: Rig) -> None:
    doc = await (await rig.client.get("/openapi.json")).json()
    assert doc["openapi"].startswith("3.1")
    routes = {
        (r.method, r.resource.canonical)
        for r in rig.client.app.router.routes()  # type: ignore[union-attr]
        if r.method != "HEAD" and r.resource is not None
    }
    documented = {(m.upper(), path) for path, ops in doc["paths"].items() for m in ops}
    assert routes == documented == {(r.method, r.path) for r in ROUTES}
    submit = doc["paths"]["/parents"]["post"]
    ref = submit["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    schema = doc["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert schema["additionalProperties"] is False
    assert {"cl_ord_id", "symbol", "side", "qty", "strategy", "end_time"} <= set(schema["required"])
    assert submit["security"] == [{"bearer": []}]


# --- errors ---------------------------------------------------------------------------------------


class _BrokenDetector:
    @property
    def state(self) -> None:
        raise RuntimeError("detector state is corrupt")


async def test_a_handler_that_raises_gets_500_json_and_the_server_keeps_serving(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rig.session.engine.symbols["XYZ"], "detector", _BrokenDetector())
    resp = await rig.client.get("/regimes")
    assert resp.status == 500
    assert (await resp.json()) == {"error": "internal error; see the engine's log"}
    assert (await rig.client.get("/healthz")).status == 200
    monkeypatch.undo()
    assert (await rig.client.get("/regimes")).status == 200


async def test_unknown_route_and_wrong_method_are_json_errors(rig: Rig) -> None:
    resp = await rig.client.get("/nope")
    assert resp.status == 404 and "error" in await resp.json()
    resp = await rig.client.get("/halt")
    assert resp.status == 405 and "POST" in resp.headers["Allow"]
    assert "error" in await resp.json()


async def test_rest_server_when_port_0_then_serves_on_the_bound_port() -> None:
    session = SimSession(MarketConfig(seed=3), CFG)
    server = RestServer(build_app(session.engine, token=TOKEN), port=0)
    await server.start()
    try:
        assert server.port > 0
        async with (
            ClientSession() as http,
            http.get(f"http://127.0.0.1:{server.port}/healthz") as resp,
        ):
            assert resp.status == 200
    finally:
        await server.stop()
