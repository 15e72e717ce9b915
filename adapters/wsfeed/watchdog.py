"""The staleness watchdog: which symbols have had no market data for too long.

A symbol is stale once ``stale_after_ns`` has passed on the injected clock since the last event
delivered for it (or since it was first tracked, if none has come yet), and fresh again at the
next event. Staleness is judged on the clock's time of *receipt*, never on the feed's event
timestamps, which are the exchange's (possibly simulated) times. Every transition is reported
to ``on_change(symbol, stale)``, so the risk gate can block trading on doubtful data.

One timer per symbol, set lazily: an event only records its receipt time; when the timer
fires it checks the age of the last event and, if it is younger than the threshold, re-arms
for ``last + threshold``. That fires at the same instant as cancelling and re-arming on every
event, without a timer operation per message.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from engine.clock import Clock, Timer

__all__ = ["StalenessWatchdog"]


@dataclass(eq=False, slots=True)
class _Watch:
    last_ns: int
    stale: bool = False
    timer: Timer | None = None


class StalenessWatchdog:
    """Track the age of each symbol's data on ``clock`` (see the module docstring).

    Raises
    ------
    ValueError
        If ``stale_after_ns`` is not positive.
    """

    def __init__(
        self, clock: Clock, stale_after_ns: int, on_change: Callable[[str, bool], None]
    ) -> None:
        if stale_after_ns <= 0:
            raise ValueError(f"the staleness threshold must be > 0 ns, got {stale_after_ns}")
        self._clock = clock
        self._after = stale_after_ns
        self._on_change = on_change
        self._watches: dict[str, _Watch] = {}

    def track(self, symbol: str) -> None:
        """Start watching ``symbol``; its grace period starts now. No-op if already tracked."""
        if symbol not in self._watches:
            watch = self._watches[symbol] = _Watch(self._clock.now_ns())
            self._arm(symbol, watch)

    def untrack(self, symbol: str) -> None:
        """Stop watching ``symbol`` (no transition is reported)."""
        watch = self._watches.pop(symbol, None)
        if watch is not None and watch.timer is not None:
            watch.timer.cancel()

    def touch(self, symbol: str) -> None:
        """Record that data for ``symbol`` arrived now; report fresh if it was stale."""
        watch = self._watches.get(symbol)
        if watch is None:
            return
        watch.last_ns = self._clock.now_ns()
        if watch.stale:
            watch.stale = False
            self._on_change(symbol, False)
        if watch.timer is None:
            self._arm(symbol, watch)

    def expire_all(self) -> None:
        """Mark every tracked symbol stale now (the connection is gone: silence is certain),
        reporting those that were fresh; the next :meth:`touch` of each clears it."""
        for symbol, watch in list(self._watches.items()):
            if watch.timer is not None:
                watch.timer.cancel()
                watch.timer = None
            if not watch.stale:
                watch.stale = True
                self._on_change(symbol, True)

    def is_stale(self, symbol: str) -> bool:
        """Whether ``symbol``'s data is stale; a symbol not tracked has no data, so it is."""
        watch = self._watches.get(symbol)
        return True if watch is None else watch.stale

    def close(self) -> None:
        """Cancel every timer and forget every symbol."""
        for symbol in list(self._watches):
            self.untrack(symbol)

    def _arm(self, symbol: str, watch: _Watch) -> None:
        watch.timer = self._clock.call_at(
            watch.last_ns + self._after, lambda: self._due(symbol, watch)
        )

    def _due(self, symbol: str, watch: _Watch) -> None:
        watch.timer = None
        if self._watches.get(symbol) is not watch:
            return  # untracked (and maybe tracked again) after this timer was set
        if self._clock.now_ns() - watch.last_ns < self._after:
            self._arm(symbol, watch)  # an event came meanwhile
            return
        watch.stale = True
        self._on_change(symbol, True)
        # No timer while stale: the next touch() clears it and arms a new one.
