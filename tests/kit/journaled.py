"""A journaled parent on the simulated market: the set-up of the tests that read a journal
back (``unwind tca``)."""

from __future__ import annotations

from adapters.sim.config import MarketConfig
from engine.clock import NS
from engine.config import EngineConfig
from engine.executor import ParentExecutor
from engine.journal import Journal
from engine.parent_events import ParentOrder
from engine.simrun import SimSession
from strategies.schedule import Side

__all__ = ["run_journaled_parent"]


def run_journaled_parent(
    journal: Journal,
    cfg: EngineConfig,
    side: Side,
    qty: int,
    strategy: str,
    horizon_s: int,
    *,
    market: MarketConfig | None = None,
) -> tuple[SimSession, ParentExecutor]:
    """Five minutes of ``market`` (default: symbol ``XYZ``, seed 2), then one parent (the
    OMS's ``P1``) over ``horizon_s``, run 100 s past its end; the journal closed."""
    s = SimSession(market or MarketConfig(seed=2), cfg, journal=journal)
    s.run_for(300)
    now = s.clock.now_ns()
    p = s.engine.submit(
        ParentOrder(
            cl_ord_id="P1",
            symbol="XYZ",
            side=side,
            qty=qty,
            strategy=strategy,
            end_ns=now + horizon_s * NS,
            ts_init=now,
        )
    )
    s.run_for(horizon_s + 100)
    journal.close()
    return s, p
