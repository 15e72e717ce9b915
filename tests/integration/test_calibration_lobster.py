"""Calibration, the learned model and the schedule study on the real GOOG day (skips without it),
and the CLI commands."""

from __future__ import annotations

import json

import numpy as np
import pytest

from adapters.lobster.impact_samples import cost_curves, impact_samples
from adapters.lobster.loader import ENV_VAR, LobsterDay, default_data_dir, find_files, load_day
from engine.calibrate_command import calibrate_lobster
from engine.cli import main
from engine.schedule_study import PERIODS, goog_book_model, study


def _data_dir() -> str:
    path = default_data_dir()
    if not path.is_dir():
        pytest.skip(f"LOBSTER data not found at {path}; set {ENV_VAR}")
    return str(path)


@pytest.fixture(scope="module")
def goog10() -> LobsterDay:
    return load_day(*find_files(_data_dir(), "GOOG", 10))


@pytest.fixture(scope="module")
def result() -> dict:  # type: ignore[type-arg]
    return calibrate_lobster(_data_dir(), "GOOG", 10)[0]


def test_walk_cost_is_at_least_the_half_spread_and_rises_with_size(goog10: LobsterDay) -> None:
    s = impact_samples(goog10, shares=(10, 100, 300), step_s=60.0)
    assert np.all(s.cost_now_bps >= s.features[:, 0] / 2 - 1e-9)  # feature 0: the spread
    assert len(s) > 0.9 * 2 * 3 * 389  # few instants lack the depth
    times = np.arange(34_500.0, 57_000.0, 60.0)
    for side in (1, -1):
        c, _ = cost_curves(goog10, times, [10, 100, 300, 2_000], side)
        d = np.diff(c[:, :3], axis=1)
        assert np.all(d[np.isfinite(d)] >= -1e-9)  # a bigger order never pays less per share
        assert np.isnan(c[:, 3]).mean() > 0.5  # 2,000 shares is past 10 levels most of the time


def test_calibrate_goog_fits_and_the_learned_model_beats_the_power_law_out_of_sample(
    result: dict,  # type: ignore[type-arg]
) -> None:
    t, p, v, n = result["temporary"], result["permanent"], result["volatility"], result["nn"]
    assert 2.0 < t["fit_morning"]["epsilon"] < 3.5  # about the half-spread, bps
    assert t["time_of_day"][0]["multiplier"] > 1.2  # the open is dearer
    assert p["fit_morning"]["lambda_bps_per_share"] > 0 and p["test_afternoon"]["r2"] > 0.1
    assert v["fit_morning"]["interval_s"] > 1.0  # noise pushes the interval up
    assert 0.005 < v["fit_morning"]["sigma_daily"] < 0.02
    nn, pl = n["test_afternoon"]["nn"], n["test_afternoon"]["power_law"]
    assert nn["rmse"] < 0.85 * pl["rmse"] and nn["r2"] > pl["r2"]
    for a, b in zip(n["by_size"]["nn"], n["by_size"]["power_law"], strict=True):
        assert a["rmse"] < b["rmse"]


def test_calibrate_goog_is_deterministic_for_the_seed(result: dict) -> None:  # type: ignore[type-arg]
    again = calibrate_lobster(_data_dir(), "GOOG", 10)[0]
    assert again["nn"]["test_afternoon"] == result["nn"]["test_afternoon"]


def test_schedule_study_sqrt_is_flat_and_the_goog_book_rewards_the_dp() -> None:
    rows = {r.model: r for r in study(_data_dir())}
    n = PERIODS
    k = np.arange(1, n + 1, dtype=float)
    ramp = (k**1.5).sum() / (k.sum()) ** 1.5 * n**0.5  # front-loaded / equal, continuous
    for stock in ("FROG", "CRWV", "SOUN"):
        r = rows[f"{stock} sqrt"]
        assert abs(r.excess("twap")) < 1e-9
        assert r.excess("aggressive") == pytest.approx(ramp - 1.0, abs=0.005)
        assert rows[f"{stock} sqrt-u (assumed)"].excess("twap") > 0.02
    goog = rows["GOOG book"]
    assert all(goog.excess(s) > 0.1 for s in ("twap", "aggressive", "conservative"))
    planned = rows["GOOG book, 30-min plan"]
    assert 0.0 < planned.excess("twap") < goog.excess("twap")


def test_goog_book_table_is_per_minute_and_dearest_at_the_open() -> None:
    table, bps100 = goog_book_model(_data_dir())
    assert table.n_periods == PERIODS and bps100.shape == (PERIODS,)
    assert bps100[:30].mean() > 1.3 * bps100[30:].mean()


def test_cli_calibrate_and_schedule_study_print_json(capsys: pytest.CaptureFixture[str]) -> None:
    data = _data_dir()
    assert main(["calibrate", "--data", data, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["symbol"] == "GOOG" and set(out) >= {"temporary", "permanent", "volatility", "nn"}
    assert main(["schedule-study", "--no-book", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["model"] for r in rows][:2] == ["FROG sqrt", "FROG sqrt-u (assumed)"]
    assert rows[0]["excess_over_optimal"]["naive"] == pytest.approx(0.0, abs=1e-9)


def test_cli_calibrate_text_and_saved_network(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "nn.npz"
    assert main(["calibrate", "--data", _data_dir(), "--save-nn", str(path)]) == 0
    text = capsys.readouterr().out
    assert "afternoon test" in text and "power_law" in text
    with np.load(path) as f:
        assert {"w0", "w1", "w2", "x_mean"} <= set(f.files)


def test_cli_calibrate_when_data_missing_then_exit_2_with_the_reason(
    tmp_path, capsys  # type: ignore[no-untyped-def]
) -> None:
    assert main(["calibrate", "--data", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("unwind calibrate: error:") and "not found" in err
    assert main(["schedule-study", "--data", str(tmp_path)]) == 2
    assert "no LOBSTER message/orderbook pair" in capsys.readouterr().err


def test_cli_calibrate_sim_fits_our_own_fills(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["calibrate", "--source", "sim", "--seeds", "1", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["runs"] == 3 and out["children_taking"] > 100
    g = out["temporary"]["fit_morning"]
    at_100 = g["epsilon"] + g["eta"] * 100 ** g["beta"]
    assert 0.8 < at_100 < 2.5  # about the half-spread (one cent on $50 is 2 bps) and a little
    assert out["passive"]["mean_cost_bps"] < 0 < out["temporary"]["test_afternoon"]["mean"]
