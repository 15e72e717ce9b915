"""Calibration samples from our own fills: the engine working parents in the market simulator.

Each run is one seeded simulator day (:class:`engine.simrun.SimSession`, simulated time, no
sleeping) in which the engine works one parent in the morning (10:00-11:30) and one in the
afternoon (13:30-15:00), both sells, with the given strategy. For every child that took
liquidity (its fills report ``Liquidity.REMOVED``):

* ``shares``: the shares it took; ``cost_bps``: the per-share cost of those fills against the
  mid when the child was sent (positive = paid), the temporary-impact sample;
* ``move_bps``: the mid ``markout_s`` after the send against the mid at the send, signed so
  that positive is the direction our trade pushes (down for a sell), the permanent sample;
* ``session``: 0 morning, 1 afternoon, for the out-of-sample split.

Passive children (fills that added liquidity) are counted and their mean cost reported but not
fitted: a resting order's price is chosen, not impacted. Everything is a pure function of the
seeds, the strategies and the sizes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import structlog
from numpy.typing import NDArray

from adapters.sim.config import MarketConfig
from engine.clock import NS
from engine.config import EngineConfig, SymbolConfig
from engine.events import ExecType, Liquidity, MarketEvent, Quote
from engine.parent_events import ParentOrder
from engine.simrun import SimSession
from strategies.schedule import Side

__all__ = ["FillSamples", "collect_fills", "run_day"]

SESSIONS = ((36_000.0, 41_400.0), (48_600.0, 54_000.0))  # 10:00-11:30, 13:30-15:00


@dataclass(frozen=True, slots=True)
class FillSamples:
    """One row per liquidity-taking child."""

    shares: NDArray[np.float64]
    cost_bps: NDArray[np.float64]
    move_bps: NDArray[np.float64]
    session: NDArray[np.int8]
    passive_shares: float  # shares filled passively, all runs
    passive_cost_bps: float  # their mean per-share cost (negative: we earned)
    runs: int

    def __len__(self) -> int:
        return int(self.shares.size)


@dataclass
class _Run:
    shares: list[float]
    cost: list[float]
    move: list[float]
    session: list[int]
    passive_q: float = 0.0
    passive_cost: float = 0.0  # bps x shares


def run_day(seed: int, strategy: str, qty: int, markout_s: float = 60.0) -> _Run:
    """Work the two parents of one seeded day and return the per-child samples."""
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    cfg = EngineConfig(symbols={"XYZ": SymbolConfig(daily_volume=6_000_000)}, seed=seed)
    s = SimSession(MarketConfig(seed=seed), cfg)
    quotes: list[tuple[int, float]] = []

    def on_market(event: MarketEvent) -> None:
        if isinstance(event, Quote) and event.mid is not None:
            quotes.append((event.ts_event, event.mid))

    s.market.subscribe("XYZ", on_market)
    out = _Run([], [], [], [])
    child_session: dict[str, int] = {}
    for k, (a, b) in enumerate(SESSIONS):
        s.run_until(int(a * NS))
        now = s.clock.now_ns()
        s.engine.submit(
            ParentOrder(
                cl_ord_id=f"P{k}",
                symbol="XYZ",
                side=Side.SELL,
                qty=qty,
                strategy=strategy,
                end_ns=int(b * NS),
                ts_init=now,
            )
        )
        s.run_until(int(b * NS) + round(markout_s * NS) + NS)
        for _, o in s.venue.sent:
            child_session.setdefault(o.cl_ord_id, k)
    qt = np.array([q[0] for q in quotes], dtype=np.int64)
    qm = np.array([q[1] for q in quotes], dtype=np.float64)

    def mid_at(ts: int) -> float:
        i = int(np.searchsorted(qt, ts, side="right")) - 1
        return float(qm[i]) if i >= 0 else float("nan")

    sent = {o.cl_ord_id: (ts, o) for ts, o in s.venue.sent}
    taken: dict[str, list[tuple[int, int]]] = {}
    for r in s.venue.reports:
        if r.exec_type is not ExecType.TRADE or r.last_price is None or r.cl_ord_id not in sent:
            continue
        ts, o = sent[r.cl_ord_id]
        sign = -o.side.sign  # +1 buy, -1 sell (Side.sign is +1 for a sell program)
        m0 = mid_at(ts)
        cost = sign * (r.last_price - m0) / m0 * 1e4
        if r.liquidity is Liquidity.REMOVED:
            taken.setdefault(r.cl_ord_id, []).append((r.last_qty, r.last_price))
        else:
            out.passive_q += r.last_qty
            out.passive_cost += cost * r.last_qty
    for cid, fills in taken.items():
        ts, o = sent[cid]
        q = sum(f[0] for f in fills)
        vwap = sum(f[0] * f[1] for f in fills) / q
        m0, m1 = mid_at(ts), mid_at(ts + round(markout_s * NS))
        sign = -o.side.sign
        out.shares.append(float(q))
        out.cost.append(sign * (vwap - m0) / m0 * 1e4)
        out.move.append(sign * (m1 - m0) / m0 * 1e4)
        out.session.append(child_session[cid])
    return out


def collect_fills(
    seeds: tuple[int, ...] = (1, 2, 3),
    strategies: tuple[str, ...] = ("twap", "pov", "dp"),
    qty: int = 30_000,
    markout_s: float = 60.0,
) -> FillSamples:
    """Run every (seed, strategy) day and pool the liquidity-taking children."""
    runs = [run_day(seed, st, qty, markout_s) for seed in seeds for st in strategies]
    pq = sum(r.passive_q for r in runs)
    return FillSamples(
        shares=np.array([x for r in runs for x in r.shares]),
        cost_bps=np.array([x for r in runs for x in r.cost]),
        move_bps=np.array([x for r in runs for x in r.move]),
        session=np.array([x for r in runs for x in r.session], dtype=np.int8),
        passive_shares=pq,
        passive_cost_bps=sum(r.passive_cost for r in runs) / pq if pq else float("nan"),
        runs=len(runs),
    )
