"""``unwind replay``: re-run the engine over a journal's inputs; check every decision is the same.

A fresh :class:`~engine.engine.Engine`, built from the configuration and run tag the journal
recorded, is fed the journal's inputs in their order, each at the time it was handled (the
engine's clock stands still during an input: engine/input_clock.py), and the engine's timers
fire where the journal says they fired. Its venue and OMS ports send nothing; what it decides
is journaled in memory and compared with the journal's decisions, one by one (kind, time,
parent, child and body). The first that differs is reported with the journal's sequence number,
the recorded decision and the replayed one: a non-deterministic code path, a changed
configuration, or a journal that does not hold every input.

Inputs are ``parent_command``, ``market``, ``venue``, ``venue_session``, ``market_stale``,
``trading_state`` and ``timer`` records; every other kind is a decision.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from engine.clock import Timer
from engine.config import EngineConfig
from engine.engine import Engine, ParentRejected
from engine.events import (
    CancelOrder,
    CancelReject,
    ExecutionReport,
    NewOrder,
    ReplaceOrder,
    StatusRequest,
    VenueEvent,
)
from engine.journal import JournalError, Kind, Record, read_meta, read_records, verify
from engine.journal_codec import dumps, encode
from engine.parent_events import ParentOrder, RejectReason
from risk.states import Scope, TradingState

__all__ = [
    "INPUTS",
    "Divergence",
    "ReplayError",
    "ReplayResult",
    "Replayer",
    "add_replay_arguments",
    "replay",
    "run_replay",
]

INPUTS = frozenset(
    {
        Kind.PARENT_COMMAND,
        Kind.MARKET,
        Kind.VENUE,
        Kind.VENUE_SESSION,
        Kind.MARKET_STALE,
        Kind.TRADING_STATE,
        Kind.TIMER,
        Kind.RESTART,
    }
)


class ReplayError(ValueError):
    """The journal cannot be replayed (damaged, no configuration, an input the engine refuses)."""


@dataclass(frozen=True, slots=True)
class Divergence:
    seq: int  # the journal's record where the replay first decided otherwise (0: none left)
    expected: str
    got: str


@dataclass(frozen=True, slots=True)
class ReplayResult:
    inputs: int
    decisions: int  # compared and equal
    divergence: Divergence | None
    # Decisions replayed past the journal's end: a crash's lost tail (0 for a clean close).
    trailing: int = 0

    @property
    def identical(self) -> bool:
        return self.divergence is None


class _ReplayClock:
    """Time as the journal says: set per record; timers fire only when a ``timer`` record
    names them (by the number the engine's InputClock gave them)."""

    def __init__(self, start_ns: int) -> None:
        self.now = start_ns
        self.timers: dict[int, _ReplayTimer] = {}

    def now_ns(self) -> int:
        return self.now

    def call_at(self, ts_ns: int, callback: Callable[[], None]) -> _ReplayTimer:
        timer = _ReplayTimer(ts_ns, callback)
        self.timers[len(self.timers) + 1] = timer
        return timer

    def pending(self) -> list[_ReplayTimer]:
        """Timers set and neither fired nor cancelled, in the order they were set."""
        return [t for t in self.timers.values() if not t.fired and not t.cancelled]


class _ReplayTimer:
    def __init__(self, ts_ns: int, callback: Callable[[], None]) -> None:
        self.ts_ns = ts_ns
        self.callback = callback
        self.cancelled = False
        self.fired = False
        self.live: Timer | None = None  # once recovery has handed it to a live clock

    def cancel(self) -> None:
        self.cancelled = True
        if self.live is not None:
            self.live.cancel()

    def run(self) -> None:
        if self.cancelled:
            raise ReplayError("the journal says a timer fired that the replay had cancelled")
        self.fired = True
        self.callback()


class _NoVenue:
    """The replayed engine's venue: nothing leaves; the journal says what came back."""

    def connect(self, sink: Callable[[VenueEvent], None]) -> None:
        pass

    def submit(self, order: NewOrder) -> None:
        pass

    def cancel(self, request: CancelOrder) -> None:
        pass

    def replace(self, request: ReplaceOrder) -> None:
        pass

    def request_status(self, request: StatusRequest) -> None:
        pass


class _NoOms:
    def send_report(
        self, session: str, report: ExecutionReport, reject_reason: RejectReason | None = None
    ) -> bool:
        return True

    def send_cancel_reject(self, session: str, reject: CancelReject) -> object:
        return True


class _Decisions:
    """The replayed engine's journal: keeps the decisions, encoded as the journal does."""

    def __init__(self) -> None:
        self.made: list[tuple[str, int, str | None, str | None, str]] = []

    def record(
        self,
        kind: Kind,
        ts_ns: int,
        value: object = None,
        *,
        parent: str | None = None,
        child: str | None = None,
        data: Mapping[str, object] | None = None,
        sync: bool = False,
    ) -> None:
        if kind in INPUTS:
            return
        body = encode(value, data) if value is not None else dumps(data)
        self.made.append((kind.value, ts_ns, parent, child, body))

    def set_meta(self, items: Mapping[str, str]) -> None:
        pass

    ids_uncommitted = 0  # nothing to lose: the replay's ids are the journal's

    def flush(self) -> None:
        pass


def _key(r: Record) -> tuple[str, int, str | None, str | None, str]:
    return (r.kind.value, r.ts_ns, r.parent, r.child, r.body)


class Replayer:
    """A fresh engine fed a journal's inputs, its decisions compared with the journal's as it
    goes (:func:`replay` runs it to the end; recovery, engine/recovery.py, takes the engine it
    leaves). A ``restart`` record lets through the decisions the rebuild before it made beyond
    the journal (a crash's lost tail, re-derived); those after the journal's last record are
    :attr:`trailing`."""

    def __init__(self, path: Path) -> None:
        v = verify(path)
        if not v.ok:
            raise ReplayError(f"{path} is damaged after record {v.last_good_seq}: {v.problem}")
        meta = read_meta(path)
        if "engine_config" not in meta or "run_tag" not in meta:
            raise ReplayError(f"{path} has no engine configuration: no engine wrote it")
        self.path = path
        self.cfg = EngineConfig.model_validate_json(meta["engine_config"])
        self.run_tag = meta["run_tag"]
        self.records: list[Record] = []  # the journal's, as read
        self.clock = _ReplayClock(0)
        self.decisions = _Decisions()
        self.engine = Engine(
            self.cfg,
            self.clock,
            _NoVenue(),
            _NoOms(),
            run_tag=self.run_tag,
            journal=self.decisions,  # type: ignore[arg-type]
        )
        self.inputs = 0
        self._expected: list[Record] = []
        self._i = 0  # next expected decision to compare
        self._j = 0  # next made decision to compare

    def run(self) -> ReplayResult:
        first = True
        for r in read_records(self.path):
            self.records.append(r)
            if first:
                self.clock.now = r.ts_ns
                first = False
            if r.kind not in INPUTS:
                self._expected.append(r)
                continue
            if r.kind is Kind.RESTART:
                d = self._compare()
                if d is not None:
                    return ReplayResult(self.inputs, self._i, d)
                lost = int(r.value()["trailing"])
                if len(self.decisions.made) - self._j != lost:
                    made = len(self.decisions.made) - self._j
                    return ReplayResult(
                        self.inputs,
                        self._i,
                        Divergence(
                            r.seq,
                            f"restart after {lost} decisions the journal had lost",
                            f"{made} decisions past the journal's before the restart",
                        ),
                    )
                self._j += lost
                self.inputs += 1
                self.clock.now = r.ts_ns
                self.engine.on_restart(lost, r.value()["committed_ids"])
                d = self._compare()
                if d is not None:
                    return ReplayResult(self.inputs, self._i, d)
                continue
            self.inputs += 1
            self.clock.now = r.ts_ns
            _feed(self.engine, self.clock, r)
            d = self._compare()
            if d is not None:
                return ReplayResult(self.inputs, self._i, d)
        d = self._compare()
        if d is None and self._i < len(self._expected):
            r = self._expected[self._i]
            d = Divergence(r.seq, _show(_key(r)), "(nothing: the replay decided no more)")
        return ReplayResult(self.inputs, self._i, d, trailing=len(self.decisions.made) - self._j)

    @property
    def trailing(self) -> list[tuple[str, int, str | None, str | None, str]]:
        """Decisions the replay made past the journal's last: what a crash lost (or nothing,
        for a journal closed cleanly)."""
        return self.decisions.made[self._j :]

    def _compare(self) -> Divergence | None:
        made, expected = self.decisions.made, self._expected
        while self._i < len(expected) and self._j < len(made):
            want, got = expected[self._i], made[self._j]
            if _key(want) != got:
                return Divergence(want.seq, _show(_key(want)), _show(got))
            self._i += 1
            self._j += 1
        return None


def replay(path: Path) -> ReplayResult:
    """Replay the journal at ``path``; raises :class:`ReplayError` if it cannot be."""
    return Replayer(path).run()


def _feed(engine: Engine, clock: _ReplayClock, r: Record) -> None:
    kind = r.kind
    if kind is Kind.TIMER:
        timer = clock.timers.get(int(r.value()["id"]))
        if timer is None:
            raise ReplayError(f"record {r.seq}: timer {r.body} was never set in the replay")
        timer.run()
        return
    value: Any = r.value()
    if kind is Kind.MARKET:
        engine.on_market_event(value)
    elif kind is Kind.VENUE:
        engine.on_venue_event(value)
    elif kind is Kind.VENUE_SESSION:
        engine.on_venue_session(bool(value["up"]))
    elif kind is Kind.MARKET_STALE:
        engine.on_market_stale(value["symbol"], bool(value["stale"]))
    elif kind is Kind.TRADING_STATE:
        engine.set_trading_state(
            Scope(value["scope"]),
            value["key"],
            TradingState(value["state"]),
            reason=value["reason"],
            by=value["by"],
            cancel_working=bool(value["cancel_working"]),
        )
    elif kind is Kind.PARENT_COMMAND:
        if isinstance(value, dict):  # a REST cancel
            engine.cancel_parent(engine.parents[value["cancel"]])
        elif isinstance(value, ParentOrder) and r.extra().get("via") == "rest":
            # A refusal went back to the REST caller; the engine is as the journal left it.
            with contextlib.suppress(ParentRejected):
                engine.submit(value)
        else:
            engine.on_parent_command(value)


def _show(key: tuple[str, int, str | None, str | None, str]) -> str:
    kind, ts, parent, child, body = key
    return f"{kind} at {ts} parent={parent} child={child} {body}"


def add_replay_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--journal", type=Path, required=True, metavar="PATH")


def run_replay(args: argparse.Namespace, *, out: TextIO, err: TextIO) -> int:
    """Run ``unwind replay``: exit 0 when every decision is the same, 1 at a divergence, 2 when
    the journal cannot be replayed."""
    from engine.logs import configure_logging

    configure_logging(level="error")  # the replayed engine's log lines repeat the session's
    try:
        result = replay(args.journal)
    except (ReplayError, JournalError) as exc:
        err.write(f"unwind replay: {exc}\n")
        return 2
    out.write(
        f"{args.journal}: {result.inputs} inputs replayed, {result.decisions} decisions equal\n"
    )
    d = result.divergence
    if d is None:
        out.write("identical\n")
        if result.trailing:
            out.write(
                f"(the replay decided {result.trailing} more after the journal's last record: "
                "it ended without a clean close, and those were lost with its last commit)\n"
            )
        return 0
    out.write(f"first divergence at record {d.seq}:\n  journal: {d.expected}\n  replay:  {d.got}\n")
    return 1
