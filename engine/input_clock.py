"""The engine's view of time: it stands still while one input is handled.

Determinism (docs/ARCHITECTURE.md, principle 3) needs the engine's decisions to be a function
of its inputs and the times it handled them. A live clock moves on while a market event is
being handled, so two reads of ``now`` in one handling could differ, differently on every run.
:class:`InputClock` wraps the engine's clock: :meth:`begin` fixes the time when an input starts
being handled and every read returns it until :meth:`end`; a timer's callback is an input too,
fixed at the time it runs. The journal records each input with that time and each timer that
fired by its number (timers are numbered in the order they are set, which is itself
deterministic), so a replay that sets the same times and fires the same timers sees the same
clock, read for read.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

from engine.clock import Clock, Timer

__all__ = ["InputClock"]


class InputClock:
    """A :class:`~engine.clock.Clock` over ``inner``, fixed during each input's handling."""

    def __init__(self, inner: Clock) -> None:
        self.inner = inner
        self._fixed: int | None = None
        self._ids = itertools.count(1)
        # Told of every timer as it fires (its number and time): the journal's TIMER record.
        self.on_timer: Callable[[int, int], None] | None = None
        # Called when an input's handling ends (the engine handles what waited for it).
        self.on_idle: Callable[[], None] | None = None
        self.stopped = False  # a stopped engine's timers do nothing (see stop)

    def now_ns(self) -> int:
        fixed = self._fixed
        return fixed if fixed is not None else self.inner.now_ns()

    @property
    def busy(self) -> bool:
        """Whether an input is being handled."""
        return self._fixed is not None

    def begin(self) -> bool:
        """An input starts: fix the time. Returns ``False`` when one is already being handled
        (an input nested in another's handling keeps the outer time; only the outer ends)."""
        if self._fixed is not None:
            return False
        self._fixed = self.inner.now_ns()
        return True

    def end(self) -> None:
        self._fixed = None
        if self.on_idle is not None:
            self.on_idle()

    def stop(self) -> None:
        """Every timer set through this clock does nothing from now on: an engine that is
        gone (a simulated crash, a test) must not act when its timers come due."""
        self.stopped = True

    def call_at(self, ts_ns: int, callback: Callable[[], None]) -> Timer:
        timer_id = next(self._ids)

        def fire() -> None:
            if self.stopped:
                return
            outer = self.begin()
            try:
                if self.on_timer is not None:
                    self.on_timer(timer_id, self.now_ns())
                callback()
            finally:
                if outer:
                    self.end()

        return self.inner.call_at(ts_ns, fire)
