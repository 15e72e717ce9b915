"""The soak's plan: a seed names one session, every strategy runs as often as the others."""

from __future__ import annotations

from collections import Counter

from engine.soak import STRATEGIES, SoakResult, spec_for


def test_spec_when_asked_twice_then_the_same_session() -> None:
    assert [spec_for(s, 10) for s in range(1, 50)] == [spec_for(s, 10) for s in range(1, 50)]


def test_spec_when_200_seeds_then_each_strategy_a_sixth_both_sides_and_lots_within_range() -> None:
    specs = [spec_for(s, 10) for s in range(1, 201)]
    assert set(Counter(s.strategy for s in specs).values()) == {33, 34}
    assert set(Counter(s.strategy for s in specs)) == set(STRATEGIES)
    assert {s.side for s in specs} == {"buy", "sell"}
    # 2% to 10% of 10 minutes of the paper market (about 46,000 shares a minute), whole lots.
    assert all(s.qty % 100 == 0 and 9_000 <= s.qty <= 46_200 for s in specs)


def test_summary_when_a_run_broke_the_cap_and_one_crashed_then_both_counted_as_failed() -> None:
    base = {
        "seed": 1,
        "state": "filled",
        "filled": 100,
        "children": 1,
        "arrived": 1,
        "peak_participation": 0.2,
        "faults": {"dropped": 2},
        "violations": [],
        "error": "",
    }
    breach = dict(base, violations=[{"kind": "cap", "text": "P: 30 of 100 breaks the cap"}])
    crash = dict(base, seed=2, state="error", error="the run died")
    result = SoakResult(runs=[base, breach, crash])
    summary = result.summary()
    assert (summary["violations"], summary["cap_breaches"], summary["errors"]) == (1, 1, 1)
    assert len(result.failed) == 2 and summary["faults_fired"] == {"dropped": 6}
