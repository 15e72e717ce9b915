"""Restart = recovery: the engine rebuilt from its journal after a crash, in simulated time.

Each case runs seeded parents against the market simulator with the FIX simulator's delivery
faults, journaled; at a seeded moment the engine "crashes": its journal loses a seeded number
of its last records (a crash takes the last group commit with it), the dead engine's timers
are stopped, and a new engine is recovered from the journal onto the same market, venue and
OMS. The venue's logon follows. Then: every parent ends, the engine's fills equal the venue's,
no overfill, the caps held, no child sent while another of its parent could fill, and the
whole journal, restart included, replays to the same decisions.
"""

from __future__ import annotations

import logging
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import structlog

from adapters.fixsim.faults import FaultConfig
from adapters.sim.config import MarketConfig
from engine.clock import NS
from engine.config import EngineConfig, SymbolConfig
from engine.daemon import load_daemon_config
from engine.engine import IDS_IN_FLIGHT
from engine.events import ExecType, ExecutionReport
from engine.journal import Journal, Kind, cut_after, read_records, verify
from engine.paper import QUICKFIX
from engine.parent_events import ParentOrder
from engine.recovery import RecoveryError, recover
from engine.replay import replay
from engine.simrun import RecordingOms, SimSession, check_invariants
from strategies.schedule import Side
from tests.kit.fix_client import free_port

structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.CRITICAL))

CFG = EngineConfig(
    symbols={"XYZ": SymbolConfig(daily_volume=6_000_000)}, seed=5, feasibility_margin=10.0
)


def _crash_and_recover(tmp_path: Path, seed: int) -> tuple[SimSession, int, int]:
    rng = random.Random(seed)
    path = tmp_path / f"j{seed}.sqlite"
    journal = Journal(path, flush_interval_s=0)
    faults = FaultConfig(seed=seed, drop_reports=0.05, duplicate_reports=0.1, delay_acks=0.1)
    s = SimSession(MarketConfig(seed=seed), CFG, faults, journal=journal)
    s.run_for(120)
    now = s.clock.now_ns()
    strategies = ("adaptive", "pov", "twap", "ac")
    for i in range(2):
        s.engine.on_parent_command(
            ParentOrder(
                cl_ord_id=f"P{i}",
                symbol="XYZ",
                side=Side.SELL if i % 2 else Side.BUY,
                qty=12_000,
                strategy=strategies[(seed + i) % 4],
                end_ns=now + 900 * NS,
                ts_init=now,
                participation_cap=0.1,
            )
        )
    s.run_for(rng.uniform(20, 700))  # the crash comes at a seeded moment
    journal.close()
    lost = rng.choice([0, 1, 5, 20, 60])  # the last commit's records, gone with the crash
    cut_after(path, verify(path).last_good_seq - lost)
    s.engine.clock.stop()  # the dead engine's timers do nothing
    journal = Journal(path, flush_interval_s=0)
    r = recover(journal, CFG, clock=s.clock, venue=s.venue, oms=s.oms)
    s.engine = r.engine
    s.engine.on_venue_session(True)  # the venue's logon
    s.run_for(1_000)
    journal.close()
    return s, r.lost, lost


@pytest.mark.parametrize("seed", range(1, 21))
def test_a_crash_at_a_seeded_moment_loses_no_fill_and_duplicates_no_child(
    tmp_path: Path, seed: int
) -> None:
    s, _, _ = _crash_and_recover(tmp_path, seed)
    path = tmp_path / f"j{seed}.sqlite"
    assert check_invariants(s, cap_window_s=CFG.cap_window_s) == []
    assert s.engine.parents and all(p.state.final for p in s.engine.parents.values())
    sent = [o.cl_ord_id for _, o in s.venue.sent]
    assert len(sent) == len(set(sent)), "a ClOrdID sent twice"
    assert verify(path).ok
    kinds = [r.kind for r in read_records(path)]
    assert kinds.count(Kind.RESTART) == 1
    result = replay(path)
    assert result.divergence is None, result.divergence


def test_a_journal_from_another_configuration_is_not_recovered(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    journal = Journal(path, flush_interval_s=0)
    s = SimSession(MarketConfig(seed=1), CFG, journal=journal)
    s.run_for(60)
    journal.close()
    other = CFG.model_copy(update={"child_ttl_s": 10.0})
    journal = Journal(path, flush_interval_s=0)
    with pytest.raises(RecoveryError, match=r"another configuration .*child_ttl_s"):
        recover(journal, other, clock=s.clock, venue=s.venue, oms=s.oms)
    journal.close()


def _pov_session(path: Path) -> tuple[Journal, SimSession]:
    """A journaled session two minutes in, with one pov parent (sell 20,000, 10% cap)."""
    journal = Journal(path, flush_interval_s=0)
    s = SimSession(MarketConfig(seed=3), CFG, journal=journal)
    s.run_for(120)
    now = s.clock.now_ns()
    s.engine.on_parent_command(
        ParentOrder(
            cl_ord_id="P",
            symbol="XYZ",
            side=Side.SELL,
            qty=20_000,
            strategy="pov",
            end_ns=now + 1_800 * NS,
            ts_init=now,
            participation_cap=0.1,
        )
    )
    return journal, s


def test_an_order_and_its_cancel_both_lost_hold_the_parent_back_only_until_the_venue_answers(
    tmp_path: Path,
) -> None:
    # Found by the SIGKILL crash tests: the crash lost a child and the cancel that followed
    # it (both unjournaled), so recovery asks about both ids. The venue's resend of the
    # cancel's report (ClOrdID the cancel's, OrigClOrdID the order's) came first and adopted
    # the order under the cancel's id; the status answer about the order's own id then found
    # that child and never counted as an answer, and the parent waited for it to its end.
    path = tmp_path / "j.sqlite"
    journal, s = _pov_session(path)

    def cancelled() -> list[ExecutionReport]:  # by a cancel the engine sent
        return [r for r in s.venue.reports if r.exec_type is ExecType.CANCELED and r.orig_cl_ord_id]

    while not cancelled():
        s.run_for(1)
    canceled = cancelled()[0]
    journal.close()
    # The crash takes everything from the child's first record on: the child, its cancel.
    first = min(r.seq for r in read_records(path) if r.child == canceled.orig_cl_ord_id)
    cut_after(path, first - 1)
    s.engine.clock.stop()
    journal = Journal(path, flush_interval_s=0)
    s.engine = recover(journal, CFG, clock=s.clock, venue=s.venue, oms=s.oms).engine
    parent = s.engine.parent_by_clordid("P")
    assert parent is not None and parent.ids_to_ask == IDS_IN_FLIGHT
    s.engine.on_venue_session(True)  # the logon: status requests for every id
    s.engine.on_venue_event(canceled)  # QuickFIX's resend, ahead of the answers
    s.run_for(5)
    assert parent.ids_to_ask == 0 and s.engine.ids_to_ask == 0
    child = parent.children[canceled.orig_cl_ord_id]  # adopted under the order's own id
    assert child.state.final
    s.run_for(1_800)
    journal.close()
    assert parent.state.value == "filled", (parent.state, parent.filled)
    assert check_invariants(s, cap_window_s=CFG.cap_window_s) == []
    assert replay(path).divergence is None


@pytest.mark.parametrize("before_s", [60.0, 0.0])
def test_a_crash_before_the_first_recovery_committed_anything_asks_about_both_runs_ids(
    tmp_path: Path, before_s: float
) -> None:
    # Found by the SIGKILL crash tests: a run killed before its first commit after a restart
    # leaves the journal ending at the restart record. The next recovery asked about the same
    # ids as the first (counting those still unanswered twice: the parent waited for good),
    # and not about the ids the lost run had used past them (its child filled unowned).
    # ``before_s`` 0: the first crash came before the parent had committed any id.
    path = tmp_path / "j.sqlite"
    journal, s = _pov_session(path)
    s.run_for(before_s)
    journal.close()

    def restart() -> Journal:
        s.engine.clock.stop()
        j = Journal(path, flush_interval_s=0)
        s.engine = recover(j, CFG, clock=s.clock, venue=s.venue, oms=s.oms).engine
        return j

    journal = restart()
    parent = s.engine.parent_by_clordid("P")
    assert parent is not None
    first_window = parent.ids_issued  # the first recovery asks up to here
    s.engine.on_venue_session(True)

    def past_window() -> list[str]:
        return [
            o.cl_ord_id for _, o in s.venue.sent if int(o.cl_ord_id.rsplit("-")[-1]) > first_window
        ]

    while not past_window():
        s.run_for(1)
    late = past_window()
    journal.close()
    # The second crash: nothing of the second run was committed after its restart record.
    restart_seq = max(r.seq for r in read_records(path) if r.kind is Kind.RESTART)
    cut_after(path, restart_seq)
    journal = restart()
    parent = s.engine.parent_by_clordid("P")
    assert parent is not None
    assert parent.ids_to_ask == s.engine.ids_to_ask  # each id counted once
    s.engine.on_venue_session(True)
    s.run_for(10)
    assert parent.ids_to_ask == 0
    assert set(late) <= set(parent.children)  # the lost run's children, adopted
    s.run_for(1_800)
    journal.close()
    assert parent.state.value == "filled", (parent.state, parent.filled)
    sent = [o.cl_ord_id for _, o in s.venue.sent]
    assert len(sent) == len(set(sent)) and set(sent) <= set(parent.children)
    assert check_invariants(s, cap_window_s=CFG.cap_window_s) == []
    assert replay(path).divergence is None


def test_a_restart_sends_the_oms_every_report_of_every_parent_again(tmp_path: Path) -> None:
    # Found by the SIGKILL crash tests: the daemon keeps reports for an OMS session that is
    # down in memory, and hands one over only once the journal holds it; a crash loses what
    # waited, and recovery re-sent only the decisions past the journal's end. Now every
    # report goes again, in order, as the journal has it (the OMS drops repeats by ExecID).
    path = tmp_path / "j.sqlite"
    journal = Journal(path, flush_interval_s=0)
    s = SimSession(MarketConfig(seed=2), CFG, journal=journal)
    s.run_for(120)
    now = s.clock.now_ns()
    for i, strategy in enumerate(("pov", "twap")):
        s.engine.on_parent_command(
            ParentOrder(
                cl_ord_id=f"P{i}",
                symbol="XYZ",
                side=Side.SELL,
                qty=8_000,
                strategy=strategy,
                end_ns=now + 900 * NS,
                ts_init=now,
                participation_cap=0.1,
            )
        )
    s.run_for(400)
    journal.close()
    made = list(s.oms.reports)  # every one the dead engine made, all of them journaled
    assert len({r.venue_order_id for r in made}) == 2 and len(made) > 10
    s.engine.clock.stop()
    oms = RecordingOms()
    journal = Journal(path, flush_interval_s=0)
    r = recover(journal, CFG, clock=s.clock, venue=s.venue, oms=oms)
    journal.close()
    assert oms.reports == []  # nothing before the daemon's OMS acceptor is listening
    assert r.resend(oms) == len(made)
    by_parent = sorted(
        made, key=lambda x: [p.id for p in r.engine.parents.values()].index(x.venue_order_id)
    )
    assert oms.reports == by_parent  # the same ExecIDs, the same content, each parent in order


def test_unwind_run_recovers_a_journal_with_pending_timers(tmp_path: Path) -> None:
    # Found by the SIGKILL crash tests: `unwind run` built the daemon before its loop ran,
    # and recovery, handing the journal's pending timers to the live clock, needs the loop:
    # every restart from the command line on a working parent's journal died at start.
    path = tmp_path / "journal.sqlite"
    toml = tmp_path / "engine.toml"
    toml.write_text(
        f"""[engine]
seed = 5
feasibility_margin = 10.0
drain_timeout_s = 0
[engine.symbols.XYZ]
daily_volume = 6000000
[venue]
settings = "{QUICKFIX / "engine-venue.cfg"}"
data_dir = "{tmp_path / "venue"}"
port = {free_port()}
[oms]
settings = "{QUICKFIX / "engine-oms.cfg"}"
data_dir = "{tmp_path / "oms"}"
port = {free_port()}
[journal]
path = "{path}"
"""
    )
    cfg = load_daemon_config(toml).engine
    journal = Journal(path, flush_interval_s=0)
    s = SimSession(MarketConfig(seed=1), cfg, journal=journal)
    s.run_for(60)
    now = s.clock.now_ns()
    s.engine.on_parent_command(
        ParentOrder(
            cl_ord_id="P0",
            symbol="XYZ",
            side=Side.SELL,
            qty=5_000,
            strategy="twap",
            end_ns=now + 900 * NS,
            ts_init=now,
            participation_cap=0.1,
        )
    )
    s.run_for(30)
    assert s.clock.next_timer_ns() is not None  # the parent has timers pending
    journal.close()
    repo = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen(
        [sys.executable, "-m", "engine.cli", "run", "--config", str(toml)],
        cwd=repo,
        env={**os.environ, "PYTHONPATH": str(repo)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines = []
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 60
        for line in proc.stdout:  # until it has started (or died, ending the output)
            lines.append(line)
            if '"event": "started"' in line or time.monotonic() > deadline:
                break
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0, "".join(lines[-20:])
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
    output = "".join(lines)
    assert "recovered from the journal" in output and '"event": "started"' in output, output
    assert [r.kind for r in read_records(path)].count(Kind.RESTART) == 1
