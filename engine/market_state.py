"""What the engine knows of one symbol's market: the displayed book, the tape, its freshness.

Built from any market-data port's events (a simulator's quotes and level updates, a FIX
snapshot followed by incrementals, a WebSocket feed). The participation cap is counted from the
tape kept here: market volume over a trailing window, our own prints included (they are on the
tape like anyone's).
"""

from __future__ import annotations

import bisect
from collections import deque

from engine.events import (
    BookSnapshot,
    BookUpdate,
    MarketEvent,
    Quote,
    Trade,
    TradingState,
    TradingStatus,
)
from strategies.schedule import Side

__all__ = ["SymbolMarket"]


class SymbolMarket:
    """One symbol's book, tape and state (see the module docstring)."""

    def __init__(self, symbol: str, tape_window_ns: int) -> None:
        self.symbol = symbol
        self._window_ns = tape_window_ns
        self._levels: dict[Side, dict[int, int]] = {Side.BUY: {}, Side.SELL: {}}
        # The tape: (ts, size) per print, oldest first, kept for the trailing window; and the
        # running total before each print, so any window's volume is a bisect and a subtraction.
        self._tape_ts: deque[int] = deque()
        self._tape_before: deque[int] = deque()
        self._kept_from: int | None = None  # every print at or after this time is on the tape
        self.total_volume = 0
        self.last_price: int | None = None
        self.last_event_ns: int | None = None  # receipt time on the engine's clock
        self.halted = False
        self.halt_reason = ""
        self.stale = False
        # Every parent of the symbol reads the book after every event: the best prices are
        # kept as the book changes, ``touch_version`` counts their moves (a parent waiting on
        # the touch compares one integer), and depth is computed once per event (``version``
        # counts events) and cached until the next.
        self._best_px: dict[Side, int | None] = {Side.BUY: None, Side.SELL: None}
        self.touch_version = 0
        self.version = 0
        self._cached_at = -1
        self._cache: dict[object, object] = {}

    # --- inputs ----------------------------------------------------------------------------------

    def on_event(self, event: MarketEvent, now_ns: int) -> None:
        self.last_event_ns = now_ns
        self.version += 1
        if isinstance(event, Trade):
            self._on_trade(event.ts_event, event.size, event.price)
        elif isinstance(event, BookUpdate):
            side, price = event.side, event.price
            levels = self._levels[side]
            best = self._best_px[side]
            if event.size > 0:
                levels[price] = event.size
                if best is None or (price > best if side is Side.BUY else price < best):
                    self._best_px[side] = price
                    self.touch_version += 1
            else:
                levels.pop(price, None)
                if price == best:
                    self._find_best(side)
        elif isinstance(event, Quote):
            # A quote restates the top: drop levels that cross or sit inside it.
            self._set_top(Side.BUY, event.bid_price, event.bid_size)
            self._set_top(Side.SELL, event.ask_price, event.ask_size)
            self._find_best(Side.BUY)
            self._find_best(Side.SELL)
        elif isinstance(event, BookSnapshot):
            self._levels[Side.BUY] = dict(event.bids)
            self._levels[Side.SELL] = dict(event.asks)
            self._find_best(Side.BUY)
            self._find_best(Side.SELL)
        elif isinstance(event, TradingStatus):
            self.halted = event.state is TradingState.HALTED
            self.halt_reason = event.reason

    def _find_best(self, side: Side) -> None:
        levels = self._levels[side]
        best = (max(levels) if side is Side.BUY else min(levels)) if levels else None
        if best != self._best_px[side]:
            self._best_px[side] = best
            self.touch_version += 1

    def _set_top(self, side: Side, price: int | None, size: int) -> None:
        levels = self._levels[side]
        if price is None:
            levels.clear()
            return
        better = (lambda p: p > price) if side is Side.BUY else (lambda p: p < price)
        for p in [p for p in levels if better(p)]:
            del levels[p]
        levels[price] = size

    def _on_trade(self, ts: int, size: int, price: int) -> None:
        if self._tape_ts and ts < self._tape_ts[-1]:
            ts = self._tape_ts[-1]  # keep the tape ordered if a feed reorders by a hair
        self._tape_ts.append(ts)
        self._tape_before.append(self.total_volume)
        self.total_volume += size
        self.last_price = price
        cutoff = ts - self._window_ns
        self._kept_from = cutoff
        while self._tape_ts and self._tape_ts[0] < cutoff:
            self._tape_ts.popleft()
            self._tape_before.popleft()

    # --- queries ---------------------------------------------------------------------------------

    def _cached(self) -> dict[object, object]:
        if self._cached_at != self.version:
            self._cache.clear()
            self._cached_at = self.version
        return self._cache

    def best_price(self, side: Side) -> int | None:
        return self._best_px[side]

    def best(self, side: Side) -> tuple[int, int] | None:
        """Best price and size on ``side`` (BUY = bids), or ``None`` if empty."""
        price = self._best_px[side]
        return None if price is None else (price, self._levels[side][price])

    def depth(self, side: Side, levels: int) -> int:
        """Displayed shares on ``side`` over its best ``levels`` levels."""
        cache = self._cached()
        key = (side, levels)
        if key not in cache:
            book = self._levels[side]
            prices = sorted(book, reverse=side is Side.BUY)[:levels]
            cache[key] = sum(book[p] for p in prices)
        return cache[key]  # type: ignore[return-value]

    @property
    def mid(self) -> float | None:
        bid, ask = self.best(Side.BUY), self.best(Side.SELL)
        if bid is None or ask is None:
            return None
        return 0.5 * (bid[0] + ask[0])

    def volume_printed_after(self, ts_ns: int) -> int | None:
        """Market volume printed after ``ts_ns`` by the prints' own times, or ``None`` once the
        kept tape no longer reaches back that far. Unlike a difference of running totals, a
        print that arrives late but happened before ``ts_ns`` is not counted."""
        if self._kept_from is None:
            return 0  # nothing printed yet
        if ts_ns < self._kept_from:
            return None
        return self.volume_since(ts_ns)

    def volume_since(self, ts_ns: int) -> int:
        """Market volume printed after ``ts_ns`` (only the kept window: older prints are cut)."""
        i = bisect.bisect_right(self._tape_ts, ts_ns)
        if i == len(self._tape_ts):
            return 0
        return self.total_volume - self._tape_before[i]
