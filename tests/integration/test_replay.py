"""``unwind replay``: a journal's inputs, fed to a fresh engine, give the same decisions.

Sessions run against the market simulator (with the FIX simulator's delivery faults on the
venue's reports) with several parents, a replace, a cancel and an operator's halt, journaled;
the replay must match every decision. A changed configuration must diverge, and the first
divergence must be named.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from pathlib import Path

import pytest
import structlog

from adapters.fixsim.faults import FaultConfig
from adapters.sim.config import AdversaryConfig, MarketConfig
from engine.cli import main
from engine.clock import NS
from engine.config import EngineConfig, SymbolConfig
from engine.journal import Journal, Kind, read_records
from engine.parent_events import ParentCancel, ParentOrder, ParentReplace
from engine.replay import ReplayError, replay
from engine.simrun import SimSession, check_invariants
from strategies.schedule import Side

structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.CRITICAL))

CFG = EngineConfig(
    symbols={"XYZ": SymbolConfig(daily_volume=6_000_000)}, seed=5, feasibility_margin=10.0
)


def _journaled_session(path: Path, seed: int) -> SimSession:
    journal = Journal(path, flush_interval_s=0)
    faults = FaultConfig(
        seed=seed, drop_reports=0.05, duplicate_reports=0.1, delay_acks=0.1, reject_orders=0.05
    )
    market = MarketConfig(seed=seed, adversaries=(AdversaryConfig(),))
    s = SimSession(market, CFG, faults, journal=journal)
    s.run_for(200)
    now = s.clock.now_ns()
    for i, strategy in enumerate(("adaptive", "pov", "ac")):
        s.engine.on_parent_command(
            ParentOrder(
                cl_ord_id=f"P{i}",
                symbol="XYZ",
                side=Side.SELL if i % 2 else Side.BUY,
                qty=15_000,
                strategy=strategy,
                end_ns=now + 900 * NS,
                ts_init=now,
                participation_cap=0.1,
            )
        )
    s.run_for(200)
    s.engine.on_parent_command(
        ParentReplace(
            cl_ord_id="R0",
            orig_cl_ord_id="P0",
            symbol="XYZ",
            side=Side.BUY,
            ts_init=s.clock.now_ns(),
            qty=10_000,
        )
    )
    s.engine.halt(reason="operator test")
    s.run_for(60)
    s.engine.resume()
    s.run_for(200)
    s.engine.on_parent_command(
        ParentCancel(
            cl_ord_id="C2",
            orig_cl_ord_id="P2",
            symbol="XYZ",
            side=Side.BUY,
            ts_init=s.clock.now_ns(),
        )
    )
    s.run_for(500)
    journal.close()
    return s


@pytest.mark.parametrize("seed", [11, 12])
def test_a_faulty_session_replays_to_the_same_decisions(tmp_path: Path, seed: int) -> None:
    path = tmp_path / "j.sqlite"
    s = _journaled_session(path, seed)
    assert check_invariants(s, cap_window_s=CFG.cap_window_s) == []
    kinds = {r.kind for r in read_records(path)}
    assert {Kind.TIMER, Kind.VENUE, Kind.TRADING_STATE, Kind.CHILD, Kind.CANCEL} <= kinds
    result = replay(path)
    assert result.divergence is None, result.divergence
    children = sum(len(p.children) for p in s.engine.parents.values())
    assert result.decisions > children > 0 and result.inputs > 10_000


def test_a_changed_configuration_diverges_at_the_first_decision_it_changes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "j.sqlite"
    _journaled_session(path, 11)
    db = sqlite3.connect(path)
    (cfg,) = db.execute("SELECT value FROM meta WHERE key = 'engine_config'").fetchone()
    changed = json.loads(cfg)
    changed["risk"]["max_child_qty"] = 300  # every child above 300 shares is clipped now
    db.execute("UPDATE meta SET value = ? WHERE key = 'engine_config'", (json.dumps(changed),))
    db.commit()
    db.close()
    result = replay(path)
    d = result.divergence
    assert d is not None and d.seq > 0
    # The first decision that differs is a gate run that granted more than 300 shares.
    first = next(r for r in read_records(path) if r.seq == d.seq)
    assert first.kind is Kind.VERDICTS and first.value()["granted"] > 300  # type: ignore[index]
    assert main(["replay", "--journal", str(path)]) == 1
    out = capsys.readouterr().out
    assert f"first divergence at record {d.seq}" in out and "replay:" in out


def test_a_damaged_journal_is_not_replayed(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    _journaled_session(path, 12)
    db = sqlite3.connect(path)
    (first,) = db.execute(
        "SELECT first_seq FROM blocks WHERE first_seq <= 100 AND last_seq >= 100"
    ).fetchone()
    assert db.execute("SELECT count(*) FROM blocks WHERE first_seq > 100").fetchone()[0] > 0
    db.execute("DELETE FROM blocks WHERE first_seq = ?", (first,))
    db.commit()
    db.close()
    with pytest.raises(ReplayError, match=f"damaged after record {first - 1}"):
        replay(path)
    assert main(["replay", "--journal", str(path)]) == 2
