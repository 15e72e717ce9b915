"""Fault injection for the FIX simulator: seeded, deterministic, pure.

Nothing here touches the exchange, QuickFIX or a clock: the venue core (:mod:`.venue`) passes
every outgoing venue event through :meth:`FaultInjector.route` with the simulated time, asks
:meth:`FaultInjector.due` for what has become due as time advances, and applies the timed
actions of :class:`FaultSchedule` (disconnects, halts). Each fault draws from its own
``random.Random`` seeded from ``(seed, fault name)``, so enabling one fault never changes the
decisions of another, and the same seed and inputs give the same faults, run after run.

The faults only change *delivery*. The exchange's state stays the truth: a dropped report is
still in the order's state (an OrderStatusRequest recovers it), a held fill is delivered late
but never lost, and nothing is delivered twice except as an explicit PossDupFlag=Y duplicate
with the same ExecID. Reports about one order keep their relative order except where a fault
exists to break it (a held fill released after a cancel or replace acknowledgement).

====================  =====================================================================
fault                 what happens
====================  =====================================================================
drop_reports          a fraction of ExecutionReports are never sent (status answers exempt)
duplicate_reports     a fraction of ExecutionReports are sent twice; the copy has
                      PossDupFlag=Y and the same ExecID
delay_acks            a fraction of NEW acks wait ``ack_delay_ns`` of simulated time; the
                      order's later reports queue behind them (the gateway is slow, not
                      reordering)
fill_after_cancel     a fraction of partial fills are held; if a cancel is then acknowledged,
                      the ack goes first and the fill after it (its CumQty is the one at fill
                      time, which the ack already includes)
fill_races_replace    the same with a replace: REPLACED first, then the earlier fill on the
                      old ClOrdID
late_fill_window_ns   a held fill is released after this long anyway, or before any other
                      report about the order
disconnect_every_ns   mean simulated time between forced disconnects (exponential)
halt_every_ns         mean simulated time between halts per symbol, each lasting
                      ``halt_duration_ns``
reject_orders         a fraction of new orders are rejected before reaching the book
====================  =====================================================================
"""

from __future__ import annotations

import enum
import heapq
import random
from dataclasses import dataclass, field, replace

from engine.events import ExecType, ExecutionReport, VenueEvent

__all__ = [
    "FAULT_PROFILES",
    "FaultAction",
    "FaultConfig",
    "FaultInjector",
    "FaultSchedule",
    "FaultStats",
    "Outbound",
    "ScheduledAction",
    "fault_profile",
]

_NS = 1_000_000_000
REJECT_REASON = "simulated venue reject (fault injection): order refused by venue risk check"


def _fraction(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be a fraction in [0, 1], got {value}")


@dataclass(frozen=True, slots=True, kw_only=True)
class FaultConfig:
    """Which faults to inject and how often (the module docstring describes each).

    Fractions are in [0, 1]; durations are simulated nanoseconds; 0 turns a timed fault off.
    """

    seed: int = 1  # faults are drawn from RNGs seeded with (seed, fault name)
    drop_reports: float = 0.0
    duplicate_reports: float = 0.0
    delay_acks: float = 0.0
    ack_delay_ns: int = 2 * _NS  # how long a delayed NEW ack waits
    fill_after_cancel: float = 0.0
    fill_races_replace: float = 0.0
    late_fill_window_ns: int = 5 * _NS  # the longest a held fill waits for a cancel/replace
    disconnect_every_ns: int = 0
    halt_every_ns: int = 0
    halt_duration_ns: int = 60 * _NS
    reject_orders: float = 0.0

    def __post_init__(self) -> None:
        for name in (
            "drop_reports",
            "duplicate_reports",
            "delay_acks",
            "fill_after_cancel",
            "fill_races_replace",
            "reject_orders",
        ):
            _fraction(name, getattr(self, name))
        if self.fill_after_cancel + self.fill_races_replace > 1.0:
            raise ValueError("fill_after_cancel + fill_races_replace must not exceed 1")
        for name in (
            "ack_delay_ns",
            "late_fill_window_ns",
            "disconnect_every_ns",
            "halt_every_ns",
            "halt_duration_ns",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.halt_every_ns and not self.halt_duration_ns:
            raise ValueError("halt_every_ns needs a halt_duration_ns > 0")

    def describe(self) -> str:
        """One line naming the active faults (``"none"`` if there are none)."""
        parts = []
        for name in (
            "drop_reports",
            "duplicate_reports",
            "fill_after_cancel",
            "fill_races_replace",
            "reject_orders",
        ):
            if getattr(self, name):
                parts.append(f"{name}={getattr(self, name):g}")
        if self.delay_acks:
            parts.append(f"delay_acks={self.delay_acks:g} by {self.ack_delay_ns / _NS:g}s")
        if self.disconnect_every_ns:
            parts.append(f"disconnect every ~{self.disconnect_every_ns / _NS:g}s")
        if self.halt_every_ns:
            parts.append(
                f"halt every ~{self.halt_every_ns / _NS:g}s for {self.halt_duration_ns / _NS:g}s"
            )
        return ", ".join(parts) if parts else "none"


# Named fault profiles for paper sessions and the soak (``unwind paper --faults on``), as
# FaultConfig keywords; the seed is the run's. "on" exercises every fault within one 10-minute
# parent: at these fractions such a parent (some 35 children, a hundred-odd reports) sees on
# average four drops, nine duplicates, three or four delayed acks, three held fills and a
# reject (the 200-run soak's means); the timed faults are rates in simulated time chosen so
# that a session meets about one disconnect (mean gap 10 min) and about one halt (a 1-minute
# halt, then a mean 9-minute gap: one cycle per 10 min). A disconnect costs about a wall
# second of reconnection (QuickFIX ReconnectInterval=1), two simulated minutes at 120x; a halt
# costs its minute. Both can leave a parent unable to finish by its deadline, which is the
# point: it must then end DoneForDay, consistent with its fills. The engine never replaces, so
# a fill held for a replace is released at late_fill_window_ns: a late fill on its own.
FAULT_PROFILES: dict[str, dict[str, float | int]] = {
    "off": {},
    "on": {
        "drop_reports": 0.05,
        "duplicate_reports": 0.10,
        "delay_acks": 0.10,
        "ack_delay_ns": 2 * _NS,
        "fill_after_cancel": 0.10,
        "fill_races_replace": 0.05,
        "late_fill_window_ns": 5 * _NS,
        "reject_orders": 0.03,
        "disconnect_every_ns": 600 * _NS,
        "halt_every_ns": 540 * _NS,
        "halt_duration_ns": 60 * _NS,
    },
}


def fault_profile(name: str, seed: int) -> FaultConfig:
    """The :class:`FaultConfig` of profile ``name`` (a key of :data:`FAULT_PROFILES`), seeded.

    Raises
    ------
    ValueError
        ``name`` is not a profile.
    """
    try:
        keywords = FAULT_PROFILES[name]
    except KeyError:
        raise ValueError(
            f"unknown fault profile {name!r}; choose from {sorted(FAULT_PROFILES)}"
        ) from None
    return FaultConfig(seed=seed, **keywords)  # type: ignore[arg-type]


@dataclass(slots=True)
class Outbound:
    """A venue event on its way to one FIX session."""

    session: str
    event: VenueEvent
    ord_status_req_id: str | None = None
    possdup: bool = False


@dataclass(slots=True)
class FaultStats:
    """How many times each fault fired (for logs and tests)."""

    dropped: int = 0
    duplicated: int = 0
    delayed: int = 0
    held: int = 0
    rejected: int = 0
    disconnects: int = 0
    halts: int = 0


@dataclass(slots=True)
class _Held:
    out: Outbound
    release_after: ExecType  # CANCELED or REPLACED: the ack this fill is delivered after
    deadline: int


@dataclass(slots=True)
class _Stream:
    """Reports about one order on one session that a fault is holding back."""

    blocked_until: int | None = None
    pending: list[Outbound] = field(default_factory=list)
    held: list[_Held] = field(default_factory=list)

    def empty(self) -> bool:
        return self.blocked_until is None and not self.pending and not self.held


def _rng(seed: int, name: str) -> random.Random:
    # String seeds are hashed with SHA-512 by random.seed: stable across runs and platforms.
    return random.Random(f"{seed}:{name}")


def _stream_key(out: Outbound) -> tuple[str, str] | None:
    order_id = out.event.venue_order_id
    if order_id is None or order_id == "NONE":
        return None
    return out.session, order_id


def _is_ack_of(event: VenueEvent, kind: ExecType) -> bool:
    """A CANCELED answering a cancel request (not an IOC rest), or a REPLACED."""
    return (
        isinstance(event, ExecutionReport)
        and event.exec_type is kind
        and (kind is ExecType.REPLACED or event.orig_cl_ord_id is not None)
    )


class FaultInjector:
    """Per-report faults: drop, duplicate, delayed acks, late fills, random rejects."""

    def __init__(self, config: FaultConfig) -> None:
        self.config = config
        self.stats = FaultStats()
        seed = config.seed
        self._drop = _rng(seed, "drop")
        self._dup = _rng(seed, "duplicate")
        self._delay = _rng(seed, "delay")
        self._late = _rng(seed, "late-fill")
        self._reject = _rng(seed, "reject")
        self._streams: dict[tuple[str, str], _Stream] = {}
        self._timers: list[tuple[int, int, tuple[str, str]]] = []
        self._seq = 0

    # --- decisions -------------------------------------------------------------------------

    def new_order_reject(self) -> str | None:
        """The reason to reject the next new order, or ``None`` to let it through."""
        p = self.config.reject_orders
        if p and self._reject.random() < p:
            self.stats.rejected += 1
            return REJECT_REASON
        return None

    def route(self, out: Outbound, now: int) -> list[Outbound]:
        """Return what to send now for ``out`` (possibly nothing, possibly more)."""
        key = _stream_key(out)
        if key is None:
            return self._on_wire([out])
        stream = self._streams.get(key)
        if stream is not None and stream.blocked_until is not None:
            stream.pending.append(out)
            return []
        event = out.event
        cfg = self.config
        if isinstance(event, ExecutionReport):
            delay = cfg.delay_acks and event.exec_type is ExecType.NEW
            if delay and self._delay.random() < cfg.delay_acks:
                stream = self._stream(key)
                stream.blocked_until = now + cfg.ack_delay_ns
                stream.pending.append(out)
                self._timer(stream.blocked_until, key)
                self.stats.delayed += 1
                return []
            late = cfg.fill_after_cancel + cfg.fill_races_replace
            if event.exec_type is ExecType.TRADE and event.leaves_qty > 0 and late:
                u = self._late.random()
                if u < late:
                    kind = ExecType.CANCELED if u < cfg.fill_after_cancel else ExecType.REPLACED
                    stream = self._stream(key)
                    deadline = now + cfg.late_fill_window_ns
                    stream.held.append(_Held(out, kind, deadline))
                    self._timer(deadline, key)
                    self.stats.held += 1
                    return []
        if stream is None or not stream.held:
            return self._on_wire([out])
        after = [h.out for h in stream.held if _is_ack_of(event, h.release_after)]
        before = [h.out for h in stream.held if not _is_ack_of(event, h.release_after)]
        stream.held.clear()
        self._forget_if_empty(key)
        return self._on_wire([*before, out, *after])

    def due(self, now: int) -> list[Outbound]:
        """Release what has waited long enough by simulated time ``now``."""
        released: list[Outbound] = []
        while self._timers and self._timers[0][0] <= now:
            _, _, key = heapq.heappop(self._timers)
            stream = self._streams.get(key)
            if stream is None:
                continue
            if stream.blocked_until is not None and stream.blocked_until <= now:
                stream.blocked_until = None
                released.extend(stream.pending)
                stream.pending.clear()
            while stream.held and stream.held[0].deadline <= now:
                released.append(stream.held.pop(0).out)
            self._forget_if_empty(key)
        return self._on_wire(released)

    def next_deadline(self) -> int | None:
        return self._timers[0][0] if self._timers else None

    def drain(self) -> list[Outbound]:
        """Everything still held or delayed, in order, without further faults (shutdown)."""
        out: list[Outbound] = []
        for stream in self._streams.values():
            out.extend(stream.pending)
            out.extend(h.out for h in stream.held)
        self._streams.clear()
        self._timers.clear()
        return out

    # --- internals -------------------------------------------------------------------------

    def _stream(self, key: tuple[str, str]) -> _Stream:
        stream = self._streams.get(key)
        if stream is None:
            stream = self._streams[key] = _Stream()
        return stream

    def _forget_if_empty(self, key: tuple[str, str]) -> None:
        stream = self._streams.get(key)
        if stream is not None and stream.empty():
            del self._streams[key]

    def _timer(self, at: int, key: tuple[str, str]) -> None:
        self._seq += 1
        heapq.heappush(self._timers, (at, self._seq, key))

    def _on_wire(self, outs: list[Outbound]) -> list[Outbound]:
        """Apply the wire faults (drop, duplicate) to reports about to be sent."""
        cfg = self.config
        sent: list[Outbound] = []
        for o in outs:
            report = o.event if isinstance(o.event, ExecutionReport) else None
            if report is None:
                sent.append(o)
                continue
            # Status answers are how a client recovers from drops: never drop those.
            if (
                cfg.drop_reports
                and report.exec_type is not ExecType.ORDER_STATUS
                and self._drop.random() < cfg.drop_reports
            ):
                self.stats.dropped += 1
                continue
            sent.append(o)
            if cfg.duplicate_reports and self._dup.random() < cfg.duplicate_reports:
                self.stats.duplicated += 1
                sent.append(replace(o, possdup=True))
        return sent


class FaultAction(enum.StrEnum):
    DISCONNECT = "disconnect"
    HALT = "halt"
    RESUME = "resume"


@dataclass(frozen=True, slots=True)
class ScheduledAction:
    kind: FaultAction
    at_ns: int
    symbol: str | None = None


class FaultSchedule:
    """Timed faults: forced disconnects and trading halts, at exponential random times."""

    def __init__(self, config: FaultConfig, symbols: list[str], start_ns: int) -> None:
        self.config = config
        self._rng = _rng(config.seed, "schedule")
        self._queue: list[tuple[int, int, ScheduledAction]] = []
        self._seq = 0
        if config.disconnect_every_ns:
            self._push(ScheduledAction(FaultAction.DISCONNECT, start_ns + self._gap("disc")))
        if config.halt_every_ns:
            for symbol in sorted(symbols):
                at = start_ns + self._gap("halt")
                self._push(ScheduledAction(FaultAction.HALT, at, symbol))

    def next_time(self) -> int | None:
        return self._queue[0][0] if self._queue else None

    def pop_due(self, now: int) -> list[ScheduledAction]:
        """Actions due by ``now``, in time order; each schedules its successor."""
        due: list[ScheduledAction] = []
        while self._queue and self._queue[0][0] <= now:
            action = heapq.heappop(self._queue)[2]
            due.append(action)
            if action.kind is FaultAction.DISCONNECT:
                nxt = ScheduledAction(FaultAction.DISCONNECT, action.at_ns + self._gap("disc"))
            elif action.kind is FaultAction.HALT:
                at = action.at_ns + self.config.halt_duration_ns
                nxt = ScheduledAction(FaultAction.RESUME, at, action.symbol)
            else:
                nxt = ScheduledAction(
                    FaultAction.HALT, action.at_ns + self._gap("halt"), action.symbol
                )
            self._push(nxt)
        return due

    def _gap(self, which: str) -> int:
        mean = self.config.disconnect_every_ns if which == "disc" else self.config.halt_every_ns
        return max(1, round(self._rng.expovariate(1.0 / mean)))

    def _push(self, action: ScheduledAction) -> None:
        self._seq += 1
        heapq.heappush(self._queue, (action.at_ns, self._seq, action))
