"""Restart = recovery: the engine rebuilt from its journal, then reconciled with the venue.

:func:`recover` replays the journal (engine/replay.py) into a fresh engine under the same
configuration, so every parent, child, plan, timer and trading state is as the crashed engine
left it at its last committed record; the replay must agree with every journaled decision.
The decisions the replay makes past the journal's end are the ones a crash lost with its
last group commit (at most ``flush_interval_s`` of them): re-derived, they are the engine's
again (a child among them is asked about at the logon like any other). Every parent's reports,
the journal's and the re-derived ones, are sent to the OMS again with their ExecIDs: the daemon
sends a report only once the journal holds it (engine/oms_outbox.py), so the OMS has seen none
the journal lost, but it may not have received all the journal holds (held while its session
was down, or waiting for a commit, when the process died); it drops a repeat by ExecID. The
daemon sends them (:meth:`Recovery.resend`) once its OMS acceptor is listening.

Then the engine is handed the live clock, ports and journal: its pending timers move to the
live clock (those due while it was down fire at once), a ``restart`` record is journaled, and
:meth:`~engine.engine.Engine.on_restart` marks every live child unknown (the venue session is
not up yet) and lists the ClOrdIDs each working parent may have used without journaling them
(at most :data:`~engine.engine.IDS_IN_FLIGHT` past its last committed one). At the venue's
logon the engine asks about every unknown child and every listed id: the venue's answers settle
fills and states, an order the crash sent unjournaled is adopted, and each parent goes on with
its schedule for the rest of its horizon.

Recovery is exact for the version and configuration that wrote the journal; under another it
refuses, naming the first decision that differs, rather than trade on a state it cannot vouch
for (drain on the old version first, or start with a new journal).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import structlog

from engine.clock import Clock
from engine.config import EngineConfig
from engine.engine import IDS_IN_FLIGHT, Engine, OmsOut
from engine.events import ExecutionReport
from engine.journal import ID_KINDS, Journal, Kind, Record
from engine.ports import VenuePort
from engine.replay import Replayer, ReplayError

__all__ = ["Recovery", "RecoveryError", "committed_ids", "recover"]

log = structlog.get_logger("unwind.recovery")


class RecoveryError(RuntimeError):
    """The journal cannot be recovered from as it stands (the text says why and what to do)."""


@dataclass(frozen=True, slots=True)
class Recovery:
    engine: Engine
    inputs: int  # replayed
    decisions: int  # replayed and equal to the journal's
    lost: int  # decisions past the journal's end, re-derived (a crash's last commit)
    ids_to_ask: int
    # Every report of every parent, each with its OMS session, for :meth:`resend`.
    reports: tuple[tuple[str, ExecutionReport], ...] = ()

    def resend(self, oms: OmsOut) -> int:
        """Send the OMS every parent's reports again, each parent's in order; return how many.

        The dead daemon may have held some for a session that was down, or had some waiting
        for a commit, and which it had handed to QuickFIX is not recorded; the OMS drops the
        ones it has by ExecID (the same ExecIDs, the same content: the journal's, or the
        re-derived lost decisions'). The daemon calls this once its OMS acceptor is listening.
        """
        for session, report in self.reports:
            oms.send_report(session, report)
        return len(self.reports)


def committed_ids(records: list[Record]) -> dict[str, int]:
    """Each parent's highest ClOrdID number the journal accounts for: the highest a child or
    a cancel used, or the last a restart set aside (its committed id plus ``IDS_IN_FLIGHT``:
    the run after it issued ids from there on, and may have died before committing one)."""
    last: dict[str, int] = {}
    for r in records:
        if r.kind in ID_KINDS and r.parent is not None and r.child is not None:
            n = int(r.child.rsplit("-", 1)[1])
            if n > last.get(r.parent, 0):
                last[r.parent] = n
        elif r.kind is Kind.RESTART:
            for parent, n in r.value()["committed_ids"].items():
                last[parent] = max(last.get(parent, 0), int(n) + IDS_IN_FLIGHT)
    return last


def recover(
    journal: Journal, cfg: EngineConfig, *, clock: Clock, venue: VenuePort, oms: OmsOut
) -> Recovery:
    """Rebuild the engine from ``journal`` (open for appending), hand it ``clock``, ``venue``
    and ``oms``, and journal the restart. Raises :class:`RecoveryError`."""
    try:
        rp = Replayer(journal.path)
    except ReplayError as exc:
        raise RecoveryError(str(exc)) from exc
    if rp.cfg != cfg:
        theirs, ours = json.loads(rp.cfg.model_dump_json()), json.loads(cfg.model_dump_json())
        keys = sorted(k for k in ours.keys() | theirs.keys() if ours.get(k) != theirs.get(k))
        raise RecoveryError(
            f"{journal.path} was written under another configuration ({', '.join(keys)} "
            "differ): start with the configuration that wrote it to recover, or with a new "
            "journal"
        )
    result = rp.run()
    d = result.divergence
    if d is not None:
        raise RecoveryError(
            f"{journal.path} replays differently under this version at record {d.seq} "
            f"(journal: {d.expected}; replay: {d.got}): recover with the version that wrote it"
        )
    engine = rp.engine
    lost = rp.trailing
    # The live world: ports, journal, clock; pending timers move to the live clock.
    engine.venue = venue
    venue.connect(engine.on_venue_event)
    engine.oms = oms
    engine.journal = journal
    engine.clock.inner = clock
    for timer in rp.clock.pending():
        timer.live = clock.call_at(timer.ts_ns, timer.callback)
    ids = committed_ids(rp.records)
    for parent in engine.parents.values():
        if not parent.state.final:
            # None committed yet: asked about from 1, and the restart record says so, so
            # that a restart after this one knows which ids this run set aside.
            ids.setdefault(parent.id, 0)
    engine.on_restart(len(lost), ids)
    reports = tuple(
        (parent.order.session, report)
        for parent in engine.parents.values()
        for report in engine.reports.get(parent.id, ())
    )
    log.warning(
        "recovered from the journal",
        journal=str(journal.path),
        inputs=result.inputs,
        decisions=result.decisions,
        lost=len(lost),
        reports=len(reports),
    )
    return Recovery(engine, result.inputs, result.decisions, len(lost), engine.ids_to_ask, reports)
