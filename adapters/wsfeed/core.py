"""The feed client's logic without I/O: subscriptions, sequence gaps, snapshot gating, staleness.

:class:`FeedCore` takes connection events and received text frames in, delivers domain events
to sinks, and returns the text frames the shell must send, in order. It never awaits, so every
rule here is unit-testable with a :class:`~engine.clock.SimClock` and plain strings.

Rules:

* Each symbol is subscribed once on the server however many sinks want it.
* With a dialect whose server snapshots on subscribe, a sink gets nothing for a symbol until a
  ``BookSnapshot`` arrives after its subscription. A second sink joining a live symbol makes the
  core unsubscribe and resubscribe it, so a fresh snapshot comes (the other sinks get it too,
  which is harmless: a snapshot replaces the book).
* A new connection resubscribes every symbol and re-gates every sink.
* A sequence number other than the last plus one is a gap: data was lost, so every symbol is
  resubscribed (unsubscribe, subscribe) and re-gated until its fresh snapshot.
* A frame that cannot be decoded is counted and logged; it still advances the sequence.
* A symbol's staleness follows the events *delivered* for it: a symbol held back waiting for a
  snapshot ages, because the engine is not seeing its data. A lost connection makes every
  symbol stale at once.

A sink that raises is a bug in the engine, not bad input: the exception propagates.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import structlog

from adapters.wsfeed.dialect import FeedDialect, FrameError
from adapters.wsfeed.watchdog import StalenessWatchdog
from engine.clock import Clock
from engine.events import BookSnapshot, MarketEvent
from engine.ports import MarketEventSink

__all__ = ["FeedCore", "FeedCounters"]

log = structlog.get_logger("unwind.wsfeed")

_LOGGED_FRAME_CHARS = 200  # enough to recognise a bad frame without flooding the log


@dataclass(slots=True)
class FeedCounters:
    """What the feed has seen since it was built (Prometheus exports these later)."""

    messages: dict[str, int] = field(default_factory=dict)  # decoded frames by provider type
    connects: int = 0  # connections established, the first included
    reconnects: int = 0  # connections established after the first
    connect_failures: int = 0  # attempts that did not get a connection
    heartbeat_timeouts: int = 0  # connections closed because a pong did not come back
    gaps: int = 0  # sequence discontinuities (each triggers a resubscribe)
    decode_errors: int = 0  # frames that could not be decoded (connection kept)
    server_errors: int = 0  # requests the server refused ("error" frames)
    held_back: int = 0  # events dropped while every sink waited for a snapshot
    went_stale: int = 0  # symbol transitions to stale
    became_fresh: int = 0  # symbol transitions back from stale


@dataclass(eq=False, slots=True)
class _Subscription:
    sinks: list[MarketEventSink] = field(default_factory=list)
    waiting: list[MarketEventSink] = field(default_factory=list)  # no snapshot since joining


class FeedCore:
    """Subscriptions and delivery for one feed (see the module docstring)."""

    def __init__(
        self,
        dialect: FeedDialect,
        clock: Clock,
        *,
        stale_after_ns: int,
        on_stale: Callable[[str, bool], None] | None = None,
    ) -> None:
        self.counters = FeedCounters()
        self._dialect = dialect
        self._clock = clock
        self._on_stale = on_stale
        self._watchdog = StalenessWatchdog(clock, stale_after_ns, self._stale_changed)
        self._subs: dict[str, _Subscription] = {}
        self._connected = False
        self._last_seq: int | None = None

    @property
    def symbols(self) -> tuple[str, ...]:
        """The symbols with at least one sink."""
        return tuple(self._subs)

    def is_stale(self, symbol: str) -> bool:
        """Whether ``symbol``'s data is stale (``True`` for a symbol nobody subscribed)."""
        return self._watchdog.is_stale(symbol)

    # --- the engine's side ----------------------------------------------------------------------

    def subscribe(self, symbol: str, sink: MarketEventSink) -> list[str]:
        """Add ``sink`` for ``symbol``; return the frames to send now (none while offline)."""
        sub = self._subs.get(symbol)
        new = sub is None
        if sub is None:
            sub = self._subs[symbol] = _Subscription()
            self._watchdog.track(symbol)
        if sink in sub.sinks:
            return []
        sub.sinks.append(sink)
        if self._dialect.snapshot_on_subscribe:
            sub.waiting.append(sink)
        if not self._connected:
            return []  # connected() subscribes everything
        if new:
            return [self._dialect.subscribe_message(symbol)]
        return self._resubscribe(symbol) if self._dialect.snapshot_on_subscribe else []

    def unsubscribe(self, symbol: str, sink: MarketEventSink) -> list[str]:
        """Remove ``sink``; the last one out unsubscribes the symbol on the server."""
        sub = self._subs.get(symbol)
        if sub is None or sink not in sub.sinks:
            return []
        sub.sinks.remove(sink)
        if sink in sub.waiting:
            sub.waiting.remove(sink)
        if sub.sinks:
            return []
        del self._subs[symbol]
        self._watchdog.untrack(symbol)
        return [self._dialect.unsubscribe_message(symbol)] if self._connected else []

    # --- the connection's side ------------------------------------------------------------------

    def connected(self) -> list[str]:
        """A new connection is up: return the dialect's opening frames, then every subscribe."""
        self._connected = True
        self._last_seq = None
        self._regate_all()
        subscribes = [self._dialect.subscribe_message(symbol) for symbol in self._subs]
        return self._dialect.connect_messages() + subscribes

    def disconnected(self, *, expected: bool = False) -> None:
        """The connection is gone; subscriptions are kept for the next one. Unless the client
        closed it on purpose (``expected``), every symbol is stale at once: without a
        connection no data can come, whatever the threshold says."""
        self._connected = False
        if not expected:
            self._watchdog.expire_all()

    def receive(self, text: str) -> list[str]:
        """Handle one text frame: deliver its events; return frames to send (a resubscribe)."""
        ts_init = self._clock.now_ns()
        try:
            frame = self._dialect.decode(text, ts_init)
        except FrameError as e:
            self.counters.decode_errors += 1
            log.warning(
                "wsfeed.bad_frame", reason=str(e), kind=e.kind, frame=text[:_LOGGED_FRAME_CHARS]
            )
            return self._check_seq(e.seq)
        self.counters.messages[frame.kind] = self.counters.messages.get(frame.kind, 0) + 1
        out = self._check_seq(frame.seq)
        if frame.error is not None:
            self.counters.server_errors += 1
            log.warning("wsfeed.server_error", reason=frame.error)
        for event in frame.events:
            self._deliver(event)
        return out

    def close(self) -> None:
        """Cancel the watchdog's timers."""
        self._watchdog.close()

    # --- internals ------------------------------------------------------------------------------

    def _check_seq(self, seq: int | None) -> list[str]:
        if seq is None:
            return []
        expected = self._dialect.first_seq if self._last_seq is None else self._last_seq + 1
        self._last_seq = seq
        if expected is None or seq == expected:
            return []
        self.counters.gaps += 1
        log.warning("wsfeed.gap", expected=expected, got=seq, resubscribing=list(self._subs))
        self._regate_all()
        return [msg for symbol in self._subs for msg in self._resubscribe(symbol)]

    def _resubscribe(self, symbol: str) -> list[str]:
        # The simulator's protocol has no "send me a snapshot" request; a fresh subscription is
        # the only way to get one.
        return [self._dialect.unsubscribe_message(symbol), self._dialect.subscribe_message(symbol)]

    def _regate_all(self) -> None:
        if self._dialect.snapshot_on_subscribe:
            for sub in self._subs.values():
                sub.waiting = list(sub.sinks)

    def _deliver(self, event: MarketEvent) -> None:
        sub = self._subs.get(event.symbol)
        if sub is None:
            return  # in flight when the last sink unsubscribed
        if isinstance(event, BookSnapshot):
            sub.waiting.clear()
            targets = tuple(sub.sinks)
        else:
            targets = tuple(s for s in sub.sinks if s not in sub.waiting)
            if not targets:
                self.counters.held_back += 1
                return
        self._watchdog.touch(event.symbol)
        for sink in targets:  # a copy: a sink may unsubscribe from inside its call
            sink(event)

    def _stale_changed(self, symbol: str, stale: bool) -> None:
        if stale:
            self.counters.went_stale += 1
            log.warning("wsfeed.stale", symbol=symbol)
        else:
            self.counters.became_fresh += 1
            log.info("wsfeed.fresh", symbol=symbol)
        if self._on_stale is not None:
            self._on_stale(symbol, stale)
