r"""Adversarial participants: agents that notice a predictable trader and trade ahead of it.

An adversary sees only what any participant sees: it subscribes to the market-data feed. Prints
of one aggressive order share a timestamp and side, so they are grouped into one print of their
total size; ``BookUpdate`` events keep its view of the displayed levels. It looks for a
persistent one-sided trader in three ways (``AdversaryConfig.evidence`` picks which count):

1. **Regular prints.** Aggressive orders of one side are clustered by size (geometric buckets
   20% wide). For a cluster with at least ``min_prints`` members in the window, the
   dispersion of the gaps between them is measured robustly, ``D = MAD(gaps) / median(gaps)``,
   so a few background prints of the same size falling between a trader's prints do not hide
   it. Exponential (Poisson) gaps give ``D ~ 0.69``; a child order every 30 s gives ``D ~ 0``.
   Regularity is ``1 - D / 0.69``, clipped to [0, 1].
2. **A refilling touch.** A level is traded and its displayed size is back to exactly its
   pre-trade size, either in the same update (an iceberg's peak refilling from its reserve) or
   within one decision interval after the level went empty (a child re-posted at the same
   size). Background replenishment restores depth too, but with random sizes, so rarely to the
   same share at the same price.
   The refill score is the number of such refills in the window divided by ``min_prints``
   (capped at 1): an iceberg or a passive child re-posted at the touch. A refilling *ask*
   reveals a seller, a refilling *bid* a buyer.
3. **A slicing clock.** A market-by-price feed shows the exact size of every order that joins
   a level (the level's increase). Orders joining the ask touch (a seller's passive children;
   the bid touch, a buyer's) are grouped by exact size; over ``clock_window_s``, a group of at least
   ``clock_min_orders`` is tested against each period ``P`` of ``clock_periods_s`` with the
   Rayleigh statistic ``Z = |sum exp(2 pi i t / P)|^2 / n``. Orders at random times give
   ``P(Z > z) ~ exp(-z)``; a schedule that posts a child every ``P`` seconds (or every
   multiple of it) adds up in phase, however many background orders of its size fall
   between. The score is ``Z / 18``, capped at 1 (at sensitivity 0.9 it needs ``Z >= 9``).

Evidence that a trader is on side ``s`` (a seller for SELL) is ``score_s`` = the largest of
the enabled kinds (``AdversaryConfig.evidence``): the regularity of s-aggressive prints and
the refill of s-side quotes, counted only while the window's aggressive volume does not lean
against ``s`` (imbalance toward ``s`` above -0.1: a persistent seller adds to the selling),
and the clock of s-side orders, which a passive trader shows whichever way the flow leans.
The trader is detected when ``score_s >= 0.95 - 0.5 * sensitivity``.

The first two kinds are judged on as few as ``min_prints`` (12) events, with no allowance for
chance: on the backtest's 30-minute days they fired on background flow (mostly 100-share
levels refilled by another 100-share order) on the side nobody traded as often as on ours,
and never on anything our children did. The clock is the one to use where a hunt should mean
that a trader was found.

While active against a seller (for a buyer, mirror everything) the adversary:

* cancels its own bids (withdraws the liquidity the seller would hit);
* every decision interval, with probability ``0.2 + 0.8 * aggressiveness``, sells a market order
  of ``1 + 4 * aggressiveness`` lots (trades ahead);
  with ``max_inventory_lots`` set, it stops trading ahead once it holds that many lots.

While not hunting it quotes ``quote_lots`` at both touches (unless ``make_markets`` is off).

It stays active until nothing has been detected for ``cooldown_s``; then it buys back its
inventory, and quotes both sides again. It buys back (``unwind``) either with marketable orders
of at most its quote size each interval (``market``), or (``passive``) with a bid of that size
joined at the best bid and kept there, re-pegged when the touch moves away: it buys from the
sellers, the hunted one among them, at the price its selling pushed down, and does not push the
price back up. Every activation and deactivation is recorded as ground truth.
"""

from __future__ import annotations

import bisect
import cmath
import math
import random
from collections import deque

from adapters.sim.config import AdversaryConfig
from adapters.sim.exchange import Exchange
from engine.events import BookSnapshot, BookUpdate, MarketEvent, OrderType, Side, Trade

__all__ = ["Adversary"]

_NS = 1_000_000_000
_LOG_BUCKET = math.log(1.2)


_POISSON_DISPERSION = 0.69  # MAD / median of exponential gaps: ln 2 ... times ~1.0
_CLOCK_FULL_Z = 18.0  # the Rayleigh Z at which the clock evidence scores 1


class _Cluster:
    """Times of same-side, similar-size prints in the window, the gaps between them kept
    sorted, and their regularity (cached: the adversary asks for it every decision, and a
    cluster changes far less often)."""

    __slots__ = ("_regularity", "gaps", "times")

    def __init__(self) -> None:
        self.times: deque[int] = deque()
        self.gaps: list[int] = []  # sorted
        self._regularity: float | None = None

    def append(self, ts: int) -> None:
        t = self.times
        if t:
            bisect.insort(self.gaps, ts - t[-1])
        t.append(ts)
        self._regularity = None

    def trim(self, cutoff: int) -> None:
        t = self.times
        if t and t[0] < cutoff:
            self._regularity = None
            gaps = self.gaps
            while t and t[0] < cutoff:
                first = t.popleft()
                if t:
                    del gaps[bisect.bisect_left(gaps, t[0] - first)]

    def regularity(self, min_prints: int) -> float:
        if len(self.times) < min_prints:
            return 0.0
        if self._regularity is None:
            gaps = self.gaps
            h = len(gaps) // 2
            median = gaps[h]
            if median <= 0:
                self._regularity = 0.0
            else:
                # The deviations from the median come as two ascending runs (below it,
                # reversed; from it up), which the sort merges in one pass.
                devs = [median - g for g in reversed(gaps[:h])]
                devs += [g - median for g in gaps[h:]]
                devs.sort()
                mad = devs[h]
                self._regularity = min(1.0, max(0.0, 1.0 - (mad / median) / _POISSON_DISPERSION))
        return self._regularity


class _Clock:
    """Times at which orders of one size joined one side's touch in the window, with their
    phase sums at each trial period (kept as orders enter and leave the window)."""

    __slots__ = ("sums", "times")

    def __init__(self, n_periods: int) -> None:
        self.times: deque[int] = deque()
        self.sums = [0j] * n_periods

    def add(self, ts: int, periods_ns: tuple[int, ...], sign: int) -> None:
        for i, p in enumerate(periods_ns):
            # Integer modulo first: the phase is exact however late in the day.
            self.sums[i] += sign * cmath.exp(2j * math.pi * (ts % p) / p)

    def z(self) -> float:
        """The largest Rayleigh statistic over the trial periods."""
        n = len(self.times)
        return max(abs(s) ** 2 for s in self.sums) / n


class Adversary:
    """One predatory participant (see the module docstring)."""

    def __init__(
        self, cfg: AdversaryConfig, symbol: str, lot_shares: int, rng: random.Random
    ) -> None:
        self.cfg = cfg
        self.name = cfg.name
        self.symbol = symbol
        self._lot = lot_shares
        self._rng = rng
        self._window_ns = round(cfg.window_s * _NS)
        self._clusters: dict[Side, dict[int, _Cluster]] = {Side.BUY: {}, Side.SELL: {}}
        self._volume: dict[Side, deque[tuple[int, int]]] = {Side.BUY: deque(), Side.SELL: deque()}
        self._volume_sum = {Side.BUY: 0, Side.SELL: 0}
        self._refills: dict[Side, deque[int]] = {Side.BUY: deque(), Side.SELL: deque()}
        self._use_prints = "prints" in cfg.evidence
        self._use_refills = "refills" in cfg.evidence
        self._use_clock = "clock" in cfg.evidence
        self._clock_window_ns = round(cfg.clock_window_s * _NS)
        self._periods_ns = tuple(round(p * _NS) for p in cfg.clock_periods_s)
        self._clocks: dict[Side, dict[int, _Clock]] = {Side.BUY: {}, Side.SELL: {}}
        # The aggressive order being printed: (ts, side, size so far).
        self._open: tuple[int, Side, int] | None = None
        # Its view of the displayed book, and levels traded in the update being read.
        self._levels: dict[Side, dict[int, int]] = {Side.BUY: {}, Side.SELL: {}}
        self._traded: dict[tuple[Side, int], int] = {}
        self._emptied: dict[tuple[Side, int], tuple[int, int]] = {}
        self._own_trade_ts = -1  # its own prints are not evidence
        self.target: Side | None = None  # the side of the trader being hunted
        self._last_detect_ns = 0
        self.inventory = 0  # shares, + long
        self._quotes: dict[Side, int | None] = {Side.BUY: None, Side.SELL: None}
        # The resting order of a passive unwind: (order id, its side, quantity still resting
        # when last looked at), so its fills are counted into the inventory.
        self._unwinding: tuple[int, Side, int] | None = None
        self.threshold = 0.95 - 0.5 * cfg.sensitivity

    @property
    def active(self) -> bool:
        return self.target is not None

    # --- observation --------------------------------------------------------------------------

    def on_market_data(self, event: MarketEvent) -> None:
        """Read one event of the public feed (subscribe this to the exchange)."""
        if isinstance(event, Trade):
            self._on_trade(event)
        elif isinstance(event, BookUpdate):
            self._on_level(event)
        elif isinstance(event, BookSnapshot):
            self._levels = {Side.BUY: dict(event.bids), Side.SELL: dict(event.asks)}

    def _on_trade(self, t: Trade) -> None:
        if t.aggressor is None or t.ts_event == self._own_trade_ts:
            return
        op = self._open
        if op is not None and op[0] == t.ts_event and op[1] is t.aggressor:
            self._open = (op[0], op[1], op[2] + t.size)  # the same order walking the book
        else:
            self._close_print()
            self._open = (t.ts_event, t.aggressor, t.size)
        passive = t.aggressor.opposite
        if (passive, t.price) not in self._traded:
            self._traded[(passive, t.price)] = self._levels[passive].get(t.price, 0)

    def _on_level(self, u: BookUpdate) -> None:
        levels = self._levels[u.side]
        key = (u.side, u.price)
        before = self._traded.pop(key, None)
        if self._use_clock and before is None and u.ts_event != self._own_trade_ts:
            added = u.size - levels.get(u.price, 0)
            if added > 0 and self._at_touch(u.side, u.price):
                self._clock_order(u.side, added, u.ts_event)
        if u.ts_event == self._own_trade_ts:
            # Its own quote or unwind order, re-posted at the size it had: not a trader's
            # refilling touch (without this it would hunt itself).
            self._emptied.pop(key, None)
        elif before is not None and before > 0:
            if u.size == before:
                self._refills[u.side].append(u.ts_event)  # refilled within the same update
            elif u.size == 0:
                self._emptied[key] = (before, u.ts_event)
        else:
            gone = self._emptied.pop(key, None)
            horizon = self.cfg.decision_interval_s * _NS
            if gone is not None and u.size == gone[0] and u.ts_event - gone[1] <= horizon:
                self._refills[u.side].append(u.ts_event)  # re-posted at the same size
        if u.size:
            levels[u.price] = u.size
        else:
            levels.pop(u.price, None)

    def _at_touch(self, side: Side, price: int) -> bool:
        levels = self._levels[side]
        if not levels:
            return True
        return price <= min(levels) if side is Side.SELL else price >= max(levels)

    def _clock_order(self, side: Side, size: int, ts: int) -> None:
        clock = self._clocks[side].get(size)
        if clock is None:
            clock = self._clocks[side][size] = _Clock(len(self._periods_ns))
        clock.times.append(ts)
        clock.add(ts, self._periods_ns, 1)

    def _close_print(self) -> None:
        if self._open is None:
            return
        ts, side, size = self._open
        self._open = None
        bucket = round(math.log(size) / _LOG_BUCKET)
        cluster = self._clusters[side].get(bucket)
        if cluster is None:
            cluster = self._clusters[side][bucket] = _Cluster()
        cluster.append(ts)
        self._volume[side].append((ts, size))
        self._volume_sum[side] += size

    def _trim(self, now: int) -> None:
        cutoff = now - self._window_ns
        for side in (Side.BUY, Side.SELL):
            clusters = self._clusters[side]
            for key in list(clusters):
                clusters[key].trim(cutoff)
                if not clusters[key].times:
                    del clusters[key]
            vol = self._volume[side]
            while vol and vol[0][0] < cutoff:
                self._volume_sum[side] -= vol.popleft()[1]
            refills = self._refills[side]
            while refills and refills[0] < cutoff:
                refills.popleft()
            clocks = self._clocks[side]
            clock_cutoff = now - self._clock_window_ns
            for size in list(clocks):
                clock = clocks[size]
                times = clock.times
                while times and times[0] < clock_cutoff:
                    clock.add(times.popleft(), self._periods_ns, -1)
                if not times:
                    del clocks[size]  # also drops the rounding the sums accumulated

    def score(self, side: Side) -> float:
        """Evidence in [0, 1] that a persistent trader is on ``side`` (SELL: a seller)."""
        best = self.clock_score(side) if self._use_clock else 0.0
        if not (self._use_prints or self._use_refills):
            return best
        buy, sell = self._volume_sum[Side.BUY], self._volume_sum[Side.SELL]
        total = buy + sell
        mine = sell if side is Side.SELL else buy
        imbalance = 0.0 if total == 0 else (2 * mine - total) / total
        if imbalance < -0.1:
            return best
        if self._use_prints:
            clusters = self._clusters[side].values()
            regularity = max((c.regularity(self.cfg.min_prints) for c in clusters), default=0.0)
            best = max(best, regularity)
        if self._use_refills:
            best = max(best, min(1.0, len(self._refills[side]) / self.cfg.min_prints))
        return best

    def clock_score(self, side: Side) -> float:
        """The slicing-clock evidence in [0, 1] for ``side`` (module docstring, kind 3)."""
        least = self.cfg.clock_min_orders
        z = max(
            (c.z() for c in self._clocks[side].values() if len(c.times) >= least),
            default=0.0,
        )
        return min(1.0, z / _CLOCK_FULL_Z)

    # --- action -------------------------------------------------------------------------------

    def act(self, x: Exchange, now: int) -> None:
        """Look at the evidence, then hunt, or unwind and quote."""
        self._own_trade_ts = now  # whatever prints at this instant is its own doing
        self._close_print()
        self._trim(now)
        sell, buy = self.score(Side.SELL), self.score(Side.BUY)
        side, best = (Side.SELL, sell) if sell >= buy else (Side.BUY, buy)
        if best >= self.threshold:
            self.target = side
            self._last_detect_ns = now
        elif self.active and now - self._last_detect_ns > self.cfg.cooldown_s * _NS:
            self.target = None
        if self.target is not None:
            self._settle_unwind(x, keep=False)
            self._hunt(x, self.target)
        else:
            if self.cfg.unwind == "passive":
                self._unwind_passive(x)
            else:
                self._unwind(x)
            if self.cfg.make_markets:
                self._quote(x)

    def _hunt(self, x: Exchange, target: Side) -> None:
        # Withdraw the liquidity the target would take, then trade ahead of it.
        self._cancel_quote(x, target.opposite)
        cfg = self.cfg
        if self._rng.random() < 0.2 + 0.8 * cfg.aggressiveness:
            lots = 1 + round(4 * cfg.aggressiveness)
            if cfg.max_inventory_lots is not None:
                held = self.inventory if target is Side.BUY else -self.inventory
                lots = min(lots, cfg.max_inventory_lots - held // self._lot)
                if lots <= 0:
                    return  # holds all it will: keeps its liquidity withdrawn and waits
            r = x.add_order(
                self.symbol, target, lots * self._lot, order_type=OrderType.MARKET, owner=self.name
            )
            self.inventory += r.filled if target is Side.BUY else -r.filled

    def _unwind(self, x: Exchange) -> None:
        if self.inventory == 0:
            return
        side = Side.BUY if self.inventory < 0 else Side.SELL
        qty = min(abs(self.inventory), self.cfg.quote_lots * self._lot)
        r = x.add_order(self.symbol, side, qty, order_type=OrderType.MARKET, owner=self.name)
        self.inventory += r.filled if side is Side.BUY else -r.filled

    def _settle_unwind(self, x: Exchange, *, keep: bool) -> bool:
        """Count the fills of the resting passive unwind order; cancel it unless ``keep`` and
        it still stands at the touch. Returns whether it is still resting."""
        if self._unwinding is None:
            return False
        oid, side, left = self._unwinding
        book = x.books[self.symbol]
        o = book.order(oid)
        now_left = 0 if o is None else o.qty
        if o is not None:
            best = book.best(side)
            if keep and best is not None and o.price == best[0]:
                self._count_fill(side, left - now_left)
                self._unwinding = (oid, side, now_left)
                return True
            now_left = x.cancel_order(self.symbol, oid)
        self._count_fill(side, left - now_left)
        self._unwinding = None
        return False

    def _count_fill(self, side: Side, qty: int) -> None:
        self.inventory += qty if side is Side.BUY else -qty

    def _unwind_passive(self, x: Exchange) -> None:
        if self._settle_unwind(x, keep=True) or self.inventory == 0:
            return
        side = Side.BUY if self.inventory < 0 else Side.SELL
        best = x.books[self.symbol].best(side)
        if best is None:
            return
        qty = min(abs(self.inventory), self.cfg.quote_lots * self._lot)
        r = x.add_order(self.symbol, side, qty, price=best[0], owner=self.name)
        self._count_fill(side, r.filled)
        if r.rested:
            self._unwinding = (r.order_id, side, qty - r.filled)

    def _quote(self, x: Exchange) -> None:
        book = x.books[self.symbol]
        for side in (Side.BUY, Side.SELL):
            oid = self._quotes[side]
            best = book.best(side)
            if oid is not None and oid in book and best is not None:
                if book.order(oid).price == best[0]:
                    continue  # still at the touch
                x.cancel_order(self.symbol, oid)
            if best is None:
                continue
            r = x.add_order(
                self.symbol, side, self.cfg.quote_lots * self._lot, price=best[0], owner=self.name
            )
            self._quotes[side] = r.order_id if r.rested else None
            self.inventory += r.filled if side is Side.BUY else -r.filled

    def _cancel_quote(self, x: Exchange, side: Side) -> None:
        oid = self._quotes[side]
        if oid is not None:
            x.cancel_order(self.symbol, oid)
            self._quotes[side] = None
