"""``unwind regimes`` and ``unwind simulate``: a tape in, bars out; bad input refused clearly."""

from __future__ import annotations

import io
import json

from engine.cli import build_parser
from engine.regimes_command import run_regimes


def _run(argv):
    args = build_parser().parse_args(argv)
    out, err = io.StringIO(), io.StringIO()
    if args.command == "regimes":
        code = run_regimes(args, out=out, err=err)
    else:
        from adapters.sim.command import run_simulate

        code = run_simulate(args, out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_regimes_when_simulated_tape_then_json_bars_with_exactly_the_documented_keys(tmp_path):
    tape = tmp_path / "d.tape.gz"
    code, out, _ = _run(["simulate", "--seed", "2", "--out", str(tape)])
    assert code == 0 and str(tape) in out
    code, out, err = _run(["regimes", "--data", str(tape), "--bar", "60", "--json"])
    assert code == 0, err
    bars = json.loads(out)
    assert len(bars) == 389  # 6.5 hours of 60-s bars, the first opening at the first quote
    assert all(set(b) == {"t", "sigma", "regime", "score"} for b in bars)
    assert {b["regime"] for b in bars} <= {"LV", "HV", "ADV"}
    assert all(0.0 <= b["score"] <= 1.0 and b["sigma"] > 0 for b in bars)
    assert bars[1]["t"] - bars[0]["t"] == 60.0
    # The same tape gives the same bars (the detector is deterministic).
    assert json.loads(_run(["regimes", "--data", str(tape), "--json"])[1]) == bars


def test_regimes_when_table_and_plot_then_truth_scored_and_png_written(tmp_path):
    tape = tmp_path / "d.tape"
    _run(["simulate", "--seed", "3", "--no-adversary", "--out", str(tape)])
    png = tmp_path / "r.png"
    code, out, err = _run(["regimes", "--data", str(tape), "--bar", "30", "--plot", str(png)])
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("XYZ: 779 bars of 30 s")
    assert "against the simulator's ground truth" in out and "0/0" in out  # no adversary
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_regimes_when_input_unusable_then_exit_2_with_reason(tmp_path):
    code, _, err = _run(["regimes", "--data", str(tmp_path / "nope.csv")])
    assert code == 2 and "no such file" in err
    junk = tmp_path / "junk.csv"
    junk.write_text("1,2,3\n")
    code, _, err = _run(["regimes", "--data", str(junk)])
    assert code == 2 and "neither a tape" in err
    msg = tmp_path / "GOOG_2012-06-21_34200000_57600000_message_1.csv"
    msg.write_text("")
    code, _, err = _run(["regimes", "--data", str(msg)])
    assert code == 2 and "order-book file" in err and "not beside" in err
    code, _, err = _run(["regimes", "--data", str(msg), "--bar", "1"])
    assert code == 2 and "--bar must be at least 3 seconds" in err
