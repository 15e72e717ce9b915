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
import os

import structlog
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.fixsim.faults import FaultConfig
from adapters.sim.config import AdversaryConfig, MarketConfig
from engine.clock import NS
from engine.config import EngineConfig, RiskConfig, SymbolConfig
from engine.parent_events import ParentOrder
from engine.simrun import SimSession, check_invariants
from risk.states import Scope, TradingState
from strategies.schedule import Side

structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))

# A deeper search than CI's: UNWIND_PROPERTY_EXAMPLES=200 make test (see docs/risk.md).
EXAMPLES = int(os.environ.get("UNWIND_PROPERTY_EXAMPLES", "25"))


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
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


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(1, 10_000),
    strategies=st.lists(st.sampled_from(["twap", "pov", "ac", "adaptive"]), min_size=2, max_size=4),
    symbol_cap=st.sampled_from([0.1, 0.15]),
    halt_at=st.integers(60, 400),
    halt_for=st.integers(10, 200),
    scope=st.sampled_from(["global", "symbol", "parent"]),
    reducing=st.booleans(),
)
def test_parents_sharing_a_symbol_hold_its_cap_and_a_halt_stops_every_child(
    seed: int,
    strategies: list[str],
    symbol_cap: float,
    halt_at: int,
    halt_for: int,
    scope: str,
    reducing: bool,
) -> None:
    cfg = EngineConfig(
        symbols={"XYZ": SymbolConfig(daily_volume=6_000_000)},
        seed=seed,
        feasibility_margin=10.0,
        risk=RiskConfig(symbol_participation=symbol_cap),
    )
    s = SimSession(MarketConfig(seed=seed), cfg, FaultConfig(seed=seed, drop_reports=0.05))
    s.run_for(120)
    now = s.clock.now_ns()
    parents = [
        s.engine.submit(
            ParentOrder(
                cl_ord_id=f"P{i}",
                symbol="XYZ",
                side=Side.SELL if i % 2 else Side.BUY,
                qty=20_000,
                strategy=strategy,
                end_ns=now + 900 * NS,
                ts_init=now,
                participation_cap=0.1,
            )
        )
        for i, strategy in enumerate(strategies)
    ]
    s.run_for(halt_at)
    key = {"global": "", "symbol": "XYZ", "parent": parents[0].id}[scope]
    engine = s.engine
    if reducing:  # the breaker's state: faster, within the caps
        engine.set_trading_state(Scope(scope), key, TradingState.REDUCING, reason="test")
    engine.set_trading_state(Scope(scope), key, TradingState.HALTED, reason="test")
    halted = [parents[0]] if scope == "parent" else parents
    sent_at_halt = {p.id: len(p.children) for p in halted}
    s.run_for(halt_for)
    for p in halted:  # nothing new while halted, and nothing left working
        assert len(p.children) == sent_at_halt[p.id] and not p.live_children
    engine.set_trading_state(Scope(scope), key, TradingState.ACTIVE, reason="reset")
    s.run_for(1_000)
    assert check_invariants(s, cap_window_s=cfg.cap_window_s) == []
    assert all(p.state.final for p in parents)


def test_symbol_cap_holds_on_the_day_a_child_outlived_its_bucket() -> None:
    # Found at 100 examples: a child sent late in a bucket was let in on the volume to the
    # bucket's end but was only cancelled at the configured time to live, and filled 3 s after
    # its expiry; the symbol's 15% cap overshot (21,300 of 141,200).
    test_parents_sharing_a_symbol_hold_its_cap_and_a_halt_stops_every_child.hypothesis.inner_test(  # type: ignore[attr-defined]
        seed=88,
        strategies=["adaptive", "adaptive", "adaptive", "pov"],
        symbol_cap=0.15,
        halt_at=88,
        halt_for=86,
        scope="global",
        reducing=False,
    )
