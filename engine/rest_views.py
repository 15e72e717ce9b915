"""JSON views of the engine's state for the REST API: pure functions over the engine's objects.

Quantities are shares, prices currency (floats, from the engine's integer units of 1/10,000),
times integer nanoseconds since the epoch (UTC) in fields ending ``_ns``: exact, and the same
numbers the journal and the logs carry.
"""

from __future__ import annotations

from typing import Any

from engine.engine import VERDICTS_KEPT, Engine
from engine.events import PRICE_SCALE
from engine.executor import ParentExecutor, PlanState
from engine.orders import ChildOrder
from strategies.regime import RegimeDetector

__all__ = ["RECENT_VERDICTS", "parent_detail", "parent_summary", "regimes"]

# The gate records a verdict at most decisions a parent makes; the engine keeps the latest (an
# operator asking "why is it slow" wants those) and counts them all.
RECENT_VERDICTS = VERDICTS_KEPT


def _price(units: float | None) -> float | None:
    return None if units is None else units / PRICE_SCALE


def parent_summary(p: ParentExecutor) -> dict[str, Any]:
    """The row of ``GET /parents``."""
    regime = p.regime
    return {
        "id": p.id,
        "cl_ord_id": p.cl_ord_id,
        "symbol": p.symbol,
        "side": p.side.value,
        "qty": p.qty,
        "filled": p.filled,
        "state": p.state.value,
        "strategy": p.strategy,
        "regime": None if regime is None else regime.value,
        "halted": p.halted,
    }


def _plan(plan: PlanState | None, p: ParentExecutor, now_ns: int) -> dict[str, Any] | None:
    if plan is None:
        return None
    # cum_targets count from the plan's start; the parent's fills before it are added back so
    # every target is a cumulative quantity of the parent, comparable with ``filled``.
    targets = [
        {
            "ts_ns": min(plan.start_ns + (k + 1) * plan.bucket_ns, p.end_ns),
            "cum_qty": plan.filled_at_start + cum,
        }
        for k, cum in enumerate(plan.cum_targets)
    ]
    done = [t["cum_qty"] for t in targets if t["ts_ns"] <= now_ns]
    return {
        "strategy": plan.strategy,
        "reason": plan.reason,
        "regime": None if plan.regime is None else plan.regime.value,
        "start_ns": plan.start_ns,
        "bucket_ns": plan.bucket_ns,
        "filled_at_start": plan.filled_at_start,
        "targets": targets,
        "due_now": done[-1] if done else plan.filled_at_start,
        "filled_now": p.filled,
    }


def _child(c: ChildOrder) -> dict[str, Any]:
    return {
        "cl_ord_id": c.cl_ord_id,
        "state": c.state.value,
        "qty": c.qty,
        "cum_qty": c.cum_qty,
        "leaves": c.leaves,
        "price": _price(c.order.price),
        "avg_price": _price(c.notional / c.cum_qty) if c.cum_qty else None,
        "tif": c.order.tif.value,
        "sent_ns": c.sent_ns,
        "reason": c.reason,
    }


def parent_detail(engine: Engine, p: ParentExecutor) -> dict[str, Any]:
    """The body of ``GET /parents/{id}``: plan against actual, children, fills, and the latest
    :data:`RECENT_VERDICTS` of the risk gate's non-approvals (``verdicts_total``: all of them)."""
    now = engine.clock.now_ns()
    verdicts = list(engine.verdicts.get(p.id, ()))
    fills = sorted(
        (ts, c.cl_ord_id, qty, price)
        for c in p.children.values()
        for ts, qty, price in c.fills  # the children's, complete (the parent's is windowed)
    )
    return {
        **parent_summary(p),
        "orig_cl_ord_id": p.orig_cl_ord_id,
        "leaves": p.leaves,
        "avg_price": _price(p.avg_price) if p.filled else None,
        "limit_price": _price(p.limit_price),
        "participation_cap": p.cap,
        "start_ns": p.start_ns,
        "end_ns": p.end_ns,
        "now_ns": now,
        "deadline_at_risk": p.deadline_at_risk,
        "ended_reason": p.ended_reason,
        "plan": _plan(p.plan, p, now),
        "replans": len(p.plans),
        "children": [_child(c) for c in p.children.values()],
        "fills": [
            {"ts_ns": ts, "child": child, "qty": qty, "price": _price(price)}
            for ts, child, qty, price in fills
        ],
        "verdicts": [
            {
                "check": v.check,
                "action": v.action.value,
                "qty": v.qty,
                "reason": v.reason,
                "text": v.text,
            }
            for v in verdicts[-RECENT_VERDICTS:]
        ],
        "verdicts_total": engine.verdict_counts.get(p.id, 0),
    }


def _regime(det: RegimeDetector) -> dict[str, Any]:
    st = det.state
    if st is None:  # before the first closed bar
        return {"regime": None, "sigma": None, "adv_score": None, "z": None, "ts_ns": None}
    return {
        "regime": st.regime.value,
        "sigma": st.sigma,
        "sigma_daily": st.sigma_daily,
        "adv_score": st.adv_score,
        "z": st.z,
        "ts_ns": st.ts_ns,
    }


def regimes(engine: Engine) -> dict[str, dict[str, Any]]:
    """The body of ``GET /regimes``: each configured symbol's detector state."""
    return {
        name: {**_regime(sym.detector), "stale": sym.market.stale, "halted": sym.market.halted}
        for name, sym in sorted(engine.symbols.items())
    }


def trading_states(engine: Engine) -> list[dict[str, Any]]:
    """The body of ``GET /trading-state``: the global scope and every scope not ACTIVE."""
    return [
        {
            "scope": scope.value,
            "key": key,
            "state": st.state.label,
            "reason": st.reason,
            "by": st.by,
            "since_ns": st.since_ns,
        }
        for scope, key, st in engine.trading.all()
    ]
