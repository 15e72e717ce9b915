"""Child tactics: marketable children are collared limits, passive ones join the touch."""

from __future__ import annotations

import random

from strategies.regime import DEFAULT_POLICIES, Regime
from strategies.schedule import Side
from strategies.tactics import MarketView, TacticsConfig, choose_child, must_fraction

MKT = MarketView(bid=499_900, ask=500_000, bid_depth=5_000, ask_depth=4_000, tick=100, lot=100)
LV = DEFAULT_POLICIES[Regime.LV]
CFG = TacticsConfig(collar_ticks=5)


def _child(**kw: object):  # type: ignore[no-untyped-def]
    args: dict[str, object] = dict(
        side=Side.SELL,
        may=2_000,
        behind=0,
        bucket_target=2_000,
        market=MKT,
        policy=LV,
        cfg=CFG,
        rng=random.Random(1),
    )
    args.update(kw)
    return choose_child(**args)  # type: ignore[arg-type]


def test_behind_plan_sends_an_ioc_limit_collared_below_the_bid() -> None:
    c = _child(behind=1_000)
    assert c is not None and c.marketable
    assert c.price == 499_900 - 5 * 100  # never an unprotected market order
    assert c.qty <= LV.max_child_depth_frac * MKT.bid_depth + 100


def test_a_buy_is_collared_above_the_ask() -> None:
    c = _child(side=Side.BUY, behind=1_000)
    assert c is not None and c.price == 500_000 + 500


def test_the_parent_limit_is_never_crossed() -> None:
    c = _child(behind=1_000, limit_price=499_800)
    assert c is not None and c.price == 499_800
    # A limit above the bid: nothing marketable, so the child rests at the limit.
    c = _child(behind=1_000, limit_price=500_100)
    assert c is not None and not c.marketable and c.price == 500_100


def test_ahead_of_plan_rests_at_our_touch_in_whole_lots() -> None:
    c = _child()
    assert c is not None and not c.marketable and c.price == MKT.ask
    assert c.qty % 100 == 0 and 0 < c.qty <= 2_000


def test_adv_hides_passive_children() -> None:
    c = _child(policy=DEFAULT_POLICIES[Regime.ADV])
    assert c is not None and c.display_qty == 0


def test_an_urgent_child_is_the_whole_remainder_within_the_depth_bound() -> None:
    """In the final push the size jitter (ADV's is 50%) would only cost another round trip."""
    adv = DEFAULT_POLICIES[Regime.ADV]
    sizes = {
        _child(policy=adv, behind=300, urgent=True, rng=random.Random(s)).qty for s in range(20)
    }
    assert sizes == {300}  # within 0.1 of the 5,000 bid depth
    relaxed = {_child(policy=adv, behind=300, rng=random.Random(s)) for s in range(20)}
    assert len({c.qty for c in relaxed if c is not None}) > 1  # jittered when not urgent


def test_same_seed_same_child() -> None:
    hv = DEFAULT_POLICIES[Regime.HV]
    a = _child(policy=hv, rng=random.Random(7))
    b = _child(policy=hv, rng=random.Random(7))
    assert a == b


def test_must_line_waits_for_the_passive_share_then_reaches_the_whole_target() -> None:
    assert must_fraction(0.3, 0.5) == 0.0
    assert must_fraction(0.75, 0.5) == 0.5
    assert must_fraction(1.0, 1.0) == 1.0
