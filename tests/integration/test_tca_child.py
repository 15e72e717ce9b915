"""``unwind tca --journal PATH --child ID``: why a child was sent, read back from the journal."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import structlog

from engine.cli import main
from engine.config import EngineConfig, RiskConfig, SymbolConfig
from engine.events import PRICE_SCALE, ExecType
from engine.journal import Journal
from engine.tca_parent import parent_tca
from strategies.schedule import Side
from tests.kit.journaled import run_journaled_parent

structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.CRITICAL))


def test_a_childs_trail_names_its_plan_target_regime_policy_and_gate_verdicts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "j.sqlite"
    journal = Journal(path, flush_interval_s=0)
    # Children above 400 shares are clipped: some trails carry a clip.
    cfg = EngineConfig(
        symbols={"XYZ": SymbolConfig(daily_volume=6_000_000)},
        seed=3,
        risk=RiskConfig(max_child_qty=400),
    )
    s, p = run_journaled_parent(journal, cfg, Side.SELL, 20_000, "adaptive", 1200)
    clipped = [v for v in s.engine.verdicts[p.id] if v.check == "size"]
    assert clipped, "no child was clipped: the test shows nothing"
    # A child sent after a clip by size: its gate run says so.
    child = next(c for c in p.children.values() if c.qty == 400)
    assert main(["tca", "--journal", str(path), "--child", child.cl_ord_id, "--json"]) == 0
    trail = json.loads(capsys.readouterr().out)
    assert trail["parent"] == p.id and trail["order"]["qty"] == 400
    assert trail["why"] == child.reason and trail["sent_ns"] == child.sent_ns
    # The plan in force is the engine's last plan made before the child was sent.
    plan = [pl for pl in p.plans if pl.start_ns <= child.sent_ns][-1]
    k = plan.bucket_at(child.sent_ns)
    assert trail["plan"]["strategy"] == plan.strategy
    assert trail["plan"]["target_by_bucket_end"] == plan.cum_targets[k]
    assert trail["regime"] in ("LV", "HV", "ADV") and trail["policy"]["passive_fraction"] >= 0
    gate = trail["gate"]
    assert gate["granted"] == 400 < gate["asked"]
    assert [v[0] for v in gate["verdicts"]] == ["size"]
    venue = [e for e in trail["after"] if e["kind"] == "venue"]
    truth = [r for r in s.venue.reports if child.cl_ord_id in (r.cl_ord_id, r.orig_cl_ord_id)]
    assert len(venue) == len(truth) and venue[0]["exec_type"] == ExecType.NEW.value
    # The text form says the same for people.
    assert main(["tca", "--journal", str(path), "--child", child.cl_ord_id]) == 0
    text = capsys.readouterr().out
    assert "gate:    asked" in text and "size clip to 400" in text and "plan:" in text
    assert main(["tca", "--journal", str(path), "--child", "NOPE"]) == 2


def test_a_parents_post_trade_analysis_from_the_journal_matches_the_engines_books(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "j.sqlite"
    journal = Journal(path, flush_interval_s=0)
    cfg = EngineConfig(symbols={"XYZ": SymbolConfig(daily_volume=6_000_000)}, seed=3)
    _, p = run_journaled_parent(journal, cfg, Side.BUY, 30_000, "twap", 900)
    assert p.state.final and p.filled > 0
    t = parent_tca(path, p.id, fee_bps=0.5)
    # The journal's account is the engine's: every fill, the average price, the arrival mid.
    assert t.filled == p.filled and t.qty == p.qty
    assert t.avg_price == pytest.approx(p.avg_price / PRICE_SCALE)
    assert t.decision_mid == pytest.approx(p.arrival_mid / PRICE_SCALE)  # type: ignore[operator]
    # The fills' part of the shortfall is the average against the decision mid.
    execution = t.delay_bps + t.timing_bps + t.spread_bps
    expected = (t.avg_price - t.decision_mid) / t.decision_mid * 1e4 * t.filled / t.qty
    assert execution == pytest.approx(expected)
    assert t.fees_bps == pytest.approx(0.5 * t.filled * t.avg_price / (t.qty * t.decision_mid))
    unfilled = t.qty - t.filled
    assert (t.opportunity_bps == 0) == (unfilled == 0)
    # The interval's market: our prints are among its prints, and it printed more than ours.
    assert 0 < t.participation < 1 and t.market_volume > t.filled
    assert t.interval_vwap is not None and t.interval_twap is not None
    assert all(v is not None for v in t.markouts_bps.values())
    # The command prints it, and refuses an unknown parent with a reason.
    assert main(["tca", "--journal", str(path), "--parent", p.id, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["filled"] == p.filled and out["side"] == "buy"
    assert out["shortfall_bps"] == pytest.approx(t.shortfall_bps - t.fees_bps)
    assert main(["tca", "--journal", str(path), "--parent", "NOPE"]) == 2
    assert "no reports of a parent NOPE" in capsys.readouterr().err
