"""``unwind backtest``: the engine's own code working one parent per run on seeded simulator
days and LOBSTER windows, in simulated time (short windows here; docs/backtest.md has the
sweeps)."""

from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path

import pytest

from adapters.lobster.loader import LobsterError, default_data_dir, find_files
from adapters.sim.config import MarketConfig
from adapters.sim.market import MarketSimulator
from engine.backtest import Job, run_job, sim_market_config
from engine.backtest_command import run_backtest
from engine.backtest_sweep import run_sweep, sweep_jobs
from engine.cli import build_parser
from engine.clock import NS
from engine.config import EngineConfig, SymbolConfig
from engine.parent_events import ParentOrder
from engine.simrun import SimSession
from strategies.schedule import Side

START, END = 34_500.0, 35_100.0  # 09:35-09:45


def _job(**kw: object) -> Job:
    args: dict[str, object] = dict(
        market="sim", strategy="twap", side=Side.SELL, start_s=START, end_s=END, qty=8_000, seed=5
    )
    args.update(kw)
    return Job(**args)  # type: ignore[arg-type]


def _lobster_dir() -> str:
    path = default_data_dir()
    try:
        find_files(path, "GOOG", 10)
    except LobsterError as exc:
        pytest.skip(f"LOBSTER sample data not available: {exc}")
    return str(path)


def test_a_run_is_a_pure_function_of_its_job() -> None:
    a, b = run_job(_job(strategy="adaptive")), run_job(_job(strategy="adaptive"))
    assert dataclasses.replace(a, wall_s=0.0) == dataclasses.replace(b, wall_s=0.0)
    assert a.filled == a.qty and a.violations == () and a.children > 5
    assert a.trajectory[0] == 0.0 and a.trajectory[-1] == 1.0
    # The control variate moves only what the market's own path explains.
    assert a.cost_bps != a.shortfall_bps


def test_a_predator_late_in_the_window_does_not_leave_adaptive_short() -> None:
    """Seed 612 of the 1,000-day sweep: the detector turns ADV two minutes before the end, and
    the final push once kept ADV's random gaps of up to 18 s between children and ended 100
    shares short. The final push sends back to back."""
    r = run_job(_job(strategy="adaptive", seed=612, qty=30_000, start_s=34_500.0, end_s=36_300.0))
    assert r.filled == r.qty and r.completed and r.violations == ()


def test_strategies_on_one_day_share_its_exogenous_path_and_regimes() -> None:
    """Common random numbers: the fundamental's diffusion and the regimes are the same day
    whatever we trade (without the grid they are not: our orders change the draws)."""

    def day(cfg: MarketConfig, qty: int) -> tuple[list[float], tuple[object, ...], list[int]]:
        s = SimSession(cfg, EngineConfig(symbols={"XYZ": SymbolConfig(daily_volume=6e6)}))
        s.run_until(round(START * NS))
        now = s.clock.now_ns()
        if qty:
            s.engine.submit(
                ParentOrder(
                    cl_ord_id="P",
                    symbol="XYZ",
                    side=Side.SELL,
                    qty=qty,
                    strategy="twap",
                    end_ns=now + 600 * NS,
                    ts_init=now,
                )
            )
        s.run_for(600)
        t = [now + k * 30 * NS for k in range(21)]
        path = [s.market.exogenous_move(x) for x in t] if cfg.diffusion_step_s else []
        prints = [q for _, q in s.tape]
        return path, s.market.ground_truth().regime_values, prints

    cfg = sim_market_config(9, adversary=True)
    quiet, busy = day(cfg, 0), day(cfg, 20_000)
    assert quiet[0] == busy[0] and quiet[1] == busy[1]
    assert quiet[2] != busy[2]  # we did trade: the tape differs
    with pytest.raises(ValueError, match="diffusion_step_s"):
        MarketSimulator(MarketConfig(seed=9)).exogenous_move(0)


def test_a_sweep_gives_the_same_results_in_processes_as_in_order() -> None:
    jobs = sweep_jobs(
        market="sim",
        strategies=["twap", "ac"],
        side=Side.BUY,
        start_s=START,
        end_s=END,
        qty=5_000,
        seeds=[1, 2],
        adversary="both",
    )
    assert len(jobs) == 8 and {j.adversary for j in jobs} == {True, False}
    here = run_sweep(jobs, workers=1)
    pool = run_sweep(jobs, workers=2)
    assert [dataclasses.replace(r, wall_s=0.0) for r in here] == [
        dataclasses.replace(r, wall_s=0.0) for r in pool
    ]
    assert [(r.day, r.strategy, r.adversary) for r in here] == [
        (j.day, j.strategy, j.adversary) for j in jobs
    ]
    assert all(r.side == "buy" and not r.violations for r in here)


def _goog(start_s: float, end_s: float) -> Job:
    """TWAP selling 5% of the forecast volume of a window of the GOOG sample day."""
    return _job(
        market="lobster",
        symbol="GOOG",
        levels=10,
        data_dir=_lobster_dir(),
        qty=0,
        qty_pct=0.05,
        start_s=start_s,
        end_s=end_s,
    )


def test_a_lobster_window_is_worked_against_the_real_book() -> None:
    r = run_job(_goog(36_000.0, 36_600.0))
    assert r.day == "GOOG-10:00" and r.filled == r.qty > 0 and r.violations == ()
    assert 540 < r.arrival_mid < 590  # GOOG on 2012-06-21
    assert r.max_participation <= 0.15 + 1e-9 and r.hunted == 0.0


def test_a_lobster_window_whose_children_go_out_between_rows_keeps_the_cap() -> None:
    # GOOG 14:30-15:00: the final push sent children on the engine's timer between two
    # historical rows, and the replay stamped their fills at the earlier row: 15.1% of the
    # trailing window against the 15% cap.
    r = run_job(_goog(52_200.0, 54_000.0))
    assert r.filled == r.qty > 0 and r.violations == ()
    assert r.max_participation <= 0.15 + 1e-9


def _cli(tmp_path: Path, *argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    args = build_parser().parse_args(["backtest", *argv])
    return run_backtest(args, out=out, err=err), out.getvalue(), err.getvalue()


def test_the_command_prints_json_with_every_run_and_writes_plots(tmp_path: Path) -> None:
    code, out, _ = _cli(
        tmp_path,
        "--seeds",
        "3-4",
        "--strategies",
        "twap,adaptive",
        "--start",
        "09:35",
        "--end",
        "09:45",
        "--qty",
        "6000",
        "--workers",
        "1",
        "--json",
        "--plots",
        str(tmp_path),
    )
    assert code == 0
    report = json.loads(out)
    assert report["runs_total"] == len(report["runs"]) == 4 and report["violations"] == 0
    assert {r["strategy"] for r in report["strategies"]} == {"twap", "adaptive"}
    (short, cost) = report["paired_vs_twap"]
    assert short["diff"]["n"] == cost["diff"]["n"] == 2
    for name in ("costs.png", "trajectories.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--end", "09:30", "--start", "10:00"], "--end must be after --start"),
        (["--data", "MSFT"], "LOBSTER symbols"),
        (["--data", "GOOG", "--data-dir", "/nonexistent"], "not found"),
        (["--data", "GOOG", "--windows", "20"], "pass 16:00"),
    ],
)
def test_bad_arguments_are_refused_with_a_reason(
    tmp_path: Path, argv: list[str], words: str
) -> None:
    code, out, err = _cli(tmp_path, *argv)
    assert code == 2 and words in err and out == ""


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--qty", "20%"], "15% cap"),
        (["--seeds", "5-1"], "--seeds"),
        (["--strategies", "twap,moon"], "unknown strategy moon"),
        (["--start", "08:00"], "outside the 09:30-16:00"),
    ],
)
def test_unparseable_options_name_the_fix(
    capsys: pytest.CaptureFixture[str], argv: list[str], words: str
) -> None:
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(["backtest", *argv])
    assert exc.value.code == 2 and words in capsys.readouterr().err
