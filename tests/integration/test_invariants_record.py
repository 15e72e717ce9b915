"""The invariant checks catch what they exist to catch (:mod:`engine.invariants`).

One clean session against the market simulator, then its record altered one way at a time
the way a broken engine or venue would leave it: each alteration must be named, by kind.
"""

from __future__ import annotations

import dataclasses
import logging

import pytest
import structlog

from adapters.sim.config import MarketConfig
from engine.clock import NS
from engine.config import EngineConfig, SymbolConfig
from engine.events import ExecType, ExecutionReport
from engine.executor import ParentExecutor
from engine.invariants import Kind, Record, check_ends, find_violations, window_peaks
from engine.orders import ParentState
from engine.parent_events import ParentOrder
from engine.simrun import SimSession
from strategies.schedule import Side

structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))

CFG = EngineConfig(symbols={"XYZ": SymbolConfig(daily_volume=6_000_000)}, seed=5)
WINDOW = CFG.cap_window_s


Run = tuple[SimSession, ParentExecutor]


@pytest.fixture(scope="module")
def run() -> Run:
    s = SimSession(MarketConfig(seed=5), CFG)
    s.run_for(300)
    now = s.clock.now_ns()
    p = s.engine.submit(
        ParentOrder(
            cl_ord_id="P1",
            symbol="XYZ",
            side=Side.SELL,
            qty=8_000,
            strategy="twap",
            end_ns=now + 600 * NS,
            ts_init=now,
        )
    )
    s.run_for(700)
    assert p.state is ParentState.FILLED and len(p.children) >= 3
    return s, p


def _kinds(record: Record, **oms: int) -> set[Kind]:
    found = find_violations(record, cap_window_s=WINDOW) + check_ends(record, oms_cum=oms or None)
    return {v.kind for v in found}


def _ends(r: ExecutionReport, cl_ord_id: str) -> bool:
    """``r`` says the venue is done with order ``cl_ord_id``."""
    final = r.exec_type in (ExecType.CANCELED, ExecType.REJECTED, ExecType.EXPIRED) or (
        r.exec_type is ExecType.TRADE and r.leaves_qty == 0
    )
    return final and cl_ord_id in (r.cl_ord_id, r.orig_cl_ord_id)


def _sent(p: ParentExecutor) -> list[str]:
    return [c.cl_ord_id for c in sorted(p.children.values(), key=lambda c: c.sent_ns)]


def test_record_when_clean_then_nothing_and_the_peak_is_within_the_cap(run: Run) -> None:
    s, p = run
    assert _kinds(s.record(), P1=p.filled) == set()
    assert 0 < window_peaks(s, cap_window_s=WINDOW)[p.id] <= p.cap


def test_record_when_the_venue_filled_more_than_the_parent_then_overfill(run: Run) -> None:
    s, p = run
    last = next(r for r in reversed(s.venue.reports) if r.exec_type is ExecType.TRADE)
    extra = dataclasses.replace(
        last, exec_id="X1", last_qty=100, cum_qty=last.cum_qty + p.qty, leaves_qty=0
    )
    record = dataclasses.replace(s.record(), reports=[*s.venue.reports, extra])
    assert {Kind.OVERFILL, Kind.FILLS} <= _kinds(record)


def test_record_when_the_tape_is_thin_then_cap_breach(run: Run) -> None:
    s, _ = run
    record = dataclasses.replace(s.record(), tape=s.tape[::10])
    assert Kind.CAP in _kinds(record)


def test_record_when_a_child_went_out_at_the_deadline_then_named(run: Run) -> None:
    s, p = run
    child = p.children[_sent(p)[-1]]
    was = child.sent_ns
    child.sent_ns = p.end_ns
    try:
        assert Kind.DEADLINE in _kinds(s.record())
    finally:
        child.sent_ns = was


def test_arrivals_when_the_next_child_arrived_before_the_last_ended_then_two_live(run: Run) -> None:
    # Over FIX the order of children is judged on the venue's clock alone: arrivals.
    s, p = run
    a, b = _sent(p)[:2]
    a_ended = next(r.ts_event for r in s.venue.reports if _ends(r, a))
    arrivals = {c.cl_ord_id: c.sent_ns for c in p.children.values()}
    assert _kinds(dataclasses.replace(s.record(), arrivals=arrivals)) == set()
    early = arrivals | {b: a_ended - 1}
    assert _kinds(dataclasses.replace(s.record(), arrivals=early)) == {Kind.TWO_LIVE}
    # A child that never reached the venue could not fill: it conflicts with nothing.
    lost = {k: v for k, v in early.items() if k != a}
    assert Kind.TWO_LIVE not in _kinds(dataclasses.replace(s.record(), arrivals=lost))


def test_arrivals_when_a_child_was_adopted_late_then_judged_by_when_it_reached_the_venue(
    run: Run,
) -> None:
    # Found by the SIGKILL crash tests: a child the dead process sent unjournaled is adopted
    # after the restart, its sent_ns the adoption's time, later than children sent after it.
    s, p = run
    first = p.children[_sent(p)[0]]
    arrivals = {c.cl_ord_id: c.sent_ns for c in p.children.values()}
    was = first.sent_ns
    first.sent_ns = max(c.sent_ns for c in p.children.values()) + 1
    try:
        assert _kinds(dataclasses.replace(s.record(), arrivals=arrivals)) == set()
    finally:
        first.sent_ns = was


def test_arrivals_when_the_venue_got_an_order_no_parent_owns_then_orphan(run: Run) -> None:
    s, p = run
    arrivals = {c.cl_ord_id: c.sent_ns for c in p.children.values()} | {"STRAY-1": p.start_ns}
    assert _kinds(dataclasses.replace(s.record(), arrivals=arrivals)) == {Kind.ORPHAN}


def test_ends_when_a_child_never_ended_at_venue_or_the_oms_heard_less_then_named(
    run: Run,
) -> None:
    s, p = run
    first = _sent(p)[0]
    kept = [r for r in s.venue.reports if not _ends(r, first)]
    assert Kind.END in _kinds(dataclasses.replace(s.record(), reports=kept))
    assert _kinds(s.record(), P1=p.filled - 100) == {Kind.END}
