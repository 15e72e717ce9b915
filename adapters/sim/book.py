"""A price-time priority limit order book for one symbol: the matching engine.

Pure and synchronous: orders in, fills out; no clock (the caller passes ``ts``), no I/O.

Rules
=====

* **Priority.** Better price first; at one price, displayed quantity in time order, then hidden
  quantity in time order (as on NASDAQ: hidden orders yield to displayed ones at their price).
* **Order kinds.** ``LIMIT`` rests what it cannot fill (``DAY``) or cancels it (``IOC``);
  ``MARKET`` walks the book and cancels any unfilled rest; it never rests.
* **Icebergs.** ``display`` > 0 shows at most ``display`` shares. When the shown part is used
  up and reserve remains, it is refilled and the order goes to the back of the displayed queue
  at its price (it loses time priority). ``display == 0`` is a fully hidden order.
* **Cancel/replace.** Lowering the quantity at the same price keeps priority; a new price or a
  larger quantity loses it (the order is re-entered, and may trade if its new price crosses).
* **Grid.** Prices must be multiples of ``tick``; quantities multiples of ``lot`` and > 0.
* **Self-trade prevention.** An incoming order never trades with a resting order of the same
  non-``None`` owner: the incoming order's unfilled rest is cancelled ("cancel newest"); fills
  before that point stand. Orders with owner ``None`` (anonymous background flow) are exempt.

Every ``Fill`` names the aggressor side, price, quantity and both order ids and owners.
``touched()`` returns the displayed levels changed since the last call, so a caller can publish
incremental market data without diffing books.
"""

from __future__ import annotations

import bisect
from collections import deque
from dataclasses import dataclass, field

from engine.events import OrderType, Side, TimeInForce

__all__ = ["AddResult", "Fill", "OrderBook", "RestingOrder"]


@dataclass(slots=True)
class RestingOrder:
    """An order on the book. Mutable: the book owns it; callers get copies of facts in fills."""

    order_id: int
    owner: str | None
    side: Side
    price: int
    qty: int  # remaining quantity, shown and reserve together
    display: int | None  # None: all shown; 0: hidden; > 0: iceberg peak
    visible: int  # currently shown
    seq: int  # time priority: lower is earlier


@dataclass(frozen=True, slots=True)
class Fill:
    """One execution between an incoming (aggressor) and a resting (passive) order."""

    price: int
    qty: int
    aggressor_side: Side
    aggressor_id: int
    passive_id: int
    aggressor_owner: str | None
    passive_owner: str | None
    passive_remaining: int  # the passive order's quantity left after this fill


@dataclass(frozen=True, slots=True)
class AddResult:
    """What happened to an incoming order (or a re-entered replace)."""

    order_id: int
    fills: tuple[Fill, ...] = ()
    rested: int = 0  # quantity now resting on the book
    canceled: int = 0  # quantity cancelled: IOC/market rest, or self-trade prevention
    self_trade_prevented: bool = False
    reject_reason: str | None = None

    @property
    def filled(self) -> int:
        return sum(f.qty for f in self.fills)


@dataclass(slots=True)
class _Level:
    price: int
    shown: deque[RestingOrder] = field(default_factory=deque)
    hidden: deque[RestingOrder] = field(default_factory=deque)
    visible_size: int = 0

    def empty(self) -> bool:
        return not self.shown and not self.hidden


class OrderBook:
    """The matching engine for one symbol (see the module docstring for the rules)."""

    def __init__(self, symbol: str, *, tick: int = 100, lot: int = 1) -> None:
        if tick <= 0 or lot <= 0:
            raise ValueError("tick and lot must be positive")
        self.symbol = symbol
        self.tick = tick
        self.lot = lot
        self._levels: dict[Side, dict[int, _Level]] = {Side.BUY: {}, Side.SELL: {}}
        # Ascending price lists; the best bid is the last, the best ask the first.
        self._prices: dict[Side, list[int]] = {Side.BUY: [], Side.SELL: []}
        self._orders: dict[int, RestingOrder] = {}
        self._seq = 0
        self._next_id = 1
        self._touched: set[tuple[Side, int]] = set()

    # --- queries ------------------------------------------------------------------------------

    def __contains__(self, order_id: int) -> bool:
        return order_id in self._orders

    def order(self, order_id: int) -> RestingOrder | None:
        """Return the resting order (live object: do not mutate), or ``None``."""
        return self._orders.get(order_id)

    def best(self, side: Side) -> tuple[int, int] | None:
        """Best displayed ``(price, size)`` on ``side``, skipping hidden-only levels."""
        prices = self._prices[side]
        levels = self._levels[side]
        rng = range(len(prices) - 1, -1, -1) if side is Side.BUY else range(len(prices))
        for i in rng:
            lvl = levels[prices[i]]
            if lvl.visible_size > 0:
                return lvl.price, lvl.visible_size
        return None

    def depth(self, side: Side, levels: int = 10) -> tuple[tuple[int, int], ...]:
        """Displayed ``(price, size)`` levels on ``side``, best first."""
        out: list[tuple[int, int]] = []
        prices = self._prices[side]
        book = self._levels[side]
        seq = reversed(prices) if side is Side.BUY else iter(prices)
        for p in seq:
            lvl = book[p]
            if lvl.visible_size > 0:
                out.append((p, lvl.visible_size))
                if len(out) == levels:
                    break
        return tuple(out)

    def visible_at(self, side: Side, price: int) -> int:
        lvl = self._levels[side].get(price)
        return 0 if lvl is None else lvl.visible_size

    def total_qty(self) -> int:
        """Quantity resting on both sides, shown and hidden (for conservation checks)."""
        return sum(o.qty for o in self._orders.values())

    def queue_ahead(self, order_id: int) -> int:
        """Displayed quantity ahead of a resting order at its price (0 if not resting)."""
        o = self._orders.get(order_id)
        if o is None:
            return 0
        lvl = self._levels[o.side][o.price]
        ahead = 0
        for other in lvl.shown:
            if other is o:
                break
            ahead += other.visible
        else:
            ahead = lvl.visible_size  # hidden: every displayed share is ahead
        return ahead

    def touched(self) -> list[tuple[Side, int, int]]:
        """Displayed levels changed since the last call: ``(side, price, new visible size)``."""
        out = [(s, p, self.visible_at(s, p)) for s, p in sorted(self._touched)]
        self._touched.clear()
        return out

    def orders(self) -> list[RestingOrder]:
        return list(self._orders.values())

    # --- commands -----------------------------------------------------------------------------

    def new_order_id(self) -> int:
        oid = self._next_id
        self._next_id += 1
        return oid

    def add(
        self,
        side: Side,
        qty: int,
        *,
        price: int | None = None,
        order_type: OrderType = OrderType.LIMIT,
        tif: TimeInForce = TimeInForce.DAY,
        display: int | None = None,
        owner: str | None = None,
        order_id: int | None = None,
    ) -> AddResult:
        """Match an incoming order, rest what remains if it may, and report what happened."""
        oid = self.new_order_id() if order_id is None else order_id
        reason = self.validate(qty, price, order_type, display)
        if reason is None and oid in self._orders:
            reason = f"order id {oid} is already on the book"
        if reason is not None:
            return AddResult(order_id=oid, reject_reason=reason)
        limit = price if order_type is OrderType.LIMIT else None
        fills, left, stp = self._match(oid, owner, side, qty, limit)
        rested = canceled = 0
        if left:
            if stp or order_type is OrderType.MARKET or tif is TimeInForce.IOC:
                canceled = left
            else:
                assert price is not None
                self._rest(RestingOrder(oid, owner, side, price, left, display, 0, 0))
                rested = left
        return AddResult(oid, tuple(fills), rested, canceled, stp)

    def cancel(self, order_id: int) -> int:
        """Remove a resting order; return the quantity cancelled (0 if it was not resting)."""
        o = self._orders.pop(order_id, None)
        if o is None:
            return 0
        lvl = self._levels[o.side][o.price]
        (lvl.hidden if o.display == 0 else lvl.shown).remove(o)
        lvl.visible_size -= o.visible
        if o.visible:
            self._touched.add((o.side, o.price))
        self._drop_if_empty(o.side, lvl)
        return o.qty

    def replace(self, order_id: int, qty: int, price: int | None = None) -> AddResult:
        """Change a resting order's remaining quantity and/or price.

        Same price and a smaller quantity keeps time priority; anything else re-enters the
        order (same id) at the back of the queue, matching first if the new price crosses.
        """
        o = self._orders.get(order_id)
        if o is None:
            return AddResult(order_id=order_id, reject_reason="order is not on the book")
        new_price = o.price if price is None else price
        reason = self.validate(qty, new_price, OrderType.LIMIT, o.display)
        if reason is not None:
            return AddResult(order_id=order_id, reject_reason=reason)
        if new_price == o.price and qty <= o.qty:
            lvl = self._levels[o.side][o.price]
            o.qty = qty
            shown = min(o.visible, qty)
            lvl.visible_size -= o.visible - shown
            if shown != o.visible:
                self._touched.add((o.side, o.price))
            o.visible = shown
            return AddResult(order_id=order_id, rested=qty)
        self.cancel(order_id)
        return self.add(
            o.side, qty, price=new_price, display=o.display, owner=o.owner, order_id=order_id
        )

    # --- internals ----------------------------------------------------------------------------

    def validate(
        self, qty: int, price: int | None, kind: OrderType, display: int | None
    ) -> str | None:
        """Return why an order would be refused (quantity, lot, price, tick), or ``None``."""
        if qty <= 0:
            return f"quantity must be > 0, got {qty}"
        if qty % self.lot:
            return f"quantity {qty} is not a multiple of the lot size {self.lot}"
        if kind is OrderType.LIMIT:
            if price is None:
                return "a limit order needs a price"
            if price <= 0:
                return f"price must be > 0, got {price}"
            if price % self.tick:
                return f"price {price} is not on the tick grid of {self.tick}"
        if display is not None and (display < 0 or display % self.lot):
            return f"display quantity {display} must be >= 0 and a multiple of the lot"
        return None

    def _match(
        self, oid: int, owner: str | None, side: Side, qty: int, limit: int | None
    ) -> tuple[list[Fill], int, bool]:
        opp = side.opposite
        prices = self._prices[opp]
        levels = self._levels[opp]
        fills: list[Fill] = []
        left = qty
        while left and prices:
            best = prices[-1] if opp is Side.BUY else prices[0]
            if limit is not None and (best > limit if side is Side.BUY else best < limit):
                break
            lvl = levels[best]
            left, stop = self._match_level(lvl, oid, owner, side, left, fills)
            self._drop_if_empty(opp, lvl)
            if stop:
                return fills, left, True
        return fills, left, False

    def _match_level(
        self, lvl: _Level, oid: int, owner: str | None, side: Side, left: int, fills: list[Fill]
    ) -> tuple[int, bool]:
        for queue in (lvl.shown, lvl.hidden):
            while left and queue:
                head = queue[0]
                if owner is not None and head.owner == owner:
                    return left, True
                take = min(left, head.visible if head.display != 0 else head.qty)
                head.qty -= take
                left -= take
                if head.display != 0:
                    head.visible -= take
                    lvl.visible_size -= take
                    self._touched.add((head.side, head.price))
                fills.append(
                    Fill(lvl.price, take, side, oid, head.order_id, owner, head.owner, head.qty)
                )
                if head.qty == 0:
                    queue.popleft()
                    del self._orders[head.order_id]
                elif head.visible == 0 and head.display != 0:
                    # Iceberg: refill the peak and lose time priority.
                    queue.popleft()
                    self._seq += 1
                    head.seq = self._seq
                    head.visible = min(head.display or head.qty, head.qty)
                    lvl.visible_size += head.visible
                    queue.append(head)
        return left, False

    def _rest(self, o: RestingOrder) -> None:
        self._seq += 1
        o.seq = self._seq
        o.visible = 0 if o.display == 0 else min(o.display or o.qty, o.qty)
        levels = self._levels[o.side]
        lvl = levels.get(o.price)
        if lvl is None:
            lvl = levels[o.price] = _Level(o.price)
            bisect.insort(self._prices[o.side], o.price)
        (lvl.hidden if o.display == 0 else lvl.shown).append(o)
        lvl.visible_size += o.visible
        if o.visible:
            self._touched.add((o.side, o.price))
        self._orders[o.order_id] = o

    def _drop_if_empty(self, side: Side, lvl: _Level) -> None:
        if lvl.empty():
            del self._levels[side][lvl.price]
            prices = self._prices[side]
            del prices[bisect.bisect_left(prices, lvl.price)]
