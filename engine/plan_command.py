"""``unwind plan``: turn command-line arguments into a schedule and print it.

Errors a person can fix (a negative quantity, an infeasible cap, an unreadable profile) are
printed as ``unwind plan: error: ...`` with exit code 2; nothing here raises past ``run_plan``
for bad input.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any, TextIO

import numpy as np
from numpy.typing import NDArray

from strategies.almgren_chriss import ACParameters, efficient_frontier
from strategies.errors import StrategyError
from strategies.impact import ImpactModel, LinearImpact, PowerLawImpact, SquareRootImpact
from strategies.planner import PlanRequest, plan
from strategies.schedule import Schedule, Side
from strategies.volume import resample

__all__ = ["PlanInputError", "load_volume_profile", "request_from_args", "run_plan"]

EXIT_OK = 0
EXIT_USAGE = 2


class PlanInputError(ValueError):
    """An input file or argument combination the user must fix."""


def load_volume_profile(path: Path) -> NDArray[np.float64]:
    """Read volumes, one number per line (commas also separate; ``#`` starts a comment).

    A first line that is not a number is taken as a header and skipped.

    Raises
    ------
    PlanInputError
        If the file cannot be read, holds no numbers, or holds a negative or non-finite value.
    """
    try:
        text = path.read_text()
    except OSError as exc:
        raise PlanInputError(f"cannot read volume profile {path}: {exc.strerror}") from exc
    values: list[float] = []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        for field in line.replace(",", " ").split():
            try:
                values.append(float(field))
            except ValueError:
                if values or lineno > 1:
                    raise PlanInputError(f"{path}:{lineno}: {field!r} is not a number") from None
                break  # a header line
    arr = np.asarray(values, dtype=np.float64)
    if arr.size == 0:
        raise PlanInputError(f"{path} holds no volumes")
    if not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise PlanInputError(f"{path}: volumes must be finite and >= 0")
    if arr.sum() <= 0:
        raise PlanInputError(f"{path}: volumes sum to zero")
    return arr


def _volumes(args: argparse.Namespace) -> NDArray[np.float64] | None:
    if args.volume is not None and not (args.volume > 0 and math.isfinite(args.volume)):
        raise PlanInputError(f"--volume must be > 0, got {args.volume:g}")
    if args.volume_profile is None:
        return None if args.volume is None else np.full(args.periods, args.volume / args.periods)
    raw = load_volume_profile(Path(args.volume_profile))
    v = resample(raw, args.periods)
    if args.volume is not None:
        v = v * (args.volume / v.sum())
    return v


def _model(args: argparse.Namespace) -> ImpactModel:
    if args.impact == "linear":
        return LinearImpact(eta=args.eta, gamma=args.gamma, epsilon=args.epsilon)
    if args.impact == "power":
        return PowerLawImpact(
            eta=args.eta, beta=args.impact_exponent, gamma=args.gamma, epsilon=args.epsilon
        )
    return SquareRootImpact(
        sigma=args.sigma, y=args.impact_coefficient, gamma=args.gamma, epsilon=args.epsilon
    )


def request_from_args(args: argparse.Namespace) -> PlanRequest:
    """Build a :class:`PlanRequest` from parsed ``unwind plan`` arguments.

    Raises
    ------
    PlanInputError, StrategyError
        If an argument is out of range or the combination is inconsistent.
    """
    if args.periods < 1:
        raise PlanInputError(f"--periods must be >= 1, got {args.periods}")
    if not (args.price > 0 and math.isfinite(args.price)):
        raise PlanInputError(f"--price must be > 0, got {args.price:g}")
    volumes = _volumes(args)
    if args.impact == "sqrt" and volumes is None:
        raise PlanInputError("--impact sqrt needs market volume: give --volume-profile or --volume")
    return PlanRequest(
        strategy=args.strategy,
        shares=args.shares,
        side=Side(args.side),
        horizon=args.horizon,
        periods=args.periods,
        sigma=args.sigma,
        model=_model(args),
        risk_aversion=args.risk_aversion,
        drift=args.drift,
        volumes=volumes,
        pov_cap=args.pov_cap,
        lot=args.lot,
    )


def _finite_or_none(x: float) -> float | None:
    return x if math.isfinite(x) else None


def _report(schedule: Schedule, req: PlanRequest, price: float) -> dict[str, Any]:
    out = schedule.to_dict()
    notional = schedule.quantity * price
    out["expected_cost_bps"] = 1e4 * schedule.expected_cost / notional
    out["std_bps"] = 1e4 * schedule.std / notional
    out["risk_aversion"] = req.risk_aversion
    out["objective"] = schedule.utility(req.risk_aversion)
    out["impact"] = type(req.model).__name__
    if req.volumes is not None:
        with np.errstate(all="ignore"):
            part = np.where(req.volumes > 0, schedule.trades / req.volumes, np.inf)
        out["participation"] = [_finite_or_none(float(p)) for p in part]
        out["max_participation"] = _finite_or_none(float(part.max()))
    for key in ("kappa", "half_life"):
        if key in out:
            out[key] = _finite_or_none(float(out[key]))
    return out


def _print_table(report: dict[str, Any], req: PlanRequest, out: TextIO) -> None:
    tau = req.tau
    has_part = "participation" in report
    head = f"{'period':>6} {'end time':>10} {'trade':>14} {'holdings after':>16}"
    print(head + (f" {'participation':>13}" if has_part else ""), file=out)
    holdings, trades = report["holdings"], report["trades"]
    print(f"{0:>6} {0.0:>10.4g} {'':>14} {holdings[0]:>16,.2f}", file=out)
    for k, n in enumerate(trades, start=1):
        line = f"{k:>6} {k * tau:>10.4g} {n:>14,.2f} {holdings[k]:>16,.2f}"
        if has_part:
            p = report["participation"][k - 1]
            line += f" {'inf' if p is None else f'{p:.2%}':>13}"
        print(line, file=out)
    print(file=out)
    print(f"strategy        {report['strategy']} ({report['side']}, {report['impact']})", file=out)
    print(
        f"expected cost   {report['expected_cost']:,.2f}  "
        f"({report['expected_cost_bps']:.2f} bps of notional)",
        file=out,
    )
    print(f"std deviation   {report['std']:,.2f}  ({report['std_bps']:.2f} bps)", file=out)
    print(f"E + lambda V    {report['objective']:,.2f}  (lambda = {req.risk_aversion:g})", file=out)
    if "kappa" in report:
        hl = report["half_life"]
        print(
            f"kappa           {report['kappa']:.6g} per time unit; half-life "
            f"{'inf' if hl is None else f'{hl:.4g}'}",
            file=out,
        )
    if has_part and report["max_participation"] is not None:
        print(f"max participation {report['max_participation']:.2%}", file=out)


def run_plan(args: argparse.Namespace, *, out: TextIO, err: TextIO) -> int:
    """Run ``unwind plan`` and return the exit code."""
    try:
        req = request_from_args(args)
        schedule = plan(req)
    except (PlanInputError, StrategyError) as exc:
        print(f"unwind plan: error: {exc}", file=err)
        return EXIT_USAGE
    report = _report(schedule, req, args.price)
    if args.json:
        json.dump(report, out, allow_nan=False)
        out.write("\n")
    else:
        _print_table(report, req, out)
    if args.plot:
        from engine.plotting import plot_schedule

        frontier = None
        if req.strategy == "ac" and req.sigma > 0:
            frontier = efficient_frontier(_ac_params(req), _frontier_lambdas(req))
        try:
            plot_schedule(
                Path(args.plot), schedule, frontier=frontier, risk_aversion=req.risk_aversion
            )
        except OSError as exc:
            print(f"unwind plan: error: cannot write {args.plot}: {exc.strerror}", file=err)
            return EXIT_USAGE
        if not args.json:
            print(f"plot written to {args.plot}", file=out)
    return EXIT_OK


def _ac_params(req: PlanRequest) -> ACParameters:
    m = req.model
    assert isinstance(m, LinearImpact)
    return ACParameters(
        shares=req.shares,
        horizon=req.horizon,
        periods=req.periods,
        sigma=req.sigma,
        eta=float(np.asarray(m.eta)),
        gamma=m.gamma,
        epsilon=float(np.asarray(m.epsilon)),
        risk_aversion=req.risk_aversion,
        drift=req.drift,
        side=req.side,
    )


def _frontier_lambdas(req: PlanRequest) -> NDArray[np.float64]:
    """Lambdas spanning kappa*T from 0.01 to 20, plus the chosen one and 0."""
    p = _ac_params(req)
    k_t = np.geomspace(0.01, 20.0, 80)
    k_tau = k_t / req.periods
    kt2 = (2.0 * np.sinh(0.5 * k_tau) / req.tau) ** 2
    lams = p.eta_tilde * kt2 / req.sigma**2
    return np.unique(np.concatenate(([0.0, max(req.risk_aversion, 0.0)], lams)))
