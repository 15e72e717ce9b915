"""The pre-trade risk gate: an ordered chain of checks every child order passes before it leaves.

Each check is a pure function of an immutable :class:`GateView` (the parent's quantities, the
participation counts, the clock time) and the proposed quantity; it approves, clips to a
smaller quantity, or denies with a reason code and a readable text. The chain runs in order,
each check seeing the quantity the previous ones left; the first denial ends it. A check that
cannot decide denies (fail closed).

This module holds the three invariants the engine must never break (issue 5 wires them; the
risk issue adds the rest of the chain):

1. **no overfill**: ``filled + working + qty <= parent quantity``, where *working* counts every
   child that may still fill at its whole leaves quantity: live, pending cancel or replace, and
   in unknown state.
2. **participation cap**: if every working child and this one filled, our volume would still be
   at most ``cap`` times market volume (ours included) over the trailing window and since the
   parent's start. Market volume that will have left the trailing window before this child can
   expire is not counted (``market_window_kept``), so a resting child cannot break the cap later
   by the window sliding past the volume that allowed it.
3. **deadline**: nothing is sent at or after the parent's end time.

and one the engine issue needs beside them: **market data** present and fresh, and the symbol
not halted (a feed that went quiet or lost its connection says nothing about where the market
is; a child priced from it could cross a market that moved away).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from strategies.tactics import floor_lots

__all__ = [
    "DEFAULT_CHECKS",
    "Action",
    "GateView",
    "Verdict",
    "check_deadline",
    "check_market_data",
    "check_no_overfill",
    "check_participation",
    "run_gate",
]


class Action(enum.StrEnum):
    APPROVE = "approve"
    CLIP = "clip"
    DENY = "deny"


@dataclass(frozen=True, slots=True)
class Verdict:
    check: str
    action: Action
    qty: int  # what may be sent after this check (0 on a denial)
    reason: str = ""  # a stable code for metrics and the journal
    text: str = ""  # for people

    @property
    def approved(self) -> bool:
        return self.action is not Action.DENY and self.qty > 0


@dataclass(frozen=True, slots=True, kw_only=True)
class GateView:
    """What the checks see (quantities in shares, times in ns)."""

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
    market_stale: bool = False  # the feed says the symbol's data cannot be trusted
    market_halted: bool = False  # the venue or the feed says the symbol is not trading


Check = Callable[[GateView, int], Verdict]


def _clip(name: str, qty: int, allowed: int, reason: str, text: Callable[[], str]) -> Verdict:
    # The text is built only for a clip or a denial: approvals are the hot path.
    if allowed >= qty:
        return Verdict(name, Action.APPROVE, qty)
    if allowed <= 0:
        return Verdict(name, Action.DENY, 0, reason, text())
    return Verdict(name, Action.CLIP, allowed, reason, text())


def check_no_overfill(v: GateView, qty: int) -> Verdict:
    room = v.parent_qty - v.filled - v.working
    return _clip(
        "no_overfill",
        qty,
        room,
        "overfill",
        lambda: (
            f"filled {v.filled} + working {v.working} + {qty} would exceed the parent's "
            f"{v.parent_qty}"
        ),
    )


def _cap_room(cap: float, ours: int, market: int, working: int) -> float:
    # ours + working + q <= cap (market + working + q): our children's fills are market volume.
    if cap >= 1.0:
        return math.inf
    return (cap * market - ours) / (1.0 - cap) - working


def check_participation(v: GateView, qty: int) -> Verdict:
    if not 0.0 < v.cap <= 1.0:
        return Verdict("participation", Action.DENY, 0, "bad_cap", f"cap {v.cap} not in (0, 1]")
    room = min(
        _cap_room(v.cap, v.ours_window, v.market_window_kept, v.working),
        _cap_room(v.cap, v.ours_since_start, v.market_since_start, v.working),
    )
    allowed = qty if math.isinf(room) else floor_lots(room, v.lot)
    return _clip(
        "participation",
        qty,
        allowed,
        "cap",
        lambda: (
            f"{qty} more would take participation over the {v.cap:.1%} cap "
            f"(ours {v.ours_window}, working {v.working}, market {v.market_window_kept} in window)"
        ),
    )


def check_deadline(v: GateView, qty: int) -> Verdict:
    if v.now_ns >= v.end_ns:
        return Verdict("deadline", Action.DENY, 0, "deadline", "the parent's end time has passed")
    return Verdict("deadline", Action.APPROVE, qty)


def check_market_data(v: GateView, qty: int) -> Verdict:
    if v.market_stale:
        return Verdict(
            "market_data", Action.DENY, 0, "stale_data", "the symbol's market data is stale"
        )
    if v.market_halted:
        return Verdict("market_data", Action.DENY, 0, "halted", "the symbol is halted")
    return Verdict("market_data", Action.APPROVE, qty)


DEFAULT_CHECKS: tuple[Check, ...] = (
    check_deadline,
    check_market_data,
    check_no_overfill,
    check_participation,
)


def run_gate(
    view: GateView, qty: int, checks: Sequence[Check] = DEFAULT_CHECKS
) -> tuple[int, list[Verdict]]:
    """Run the chain; return the quantity that may be sent (0: none) and every verdict."""
    verdicts: list[Verdict] = []
    if qty <= 0:
        return 0, [Verdict("input", Action.DENY, 0, "empty", f"quantity {qty} <= 0")]
    for check in checks:
        try:
            verdict = check(view, qty)
        except Exception as exc:  # a check that fails cannot approve: fail closed
            verdict = Verdict(check.__name__, Action.DENY, 0, "error", f"check failed: {exc!r}")
        verdicts.append(verdict)
        if not verdict.approved:
            return 0, verdicts
        qty = min(qty, verdict.qty)
    return qty, verdicts
