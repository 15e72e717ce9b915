"""The gate's three invariants, one check at a time and as a chain."""

from __future__ import annotations

from dataclasses import replace

import pytest

from risk.gate import (
    Action,
    GateView,
    check_deadline,
    check_market_data,
    check_no_overfill,
    check_participation,
    run_gate,
)

VIEW = GateView(
    now_ns=100,
    end_ns=1_000,
    parent_qty=10_000,
    filled=2_000,
    working=500,
    lot=100,
    cap=0.15,
    ours_window=2_000,
    market_window_kept=40_000,
    ours_since_start=2_000,
    market_since_start=40_000,
)


def test_no_overfill_counts_working_children_at_their_whole_leaves() -> None:
    v = check_no_overfill(VIEW, 8_000)
    assert v.action is Action.CLIP and v.qty == 7_500
    assert check_no_overfill(replace(VIEW, working=8_000), 100).action is Action.DENY


def test_participation_room_counts_our_own_children_as_market_volume() -> None:
    # (0.15 * 40000 - 2000) / 0.85 - 500 = 4205.9 -> 4200 in lots.
    v = check_participation(VIEW, 9_000)
    assert v.action is Action.CLIP and v.qty == 4_200
    ours = VIEW.ours_window + VIEW.working + v.qty
    assert ours <= 0.15 * (VIEW.market_window_kept + VIEW.working + v.qty)
    # One more lot would break it.
    ours += 100
    assert ours > 0.15 * (VIEW.market_window_kept + VIEW.working + v.qty + 100)


def test_participation_takes_the_tighter_of_window_and_since_start() -> None:
    tight = replace(VIEW, market_since_start=15_000)
    assert check_participation(tight, 9_000).qty < check_participation(VIEW, 9_000).qty


def test_participation_denies_when_volume_in_window_is_gone() -> None:
    v = check_participation(replace(VIEW, market_window_kept=10_000), 100)
    assert v.action is Action.DENY and v.reason == "cap"


def test_deadline_denies_at_the_end_time_itself() -> None:
    assert check_deadline(replace(VIEW, now_ns=1_000), 100).action is Action.DENY
    assert check_deadline(replace(VIEW, now_ns=999), 100).action is Action.APPROVE


def test_chain_stops_at_the_first_denial_and_a_failing_check_fails_closed() -> None:
    qty, verdicts = run_gate(replace(VIEW, now_ns=2_000), 100)
    assert qty == 0 and [v.check for v in verdicts] == ["deadline"]

    def broken(view: GateView, q: int) -> object:
        raise KeyError("no volume data")

    qty, verdicts = run_gate(VIEW, 100, (check_deadline, broken))  # type: ignore[arg-type]
    assert qty == 0 and verdicts[-1].reason == "error"


@pytest.mark.parametrize("qty", [0, -100])
def test_nothing_to_send_is_denied(qty: int) -> None:
    assert run_gate(VIEW, qty)[0] == 0


def test_market_data_denies_stale_or_halted_symbols_before_any_quantity_check() -> None:
    assert check_market_data(VIEW, 100).action is Action.APPROVE
    for view, reason in (
        (replace(VIEW, market_stale=True), "stale_data"),
        (replace(VIEW, market_halted=True), "halted"),
    ):
        qty, verdicts = run_gate(view, 100)
        assert qty == 0
        assert [(v.check, v.reason) for v in verdicts][-1] == ("market_data", reason)
