"""The pre-trade risk gate: an ordered chain of checks every child order passes before it leaves.

Each check is a pure function of an immutable :class:`GateView` (the parent's quantities, its
children, the symbol's market and participation counts, the trading state, the clock time) and
the proposed quantity; it approves (``None``: the quantity unchanged), clips to a smaller
quantity, or denies, with a stable reason code and a readable text (a :class:`Verdict`). The
chain runs in order, each check seeing the quantity the previous ones left; the first denial
ends it. Approvals build nothing: a child pays for the twelve checks, and building a verdict
per check was most of their cost. A check that cannot decide denies (fail closed): missing
market data, no reference price, a child in unknown state, a check that raises.

The chain (``DEFAULT_CHECKS``; docs/risk.md lists every reason code and its settings):

=================  ========================================================================
check              rule
=================  ========================================================================
trading_state      nothing new while the parent, its symbol or the engine is HALTED
deadline           nothing at or after the parent's end time
market_data        the symbol's data is fresh and the symbol is not halted
duplicate_id       the child's ClOrdID was never used
unknown_child      no child of the parent is in unknown state (it may be live at the venue)
price_collar       a limit price; within ``collar`` of the reference price; the parent's limit
                   respected
no_overfill        ``filled + working + qty <= parent quantity``; *working* counts every child
                   that may still fill at its whole leaves (live, pending cancel, unknown)
participation      per parent: our volume, with every working child and this one filled,
                   stays <= cap x market volume (this child's fill included) over the trailing
                   window and since the parent's start; market volume that leaves the window
                   before the child can expire is not counted
symbol_cap         the same over the trailing window for every parent on the symbol together
size               at most ``max_child_qty`` shares and ``max_child_notional`` per child
notional           the parent's filled, working and this child's notional within
                   ``max_parent_notional``
rate               a token in the venue's message bucket (cancels use it too, but are never
                   refused: they reduce risk)
=================  ========================================================================
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Sequence
from typing import NamedTuple

from risk.states import TradingState
from strategies.tactics import floor_lots

__all__ = [
    "DEFAULT_CHECKS",
    "Action",
    "GateView",
    "Verdict",
    "check_deadline",
    "check_duplicate_id",
    "check_market_data",
    "check_no_overfill",
    "check_notional",
    "check_participation",
    "check_price_collar",
    "check_rate",
    "check_size",
    "check_symbol_cap",
    "check_trading_state",
    "check_unknown_child",
    "run_gate",
    "volume_needed",
]


class Action(enum.StrEnum):
    CLIP = "clip"
    DENY = "deny"


class Verdict(NamedTuple):
    # A tuple, not a frozen dataclass: twelve are built per child, and a frozen dataclass's
    # __init__ (object.__setattr__ per field) made the chain cost 17 us instead of a few.
    check: str
    action: Action
    qty: int  # what may be sent after this check (0 on a denial)
    reason: str = ""  # a stable code for metrics and the journal
    text: str = ""  # for people

    @property
    def approved(self) -> bool:
        return self.action is not Action.DENY and self.qty > 0


class GateView(NamedTuple):
    """What the checks see: quantities in shares, prices in integer price units (the events'
    ``PRICE_SCALE``), notionals in price units x shares, times in ns. Immutable (a tuple, for
    the cost of building one per child); build it with keywords, change a copy with
    ``_replace``."""

    now_ns: int
    end_ns: int
    parent_qty: int
    filled: int
    working: int  # leaves of every child that may still fill
    lot: int
    cap: float
    ours_window: int  # our fills over the trailing window
    market_window_kept: int  # market volume in the window that stays in it until expiry
    ours_since_start: int
    market_since_start: int
    # Market state.
    market_stale: bool = False  # the feed says the symbol's data cannot be trusted
    market_halted: bool = False  # the venue or the feed says the symbol is not trading
    # The order itself.
    buy: bool = False  # the child's side (False: sell)
    price: int | None = None  # its limit price (None: no price protection, refused)
    reference_price: int | None = None  # the mid, else the last print (None: refused)
    collar: int = 0  # the largest distance of the price from the reference
    parent_limit: int | None = None
    duplicate_id: bool = False  # the ClOrdID was used before
    unknown_children: int = 0
    # Symbol-wide participation (every parent on the symbol, this one included).
    symbol_cap: float = 1.0
    symbol_ours_window: int = 0
    symbol_working: int = 0
    symbol_market_kept: int = 0  # market volume in the window until every working child expires
    # Size and notional (0: no limit).
    max_child_qty: int = 0
    max_child_notional: float = 0.0
    max_parent_notional: float = 0.0
    parent_notional: float = 0.0  # filled notional + working leaves x their limit prices
    # State and rate.
    trading_state: TradingState = TradingState.ACTIVE
    trading_reason: str = ""
    rate_tokens: float = math.inf  # messages the venue's bucket allows now


Check = Callable[[GateView, int], "Verdict | None"]


def _clip(name: str, allowed: int, reason: str, text: str) -> Verdict:
    """A clip to ``allowed`` (< the quantity asked), or a denial if nothing is allowed."""
    if allowed <= 0:
        return Verdict(name, Action.DENY, 0, reason, text)
    return Verdict(name, Action.CLIP, allowed, reason, text)


def _deny(name: str, reason: str, text: str) -> Verdict:
    return Verdict(name, Action.DENY, 0, reason, text)


def check_trading_state(v: GateView, qty: int) -> Verdict | None:
    if v.trading_state is TradingState.HALTED:
        why = f": {v.trading_reason}" if v.trading_reason else ""
        return _deny("trading_state", "halted", f"trading is halted{why}")
    return None


def check_deadline(v: GateView, qty: int) -> Verdict | None:
    if v.now_ns >= v.end_ns:
        return _deny("deadline", "deadline", "the parent's end time has passed")
    return None


def check_market_data(v: GateView, qty: int) -> Verdict | None:
    if v.market_stale:
        return _deny("market_data", "stale_data", "the symbol's market data is stale")
    if v.market_halted:
        return _deny("market_data", "halted", "the symbol is halted")
    return None


def check_duplicate_id(v: GateView, qty: int) -> Verdict | None:
    if v.duplicate_id:
        return _deny("duplicate_id", "duplicate_id", "the child's ClOrdID was used before")
    return None


def check_unknown_child(v: GateView, qty: int) -> Verdict | None:
    if v.unknown_children:
        return _deny(
            "unknown_child",
            "unknown_child",
            f"{v.unknown_children} child(ren) in unknown state may be live at the venue",
        )
    return None


def check_price_collar(v: GateView, qty: int) -> Verdict | None:
    name = "price_collar"
    price, ref = v.price, v.reference_price
    if price is None or price <= 0:
        return _deny(name, "no_price", "every child needs a limit price")
    if ref is None:
        return _deny(name, "no_reference", "no reference price (no mid, no print) to check against")
    if abs(price - ref) > v.collar:
        return _deny(
            name, "collar", f"price {price} is more than {v.collar} from the reference {ref}"
        )
    limit = v.parent_limit
    if limit is not None and (price > limit if v.buy else price < limit):
        return _deny(name, "parent_limit", f"price {price} is through the parent's limit {limit}")
    return None


def check_no_overfill(v: GateView, qty: int) -> Verdict | None:
    room = v.parent_qty - v.filled - v.working
    if room >= qty:
        return None
    return _clip(
        "no_overfill",
        room,
        "overfill",
        f"filled {v.filled} + working {v.working} + {qty} would exceed the parent's {v.parent_qty}",
    )


def _cap_room(cap: float, ours: int, market: int, working: int) -> float:
    # ours + working + q <= cap (market + q): this child's fill will be market volume too, but
    # the working children's are not credited: one may have filled already, its print on the
    # tape (in ``market``) before its report reached us (in ``ours``), and crediting it again
    # let several parents sharing a symbol's cap overshoot it.
    if cap >= 1.0:
        return math.inf
    return (cap * market - ours - working) / (1.0 - cap)


def _volume_for(cap: float, ours: int, market: int, working: int, qty: int) -> int:
    # The inverse of _cap_room: the market volume still to print before ``qty`` fits.
    return max(math.ceil((ours + working + (1.0 - cap) * qty) / cap) - market, 0)


def volume_needed(v: GateView, check: str, qty: int) -> int | None:
    """How much market volume must print before ``qty`` fits under the cap that ``check``
    (``participation`` or ``symbol_cap``) denied it on (0: it fits now); ``None`` for any
    other check. What a held-back parent waits for, from the same algebra as the checks."""
    if check == "participation":
        return max(
            _volume_for(v.cap, v.ours_window, v.market_window_kept, v.working, qty),
            _volume_for(v.cap, v.ours_since_start, v.market_since_start, v.working, qty),
        )
    if check == "symbol_cap":
        return _volume_for(
            v.symbol_cap, v.symbol_ours_window, v.symbol_market_kept, v.symbol_working, qty
        )
    return None


def check_participation(v: GateView, qty: int) -> Verdict | None:
    cap = v.cap
    if not 0.0 < cap <= 1.0:
        return _deny("participation", "bad_cap", f"cap {cap} not in (0, 1]")
    room = min(
        _cap_room(cap, v.ours_window, v.market_window_kept, v.working),
        _cap_room(cap, v.ours_since_start, v.market_since_start, v.working),
    )
    if room >= qty:
        return None
    return _clip(
        "participation",
        floor_lots(room, v.lot),
        "cap",
        f"{qty} more would take participation over the {cap:.1%} cap "
        f"(ours {v.ours_window}, working {v.working}, market {v.market_window_kept} in window)",
    )


def check_symbol_cap(v: GateView, qty: int) -> Verdict | None:
    cap = v.symbol_cap
    if not 0.0 < cap <= 1.0:
        return _deny("symbol_cap", "bad_cap", f"symbol cap {cap} not in (0, 1]")
    room = _cap_room(cap, v.symbol_ours_window, v.symbol_market_kept, v.symbol_working)
    if room >= qty:
        return None
    return _clip(
        "symbol_cap",
        floor_lots(room, v.lot),
        "symbol_cap",
        f"{qty} more would take every parent on the symbol over the {cap:.1%} cap "
        f"(ours {v.symbol_ours_window}, working {v.symbol_working}, "
        f"market {v.symbol_market_kept} in window)",
    )


def check_size(v: GateView, qty: int) -> Verdict | None:
    allowed = qty
    if 0 < v.max_child_qty < allowed:
        allowed = floor_lots(v.max_child_qty, v.lot)
    if v.max_child_notional > 0 and v.price and v.price * allowed > v.max_child_notional:
        allowed = floor_lots(v.max_child_notional / v.price, v.lot)
    if allowed >= qty:
        return None
    return _clip(
        "size",
        allowed,
        "size",
        f"{qty} shares at {v.price} exceed the child limits "
        f"({v.max_child_qty or 'no'} shares, {v.max_child_notional or 'no'} notional)",
    )


def check_notional(v: GateView, qty: int) -> Verdict | None:
    price = v.price
    if v.max_parent_notional <= 0 or not price:
        return None
    room = v.max_parent_notional - v.parent_notional
    if price * qty <= room:
        return None
    return _clip(
        "notional",
        floor_lots(max(room / price, 0.0), v.lot),
        "parent_notional",
        f"{qty} more at {price} would take the parent past its notional limit "
        f"{v.max_parent_notional:.0f} (committed {v.parent_notional:.0f})",
    )


def check_rate(v: GateView, qty: int) -> Verdict | None:
    if v.rate_tokens < 1.0:
        return _deny("rate", "rate", "the venue's message rate limit is reached")
    return None


DEFAULT_CHECKS: tuple[Check, ...] = (
    check_trading_state,
    check_deadline,
    check_market_data,
    check_duplicate_id,
    check_unknown_child,
    check_price_collar,
    check_no_overfill,
    check_participation,
    check_symbol_cap,
    check_size,
    check_notional,
    check_rate,
)


def run_gate(
    view: GateView, qty: int, checks: Sequence[Check] = DEFAULT_CHECKS
) -> tuple[int, list[Verdict]]:
    """Run the chain; return the quantity that may be sent (0: none) and the verdicts that
    clipped or denied it (empty when every check approved the quantity asked)."""
    if qty <= 0:
        return 0, [Verdict("input", Action.DENY, 0, "empty", f"quantity {qty} <= 0")]
    verdicts: list[Verdict] = []
    for check in checks:
        try:
            verdict = check(view, qty)
        except Exception as exc:  # a check that fails cannot approve: fail closed
            verdict = Verdict(check.__name__, Action.DENY, 0, "error", f"check failed: {exc!r}")
        if verdict is None:
            continue
        verdicts.append(verdict)
        if verdict.action is Action.DENY or verdict.qty <= 0:
            return 0, verdicts
        qty = min(qty, verdict.qty)
    return qty, verdicts
