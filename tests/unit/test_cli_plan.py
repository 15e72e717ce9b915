"""``unwind plan``: JSON contract, readable table, plots and clear errors."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from engine.cli import main
from strategies.planner import STRATEGIES


def _run(capsys, *args):
    code = main(["plan", *args])
    out, err = capsys.readouterr()
    return code, out, err


def _json(capsys, *args):
    code, out, err = _run(capsys, "--json", *args)
    assert code == 0, err
    return json.loads(out)


@pytest.fixture
def profile(tmp_path: Path) -> Path:
    p = tmp_path / "volume.csv"
    p.write_text("volume\n" + "\n".join(str(v) for v in [300, 200, 150, 150, 200, 300] * 13))
    return p


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_json_when_any_strategy_then_has_contract_keys_and_full_quantity(capsys, strategy, profile):
    d = _json(
        capsys,
        "--strategy",
        strategy,
        "--shares",
        "200000",
        "--periods",
        "13",
        "--horizon",
        "1",
        "--volume-profile",
        str(profile),
        "--volume",
        "4e6",
        "--pov-cap",
        "20%",
        "--lot",
        "100",
    )
    for key in ("strategy", "holdings", "trades", "expected_cost", "variance"):
        assert key in d
    assert d["strategy"] == strategy
    assert len(d["holdings"]) == 14 and len(d["trades"]) == 13
    assert d["holdings"][0] == 200000 and d["holdings"][-1] == 0
    assert sum(d["trades"]) == pytest.approx(200000)
    assert d["max_participation"] <= 0.20 + 1e-12
    if strategy == "ac":
        assert d["kappa"] > 0 and d["half_life"] == pytest.approx(1 / d["kappa"])


def test_json_when_ac_paper_example_then_matches_closed_form(capsys):
    d = _json(capsys, "--shares", "1000000")
    assert d["kappa"] == pytest.approx(0.6070761632, rel=1e-9)
    assert d["holdings"][1] == pytest.approx(541955.55, abs=0.01)


def test_json_when_risk_neutral_ac_then_half_life_is_null_not_infinity(capsys):
    d = _json(capsys, "--shares", "1000", "--risk-aversion", "0")
    assert d["kappa"] == 0 and d["half_life"] is None


def test_table_when_printed_then_shows_each_period_and_summary(capsys):
    code, out, _ = _run(capsys, "--shares", "1000000", "--side", "buy")
    assert code == 0
    assert "expected cost   911,226.99" in out
    assert out.count("\n") >= 12
    assert "half-life 1.647" in out


def test_plot_when_ac_then_writes_png_with_frontier(capsys, tmp_path):
    png = tmp_path / "plan.png"
    code, out, _ = _run(capsys, "--shares", "1000000", "--plot", str(png))
    assert code == 0 and "plot written" in out
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    # Two panels (trajectory and frontier) are wider than one.
    width = int.from_bytes(data[16:20], "big")
    png2 = tmp_path / "twap.png"
    assert main(["plan", "--strategy", "twap", "--shares", "10", "--plot", str(png2)]) == 0
    capsys.readouterr()
    assert width > int.from_bytes(png2.read_bytes()[16:20], "big")


@pytest.mark.parametrize(
    "args,message",
    [
        (["--shares", "-5"], "shares must be > 0"),
        (["--shares", "100", "--periods", "0"], "--periods must be >= 1"),
        (["--shares", "100", "--horizon", "0"], "horizon must be > 0"),
        (["--shares", "100", "--strategy", "vwap"], "volume forecast"),
        (["--shares", "100", "--impact", "sqrt"], "needs market volume"),
        (["--shares", "100", "--impact", "power"], "--strategy dp"),
        (["--shares", "1e6", "--strategy", "pov", "--volume", "1e6"], "raise the participation"),
        (
            [
                "--shares",
                "1e6",
                "--strategy",
                "dp",
                "--volume",
                "1e6",
                "--pov-cap",
                "0.15",
                "--lot",
                "1000",
            ],
            "raise the cap",
        ),
        (["--shares", "1000", "--lot", "300"], "whole number of lots"),
        (["--shares", "1000", "--risk-aversion", "-1"], "use lambda >"),
        (["--shares", "100", "--pov-cap", "150%"], "participation cap must be in (0, 1]"),
    ],
)
def test_bad_arguments_when_given_then_exit_2_with_actionable_message(capsys, args, message):
    code, out, err = _run(capsys, *args)
    assert code == 2
    assert out == ""
    assert err.startswith("unwind plan: error: ")
    assert message in err


def test_profile_when_file_missing_or_garbled_then_exit_2_naming_the_file(capsys, tmp_path):
    code, _, err = _run(capsys, "--shares", "1", "--volume-profile", str(tmp_path / "nope.csv"))
    assert code == 2 and "nope.csv" in err
    bad = tmp_path / "bad.csv"
    bad.write_text("100\n200\nlots\n")
    code, _, err = _run(capsys, "--shares", "1", "--strategy", "vwap", "--volume-profile", str(bad))
    assert code == 2 and "bad.csv:3" in err


def test_pov_cap_when_not_a_number_then_argparse_rejects(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["plan", "--shares", "1", "--pov-cap", "lots"])
    assert exc.value.code == 2
    assert "expected a fraction" in capsys.readouterr().err


def test_console_script_when_installed_then_runs_plan():
    exe = shutil.which("unwind", path=str(Path(sys.executable).parent))
    assert exe is not None, "the unwind console script is not installed in this environment"
    done = subprocess.run(
        [exe, "plan", "--shares", "1000", "--strategy", "twap", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["trades"] == [200.0] * 5
