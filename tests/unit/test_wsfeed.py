"""The WebSocket feed client's pure parts: backoff schedule, staleness watchdog, core rules."""

from __future__ import annotations

import json
import random
import statistics
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.wsfeed import (
    Backoff,
    FeedCore,
    FrameError,
    SimulatorDialect,
    StalenessWatchdog,
    WsFeedClient,
    WsFeedConfig,
    backoff_ceiling,
)
from engine.clock import SimClock
from engine.events import BookSnapshot, MarketEvent, Trade
from engine.ports import MarketDataPort

NS = 1_000_000_000
SUB = json.dumps({"op": "subscribe", "symbol": "XYZ"})
UNSUB = json.dumps({"op": "unsubscribe", "symbol": "XYZ"})

# --- backoff ------------------------------------------------------------------------------------


def test_backoff_ceiling_when_attempts_grow_then_doubles_up_to_cap() -> None:
    ceilings = [backoff_ceiling(n, 0.25, 3.0) for n in range(7)]
    assert ceilings == [0.25, 0.5, 1.0, 2.0, 3.0, 3.0, 3.0]


def test_backoff_ceiling_when_down_for_ages_then_cap_without_overflow() -> None:
    assert backoff_ceiling(100_000, 0.25, 30.0) == 30.0
    with pytest.raises(ValueError, match="attempt must be >= 0"):
        backoff_ceiling(-1, 0.25, 30.0)


@given(seed=st.integers(0, 2**32), base=st.floats(0.001, 5.0), factor=st.floats(1.0, 100.0))
def test_backoff_when_drawing_then_each_delay_within_zero_and_its_ceiling(
    seed: int, base: float, factor: float
) -> None:
    cap = base * factor
    b = Backoff(base, cap, random.Random(seed))
    for n in range(40):
        assert 0.0 <= b.next_delay() <= backoff_ceiling(n, base, cap) <= cap


def test_backoff_when_same_seed_then_same_schedule_and_other_seed_differs() -> None:
    def schedule(seed: int) -> list[float]:
        b = Backoff(0.25, 30.0, random.Random(seed))
        return [b.next_delay() for _ in range(12)]

    assert schedule(1) == schedule(1)
    assert schedule(1) != schedule(2)


def test_backoff_when_many_draws_then_full_jitter_spans_the_whole_range() -> None:
    rng = random.Random(3)
    draws = []
    for _ in range(2000):
        b = Backoff(0.25, 30.0, rng)
        b.attempt = 3  # ceiling 2.0 s
        draws.append(b.next_delay())
    # Full jitter is uniform on [0, 2]: no floor ("equal jitter" would never go below 1).
    assert min(draws) < 0.05 and max(draws) > 1.95
    assert statistics.fmean(draws) == pytest.approx(1.0, abs=0.05)


def test_backoff_when_reset_then_next_delay_bounded_by_base() -> None:
    b = Backoff(0.1, 30.0, random.Random(0))
    for _ in range(10):
        b.next_delay()
    b.reset()
    assert (b.attempt, b.next_delay() <= 0.1, b.attempt) == (0, True, 1)


@pytest.mark.parametrize(("base", "cap"), [(0.0, 1.0), (2.0, 1.0)])
def test_backoff_when_bad_bounds_then_value_error(base: float, cap: float) -> None:
    with pytest.raises(ValueError, match="backoff"):
        Backoff(base, cap, random.Random(0))


def test_config_when_bad_values_or_unknown_key_then_refused() -> None:
    with pytest.raises(ValueError, match="ws:// or wss://"):
        WsFeedConfig(url="http://x/ws")
    with pytest.raises(ValueError, match="backoff_cap_s"):
        WsFeedConfig(url="ws://x/ws", backoff_base_s=2.0, backoff_cap_s=1.0)
    with pytest.raises(TypeError):
        WsFeedConfig(url="ws://x/ws", stale_after=1.0)  # type: ignore[call-arg]
    assert WsFeedConfig(url="ws://x/ws", stale_after_s=1.5).stale_after_ns == 1_500_000_000


# --- watchdog -----------------------------------------------------------------------------------


def test_watchdog_when_events_keep_coming_then_never_stale_and_stale_from_last_receipt() -> None:
    clock = SimClock(0)
    seen: list[tuple[str, bool]] = []
    w = StalenessWatchdog(clock, 2 * NS, lambda s, stale: seen.append((s, stale)))
    w.track("XYZ")
    for t in (1, 2, 3, 3.5):  # an event every <= 1 s: the lazy timer keeps re-arming
        clock.advance_to(int(t * NS))
        w.touch("XYZ")
    clock.advance_to(int(5.5 * NS) - 1)
    assert (seen, w.is_stale("XYZ")) == ([], False)
    clock.advance_to(int(5.5 * NS))
    assert (seen, w.is_stale("XYZ")) == ([("XYZ", True)], True)
    clock.advance_to(20 * NS)
    assert len(seen) == 1  # one transition, not one per timer


def test_watchdog_when_untracked_then_no_report_and_unknown_is_stale() -> None:
    clock = SimClock(0)
    seen: list[tuple[str, bool]] = []
    w = StalenessWatchdog(clock, NS, lambda s, stale: seen.append((s, stale)))
    w.track("XYZ")
    w.untrack("XYZ")
    w.track("XYZ")  # a fresh grace period from now; the first timer was cancelled
    clock.advance_to(NS // 2)
    w.touch("XYZ")
    clock.advance_to(NS)
    assert seen == []
    assert w.is_stale("ABC")
    w.close()
    clock.advance_to(10 * NS)
    assert seen == []


# --- core ---------------------------------------------------------------------------------------


def _msg(seq: int, **fields: Any) -> str:
    return json.dumps({**fields, "seq": seq})


def _snap(seq: int) -> str:
    return _msg(seq, type="book_snapshot", symbol="XYZ", bids=[], asks=[], ts=5)


def _trade(seq: int) -> str:
    fields = {"price_units": 1_000_000, "size": 1, "aggressor": None, "trade_id": f"T{seq}"}
    return _msg(seq, type="trade", symbol="XYZ", ts=5, **fields)


def _core() -> tuple[FeedCore, SimClock]:
    clock = SimClock(100)
    return FeedCore(SimulatorDialect(), clock, stale_after_ns=NS), clock


def test_core_when_offline_then_subscribe_waits_for_connection() -> None:
    core, _ = _core()
    got: list[MarketEvent] = []
    assert core.subscribe("XYZ", got.append) == []
    assert core.connected() == [SUB]
    assert core.subscribe("XYZ", got.append) == []  # same sink twice: no-op


def test_core_when_second_sink_joins_live_symbol_then_resubscribe_and_gate_only_newcomer() -> None:
    core, _ = _core()
    old: list[MarketEvent] = []
    new: list[MarketEvent] = []
    core.connected()
    assert core.subscribe("XYZ", old.append) == [SUB]
    core.receive(_msg(1, type="subscribed", symbol="XYZ"))
    core.receive(_snap(2))
    assert core.subscribe("XYZ", new.append) == [UNSUB, SUB]
    core.receive(_trade(3))
    core.receive(_snap(4))
    assert [type(e) for e in old] == [BookSnapshot, Trade, BookSnapshot]
    assert [type(e) for e in new] == [BookSnapshot]
    assert old[1].ts_init == 100  # receipt time from the clock, not the feed's ts


def test_core_when_gap_then_counted_resubscribed_and_held_until_snapshot() -> None:
    core, _ = _core()
    got: list[MarketEvent] = []
    core.subscribe("XYZ", got.append)
    core.connected()
    core.receive(_msg(1, type="subscribed", symbol="XYZ"))
    core.receive(_snap(2))
    assert core.receive(_trade(4)) == [UNSUB, SUB]
    assert core.receive(_trade(5)) == []
    core.receive(_snap(6))
    core.receive(_trade(7))
    assert [e.ts_init for e in got] == [100, 100, 100]
    assert [type(e) for e in got] == [BookSnapshot, BookSnapshot, Trade]
    assert (core.counters.gaps, core.counters.held_back) == (1, 2)


def test_core_when_reconnected_then_sequence_restarts_and_sinks_regated() -> None:
    core, _ = _core()
    got: list[MarketEvent] = []
    core.subscribe("XYZ", got.append)
    core.connected()
    core.receive(_snap(1))
    core.disconnected()
    assert core.connected() == [SUB]
    core.receive(_trade(1))  # seq 1 again on the new connection: no gap, but no snapshot yet
    core.receive(_snap(2))
    assert [type(e) for e in got] == [BookSnapshot, BookSnapshot]
    assert (core.counters.gaps, core.counters.held_back) == (0, 1)


def test_core_when_first_seq_is_not_one_then_gap() -> None:
    core, _ = _core()
    core.subscribe("XYZ", lambda e: None)
    core.connected()
    assert core.receive(_snap(3)) == [UNSUB, SUB]
    assert core.counters.gaps == 1


def test_core_when_held_back_then_symbol_ages_toward_stale() -> None:
    core, clock = _core()
    core.subscribe("XYZ", lambda e: None)
    core.connected()
    clock.advance_to(100 + NS - 1)
    core.receive(_trade(1))  # no snapshot yet: the engine has seen nothing
    clock.advance_to(100 + NS)
    assert core.is_stale("XYZ")
    core.receive(_snap(2))
    assert not core.is_stale("XYZ")
    assert (core.counters.went_stale, core.counters.became_fresh) == (1, 1)


def test_core_when_connection_lost_then_stale_at_once_unless_closed_on_purpose() -> None:
    seen: list[tuple[str, bool]] = []
    clock = SimClock(100)
    core = FeedCore(
        SimulatorDialect(), clock, stale_after_ns=NS, on_stale=lambda *a: seen.append(a)
    )
    core.subscribe("XYZ", lambda e: None)
    core.connected()
    core.receive(_snap(1))
    core.disconnected()
    core.disconnected()  # told once
    assert seen == [("XYZ", True)]
    clock.advance_to(100 + 5 * NS)  # no timer left to report it again
    core.connected()
    core.receive(_snap(1))
    core.disconnected(expected=True)
    assert seen == [("XYZ", True), ("XYZ", False)] and not core.is_stale("XYZ")


def test_core_when_last_sink_leaves_then_unsubscribe_and_forget() -> None:
    core, _ = _core()
    a: list[MarketEvent] = []
    b: list[MarketEvent] = []
    core.connected()
    core.subscribe("XYZ", a.append)
    core.subscribe("XYZ", b.append)
    assert core.unsubscribe("XYZ", a.append) == []
    assert core.unsubscribe("XYZ", b.append) == [UNSUB]
    assert core.unsubscribe("XYZ", b.append) == []
    assert core.symbols == () and core.is_stale("XYZ")


# --- dialect ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kind", "seq"),
    [
        ("{not json", None, None),
        ("[1, 2]", None, None),
        (_msg(3, type=7), None, None),
        (json.dumps({"type": "trade"}), "trade", None),
        (_msg(3, type="trade", seq_is="fine"), "trade", 3),
        (_msg(4, type="mystery", symbol="XYZ", ts=1), "mystery", 4),
        (
            _msg(5, type="book_update", symbol="XYZ", side="up", price_units=1, size=1, ts=1),
            None,
            5,
        ),
        (json.dumps({"type": "subscribed", "seq": True}), "subscribed", None),
    ],
)
def test_dialect_when_frame_malformed_then_frame_error_with_what_could_be_read(
    text: str, kind: str | None, seq: int | None
) -> None:
    with pytest.raises(FrameError) as info:
        SimulatorDialect().decode(text, 0)
    assert info.value.seq == seq
    if kind is not None:
        assert info.value.kind == kind


def test_dialect_when_error_frame_then_reason_kept() -> None:
    frame = SimulatorDialect().decode(_msg(2, type="error", reason="unknown symbol"), 0)
    assert (frame.kind, frame.seq, frame.error, frame.events) == ("error", 2, "unknown symbol", ())


class _LoginDialect(SimulatorDialect):
    def connect_messages(self) -> list[str]:
        return ["LOGIN"]


def test_core_when_dialect_needs_login_then_login_goes_before_subscribes() -> None:
    core = FeedCore(_LoginDialect(), SimClock(0), stale_after_ns=NS)
    core.subscribe("XYZ", lambda e: None)
    assert core.connected() == ["LOGIN", SUB]


def test_client_when_built_then_implements_the_market_data_port() -> None:
    client = WsFeedClient(WsFeedConfig(url="ws://127.0.0.1:1/ws"), SimClock(0))
    assert isinstance(client, MarketDataPort)
    assert not client.connected and client.is_stale("XYZ")
