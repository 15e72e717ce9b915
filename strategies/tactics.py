"""Child-order tactics: how much of the current bucket to send now, at what price, how shown.

Pure: numbers in, a :class:`ChildIntent` out; the randomness comes from the caller's seeded
generator, so the same inputs and seed give the same child.

Within a bucket of the plan the executor keeps two lines: the bucket's whole target (what it
*may* have done by the bucket's end) and a *must* line that rises from nothing, after the
passive share of the bucket, to the whole target at the bucket's end. Ahead of the must line
the remaining bucket quantity rests passively at our near touch; behind it by more than the
tolerance the shortfall goes out marketable, as an IOC limit at the far touch less the price
collar (never an unprotected market order). Either way a child is bounded by the displayed
depth it would trade against or join, and the parent's limit price is respected.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from strategies.regime import Policy
from strategies.schedule import Side

__all__ = [
    "ChildIntent",
    "MarketView",
    "TacticsConfig",
    "choose_child",
    "floor_lots",
    "must_fraction",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class TacticsConfig:
    collar_ticks: int = 5  # a marketable child may cross at most this far past the far touch
    depth_levels: int = 5  # displayed depth counted for the size bound
    behind_tolerance: float = 0.1  # of the bucket's target, before catching up marketably
    min_child_lots: int = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class MarketView:
    """The top of book and displayed depth (price units, shares)."""

    bid: int | None
    ask: int | None
    bid_depth: int  # displayed bids over ``depth_levels``
    ask_depth: int
    tick: int
    lot: int


@dataclass(frozen=True, slots=True)
class ChildIntent:
    qty: int
    price: int
    marketable: bool  # an IOC crossing the spread; else a resting DAY order
    display_qty: int | None  # None fully shown, 0 hidden, else iceberg peak
    why: str


def must_fraction(elapsed_frac: float, passive_fraction: float) -> float:
    """The share of the bucket's target that must be done ``elapsed_frac`` into the bucket."""
    if elapsed_frac >= 1.0:
        return 1.0
    if passive_fraction >= 1.0:
        return 0.0
    return max(0.0, (elapsed_frac - passive_fraction) / (1.0 - passive_fraction))


def floor_lots(qty: float, lot: int) -> int:
    """``qty`` rounded down to whole lots (never below 0)."""
    return max(math.floor(qty / lot + 1e-9), 0) * lot


def choose_child(
    *,
    side: Side,
    may: int,
    behind: int,
    bucket_target: int,
    market: MarketView,
    policy: Policy,
    cfg: TacticsConfig,
    rng: random.Random,
    limit_price: int | None = None,
    urgent: bool = False,
) -> ChildIntent | None:
    """The next child, or ``None`` when there is nothing sensible to send.

    ``may``: shares the bucket still allows (whole target less filled); ``behind``: shares
    behind the must line. Both are already net of working children. ``urgent``: the deadline
    is close, so every whole lot behind goes out marketable (no tolerance).
    """
    lot = market.lot
    tolerance = (
        cfg.min_child_lots * lot - 1
        if urgent
        else max(cfg.min_child_lots * lot, cfg.behind_tolerance * bucket_target)
    )
    near, far = (market.ask, market.bid) if side is Side.SELL else (market.bid, market.ask)
    near_depth, far_depth = (
        (market.ask_depth, market.bid_depth)
        if side is Side.SELL
        else (market.bid_depth, market.ask_depth)
    )
    # Urgent children are not shrunk at random: the remainder is due, and a smaller child
    # only means another round trip before the end time.
    jitter = 1.0 if urgent else 1.0 + policy.size_jitter * (2.0 * rng.random() - 1.0)

    if behind > tolerance and far is not None:
        price = far - cfg.collar_ticks * market.tick * side.sign
        if limit_price is not None:
            price = max(price, limit_price) if side is Side.SELL else min(price, limit_price)
        crosses = far >= price if side is Side.SELL else far <= price
        if crosses:
            bound = max(policy.max_child_depth_frac * far_depth, cfg.min_child_lots * lot)
            qty = floor_lots(min(behind * jitter, bound, behind), lot)
            if qty >= cfg.min_child_lots * lot:
                return ChildIntent(qty, price, True, None, f"behind plan by {behind}")
    if may <= 0 or near is None:
        return None
    price = near
    if limit_price is not None:
        price = max(price, limit_price) if side is Side.SELL else min(price, limit_price)
    bound = max(policy.max_child_depth_frac * max(near_depth, far_depth), cfg.min_child_lots * lot)
    qty = floor_lots(min(may * jitter, bound, may), lot)
    if qty < cfg.min_child_lots * lot:
        return None
    display: int | None = None
    if policy.display_frac < 1.0:
        display = floor_lots(qty * policy.display_frac, lot)  # 0: hidden
    return ChildIntent(qty, price, False, display, f"working bucket passively ({may} left)")
