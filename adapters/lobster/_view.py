"""The historical book as our orders see it: displayed levels minus what we took (private).

:class:`BookView` reads one order-book row of a :class:`~adapters.lobster.loader.LobsterDay` at a
time and keeps the *deficits*: per side and price, displayed size that our marketable orders
consumed and that the historical book still shows (history does not know we traded).
``available = displayed - deficit``, never below zero.

Deficit rules (docs/replay.md, "Deficits and replenishment"):

1. taking ``q`` shares at a level adds ``q`` to its deficit;
2. a historical new order (type 1) of ``z`` shares at that side and price reduces the deficit
   by ``z``: fresh liquidity stands in for what we took;
3. after every row, a deficit larger than the displayed size is cut to it (the orders that left
   may have been the ones we took), and a level that has left the book (its price is in view
   and no longer displayed) clears its deficit. A price outside the displayed depth keeps its
   deficit unchanged: we cannot see what happens there.
"""

from __future__ import annotations

from adapters.lobster.loader import LobsterDay
from engine.events import Side

__all__ = ["BookView", "Levels"]

Levels = list[tuple[int, int]]  # (price, size), best first, occupied levels only


class BookView:
    """Displayed depth of one row of a day, and the deficits our orders left on it."""

    def __init__(self, day: LobsterDay) -> None:
        self._day = day
        self._depth = day.levels
        self.row = -1  # -1: before the first row, an empty book
        self._cache_row = -2
        self._levels: dict[Side, Levels] = {Side.BUY: [], Side.SELL: []}
        self.deficit: dict[Side, dict[int, int]] = {Side.BUY: {}, Side.SELL: {}}

    # --- historical rows -----------------------------------------------------------------------

    def levels(self, side: Side) -> Levels:
        """Occupied displayed levels of ``side`` in the current row, best first."""
        if self._cache_row != self.row:
            self._load()
        return self._levels[side]

    def _load(self) -> None:
        r, d = self.row, self._day
        if r < 0:
            self._levels = {Side.BUY: [], Side.SELL: []}
        else:
            bp, bs = d.bid_px[r].tolist(), d.bid_sz[r].tolist()
            ap, az = d.ask_px[r].tolist(), d.ask_sz[r].tolist()
            self._levels = {
                Side.BUY: [(p, s) for p, s in zip(bp, bs, strict=True) if s > 0],
                Side.SELL: [(p, s) for p, s in zip(ap, az, strict=True) if s > 0],
            }
        self._cache_row = r

    def visible(self, side: Side, price: int) -> bool:
        """Whether ``price`` lies inside the displayed depth of ``side``.

        When fewer levels are occupied than the file shows, the whole side is in view.
        """
        lv = self.levels(side)
        if len(lv) < self._depth:
            return True
        worst = lv[-1][0]
        return price >= worst if side is Side.BUY else price <= worst

    def displayed(self, side: Side, price: int) -> int:
        """Historical displayed size at ``price`` (0 if no such level is displayed)."""
        for p, s in self.levels(side):
            if p == price:
                return s
        return 0

    def available(self, side: Side, price: int) -> int:
        """Displayed size at ``price`` that our orders have not already taken."""
        return max(0, self.displayed(side, price) - self.deficit[side].get(price, 0))

    def available_levels(self, side: Side) -> Levels:
        """``(price, available)`` per displayed level with something left, best first."""
        book = self.deficit[side]
        if not book:
            return self.levels(side)
        out = []
        for p, s in self.levels(side):
            a = s - book.get(p, 0)
            if a > 0:
                out.append((p, a))
        return out

    # --- deficits ------------------------------------------------------------------------------

    def take(self, side: Side, price: int, qty: int) -> None:
        """Rule 1: our order took ``qty`` displayed shares at ``price``."""
        book = self.deficit[side]
        book[price] = book.get(price, 0) + qty

    def replenish(self, side: Side, price: int, qty: int) -> None:
        """Rule 2: a historical order added ``qty`` shares at ``price``."""
        book = self.deficit[side]
        left = book.get(price, 0) - qty
        if left > 0:
            book[price] = left
        else:
            book.pop(price, None)

    def clamp(self) -> None:
        """Rule 3: cut deficits to the displayed size; clear those of levels gone from view."""
        for side, book in self.deficit.items():
            for price, d in list(book.items()):
                if not self.visible(side, price):
                    continue
                shown = self.displayed(side, price)
                if shown == 0:
                    del book[price]
                elif d > shown:
                    book[price] = shown

    def has_deficits(self) -> bool:
        return bool(self.deficit[Side.BUY] or self.deficit[Side.SELL])
