"""The engine's invariants across seeded markets, orders and venue faults (hypothesis).

Each example runs a whole parent against the market simulator with the FIX simulator's
delivery faults on the venue's reports (dropped, duplicated, delayed, fills held past a
cancel, random rejects), then checks, from the record and independently of the engine's
counts: no overfill, no fill beyond the cap over the window or since the start, nothing sent
at or after the deadline, no child sent while another could still fill, and the engine's
fills equal the venue's.
"""

from __future__ import annotations

import logging

import structlog
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.fixsim.faults import FaultConfig
from adapters.sim.config import AdversaryConfig, MarketConfig
from engine.clock import NS
from engine.config import EngineConfig, SymbolConfig
from engine.parent_events import ParentOrder
from engine.simrun import SimSession, check_invariants
from strategies.schedule import Side

structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(1, 10_000),
    strategy=st.sampled_from(["twap", "vwap", "pov", "ac", "dp", "adaptive"]),
    side=st.sampled_from([Side.BUY, Side.SELL]),
    lots=st.integers(10, 300),
    minutes=st.integers(5, 20),
    cap=st.sampled_from([0.05, 0.1, 0.15]),
    faults=st.booleans(),
    adversary=st.booleans(),
)
def test_no_overfill_cap_deadline_or_double_live_child(
    seed: int,
    strategy: str,
    side: Side,
    lots: int,
    minutes: int,
    cap: float,
    faults: bool,
    adversary: bool,
) -> None:
    cfg = EngineConfig(
        symbols={"XYZ": SymbolConfig(daily_volume=6_000_000)},
        seed=seed,
        feasibility_margin=10.0,  # let infeasible parents in: the cap must hold anyway
    )
    fc = (
        FaultConfig(
            seed=seed,
            drop_reports=0.05,
            duplicate_reports=0.1,
            delay_acks=0.1,
            fill_after_cancel=0.1,
            reject_orders=0.05,
        )
        if faults
        else None
    )
    market = MarketConfig(seed=seed, adversaries=(AdversaryConfig(),) if adversary else ())
    s = SimSession(market, cfg, fc)
    s.run_for(120)
    now = s.clock.now_ns()
    p = s.engine.submit(
        ParentOrder(
            cl_ord_id="P",
            symbol="XYZ",
            side=side,
            qty=100 * lots,
            strategy=strategy,
            end_ns=now + minutes * 60 * NS,
            ts_init=now,
            participation_cap=cap,
        )
    )
    s.run_for(minutes * 60 + 60)
    assert check_invariants(s, cap_window_s=cfg.cap_window_s) == []
    assert p.state.final, p.state
    assert all(c.state.final for c in p.children.values())
