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
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

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

__all__ = ["INPUTS", "Divergence", "ReplayResult", "add_replay_arguments", "replay", "run_replay"]

INPUTS = frozenset(
    {
        Kind.PARENT_COMMAND,
        Kind.MARKET,
        Kind.VENUE,
        Kind.VENUE_SESSION,
        Kind.MARKET_STALE,
        Kind.TRADING_STATE,
        Kind.TIMER,
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

    @property
    def identical(self) -> bool:
        return self.divergence is None


class _ReplayClock:
    """Time as the journal says: set per record; timers fire only when a ``timer`` record
    names them (by the number the engine's InputClock gave them)."""

    def __init__(self, start_ns: int) -> None:
        self.now = start_ns
        self.timers: dict[int, Callable[[], None]] = {}

    def now_ns(self) -> int:
        return self.now

    def call_at(self, ts_ns: int, callback: Callable[[], None]) -> _ReplayTimer:
        timer = _ReplayTimer(callback)
        self.timers[len(self.timers) + 1] = timer.run
        return timer


class _ReplayTimer:
    def __init__(self, callback: Callable[[], None]) -> None:
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True

    def run(self) -> None:
        if self.cancelled:
            raise ReplayError("the journal says a timer fired that the replay had cancelled")
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


def _key(r: Record) -> tuple[str, int, str | None, str | None, str]:
    return (r.kind.value, r.ts_ns, r.parent, r.child, r.body)


def replay(path: Path) -> ReplayResult:
    """Replay the journal at ``path``; raises :class:`ReplayError` if it cannot be."""
    v = verify(path)
    if not v.ok:
        raise ReplayError(f"{path} is damaged after record {v.last_good_seq}: {v.problem}")
    meta = read_meta(path)
    if "engine_config" not in meta or "run_tag" not in meta:
        raise ReplayError(f"{path} has no engine configuration: it was not written by an engine")
    cfg = EngineConfig.model_validate_json(meta["engine_config"])
    records = read_records(path)
    first = next(records, None)
    if first is None:
        return ReplayResult(0, 0, None)
    clock = _ReplayClock(first.ts_ns)
    decisions = _Decisions()
    engine = Engine(
        cfg,
        clock,
        _NoVenue(),
        _NoOms(),
        run_tag=meta["run_tag"],
        journal=decisions,  # type: ignore[arg-type]
    )
    expected: list[Record] = []
    inputs = 0
    compared = 0

    def check() -> Divergence | None:
        nonlocal compared
        made = decisions.made
        while compared < len(made) and compared < len(expected):
            want, got = expected[compared], made[compared]
            if _key(want) != got:
                return Divergence(want.seq, _show(_key(want)), _show(got))
            compared += 1
        return None

    for r in _chain(first, records):
        if r.kind not in INPUTS:
            expected.append(r)
            continue
        inputs += 1
        clock.now = r.ts_ns
        _feed(engine, clock, r)
        d = check()
        if d is not None:
            return ReplayResult(inputs, compared, d)
    d = check()
    if d is None and len(decisions.made) != len(expected):
        if len(expected) > compared:
            r = expected[compared]
            d = Divergence(r.seq, _show(_key(r)), "(nothing: the replay decided no more)")
        else:
            extra = decisions.made[compared]
            d = Divergence(0, "(nothing: the journal ends)", _show(extra))
    return ReplayResult(inputs, compared, d)


def _chain(first: Record, rest: Iterator[Record]) -> Iterator[Record]:
    yield first
    yield from rest


def _feed(engine: Engine, clock: _ReplayClock, r: Record) -> None:
    kind = r.kind
    if kind is Kind.TIMER:
        timer = clock.timers.get(int(r.value()["id"]))
        if timer is None:
            raise ReplayError(f"record {r.seq}: timer {r.body} was never set in the replay")
        timer()
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
        return 0
    out.write(f"first divergence at record {d.seq}:\n  journal: {d.expected}\n  replay:  {d.got}\n")
    return 1
