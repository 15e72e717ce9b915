"""The gate's checks, one at a time at their edges, and as a chain."""

from __future__ import annotations

import pytest

from risk.gate import (
    DEFAULT_CHECKS,
    Action,
    GateView,
    check_deadline,
    check_duplicate_id,
    check_market_data,
    check_no_overfill,
    check_notional,
    check_participation,
    check_price_collar,
    check_rate,
    check_size,
    check_symbol_cap,
    check_trading_state,
    check_unknown_child,
    run_gate,
    volume_needed,
)
from risk.states import TradingState

PX = 500_000  # 50.00 in price units
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
    price=PX,
    reference_price=PX + 50,
    collar=10_000,  # 2% of 50.00
    symbol_cap=0.15,
    symbol_ours_window=2_000,
    symbol_working=500,
    symbol_market_kept=40_000,
    rate_tokens=5.0,
)


def test_a_sensible_child_passes_every_check_unchanged() -> None:
    assert run_gate(VIEW, 1_000) == (1_000, [])
    assert all(check(VIEW, 1_000) is None for check in DEFAULT_CHECKS)


# --- no overfill ---------------------------------------------------------------------------------


def test_no_overfill_counts_working_children_at_their_whole_leaves() -> None:
    v = check_no_overfill(VIEW, 8_000)
    assert v.action is Action.CLIP and v.qty == 7_500
    assert check_no_overfill(VIEW, 7_500) is None  # exactly to the quantity
    assert check_no_overfill(VIEW._replace(working=8_000), 100).action is Action.DENY


# --- participation -------------------------------------------------------------------------------


def test_participation_credits_this_childs_print_as_market_volume_but_not_the_working() -> None:
    # (0.15 * 40000 - 2000 - 500) / 0.85 = 4117.6 -> 4100 in lots. A working child may have
    # filled already, its print counted in the market volume: crediting it again overshoots.
    v = check_participation(VIEW, 9_000)
    assert v.action is Action.CLIP and v.qty == 4_100
    ours = VIEW.ours_window + VIEW.working + v.qty
    assert ours <= 0.15 * (VIEW.market_window_kept + v.qty)
    # One more lot would break it.
    ours += 100
    assert ours > 0.15 * (VIEW.market_window_kept + v.qty + 100)


def test_participation_exactly_at_the_cap_passes_and_one_share_over_does_not() -> None:
    # ours 1,550 + q <= 0.15 (20,000 + q) -> q <= (3,000 - 1,550) / 0.85 = 1,705.9
    exact = VIEW._replace(
        lot=1, ours_window=1_550, working=0, market_window_kept=20_000,
        ours_since_start=1_550, market_since_start=20_000,
    )  # fmt: skip
    assert check_participation(exact, 1_705) is None
    assert 1_550 + 1_705 <= 0.15 * (20_000 + 1_705)
    v = check_participation(exact, 1_706)
    assert v.action is Action.CLIP and v.qty == 1_705
    assert 1_550 + 1_706 > 0.15 * (20_000 + 1_706)


def test_participation_denies_in_a_window_with_no_market_volume() -> None:
    empty = VIEW._replace(ours_window=0, working=0, market_window_kept=0)
    v = check_participation(empty, 100)
    assert v.action is Action.DENY and v.reason == "cap"


def test_participation_takes_the_tighter_of_window_and_since_start() -> None:
    tight = VIEW._replace(market_since_start=15_000)
    assert check_participation(tight, 9_000).qty < check_participation(VIEW, 9_000).qty


def test_symbol_cap_counts_every_parent_on_the_symbol() -> None:
    # This parent alone has room, but with the others' fills and working children the symbol
    # has none left.
    crowded = VIEW._replace(symbol_ours_window=5_500, symbol_working=1_000)
    assert check_participation(crowded, 1_000) is None
    v = check_symbol_cap(crowded, 1_000)
    assert v.action is Action.DENY and v.reason == "symbol_cap"
    # Another parent's resting child expires later than this one: the volume that leaves the
    # window before then does not count.
    later = VIEW._replace(symbol_market_kept=30_000)
    assert check_symbol_cap(later, 9_000).qty < check_symbol_cap(VIEW, 9_000).qty  # type: ignore[union-attr]
    roomy = check_symbol_cap(VIEW, 9_000)
    assert roomy.action is Action.CLIP and roomy.qty == 4_100


# --- deadline ------------------------------------------------------------------------------------


def test_deadline_denies_at_the_end_time_itself_and_allows_the_last_instant_before() -> None:
    assert check_deadline(VIEW._replace(now_ns=1_000), 100).action is Action.DENY
    assert check_deadline(VIEW._replace(now_ns=999), 100) is None


# --- market, state, identity ---------------------------------------------------------------------


def test_market_data_denies_stale_or_halted_symbols_before_any_quantity_check() -> None:
    assert check_market_data(VIEW, 100) is None
    for view, reason in (
        (VIEW._replace(market_stale=True), "stale_data"),
        (VIEW._replace(market_halted=True), "halted"),
    ):
        qty, verdicts = run_gate(view, 100)
        assert qty == 0
        assert [(v.check, v.reason) for v in verdicts][-1] == ("market_data", reason)


def test_trading_state_halted_denies_and_reducing_does_not() -> None:
    halted = VIEW._replace(trading_state=TradingState.HALTED, trading_reason="kill switch")
    v = check_trading_state(halted, 100)
    assert (v.action, v.reason) == (Action.DENY, "halted") and "kill switch" in v.text
    assert check_trading_state(VIEW._replace(trading_state=TradingState.REDUCING), 100) is None


def test_a_used_clordid_and_a_child_in_unknown_state_deny() -> None:
    assert check_duplicate_id(VIEW._replace(duplicate_id=True), 100).reason == "duplicate_id"
    assert check_duplicate_id(VIEW, 100) is None
    v = check_unknown_child(VIEW._replace(unknown_children=1), 100)
    assert v.action is Action.DENY and v.reason == "unknown_child"


# --- price ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"price": None}, "no_price"),
        ({"price": 0}, "no_price"),
        ({"reference_price": None}, "no_reference"),
        ({"price": PX + 50 - 10_001}, "collar"),  # one unit past the collar, below
        ({"price": PX + 50 + 10_001}, "collar"),  # and above
        ({"parent_limit": PX + 100}, "parent_limit"),  # a sell below the parent's limit
        ({"buy": True, "parent_limit": PX - 100}, "parent_limit"),  # a buy above it
    ],
)
def test_price_collar_denies(changes: dict[str, object], reason: str) -> None:
    v = check_price_collar(VIEW._replace(**changes), 100)  # type: ignore[arg-type]
    assert (v.action, v.reason) == (Action.DENY, reason)


def test_price_collar_allows_exactly_the_collar_and_the_parent_limit_itself() -> None:
    assert check_price_collar(VIEW._replace(price=PX + 50 - 10_000), 100) is None
    assert check_price_collar(VIEW._replace(parent_limit=PX), 100) is None


# --- size, notional, rate ------------------------------------------------------------------------


def test_size_clips_to_whole_lots_under_both_child_limits() -> None:
    v = check_size(VIEW._replace(max_child_qty=1_250), 5_000)
    assert (v.action, v.qty) == (Action.CLIP, 1_200)
    # 30,000.00 notional at 50.00 -> 600 shares.
    v = check_size(VIEW._replace(max_child_notional=30_000.0 * 10_000), 5_000)
    assert (v.action, v.qty) == (Action.CLIP, 600)
    assert check_size(VIEW._replace(max_child_qty=50), 100).action is Action.DENY
    assert check_size(VIEW, 5_000) is None  # 0: no limit


def test_parent_notional_counts_filled_and_working() -> None:
    limit = 1_000_000.0 * 10_000  # 1,000,000.00
    v = check_notional(
        VIEW._replace(max_parent_notional=limit, parent_notional=950_000.0 * 10_000), 5_000
    )
    assert (v.action, v.qty) == (Action.CLIP, 1_000)  # 50,000.00 of room at 50.00
    full = VIEW._replace(max_parent_notional=limit, parent_notional=limit)
    assert check_notional(full, 100).action is Action.DENY


def test_rate_denies_without_a_whole_token() -> None:
    assert check_rate(VIEW._replace(rate_tokens=0.99), 100).reason == "rate"
    assert check_rate(VIEW._replace(rate_tokens=1.0), 100) is None


# --- the chain -----------------------------------------------------------------------------------


def test_chain_stops_at_the_first_denial_and_a_failing_check_fails_closed() -> None:
    qty, verdicts = run_gate(VIEW._replace(now_ns=2_000), 100)
    assert qty == 0 and [v.check for v in verdicts] == ["deadline"]

    def broken(view: GateView, q: int) -> object:
        raise KeyError("no volume data")

    qty, verdicts = run_gate(VIEW, 100, (check_deadline, broken))  # type: ignore[arg-type]
    assert qty == 0 and verdicts[-1].reason == "error"


def test_chain_passes_each_check_the_quantity_the_previous_ones_left() -> None:
    qty, verdicts = run_gate(VIEW._replace(max_child_qty=1_000), 9_000)
    assert qty == 1_000
    assert [(v.check, v.qty) for v in verdicts if v.action is Action.CLIP] == [
        ("no_overfill", 7_500),
        ("participation", 4_100),
        ("size", 1_000),
    ]


@pytest.mark.parametrize("qty", [0, -100])
def test_nothing_to_send_is_denied(qty: int) -> None:
    assert run_gate(VIEW, qty)[0] == 0


def test_volume_needed_is_exactly_what_lets_the_cap_check_pass() -> None:
    tight = VIEW._replace(ours_window=6_000, ours_since_start=6_000)
    need = volume_needed(tight, "participation", 100)
    assert need is not None and need > 0
    more = tight._replace(
        market_window_kept=tight.market_window_kept + need,
        market_since_start=tight.market_since_start + need,
    )
    assert check_participation(more, 100) is None
    less = more._replace(market_window_kept=more.market_window_kept - 1)
    assert check_participation(less, 100) is not None
    assert volume_needed(VIEW, "participation", 100) == 0  # it fits now
    assert volume_needed(VIEW, "rate", 100) is None
