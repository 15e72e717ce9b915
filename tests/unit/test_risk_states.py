"""Trading states across scopes, breakers that only raise them, and the venue's token bucket."""

from __future__ import annotations

import pytest

from risk.ratelimit import TokenBucket
from risk.states import Scope, TradingState, TradingStates

NS = 1_000_000_000
A, R, H = TradingState.ACTIVE, TradingState.REDUCING, TradingState.HALTED


def test_the_most_severe_scope_applies() -> None:
    t = TradingStates()
    assert t.effective("XYZ", "P1").state is A
    t.set(Scope.SYMBOL, "XYZ", R, reason="var", by="operator", now_ns=1)
    assert t.effective("XYZ", "P1").state is R and t.effective("ABC", "P2").state is A
    t.set(Scope.PARENT, "P1", H, reason="kill", by="operator", now_ns=2)
    eff = t.effective("XYZ", "P1")
    assert (eff.state, eff.reason) == (H, "kill")
    t.set(Scope.GLOBAL, "", H, reason="all", by="operator", now_ns=3)
    assert t.effective("ABC", "P2").state is H
    # Resetting one scope leaves the others: P1 stays halted by its own scope.
    t.set(Scope.GLOBAL, "", A, reason="reset", by="operator", now_ns=4)
    assert t.effective("XYZ", "P1").state is H and t.effective("XYZ", "P3").state is R


def test_a_breaker_only_raises_and_a_reset_is_explicit() -> None:
    t = TradingStates()
    assert t.trip(Scope.PARENT, "P1", R, reason="var", by="breaker:var", now_ns=1)
    assert not t.trip(Scope.PARENT, "P1", R, reason="var again", by="breaker:var", now_ns=2)
    assert t.trip(Scope.PARENT, "P1", H, reason="shortfall", by="breaker:shortfall", now_ns=3)
    # A later VaR trip cannot lower a halt.
    assert not t.trip(Scope.PARENT, "P1", R, reason="var", by="breaker:var", now_ns=4)
    assert t.get(Scope.PARENT, "P1").by == "breaker:shortfall"
    assert t.set(Scope.PARENT, "P1", A, reason="reset", by="operator", now_ns=5)
    assert t.effective("XYZ", "P1").state is A
    assert [s for s, _, _ in t.all()] == [Scope.GLOBAL]  # ACTIVE scopes are not kept


def test_forgetting_a_parent_drops_its_state() -> None:
    t = TradingStates()
    t.set(Scope.PARENT, "P1", H, reason="kill", by="operator", now_ns=1)
    t.forget_parent("P1")
    assert t.get(Scope.PARENT, "P1").state is A


def test_token_bucket_refills_at_its_rate_up_to_its_burst() -> None:
    b = TokenBucket(2.0, 3.0, now_ns=0)
    for _ in range(3):
        assert b.available(0) >= 1.0
        b.take(0)
    assert b.available(0) == 0.0 and b.next_token_ns(0) == NS // 2 + 1
    assert b.available(NS // 2) == pytest.approx(1.0)
    assert b.available(100 * NS) == 3.0  # never more than the burst


def test_token_bucket_counts_a_message_without_a_token_as_debt() -> None:
    b = TokenBucket(1.0, 1.0, now_ns=0)
    b.take(0)
    b.take(0)  # a cancel: counted, never refused
    assert (b.taken, b.in_debt) == (2, 1)
    assert b.available(0) == -1.0 and b.next_token_ns(0) == 2 * NS + 1


@pytest.mark.parametrize(("rate", "burst"), [(0.0, 1.0), (1.0, 0.5)])
def test_token_bucket_refuses_bad_settings(rate: float, burst: float) -> None:
    with pytest.raises(ValueError, match="rate"):
        TokenBucket(rate, burst)
