"""Background order flow: the crowd that makes the simulated book a market.

Events arrive as an inhomogeneous Poisson process (thinning) whose intensity follows a U-shaped
intraday profile ``w(u) = 1 + a (2u - 1)^2`` (``u`` in [0, 1] through the session), normalised so
the session expects ``events_per_day`` events. Each event is, independently:

* a **limit order** placed ``k`` ticks behind the touch reference, ``P(k) ~ (1 - d)^k``, where the
  reference is ``half_spread`` ticks from the fundamental value (wider in HV) and never crosses
  the opposite best. Its size grows with ``k`` (``1 + g k``) and thins in HV, so displayed depth
  grows away from the touch and the cost of a market order grows concavely with its size.
  The side is drawn against the near-touch depth imbalance (the thinner side is refilled more
  often): this is the book's resilience, the decay of temporary impact after a large trade.
* a **cancel** of a resting background order, with probability ``min(1, n / target)`` for ``n``
  resting orders (each order has its own cancellation rate, so the book neither drains nor
  grows without bound): of three drawn at random, the one farthest from the fundamental value
  (stale quotes go first, so the book follows the price).
* a **market order**, leaning toward the fundamental value: the probability of a sell rises by
  ``informed_skew_per_tick`` for every tick the mid stands above it.

Before each event, quotes left more than a tick on the wrong side of the fundamental value (an
ask below it, a bid above it) are picked off by marketable orders, as arbitrageurs do the
moment a price moves. Without this the mid trails the fundamental by minutes and one-minute
returns acquire a strong, unrealistic positive autocorrelation; with it they are close to a
random walk, while volatility clustering (from the volatility process) remains.
"""

from __future__ import annotations

import math
import random

from adapters.sim.config import FlowConfig, Regime
from adapters.sim.exchange import Exchange
from engine.events import OrderType, Side, TimeInForce

__all__ = ["BackgroundFlow"]

_NEAR_TOUCH_LEVELS = 5


class BackgroundFlow:
    """Generates and enters background events for one symbol."""

    def __init__(
        self, cfg: FlowConfig, symbol: str, tick: int, session_seconds: float, rng: random.Random
    ) -> None:
        self.cfg = cfg
        self.symbol = symbol
        self.tick = tick
        self._rng = rng
        self._session = session_seconds
        self._a = cfg.u_shape_depth / (1.0 - cfg.u_shape_depth)
        base = cfg.events_per_day / session_seconds
        # Peak (open/close) rate of the thinning envelope; w averages 1 + a/3 over the day.
        self._rate_max = base * (1.0 + self._a) / (1.0 + self._a / 3.0)
        self._cum_limit = cfg.limit_share
        self._cum_cancel = cfg.limit_share + cfg.cancel_share
        self._log_keep = math.log(1.0 - cfg.placement_decay)
        self._ids: list[int] = []  # resting background orders (filled ones pruned lazily)
        self.events = 0

    def intensity(self, t_s: float) -> float:
        """Expected events per second at ``t_s`` seconds into the session."""
        u = min(max(t_s / self._session, 0.0), 1.0)
        w = 1.0 + self._a * (2.0 * u - 1.0) ** 2
        return self._rate_max * w / (1.0 + self._a)

    def next_time(self, t_s: float) -> float:
        """Time (seconds into the session) of the next background event after ``t_s``."""
        rng = self._rng
        while True:
            t_s += rng.expovariate(self._rate_max)
            if t_s >= self._session or rng.random() * self._rate_max <= self.intensity(t_s):
                return t_s

    # --- events -------------------------------------------------------------------------------

    def seed_book(self, x: Exchange, fund_ticks: float, regime: Regime) -> None:
        """Populate ``initial_levels`` levels a side so the session opens on a real book."""
        for side in (Side.BUY, Side.SELL):
            for k in range(self.cfg.initial_levels):
                for _ in range(2):
                    self._limit(x, side, fund_ticks, regime, k)

    def act(self, x: Exchange, fund_ticks: float, regime: Regime) -> None:
        """Enter one background event."""
        self.events += 1
        self._pick_off(x, fund_ticks)
        r = self._rng.random()
        if r < self._cum_limit:
            self._limit(x, self._limit_side(x), fund_ticks, regime, None)
        elif r < self._cum_cancel:
            self._cancel(x, fund_ticks)
        else:
            self._market(x, fund_ticks, regime)

    def _pick_off(self, x: Exchange, fund_ticks: float) -> None:
        book = x.books[self.symbol]
        for _ in range(4):  # a few levels at most per event; the next event continues
            ask = book.best(Side.SELL)
            if ask is not None and ask[0] / self.tick < fund_ticks - 1.0:
                x.add_order(self.symbol, Side.BUY, ask[1], price=ask[0], tif=TimeInForce.IOC)
                continue
            bid = book.best(Side.BUY)
            if bid is not None and bid[0] / self.tick > fund_ticks + 1.0:
                x.add_order(self.symbol, Side.SELL, bid[1], price=bid[0], tif=TimeInForce.IOC)
                continue
            return

    def _limit_side(self, x: Exchange) -> Side:
        book = x.books[self.symbol]
        bid = sum(s for _, s in book.depth(Side.BUY, _NEAR_TOUCH_LEVELS))
        ask = sum(s for _, s in book.depth(Side.SELL, _NEAR_TOUCH_LEVELS))
        p_bid = 0.5 if bid + ask == 0 else min(max(ask / (bid + ask), 0.2), 0.8)
        return Side.BUY if self._rng.random() < p_bid else Side.SELL

    def _limit(
        self, x: Exchange, side: Side, fund_ticks: float, regime: Regime, k: int | None
    ) -> None:
        cfg, rng = self.cfg, self._rng
        book = x.books[self.symbol]
        half = cfg.hv_half_spread_ticks if regime is Regime.HV else cfg.lv_half_spread_ticks
        if k is None:
            k = min(int(math.log(1.0 - rng.random()) / self._log_keep), cfg.max_levels - 1)
        if side is Side.BUY:
            ref = math.floor(fund_ticks) - (half - 1)
            best = book.best(Side.SELL)
            if best is not None:
                ref = min(ref, best[0] // self.tick - 1)
            price_ticks = ref - k
        else:
            ref = math.ceil(fund_ticks) + (half - 1)
            best = book.best(Side.BUY)
            if best is not None:
                ref = max(ref, best[0] // self.tick + 1)
            price_ticks = ref + k
        if price_ticks <= 0:
            return
        mean = cfg.mean_limit_lots * (1.0 + cfg.depth_growth * k)
        if regime is Regime.HV:
            mean *= cfg.hv_size_factor
        lots = max(1, round(rng.expovariate(1.0 / mean)))
        r = x.add_order(self.symbol, side, lots * cfg.lot_shares, price=price_ticks * self.tick)
        if r.rested:
            self._ids.append(r.order_id)

    def _cancel(self, x: Exchange, fund_ticks: float) -> None:
        book = x.books[self.symbol]
        ids, rng = self._ids, self._rng
        if rng.random() * self.cfg.target_resting_orders > len(ids):
            return
        best_id, best_stale = -1, -1.0
        tries = 0
        while ids and tries < 3:
            i = rng.randrange(len(ids))
            oid = ids[i]
            o = book.order(oid)
            if o is None:  # filled since: prune
                ids[i] = ids[-1]
                ids.pop()
                continue
            tries += 1
            stale = abs(o.price / self.tick - fund_ticks)
            if stale > best_stale:
                best_id, best_stale = oid, stale
        if best_id >= 0:
            x.cancel_order(self.symbol, best_id)

    def _market(self, x: Exchange, fund_ticks: float, regime: Regime) -> None:
        cfg, rng = self.cfg, self._rng
        book = x.books[self.symbol]
        bid, ask = book.best(Side.BUY), book.best(Side.SELL)
        p_sell = 0.5
        if bid is not None and ask is not None:
            mid_ticks = 0.5 * (bid[0] + ask[0]) / self.tick
            p_sell += cfg.informed_skew_per_tick * (mid_ticks - fund_ticks)
        p_sell = min(max(p_sell, 0.1), 0.9)
        side = Side.SELL if rng.random() < p_sell else Side.BUY
        lots = max(1, round(rng.expovariate(1.0 / cfg.mean_market_lots)))
        x.add_order(self.symbol, side, lots * cfg.lot_shares, order_type=OrderType.MARKET)
