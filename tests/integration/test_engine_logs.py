"""The engine's JSON log lines name the orders they are about, on a faulty simulated session.

Every line about a child names it and its parent; every line naming an OMS ClOrdID names the
parent or, for an order that never became one, the session it came from.
"""

from __future__ import annotations

import io
import json

import structlog

from adapters.fixsim.faults import FaultConfig
from adapters.sim.config import MarketConfig
from engine.clock import NS
from engine.config import EngineConfig, SymbolConfig
from engine.logs import add_parent_of_child, configure_logging
from engine.parent_events import ParentCancel, ParentOrder, ParentReplace, ParentStatusRequest
from engine.simrun import SimSession
from strategies.schedule import Side

CFG = EngineConfig(symbols={"XYZ": SymbolConfig(daily_volume=6_000_000)}, seed=3)
FAULTS = FaultConfig(
    seed=4,
    drop_reports=0.05,
    duplicate_reports=0.1,
    delay_acks=0.1,
    fill_after_cancel=0.2,
    reject_orders=0.05,
)


def _order(s: SimSession, cl: str, **kw: object) -> ParentOrder:
    now = s.clock.now_ns()
    args: dict[str, object] = dict(
        cl_ord_id=cl, symbol="XYZ", side=Side.SELL, qty=20_000, strategy="adaptive",
        end_ns=now + 900 * NS, ts_init=now, session="OMS1",
    )  # fmt: skip
    args.update(kw)
    return ParentOrder(**args)  # type: ignore[arg-type]


def _session_lines() -> list[dict[str, object]]:
    buf = io.StringIO()
    saved = structlog.get_config()  # other test modules filter below warnings out
    configure_logging("debug", stream=buf)
    try:
        s = SimSession(MarketConfig(seed=3), CFG, FAULTS)
        s.run_for(300)
        e = s.engine
        e.on_parent_command(_order(s, "A"))
        e.on_parent_command(_order(s, "B", qty=30_000))
        e.on_parent_command(_order(s, "BAD", qty=-5))  # refused: never a parent
        s.run_for(200)
        now = s.clock.now_ns()
        common = {"symbol": "XYZ", "side": Side.SELL, "ts_init": now, "session": "OMS1"}
        e.on_parent_command(ParentReplace(cl_ord_id="A2", orig_cl_ord_id="A", qty=25_000, **common))
        e.on_parent_command(ParentReplace(cl_ord_id="A3", orig_cl_ord_id="NO", qty=1_000, **common))
        e.on_parent_command(ParentCancel(cl_ord_id="B2", orig_cl_ord_id="B", **common))
        e.on_parent_command(ParentStatusRequest(cl_ord_id="NOPE", **common))
        s.run_for(800)
    finally:
        structlog.configure(**saved)
    return [json.loads(line) for line in buf.getvalue().splitlines()]


def test_every_line_about_an_order_names_it_and_its_parent() -> None:
    lines = _session_lines()
    by_event: dict[str, int] = {}
    for line in lines:
        by_event[str(line["event"])] = by_event.get(str(line["event"]), 0) + 1
        child = line.get("child")
        if child is not None:
            assert str(child).startswith(f"{line['parent']}-"), line
        if "cl_ord_id" in line:
            assert line.get("parent") or line.get("session"), line
    # The session exercised what it is meant to: children, cancels, a replace, a refusal.
    for event in (
        "child",
        "cancel_child",
        "replaced",
        "cancel_requested",
        "finished",
        "parent rejected",
        "parent replace refused",
        "status request for an unknown parent",
    ):
        assert by_event.get(event), (event, sorted(by_event))


def test_a_line_naming_only_a_child_gets_its_parent_from_the_id() -> None:
    assert add_parent_of_child(None, "info", {"child": "UNW1P7-12"})["parent"] == "UNW1P7"
    kept = add_parent_of_child(None, "info", {"child": "X-1", "parent": "Y"})
    assert kept["parent"] == "Y"
    assert "parent" not in add_parent_of_child(None, "info", {"child": "no dash"})
