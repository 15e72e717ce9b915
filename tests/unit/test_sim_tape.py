"""The simulator's tape: written, read back identically, and refused with a line number."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from adapters.sim.config import AdversaryConfig, MarketConfig
from adapters.sim.market import MarketSimulator
from adapters.sim.probe import ProbeConfig, run_probe_day
from adapters.sim.tape import OwnFill, TapeFormatError, TapeRecorder, is_tape, read_tape
from engine.events import ExecType, Quote, Side, Trade


def _short_day(tmp_path: Path, name: str = "day.tape.gz"):
    market = MarketSimulator(
        MarketConfig(seed=4, duration_s=900.0, adversaries=(AdversaryConfig(),))
    )
    rec = TapeRecorder(market.symbol, seed=4)
    seen: list = []
    fills: list = []

    def on_market(e):
        rec.on_market_event(e)
        if isinstance(e, Quote | Trade):
            seen.append(e)

    def on_report(e):
        rec.on_venue_event(e)
        if getattr(e, "exec_type", None) is ExecType.TRADE:
            fills.append(e)

    probe = ProbeConfig(predictable_s=(300.0, 300.0), random_s=(300.0, 300.0))
    run_probe_day(market, probe, seed=4, on_market=on_market, on_report=on_report)
    path = tmp_path / name
    rec.write(path, market.ground_truth())
    return path, market, seen, fills


def test_tape_when_written_then_read_back_event_for_event_with_truth(tmp_path):
    path, market, seen, fills = _short_day(tmp_path)
    assert is_tape(path)
    tape = read_tape(path)
    assert (tape.symbol, tape.seed) == (market.symbol, 4)
    market_events = [e for e in tape.events if not isinstance(e, OwnFill)]
    own = [e for e in tape.events if isinstance(e, OwnFill)]
    # Trade ids are not kept; everything the detector reads is.
    assert [(type(e), e.ts_event) for e in market_events] == [(type(e), e.ts_event) for e in seen]
    assert [
        (q.bid_price, q.bid_size, q.ask_price, q.ask_size)
        for q in market_events
        if isinstance(q, Quote)
    ] == [(q.bid_price, q.bid_size, q.ask_price, q.ask_size) for q in seen if isinstance(q, Quote)]
    assert [(f.ts_event, f.qty, f.price, f.side) for f in own] == [
        (f.ts_event, f.last_qty, f.last_price, f.side) for f in fills
    ]
    assert own and all(f.side is Side.SELL for f in own)
    truth = market.ground_truth()
    np.testing.assert_array_equal(tape.truth.regime_ts, truth.regime_ts)
    assert tape.truth.regime_values == truth.regime_values
    for name in truth.adversary_ts:
        np.testing.assert_array_equal(tape.truth.adversary_ts[name], truth.adversary_ts[name])
        assert tape.truth.adversary_target[name] == truth.adversary_target[name]
    # The day has episodes, so the hunted side made the round trip too.
    assert any(t is not None for t in truth.adversary_target["predator"])


def test_tape_when_a_record_is_bad_then_error_names_file_and_line(tmp_path):
    path = tmp_path / "bad.tape"
    path.write_text("# unwind-tape 2 symbol=XYZ\nQ,1,500000,100,500100,200\nT,2,500000,x,S\n")
    with pytest.raises(TapeFormatError, match=r"bad.tape:3: bad record"):
        read_tape(path)


def test_tape_when_not_a_tape_or_newer_version_then_refused(tmp_path):
    other = tmp_path / "x.csv.gz"
    with gzip.open(other, "wt") as f:
        f.write("34200.1,1,2,3,4,5\n")
    assert not is_tape(other)
    with pytest.raises(TapeFormatError, match="not an unwind tape"):
        read_tape(other)
    newer = tmp_path / "new.tape"
    newer.write_text("# unwind-tape 3 symbol=XYZ\n")
    with pytest.raises(TapeFormatError, match="version 3"):
        read_tape(newer)
    older = tmp_path / "old.tape"  # version 1 said only whether an adversary was active
    older.write_text("# unwind-tape 1 symbol=XYZ\n")
    with pytest.raises(TapeFormatError, match="version 1, this reads 2"):
        read_tape(older)
