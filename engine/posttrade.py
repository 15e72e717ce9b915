"""The post-trade summary of one parent: what it cost, how much of the market it was.

Pure: fills and the market tape in, a :class:`PostTrade` out. Costs are signed so that a
positive shortfall is a cost to us, for a buy and a sell alike:

* **shortfall vs arrival** (bps): ``side x (arrival mid - average fill) / arrival mid``
  for a sell (``avg - arrival`` for a buy), over the filled quantity;
* **vs interval VWAP** (bps): the same against the market's VWAP from the parent's start to its
  last fill (our prints included: they are part of the interval's trading);
* **participation**: our shares over the market's in the same interval, and the highest
  participation over any trailing window ending at one of our fills (the cap's own measure).
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass

from strategies.schedule import Side

__all__ = ["PostTrade", "summarise"]


@dataclass(frozen=True, slots=True)
class PostTrade:
    side: Side
    qty: int
    filled: int
    avg_price: float  # currency
    arrival_mid: float
    interval_vwap: float
    shortfall_bps: float
    vs_vwap_bps: float
    participation: float
    max_window_participation: float
    market_volume: int
    children: int

    def lines(self) -> list[str]:
        return [
            f"filled           {self.filled:,} of {self.qty:,} ({self.filled / self.qty:.1%})",
            f"average price    {self.avg_price:.4f} (arrival mid {self.arrival_mid:.4f}, "
            f"interval VWAP {self.interval_vwap:.4f})",
            f"shortfall        {self.shortfall_bps:+.2f} bps vs arrival, "
            f"{self.vs_vwap_bps:+.2f} bps vs interval VWAP (positive = cost)",
            f"participation    {self.participation:.1%} of {self.market_volume:,} shares; "
            f"highest over the cap window {self.max_window_participation:.1%}",
            f"child orders     {self.children}",
        ]


def _cost_bps(side: Side, avg: float, ref: float) -> float:
    if ref <= 0 or avg <= 0:
        return 0.0
    # A sell loses when it sells below the reference; a buy when it pays above.
    return (ref - avg) / ref * 1e4 if side is Side.SELL else (avg - ref) / ref * 1e4


def summarise(
    *,
    side: Side,
    qty: int,
    fills: Sequence[tuple[int, int, float]],  # (ts_ns, shares, price in currency)
    tape: Sequence[tuple[int, int, float]],  # every print: (ts_ns, shares, price)
    arrival_mid: float,
    start_ns: int,
    window_ns: int,
    children: int,
) -> PostTrade:
    fills = sorted(fills)
    filled = sum(q for _, q, _ in fills)
    avg = sum(q * p for _, q, p in fills) / filled if filled else 0.0
    end = fills[-1][0] if fills else start_ns
    interval = [(t, q, p) for t, q, p in tape if start_ns < t <= end]
    mkt = sum(q for _, q, _ in interval)
    vwap = sum(q * p for _, q, p in interval) / mkt if mkt else 0.0
    tape_ts = [t for t, _, _ in tape]
    cum = [0]
    for _, q, _ in tape:
        cum.append(cum[-1] + q)
    fill_ts = [t for t, _, _ in fills]
    fill_cum = [0]
    for _, q, _ in fills:
        fill_cum.append(fill_cum[-1] + q)
    worst = 0.0
    for i, (t, _, _) in enumerate(fills):
        lo = max(t - window_ns, start_ns)
        ours = fill_cum[i + 1] - fill_cum[bisect.bisect_right(fill_ts, lo)]
        market = cum[bisect.bisect_right(tape_ts, t)] - cum[bisect.bisect_right(tape_ts, lo)]
        if market:
            worst = max(worst, ours / market)
    return PostTrade(
        side=side,
        qty=qty,
        filled=filled,
        avg_price=avg,
        arrival_mid=arrival_mid,
        interval_vwap=vwap,
        shortfall_bps=_cost_bps(side, avg, arrival_mid),
        vs_vwap_bps=_cost_bps(side, avg, vwap),
        participation=filled / mkt if mkt else 0.0,
        max_window_participation=worst,
        market_volume=mkt,
        children=children,
    )
