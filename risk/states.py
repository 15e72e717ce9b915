"""Trading states: ACTIVE, REDUCING or HALTED, globally, per symbol and per parent.

The state that applies to a parent is the most severe of the three scopes. What each means:

* **ACTIVE**: the plan is worked as it stands.
* **REDUCING**: the remainder is worked with urgency raised (the engine re-plans at urgency
  1, within the participation cap): get out of the risk faster. The VaR breaker sets it.
* **HALTED**: nothing new is sent; working children are cancelled (cancels always go out). The
  operator's kill switch and the shortfall breaker set it.

A state is set by someone (``by``: ``operator``, ``breaker:var``, ``breaker:shortfall``, ...)
with a reason. A breaker only raises a scope's severity: it never lowers what an operator (or
another breaker) set. Going back to ACTIVE is explicit: an operator's reset (REST), never a
breaker clearing itself.

Pure bookkeeping: no I/O, time as an argument.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = ["Scope", "ScopeState", "TradingState", "TradingStates"]


class TradingState(enum.IntEnum):
    """Ordered by severity: the larger applies."""

    ACTIVE = 0
    REDUCING = 1
    HALTED = 2

    @property
    def label(self) -> str:
        return self.name.lower()


class Scope(enum.StrEnum):
    GLOBAL = "global"
    SYMBOL = "symbol"
    PARENT = "parent"


@dataclass(frozen=True, slots=True)
class ScopeState:
    state: TradingState = TradingState.ACTIVE
    reason: str = ""
    by: str = ""
    since_ns: int = 0


_ACTIVE = ScopeState()


class TradingStates:
    """Every scope's state (see the module docstring)."""

    def __init__(self) -> None:
        self._global = _ACTIVE
        self._scoped: dict[tuple[Scope, str], ScopeState] = {}

    def get(self, scope: Scope, key: str = "") -> ScopeState:
        if scope is Scope.GLOBAL:
            return self._global
        return self._scoped.get((scope, key), _ACTIVE)

    def set(
        self,
        scope: Scope,
        key: str,
        state: TradingState,
        *,
        reason: str,
        by: str,
        now_ns: int,
    ) -> bool:
        """Set a scope's state (an operator's decision, up or down). Returns whether it
        changed."""
        old = self.get(scope, key)
        if old.state is state and old.reason == reason and old.by == by:
            return False
        new = ScopeState(state, reason, by, now_ns)
        if scope is Scope.GLOBAL:
            self._global = new
        elif state is TradingState.ACTIVE:
            self._scoped.pop((scope, key), None)
        else:
            self._scoped[(scope, key)] = new
        return old.state is not state

    def trip(
        self, scope: Scope, key: str, state: TradingState, *, reason: str, by: str, now_ns: int
    ) -> bool:
        """A breaker raises a scope to ``state`` unless it is already as severe. Returns
        whether it changed."""
        if self.get(scope, key).state >= state:
            return False
        return self.set(scope, key, state, reason=reason, by=by, now_ns=now_ns)

    def effective(self, symbol: str, parent_id: str) -> ScopeState:
        """The most severe of the global, symbol and parent scopes (the first of equals)."""
        best = self._global
        if not self._scoped:  # the usual case: nothing set below the global scope
            return best
        for s in (self.get(Scope.SYMBOL, symbol), self.get(Scope.PARENT, parent_id)):
            if s.state > best.state:
                best = s
        return best

    def forget_parent(self, parent_id: str) -> None:
        self._scoped.pop((Scope.PARENT, parent_id), None)

    def all(self) -> list[tuple[Scope, str, ScopeState]]:
        """Every scope not ACTIVE, and the global one."""
        out = [(Scope.GLOBAL, "", self._global)]
        out += [(scope, key, s) for (scope, key), s in sorted(self._scoped.items())]
        return out
