"""``unwind calibrate``: fit impact and volatility, fit on the morning, test on the afternoon.

``--source lobster`` (default) reads one LOBSTER day (``--data``, ``--symbol``, ``--levels``):

* temporary impact: the power law ``g(x) = epsilon + eta x^beta`` (bps of mid per share) fitted
  to the cost of walking the displayed book for sizes 10-500 shares, both sides, every 10 s
  (:mod:`adapters.lobster.impact_samples`), and an hour-by-hour multiplier of the morning fit
  (time of day);
* permanent impact: Kyle's lambda from 60-s windows of signed executed volume and mid moves;
* volatility: realised variance at the noise-robust sampling interval, and TSRV;
* the learned model (:mod:`strategies.nn_impact`) trained on the morning's features to predict
  the mean cost over the next 60 s, against the power law fitted to the same target on the same
  morning, and against "the cost now" (persistence), per size bucket. ``--save-nn FILE.npz``
  keeps its weights.

``--source sim`` runs the engine in the market simulator (:mod:`engine.fill_samples`; seeds
``--seeds``) and fits the same temporary and permanent models from our own liquidity-taking
children, the morning parents against the afternoon parents.

Morning is before 12:45 (the session's midpoint), afternoon after. Errors a person can fix
print ``unwind calibrate: error: ...`` and exit 2.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from adapters.lobster.impact_samples import FEATURES, flow_windows, impact_samples
from adapters.lobster.loader import LobsterError, default_data_dir, find_files, load_day
from engine.events import PRICE_SCALE
from strategies.calibration import (
    fit_permanent,
    fit_power_law,
    fit_quality,
    fit_volatility,
    quality_by_bucket,
)
from strategies.errors import StrategyError
from strategies.nn_impact import MLPConfig, train_mlp

__all__ = ["add_calibrate_arguments", "calibrate_lobster", "calibrate_sim", "run_calibrate"]

SPLIT_S = 45_900.0  # 12:45, the middle of the 09:30-16:00 session
OPEN_S, CLOSE_S = 34_200.0, 57_600.0
SIZE_EDGES = (0.0, 20.0, 40.0, 75.0, 150.0, 250.0, 400.0, 1e9)
EXIT_OK, EXIT_USAGE = 0, 2


def add_calibrate_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--source", choices=("lobster", "sim"), default="lobster")
    p.add_argument("--data", metavar="DIR", help="LOBSTER folder (default: the shared data)")
    p.add_argument("--symbol", default="GOOG")
    p.add_argument("--levels", type=int, default=10, help="book levels of the LOBSTER file")
    p.add_argument("--seeds", type=int, default=3, help="sim: seeded days per strategy (1..N)")
    p.add_argument("--nn-seed", type=int, default=0, help="seed of the network's training")
    p.add_argument("--save-nn", metavar="FILE.npz", help="write the network's weights")
    p.add_argument("--json", action="store_true", help="print JSON")


def _q(y: np.ndarray, yhat: np.ndarray) -> dict[str, float]:
    return fit_quality(y, yhat).to_dict()


def _buckets(x: np.ndarray, y: np.ndarray, yhat: np.ndarray) -> list[dict[str, Any]]:
    return [
        {"lo": b.lo, "hi": b.hi, **b.quality.to_dict()}
        for b in quality_by_bucket(x, y, yhat, SIZE_EDGES)
    ]


def calibrate_lobster(
    data_dir: str | None, symbol: str, levels: int, *, nn_seed: int = 0
) -> tuple[dict[str, Any], Any]:
    """Every LOBSTER fit and its afternoon test, as a JSON-ready dict, and the trained network.

    Raises
    ------
    LobsterError
        If the files are missing or malformed.
    """
    folder = default_data_dir() if data_dir is None else data_dir
    day = load_day(*find_files(folder, symbol, levels))
    mid_px = float(np.nanmedian(day.mid_prices())) / PRICE_SCALE
    s = impact_samples(day)
    am = s.t_s < SPLIT_S
    tr, te = s.select(am), s.select(~am)
    g = fit_power_law(tr.shares, tr.cost_now_bps)
    hours = np.floor((s.t_s - OPEN_S) / 3600.0)
    tod = [
        {
            "hour": f"{9 + int(h):02d}:30",
            "multiplier": float(np.mean(s.cost_now_bps[hours == h]))
            / float(np.mean(g.predict(s.shares[hours == h]))),
        }
        for h in np.unique(hours)
    ]
    temporary = {
        "fit_morning": g.to_dict(),
        "units": "per-share cost in bps of mid; shares",
        "epsilon_dollars": g.epsilon * mid_px / 1e4,
        "eta_dollars": g.eta * mid_px / 1e4,
        "in_sample": g.in_sample.to_dict(),
        "test_afternoon": _q(te.cost_now_bps, g.predict(te.shares)),
        "time_of_day": tod,
    }
    fw = flow_windows(day, window_s=60.0)
    fam = fw.t_s < SPLIT_S
    k = fit_permanent(fw.signed_volume[fam], fw.mid_change_bps[fam])
    permanent = {
        "fit_morning": k.to_dict(),
        "window_s": 60.0,
        "gamma_dollars_per_share": k.gamma(mid_px),
        "in_sample": k.in_sample.to_dict(),
        "test_afternoon": _q(fw.mid_change_bps[~fam], k.predict(fw.signed_volume[~fam])),
    }
    ts, mid = day.ts_ns.astype(np.float64) / 1e9, day.mid_prices()
    v_am = fit_volatility(ts, mid, OPEN_S, SPLIT_S)
    v_pm = fit_volatility(ts, mid, SPLIT_S, CLOSE_S)
    volatility = {
        "fit_morning": v_am.to_dict(),
        "afternoon": v_pm.to_dict(),
        # The morning's variance rate as the forecast of the afternoon's realised variance.
        "forecast_ratio": (v_am.sigma / v_pm.sigma) ** 2,
        "signature_intervals_s": list(v_am.intervals_s),
        "signature_morning": list(v_am.signature_var),
    }
    nn = train_mlp(tr.features, tr.cost_next_bps, MLPConfig(seed=nn_seed), feature_names=FEATURES)
    g_next = fit_power_law(tr.shares, tr.cost_next_bps)
    p_nn, p_pl = nn.model.predict(te.features), g_next.predict(te.shares)
    learned = {
        "target": f"mean walk-the-book cost over the next {s.horizon_s:g} s, bps",
        "features": list(FEATURES),
        "config": {"hidden": list(MLPConfig().hidden), "seed": nn_seed},
        "best_epoch": nn.best_epoch,
        "train_rows": len(tr),
        "test_rows": len(te),
        "power_law_same_target": g_next.to_dict(),
        "test_afternoon": {
            "nn": _q(te.cost_next_bps, p_nn),
            "power_law": _q(te.cost_next_bps, p_pl),
            "cost_now": _q(te.cost_next_bps, te.cost_now_bps),
        },
        "by_size": {
            "nn": _buckets(te.shares, te.cost_next_bps, p_nn),
            "power_law": _buckets(te.shares, te.cost_next_bps, p_pl),
        },
    }
    out = {
        "source": "lobster",
        "symbol": symbol,
        "date": day.date.isoformat(),
        "levels": day.levels,
        "mid": mid_px,
        "split": "fit 09:35-12:45, test 12:45-15:59",
        "temporary": temporary,
        "permanent": permanent,
        "volatility": volatility,
        "nn": learned,
    }
    return out, nn.model


def calibrate_sim(seeds: int) -> dict[str, Any]:
    """Fit temporary and permanent impact from our own fills in the simulator."""
    from engine.fill_samples import collect_fills

    f = collect_fills(seeds=tuple(range(1, seeds + 1)))
    am = f.session == 0
    g = fit_power_law(f.shares[am], f.cost_bps[am])
    k = fit_permanent(f.shares[am], f.move_bps[am])
    return {
        "source": "sim",
        "runs": f.runs,
        "children_taking": len(f),
        "split": "fit on the 10:00-11:30 parents, test on the 13:30-15:00 parents",
        "passive": {"shares": f.passive_shares, "mean_cost_bps": f.passive_cost_bps},
        "temporary": {
            "fit_morning": g.to_dict(),
            "in_sample": g.in_sample.to_dict(),
            "test_afternoon": _q(f.cost_bps[~am], g.predict(f.shares[~am])),
        },
        "permanent": {
            "fit_morning": k.to_dict(),
            "markout_s": 60.0,
            "in_sample": k.in_sample.to_dict(),
            "test_afternoon": _q(f.move_bps[~am], k.predict(f.shares[~am])),
            "simulator_truth_bps_per_share": 2e-8 * 1e4,
        },
    }


def _fmt_q(q: dict[str, float]) -> str:
    return f"R2 {q['r2']:+.3f}  RMSE {q['rmse']:.3f}  MAE {q['mae']:.3f}  (n {q['n']})"


def _print(r: dict[str, Any], out: TextIO) -> None:
    t, p = r["temporary"], r["permanent"]
    if r["source"] == "lobster":
        print(f"{r['symbol']} {r['date']} ({r['levels']} levels), {r['split']}", file=out)
    else:
        print(f"simulator, {r['runs']} runs, {r['children_taking']} liquidity-taking children; "
              f"{r['split']}", file=out)  # fmt: skip
    f = t["fit_morning"]
    print(
        f"temporary  g(x) = {f['epsilon']:.3f} + {f['eta']:.3g} x^{f['beta']:.3f} bps/share",
        file=out,
    )
    print(f"  in sample       {_fmt_q(t['in_sample'])}", file=out)
    print(f"  afternoon test  {_fmt_q(t['test_afternoon'])}", file=out)
    if "time_of_day" in t:
        tod = "  ".join(f"{h['hour']} x{h['multiplier']:.2f}" for h in t["time_of_day"])
        print(f"  time of day     {tod}", file=out)
    lam = p["fit_morning"]["lambda_bps_per_share"]
    print(f"permanent  lambda = {lam:.3g} bps per signed share", file=out)
    print(f"  in sample       {_fmt_q(p['in_sample'])}", file=out)
    print(f"  afternoon test  {_fmt_q(p['test_afternoon'])}", file=out)
    if r["source"] == "sim":
        print(f"  simulator truth {p['simulator_truth_bps_per_share']:.3g} bps per share; "
              f"passive fills {r['passive']['shares']:,.0f} shares at "
              f"{r['passive']['mean_cost_bps']:+.2f} bps", file=out)  # fmt: skip
        return
    v = r["volatility"]
    vm, va = v["fit_morning"], v["afternoon"]
    print(
        f"volatility morning {vm['sigma_daily']:.4f}/day (RV at {vm['interval_s']:g} s, TSRV "
        f"{vm['sigma_tsrv_daily']:.4f}, noise {vm['noise_sd_bps']:.2f} bps); afternoon "
        f"{va['sigma_daily']:.4f}; forecast/realised variance {v['forecast_ratio']:.2f}",
        file=out,
    )
    n = r["nn"]
    print(f"learned model: {n['target']}; trained on {n['train_rows']} morning rows, "
          f"best epoch {n['best_epoch']}", file=out)  # fmt: skip
    for name, q in n["test_afternoon"].items():
        print(f"  {name:<10} {_fmt_q(q)}", file=out)
    print("  RMSE by size   nn / power law", file=out)
    for a, b in zip(n["by_size"]["nn"], n["by_size"]["power_law"], strict=True):
        hi = "+" if math.isinf(a["hi"]) or a["hi"] > 1e8 else f"{a['hi']:g}"
        print(f"    [{a['lo']:g}, {hi})  {a['rmse']:.3f} / {b['rmse']:.3f}", file=out)


def run_calibrate(args: argparse.Namespace, *, out: TextIO, err: TextIO) -> int:
    """Run the calibration for ``args.source`` and print it."""
    try:
        if args.source == "sim":
            if args.seeds < 1:
                raise StrategyError("--seeds must be >= 1")
            result = calibrate_sim(args.seeds)
        else:
            result, model = calibrate_lobster(
                args.data, args.symbol, args.levels, nn_seed=args.nn_seed
            )
            if args.save_nn:
                np.savez(Path(args.save_nn), **model.to_arrays())
    except (LobsterError, StrategyError, OSError) as e:
        print(f"unwind calibrate: error: {e}", file=err)
        return EXIT_USAGE
    if args.json:
        print(json.dumps(result, indent=2), file=out)
    else:
        _print(result, out)
    return EXIT_OK
