"""The engine working parents against the market simulator in simulated time.

The venue is the simulator's exchange (a real matching engine); time is a SimClock, driven
with the market's events, so nothing sleeps. Invariants are re-derived from the record by
:func:`engine.simrun.check_invariants`, independently of the engine's own counts.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
import structlog

from adapters.sim.config import MarketConfig
from engine.clock import NS
from engine.config import EngineConfig, RiskConfig, SymbolConfig
from engine.engine import ParentRejected
from engine.events import ExecType, ExecutionReport, NewOrder, OrdStatus, TimeInForce, VenueEvent
from engine.executor import ParentExecutor
from engine.metrics import engine_registry
from engine.orders import ChildState, ParentState
from engine.parent_events import (
    ParentCancel,
    ParentOrder,
    ParentReplace,
    ParentStatusRequest,
    RejectReason,
)
from engine.simrun import RecordingVenue, SimSession, check_invariants
from risk.states import Scope, TradingState
from strategies.regime import Policy
from strategies.schedule import Side

structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))

CFG = EngineConfig(symbols={"XYZ": SymbolConfig(daily_volume=6_000_000)}, seed=3)


def _session(seed: int = 3) -> SimSession:
    s = SimSession(MarketConfig(seed=seed), CFG)
    s.run_for(300)  # a book and a tape to start from
    return s


def _order(s: SimSession, **kw: object) -> ParentOrder:
    now = s.clock.now_ns()
    args: dict[str, object] = dict(
        cl_ord_id="P1",
        symbol="XYZ",
        side=Side.SELL,
        qty=20_000,
        strategy="adaptive",
        end_ns=now + 1200 * NS,
        ts_init=now,
    )
    args.update(kw)
    return ParentOrder(**args)  # type: ignore[arg-type]


@pytest.mark.parametrize("strategy", ["twap", "vwap", "pov", "ac", "dp", "adaptive"])
def test_every_strategy_works_a_parent_to_its_end_within_the_invariants(strategy: str) -> None:
    s = _session()
    p = s.engine.submit(_order(s, strategy=strategy))
    s.run_for(1300)
    assert p.state in (ParentState.FILLED, ParentState.DONE_FOR_DAY)
    assert p.filled >= 0.95 * p.qty
    assert check_invariants(s, cap_window_s=CFG.cap_window_s) == []
    trades = [r for r in s.oms.reports if r.exec_type is ExecType.TRADE]
    assert sum(r.last_qty for r in trades) == p.filled == s.oms.reports[-1].cum_qty
    assert s.oms.reports[0].exec_type is ExecType.NEW
    last = s.oms.reports[-1]
    if p.state is ParentState.FILLED:  # the last fill's own report says FILLED
        assert (last.exec_type, last.ord_status) == (ExecType.TRADE, OrdStatus.FILLED)
    else:
        assert (last.exec_type, last.ord_status) == (ExecType.DONE_FOR_DAY, OrdStatus.DONE_FOR_DAY)
        assert last.leaves_qty == 0 and last.cum_qty == p.filled
    assert not p.live_children
    # Nothing sent at or after the end, and every child was a limit order.
    assert all(ts < p.end_ns for ts, _ in s.venue.sent)
    assert all(o.price is not None for _, o in s.venue.sent)


def test_the_same_seed_gives_the_same_decisions() -> None:
    runs = []
    for _ in range(2):
        s = _session()
        s.engine.submit(_order(s))
        s.run_for(900)
        runs.append([(ts, o.qty, o.price, o.tif) for ts, o in s.venue.sent])
    assert runs[0] == runs[1] and len(runs[0]) > 10


@pytest.mark.parametrize(
    ("change", "reason", "words"),
    [
        (dict(symbol="NOPE"), RejectReason.UNKNOWN_SYMBOL, "unknown symbol"),
        (dict(qty=0), RejectReason.INCORRECT_QUANTITY, "OrderQty"),
        (dict(qty=1_050), RejectReason.INCORRECT_QUANTITY, "lots"),
        (dict(end_ns=0), RejectReason.TOO_LATE, "passed"),
        (dict(end_ns=None), RejectReason.TOO_LATE, "required"),
        (dict(participation_cap=0.3), RejectReason.EXCEEDS_LIMIT, "849"),
        (dict(strategy="moon"), RejectReason.UNSUPPORTED, "unknown strategy"),
        (dict(qty=2_000_000), RejectReason.INFEASIBLE, "infeasible"),
    ],
)
def test_impossible_parents_are_rejected_with_a_reason_and_nothing_is_sent(
    change: dict[str, object], reason: RejectReason, words: str
) -> None:
    s = _session()
    s.engine.on_parent_command(_order(s, **change))
    ((report, code),) = s.oms.rejects
    assert code is reason and words in report.text
    assert report.ord_status is OrdStatus.REJECTED
    s.run_for(60)
    assert s.venue.sent == []
    # The engine goes on: a good order after a bad one works.
    s.engine.on_parent_command(_order(s, cl_ord_id="P2"))
    assert s.oms.reports[-1].exec_type is ExecType.NEW


def test_end_before_start_and_duplicate_clordid_are_rejected() -> None:
    s = _session()
    now = s.clock.now_ns()
    with pytest.raises(ParentRejected, match="not after the start"):
        s.engine.submit(_order(s, start_ns=now + 600 * NS, end_ns=now + 300 * NS))
    s.engine.submit(_order(s))
    with pytest.raises(ParentRejected) as err:
        s.engine.submit(_order(s))
    assert err.value.reason is RejectReason.DUPLICATE


def test_cancel_mid_flight_cancels_children_first_and_no_fill_follows_the_canceled_report() -> None:
    s = _session()
    p = s.engine.submit(_order(s))
    s.run_for(400)
    filled_before = p.filled
    assert filled_before > 0
    s.engine.on_parent_command(
        ParentCancel(
            cl_ord_id="X1",
            orig_cl_ord_id="P1",
            symbol="XYZ",
            side=Side.SELL,
            ts_init=s.clock.now_ns(),
        )
    )
    s.run_for(30)
    kinds = [r.exec_type for r in s.oms.reports]
    assert ExecType.PENDING_CANCEL in kinds and kinds[-1] is ExecType.CANCELED
    assert p.state is ParentState.CANCELED and not p.live_children
    assert s.oms.reports[-1].cl_ord_id == "X1" and s.oms.reports[-1].orig_cl_ord_id == "P1"
    n = len(s.oms.reports)
    s.run_for(600)
    assert len(s.oms.reports) == n  # nothing after the final report
    assert check_invariants(s, cap_window_s=CFG.cap_window_s) == []


def test_replace_down_below_what_may_fill_never_overfills_and_up_trades_more() -> None:
    s = _session()
    p = s.engine.submit(_order(s, qty=20_000))
    s.run_for(300)
    for _ in range(300):  # on to a moment with a resting child to replace below
        if p.working >= 200:
            break
        s.run_for(1)
    assert p.working >= 200, "no working child to replace below"
    down = p.filled + 100 * ((p.working // 100) // 2)
    before = len(s.oms.reports)
    s.engine.on_parent_command(
        ParentReplace(
            cl_ord_id="R1",
            orig_cl_ord_id="P1",
            symbol="XYZ",
            side=Side.SELL,
            ts_init=s.clock.now_ns(),
            qty=down,
        )
    )
    s.run_for(10)  # the venue answers the children's cancels
    # Pending while children could fill past it; then done (the simulator's cancels land
    # before another fill here), under the new ClOrdID.
    kinds = [(r.exec_type, r.cl_ord_id) for r in s.oms.reports[before:]]
    assert kinds[0] == (ExecType.PENDING_REPLACE, "R1")
    assert (ExecType.REPLACED, "R1") in kinds and p.qty == down
    s.run_for(1000)
    assert p.filled <= p.qty
    assert check_invariants(s, cap_window_s=CFG.cap_window_s) == []

    s2 = _session()
    q = s2.engine.submit(_order(s2, qty=10_000))
    s2.run_for(200)
    s2.engine.on_parent_command(
        ParentReplace(
            cl_ord_id="R1",
            orig_cl_ord_id="P1",
            symbol="XYZ",
            side=Side.SELL,
            ts_init=s2.clock.now_ns(),
            qty=16_000,
        )
    )
    s2.run_for(1100)
    assert q.filled > 10_000
    assert check_invariants(s2, cap_window_s=CFG.cap_window_s) == []


def test_replace_and_cancel_of_unknown_or_finished_parents_are_refused() -> None:
    s = _session()
    s.engine.on_parent_command(
        ParentCancel(cl_ord_id="X", orig_cl_ord_id="NOPE", symbol="XYZ", side=Side.SELL, ts_init=0)
    )
    s.engine.on_parent_command(
        ParentReplace(
            cl_ord_id="Y", orig_cl_ord_id="NOPE", symbol="XYZ", side=Side.SELL, ts_init=0, qty=100
        )
    )
    assert [r.reason for r in s.oms.cancel_rejects] == ["unknown order", "unknown order"]
    s.engine.submit(_order(s))
    s.engine.on_parent_command(
        ParentReplace(
            cl_ord_id="Z",
            orig_cl_ord_id="P1",
            symbol="XYZ",
            side=Side.SELL,
            ts_init=0,
            participation_cap=0.5,
        )
    )
    assert "849" in s.oms.cancel_rejects[-1].reason


def test_status_request_answers_with_the_parent_state() -> None:
    s = _session()
    p = s.engine.submit(_order(s))
    s.run_for(200)
    s.engine.on_parent_command(
        ParentStatusRequest(cl_ord_id="P1", symbol="XYZ", side=Side.SELL, ts_init=0)
    )
    r = s.oms.reports[-1]
    assert r.exec_type is ExecType.ORDER_STATUS and r.cum_qty == p.filled
    assert r.leaves_qty == p.qty - p.filled


def test_lost_venue_session_makes_children_unknown_until_status_answers() -> None:
    s = _session()
    p = s.engine.submit(_order(s))
    s.run_for(120)
    while not p.live_children:
        s.run_for(1)
    s.engine.on_venue_session(False)
    (child,) = p.live_children
    assert child.state.value in ("unknown", "pending_cancel")
    assert child.leaves > 0  # may still fill: counted as working
    sent = len(s.venue.sent)
    s.run_for(30)
    assert len(s.venue.sent) == sent  # nothing new while a child's outcome is unknown
    s.engine.on_venue_session(True)
    s.run_for(5)
    assert child.state.final or child.state.value in ("new", "partially_filled")
    s.run_for(1100)
    assert all(c.state.final for c in p.children.values())
    assert check_invariants(s, cap_window_s=CFG.cap_window_s) == []


def test_halt_cancels_children_and_stops_sending_until_resumed() -> None:
    s = _session()
    p = s.engine.submit(_order(s))
    s.run_for(200)
    s.engine.halt(p.id)
    s.run_for(10)
    assert not p.live_children
    sent = len(s.venue.sent)
    s.run_for(120)
    assert len(s.venue.sent) == sent
    s.engine.resume(p.id)
    s.run_for(1000)
    assert len(s.venue.sent) > sent and p.state.final
    assert check_invariants(s, cap_window_s=CFG.cap_window_s) == []


def test_stale_market_data_pulls_resting_children_and_holds_until_fresh() -> None:
    s = _session()
    p = s.engine.submit(_order(s, strategy="twap"))
    for _ in range(600):  # simulated seconds, until a passive child rests at the venue
        s.run_for(1)
        resting = [c for c in p.live_children if c.order.tif is TimeInForce.DAY]
        if resting and resting[0].state is ChildState.NEW:
            break
    else:
        raise AssertionError("no resting child in 600 s")
    s.engine.on_market_stale("XYZ", True)
    assert [c.orig_cl_ord_id for _, c in s.venue.cancels][-1] == resting[0].cl_ord_id
    sent = len(s.venue.sent)
    s.run_for(120)  # the book and tape keep coming; the feed's verdict is what counts
    assert len(s.venue.sent) == sent and not p.live_children
    s.engine.on_market_stale("XYZ", False)
    s.run_for(1)
    assert len(s.venue.sent) > sent
    s.run_for(1200)
    assert p.state.final and check_invariants(s, cap_window_s=CFG.cap_window_s) == []


def test_no_child_fills_after_the_expiry_the_gate_let_it_in_on() -> None:
    # A passive child sent late in a plan bucket lives only to the bucket's end (plus the
    # cancel allowance): the gate counted only the market volume still in the cap window then.
    # It must be cancelled at that time to live, not the configured maximum, or it fills
    # against a window that has lost the volume.
    s = _session()  # on this seeded day two pov children outlived their expiry before the fix
    p = s.engine.submit(_order(s, strategy="pov"))
    s.run_for(1500)
    children = p.children.values()
    short = [
        c
        for c in children
        if c.order.tif is TimeInForce.DAY and c.stale_ns - c.sent_ns < round(CFG.child_ttl_s * NS)
    ]
    assert short, "no child was cut to its bucket's end: the test shows nothing"
    cancelled_at = {c.orig_cl_ord_id: ts for ts, c in s.venue.cancels}
    for c in short:
        if c.cl_ord_id in cancelled_at:
            assert cancelled_at[c.cl_ord_id] <= c.stale_ns + NS // 1000
    late = [
        (r.cl_ord_id, r.ts_event - p.children[r.cl_ord_id].expires_ns)
        for r in s.venue.reports
        if r.exec_type is ExecType.TRADE
        and r.cl_ord_id in p.children
        and r.ts_event > p.children[r.cl_ord_id].expires_ns
    ]
    assert late == []
    assert p.state.final and check_invariants(s, cap_window_s=CFG.cap_window_s) == []


def _worked(strategy: str, urgency: float, seconds: float = 300) -> ParentExecutor:
    s = _session()
    p = s.engine.submit(_order(s, strategy=strategy, qty=30_000, urgency=urgency))
    s.run_for(seconds)
    assert check_invariants(s, cap_window_s=CFG.cap_window_s) == []
    return p


@pytest.mark.parametrize("strategy", ["ac", "dp", "adaptive"])
def test_urgency_front_loads_the_plan_and_trades_faster_within_the_cap(strategy: str) -> None:
    patient, neutral, urgent = (_worked(strategy, u) for u in (0.0, 0.5, 1.0))
    firsts = [p.plans[0].cum_targets[0] for p in (patient, neutral, urgent)]
    assert firsts == sorted(firsts) and firsts[0] < firsts[2]
    assert urgent.filled > 1.5 * neutral.filled


def test_urgency_zero_works_every_bucket_passively_and_one_goes_marketable() -> None:
    patient, urgent = _worked("twap", 0.0), _worked("twap", 1.0)
    assert patient.filled > 0
    assert all(c.order.tif is TimeInForce.DAY for c in patient.children.values())
    assert any(c.order.tif is TimeInForce.IOC for c in urgent.children.values())


@pytest.mark.parametrize("urgency", [-0.1, 1.5, float("nan")])
def test_urgency_outside_zero_to_one_is_rejected_naming_it(urgency: float) -> None:
    s = _session()
    s.engine.on_parent_command(_order(s, urgency=urgency))
    report, reason = s.oms.rejects[0]
    assert reason is RejectReason.UNSUPPORTED and "Urgency" in report.text
    assert s.venue.sent == []


class _IocEndsLost(RecordingVenue):
    """Acknowledges every child, but an IOC's end (its fill or expiry) never arrives: only a
    status request can tell the engine how it ended."""

    def connect(self, sink: Callable[[VenueEvent], None]) -> None:
        def lossy(event: VenueEvent) -> None:
            if (
                isinstance(event, ExecutionReport)
                and event.exec_type not in (ExecType.NEW, ExecType.ORDER_STATUS)
                and any(o.cl_ord_id == event.cl_ord_id for _, o in self.iocs)
            ):
                return
            sink(event)

        super().connect(lossy)

    @property
    def iocs(self) -> list[tuple[int, NewOrder]]:
        return [(t, o) for t, o in self.sent if o.tif is TimeInForce.IOC]


def test_an_acked_ioc_whose_end_is_lost_is_asked_about_at_its_ack_timeout() -> None:
    # Nothing else would wake the parent soon: the IOC is acknowledged (so no ack timer
    # fires), the cap is far, and its next bucket boundary is up to a minute away.
    s = SimSession(MarketConfig(seed=3), CFG, venue=_IocEndsLost)
    s.run_for(300)
    p = s.engine.submit(_order(s, strategy="twap", urgency=1.0))  # marketable children
    s.run_for(1300)
    venue = s.venue
    assert isinstance(venue, _IocEndsLost) and len(venue.iocs) >= 3
    asked: dict[str, int] = {}
    for t, r in venue.status_requests:
        asked.setdefault(r.cl_ord_id, t)
    for _, order in venue.iocs:
        child = p.children[order.cl_ord_id]
        # Asked by its ack timeout at the latest, not at some later market event or bucket
        # boundary (the venue's record is in market time, a hair behind the engine's clock).
        delay = asked[order.cl_ord_id] - child.sent_ns
        assert delay <= round(CFG.ack_timeout_s * NS) + NS // 100, (order.cl_ord_id, delay)
        assert child.state.final  # the status answer settled it
    assert p.state.final and p.filled > 0
    assert check_invariants(s, cap_window_s=CFG.cap_window_s) == []


def test_the_venue_rate_limit_holds_new_children_back_and_counts_cancels() -> None:
    slow = CFG.model_copy(
        update={"risk": RiskConfig(orders_per_s=0.02, orders_burst=2)}
    )  # a message every 50 s
    s = SimSession(MarketConfig(seed=3), slow)
    s.run_for(300)
    p = s.engine.submit(_order(s, strategy="pov", urgency=1.0))
    s.run_for(600)
    messages = len(s.venue.sent) + len(s.venue.cancels)
    assert 2 <= messages <= 2 + 0.02 * 600 + 1  # the burst, then one per 50 s
    denied = [v for v in s.engine.verdicts[p.id] if v.reason == "rate"]
    assert denied and denied[-1].check == "rate"
    assert check_invariants(s, cap_window_s=CFG.cap_window_s) == []


def test_reducing_replans_at_full_urgency_and_trades_faster_within_the_cap() -> None:
    def run(reducing: bool) -> ParentExecutor:
        s = _session()
        p = s.engine.submit(_order(s, strategy="ac", qty=30_000))
        s.run_for(60)
        if reducing:
            plans = len(p.plans)
            s.engine.set_trading_state(
                Scope.PARENT, p.id, TradingState.REDUCING, reason="VaR", by="test"
            )
            assert p.effective_urgency == 1.0 and len(p.plans) == plans + 1  # re-planned now
        s.run_for(300)
        assert check_invariants(s, cap_window_s=CFG.cap_window_s) == []
        return p

    calm, reducing = run(False), run(True)
    assert reducing.filled > 1.3 * calm.filled


def test_a_symbol_halt_stops_its_parents_and_spares_a_parent_halted_on_its_own() -> None:
    s = _session()
    a = s.engine.submit(_order(s, cl_ord_id="A"))
    b = s.engine.submit(_order(s, cl_ord_id="B", side=Side.BUY))
    s.run_for(120)
    s.engine.halt(b.id, reason="desk")
    s.engine.set_trading_state(Scope.SYMBOL, "XYZ", TradingState.HALTED, reason="news")
    s.run_for(10)
    assert a.halted and b.halted and not a.live_children and not b.live_children
    sent = len(s.venue.sent)
    s.run_for(120)
    assert len(s.venue.sent) == sent
    s.engine.set_trading_state(Scope.SYMBOL, "XYZ", TradingState.ACTIVE, reason="reset")
    s.run_for(60)
    assert not a.halted and b.halted  # B's own halt needs its own reset
    assert any(c.sent_ns > s.clock.now_ns() - 60 * NS for c in a.children.values())
    assert all(c.sent_ns < s.clock.now_ns() - 60 * NS for c in b.children.values())


def _breaker_session(risk: RiskConfig, side: Side = Side.SELL) -> tuple[SimSession, ParentExecutor]:
    s = SimSession(MarketConfig(seed=3), CFG.model_copy(update={"risk": risk}))
    s.run_for(300)
    return s, s.engine.submit(_order(s, side=side))


def test_the_var_breaker_sets_reducing_at_the_plan_and_the_plan_is_the_urgent_one() -> None:
    _, calm = _breaker_session(RiskConfig(var_limit=0.0))  # off
    s, p = _breaker_session(RiskConfig(var_limit=100.0))  # any remainder is above it
    assert calm.var is not None and calm.var > 100.0 and calm.trading.state is TradingState.ACTIVE
    assert (p.trading.state, p.trading.by) == (TradingState.REDUCING, "breaker:var")
    assert "VaR" in p.trading.reason and s.engine.breaker_trips["breaker:var"] == 1
    # The very first plan already trades at full urgency: front-loaded against the calm twin.
    assert p.plans[0].cum_targets[0] > calm.plans[0].cum_targets[0]
    s.run_for(1300)
    assert s.engine.breaker_trips["breaker:var"] == 1  # raised once, held until a reset
    assert check_invariants(s, cap_window_s=CFG.cap_window_s) == []


def test_the_shortfall_breaker_halts_the_parent_and_tells_the_oms_until_a_reset() -> None:
    # A tight band (0.5 sd) that this seeded day's price path leaves.
    s, p = _breaker_session(RiskConfig(shortfall_z=0.5))
    while not p.halted and not p.state.final:
        s.run_for(5)
    assert p.halted and s.engine.breaker_trips["breaker:shortfall"] == 1
    assert (
        p.trading.by == "breaker:shortfall" and "past the plan's expected cost" in p.trading.reason
    )
    # The OMS saw the breaching fill, then the suspension, with the reason.
    trade, suspended = s.oms.reports[-2:]
    assert trade.exec_type is ExecType.TRADE
    assert (suspended.exec_type, suspended.ord_status) == (ExecType.SUSPENDED, OrdStatus.SUSPENDED)
    assert "shortfall" in suspended.text
    s.run_for(10)
    sent = len(s.venue.sent)
    s.run_for(120)
    assert len(s.venue.sent) == sent and not p.live_children  # halted: nothing works
    reported = len(s.oms.reports)
    s.engine.set_trading_state(Scope.PARENT, p.id, TradingState.ACTIVE, reason="desk reviewed")
    assert s.oms.reports[reported].exec_type is ExecType.RESTATED
    assert "desk reviewed" in s.oms.reports[reported].text
    s.run_for(60)
    assert len(s.venue.sent) > sent
    assert check_invariants(s, cap_window_s=CFG.cap_window_s) == []


def _projection_session(policy: str, qty: int) -> tuple[SimSession, ParentExecutor]:
    cfg = CFG.model_copy(
        update={
            "feasibility_margin": 10.0,  # let it in: the projection is what is tested
            "risk": RiskConfig(infeasible_policy=policy),  # type: ignore[arg-type]
        }
    )
    s = SimSession(MarketConfig(seed=3), cfg)
    s.run_for(300)
    return s, s.engine.submit(_order(s, qty=qty, strategy="twap"))


def test_a_parent_near_what_the_cap_allows_is_at_risk_alerted_once_and_loses_its_slack() -> None:
    # What the cap allows to the end time, read from a parent that fits easily; then a parent
    # asking for 95% of it.
    _, probe = _projection_session("respect_cap", 1_000)
    assert probe.deadline_ratio is not None and not probe.deadline_at_risk
    capacity = 1_000 / probe.deadline_ratio
    s, p = _projection_session("respect_cap", int(0.95 * capacity) // 100 * 100)
    assert p.deadline_at_risk and 0.9 < p.deadline_ratio <= 1.0  # type: ignore[operator]
    assert s.engine.alerts["deadline at risk"] == 1 and p.effective_urgency == 1.0
    s.run_for(1300)
    assert s.engine.alerts["deadline at risk"] <= 2  # once per time it became at risk
    assert check_invariants(s, cap_window_s=CFG.cap_window_s) == []  # the tail within the cap


@pytest.mark.parametrize("policy", ["respect_cap", "stop"])
def test_an_impossible_parent_follows_the_policy_and_never_breaks_the_cap(policy: str) -> None:
    s, p = _projection_session(policy, 200_000)  # several times what the cap allows
    assert p.deadline_ratio is not None and p.deadline_ratio > 1.0
    if policy == "stop":
        s.run_for(5)
        assert p.state is ParentState.DONE_FOR_DAY and "cannot finish" in p.ended_reason
        last = s.oms.reports[-1]
        assert last.exec_type is ExecType.DONE_FOR_DAY and "cannot finish" in last.text
    else:
        s.run_for(1300)
        assert p.state is ParentState.DONE_FOR_DAY and 0 < p.filled < p.qty
        assert "end time reached" in p.ended_reason
    assert check_invariants(s, cap_window_s=CFG.cap_window_s) == []


def test_global_halt_refuses_new_parents() -> None:
    s = _session()
    s.engine.halt()
    s.engine.on_parent_command(_order(s))
    assert s.oms.rejects[0][1] is RejectReason.EXCHANGE_CLOSED


@pytest.mark.parametrize("strategy", ["pov", "adaptive", "twap"])
@pytest.mark.parametrize("seed", [3, 5, 7])
def test_a_parent_feasible_under_the_cap_fills_before_its_end_time(
    strategy: str, seed: int
) -> None:
    # The last lots must not rest passively until the deadline ends the parent short.
    s = _session(seed)
    p = s.engine.submit(_order(s, strategy=strategy, qty=30_000))
    s.run_for(1300)
    assert p.state is ParentState.FILLED, (p.state, p.qty - p.filled)
    assert check_invariants(s, cap_window_s=CFG.cap_window_s) == []


@pytest.mark.parametrize("seed", [3, 5, 7])
def test_a_stealthy_parent_drops_its_random_gaps_in_the_final_push_and_fills(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under the ADV tactics at their most random (gaps of up to a whole child life between
    children, sizes shrunk by up to half) the last minute must still get the remainder out:
    stealth is worth nothing once the deadline is that close."""
    stealth = Policy(
        risk_aversion_mult=1.0,
        impact_mult=1.0,
        max_child_depth_frac=0.1,
        passive_fraction=0.8,
        display_frac=0.0,
        time_jitter=1.0,
        size_jitter=0.5,
    )
    monkeypatch.setattr(ParentExecutor, "_policy", lambda self: stealth)
    s = _session(seed)
    p = s.engine.submit(_order(s, qty=30_000))
    s.run_for(1300)
    assert p.state is ParentState.FILLED, (p.state, p.qty - p.filled)
    assert check_invariants(s, cap_window_s=CFG.cap_window_s) == []


def _child_totals(s: SimSession) -> dict[str, float]:
    registry = engine_registry(s.engine)
    return {
        sample.labels["state"]: sample.value
        for metric in registry.collect()
        if metric.name == "unwind_child_orders"
        for sample in metric.samples
        if sample.name == "unwind_child_orders_total"
    }


def test_a_finished_parent_is_forgotten_after_its_retention_and_only_then() -> None:
    s = SimSession(MarketConfig(seed=3), CFG.model_copy(update={"finished_retention_s": 600.0}))
    s.run_for(300)
    keep = s.engine.submit(_order(s, cl_ord_id="KEEP", end_ns=s.clock.now_ns() + 3000 * NS))
    gone = s.engine.submit(_order(s, cl_ord_id="GONE", side=Side.BUY))
    s.run_for(120)
    s.engine.on_parent_command(
        ParentCancel(
            cl_ord_id="GONE-X", orig_cl_ord_id="GONE", symbol="XYZ", side=Side.BUY, ts_init=0
        )
    )
    s.run_for(60)
    assert gone.state is ParentState.CANCELED and gone.children

    def status(cl_ord_id: str) -> OrdStatus:
        s.engine.on_parent_command(
            ParentStatusRequest(cl_ord_id=cl_ord_id, symbol="XYZ", side=Side.BUY, ts_init=0)
        )
        return s.oms.reports[-1].ord_status

    s.run_for(500)  # within the retention: still answered, by either of its ClOrdIDs
    assert status("GONE") is OrdStatus.CANCELED and status("GONE-X") is OrdStatus.CANCELED
    before = _child_totals(s)
    s.run_for(120)  # past it: forgotten, answered as an unknown order
    after = _child_totals(s)  # a counter: its children still count
    assert all(after[k] >= v for k, v in before.items()), (before, after)
    assert status("GONE-X") is OrdStatus.REJECTED and "unknown" in s.oms.reports[-1].text.lower()
    assert gone.id not in s.engine.parents and gone.id not in s.engine.reports
    assert not [c for c in s.engine._children if c.startswith(f"{gone.id}-")]
    # The other parent is untouched and still works.
    assert s.engine.parents[keep.id] is keep and not keep.state.final
    assert s.engine.parent_by_clordid("KEEP") is keep
    assert all(s.engine._children[c] is keep.children[c] for c in keep.children)
