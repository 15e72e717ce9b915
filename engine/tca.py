"""Post-trade analysis of one parent: implementation shortfall and where it came from.

Pure: the parent's fills and the market's mids and prints in, a :class:`ParentTca` out
(:mod:`engine.tca_parent` reads them from a journal). Every cost is in basis points of the
order's notional at the decision price (``qty x decision mid``), signed so that a cost is
positive for a buy and a sell alike (``side`` is +1 for a buy, -1 for a sell). With ``P_d`` the
mid when the parent arrived, ``P_0`` the mid when its first child was sent, ``m_i`` the mid when
fill ``i`` (``q_i`` shares at ``p_i``) happened and ``P_end`` the mid at the parent's end:

* **delay**: ``side x (P_0 - P_d) x filled``: the market's move before trading began;
* **timing and impact**: ``side x sum q_i (m_i - P_0)``: the mid's move from the start to each
  fill, the market's drift and our own impact together (telling them apart needs an impact
  model: issue 9's calibration);
* **spread**: ``side x sum q_i (p_i - m_i)``: paid crossing the spread, earned resting (negative);
* **fees**: ``fee_bps`` of the filled notional;
* **opportunity**: ``side x (P_end - P_d) x (qty - filled)``: what the unexecuted remainder
  missed (or was spared).

Their sum is the implementation shortfall (Perold): execution (``side x sum q_i (p_i - P_d)``)
plus opportunity plus fees. Beside it, the average fill price against benchmarks over the same
interval, from the first child to the end (each in bps of the benchmark, cost positive):
the interval VWAP of the market's prints, the TWAP of the mid (time-weighted), and the close
(the last print the data holds); realised participation (our shares over the market's in the
interval); and fill markouts: ``side x (m(t_i + h) - p_i)`` volume-weighted, in bps of ``p_i``,
for each horizon ``h`` (positive: the market moved our way after the fill, a good fill).
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, field

from engine.clock import NS
from strategies.schedule import Side

__all__ = ["MARKOUT_HORIZONS_S", "ParentTca", "analyse"]

MARKOUT_HORIZONS_S = (1.0, 5.0, 30.0, 60.0)


@dataclass(frozen=True, slots=True)
class ParentTca:
    side: Side
    qty: int
    filled: int
    avg_price: float  # currency; 0 without fills
    decision_mid: float
    start_mid: float
    end_mid: float
    # The decomposition, bps of qty x decision_mid; they sum to shortfall_bps.
    delay_bps: float
    timing_bps: float
    spread_bps: float
    fees_bps: float
    opportunity_bps: float
    shortfall_bps: float
    # Benchmarks, bps of each (cost positive); None where the data has none.
    vs_vwap_bps: float | None
    vs_twap_bps: float | None
    vs_close_bps: float | None
    interval_vwap: float | None
    interval_twap: float | None
    close: float | None
    participation: float
    market_volume: int
    markouts_bps: dict[float, float | None] = field(default_factory=dict)

    def lines(self) -> list[str]:
        def bps(v: float | None) -> str:
            return "n/a" if v is None else f"{v + 0.0:+.2f} bps"  # + 0.0: no "-0.00"

        def part(v: float) -> str:
            return f"{v + 0.0:+.2f}"

        return [
            f"filled           {self.filled:,} of {self.qty:,} ({self.filled / self.qty:.1%})"
            f" at {self.avg_price:.4f}",
            f"mids             decision {self.decision_mid:.4f}, first child "
            f"{self.start_mid:.4f}, end {self.end_mid:.4f}",
            f"shortfall        {part(self.shortfall_bps)} bps of the order at the decision mid "
            "(positive = cost)",
            f"  delay          {part(self.delay_bps)}",
            f"  timing, impact {part(self.timing_bps)}",
            f"  spread         {part(self.spread_bps)}",
            f"  fees           {part(self.fees_bps)}",
            f"  opportunity    {part(self.opportunity_bps)}",
            f"vs interval VWAP {bps(self.vs_vwap_bps)}, vs TWAP {bps(self.vs_twap_bps)}, "
            f"vs close {bps(self.vs_close_bps)}",
            f"participation    {self.participation:.1%} of {self.market_volume:,} shares",
            "markouts         "
            + ", ".join(f"{h:g} s {bps(v)}" for h, v in sorted(self.markouts_bps.items())),
        ]


def _cost_bps(sign: float, price: float, ref: float | None) -> float | None:
    if ref is None or ref <= 0 or price <= 0:
        return None
    return sign * (price - ref) / ref * 1e4


def _mid_at(mids_ts: Sequence[int], mids: Sequence[float], ts_ns: int) -> float | None:
    """The last mid at or before ``ts_ns``."""
    i = bisect.bisect_right(mids_ts, ts_ns)
    return mids[i - 1] if i else None


def _twap(
    mids_ts: Sequence[int], mids: Sequence[float], start_ns: int, end_ns: int
) -> float | None:
    """The mid's time-weighted average over [start, end]."""
    if end_ns <= start_ns:
        return _mid_at(mids_ts, mids, start_ns)
    i = bisect.bisect_right(mids_ts, start_ns)
    if i == 0:
        return None
    total, t, m = 0.0, start_ns, mids[i - 1]
    while i < len(mids_ts) and mids_ts[i] < end_ns:
        total += m * (mids_ts[i] - t)
        t, m = mids_ts[i], mids[i]
        i += 1
    total += m * (end_ns - t)
    return total / (end_ns - start_ns)


def analyse(
    *,
    side: Side,
    qty: int,
    fills: Sequence[tuple[int, int, float]],  # (ts_ns, shares, price in currency)
    mids: Sequence[tuple[int, float]],  # (ts_ns, mid in currency), time order
    tape: Sequence[tuple[int, int, float]],  # every print: (ts_ns, shares, price)
    decision_ns: int,
    start_ns: int,
    end_ns: int,
    fee_bps: float = 0.0,
    horizons_s: Sequence[float] = MARKOUT_HORIZONS_S,
) -> ParentTca:
    """The analysis of one parent (see the module docstring). ``start_ns``: its first child
    (``decision_ns`` if it sent none); ``end_ns``: when it ended."""
    if qty <= 0:
        raise ValueError(f"qty must be > 0, got {qty}")
    mids_ts = [t for t, _ in mids]
    mid_values = [m for _, m in mids]
    p_d = _mid_at(mids_ts, mid_values, decision_ns)
    if p_d is None:
        raise ValueError("no mid at or before the decision: the market data starts after it")
    p_0 = _mid_at(mids_ts, mid_values, start_ns) or p_d
    p_end = _mid_at(mids_ts, mid_values, end_ns) or p_0
    sign = 1.0 if side is Side.BUY else -1.0
    fills = sorted(fills)
    filled = sum(q for _, q, _ in fills)
    notional = sum(q * p for _, q, p in fills)
    avg = notional / filled if filled else 0.0
    timing = spread = 0.0
    for t, q, p in fills:
        m = _mid_at(mids_ts, mid_values, t) or p_0
        timing += q * (m - p_0)
        spread += q * (p - m)
    base = qty * p_d / 1e4  # currency per basis point of the order
    delay_bps = sign * (p_0 - p_d) * filled / base
    timing_bps = sign * timing / base
    spread_bps = sign * spread / base
    fees_bps = fee_bps * notional / (qty * p_d)
    opportunity_bps = sign * (p_end - p_d) * (qty - filled) / base
    interval = [(q, p) for t, q, p in tape if start_ns <= t <= end_ns]
    market = sum(q for q, _ in interval)
    vwap = sum(q * p for q, p in interval) / market if market else None
    twap = _twap(mids_ts, mid_values, start_ns, end_ns)
    close = tape[-1][2] if tape else None
    markouts: dict[float, float | None] = {}
    for h in horizons_s:
        num = den = 0.0
        for t, q, p in fills:
            later = _mid_at(mids_ts, mid_values, t + round(h * NS))
            if later is None or p <= 0:
                continue
            num += q * sign * (later - p) / p * 1e4
            den += q
        markouts[h] = num / den if den else None
    return ParentTca(
        side=side,
        qty=qty,
        filled=filled,
        avg_price=avg,
        decision_mid=p_d,
        start_mid=p_0,
        end_mid=p_end,
        delay_bps=delay_bps,
        timing_bps=timing_bps,
        spread_bps=spread_bps,
        fees_bps=fees_bps,
        opportunity_bps=opportunity_bps,
        shortfall_bps=delay_bps + timing_bps + spread_bps + fees_bps + opportunity_bps,
        vs_vwap_bps=_cost_bps(sign, avg, vwap) if filled else None,
        vs_twap_bps=_cost_bps(sign, avg, twap) if filled else None,
        vs_close_bps=_cost_bps(sign, avg, close) if filled else None,
        interval_vwap=vwap,
        interval_twap=twap,
        close=close,
        participation=filled / market if market else 0.0,
        market_volume=market,
        markouts_bps=markouts,
    )
