"""One entry point for every strategy: a :class:`PlanRequest` in, a scored :class:`Schedule` out.

Every strategy is scored by the same impact model, volatility and risk aversion, so their
``expected_cost`` and ``variance`` compare on one footing. With a lot size above 1 share, the
continuous schedules (AC, TWAP, VWAP, ...) are rounded to whole lots without breaking the cap
when a lot size is given, and left continuous otherwise; the DP always works in lots (one share
when no lot size is given).

Participation cap: ``dp`` honours it as a hard per-period limit; ``pov`` uses it as its rate;
every other strategy is checked against it, and a schedule that breaks it is refused with the
periods at fault, rather than silently clipped into something the strategy did not choose.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
from numpy.typing import NDArray

from strategies import baselines
from strategies._validate import finite, non_negative, positive, positive_int
from strategies.almgren_chriss import ACParameters, almgren_chriss
from strategies.cost_table import build_cost_table, lots_in
from strategies.dp import is_convex_table, optimal_allocation
from strategies.errors import InfeasibleScheduleError, InvalidParameterError
from strategies.impact import ImpactModel, LinearImpact
from strategies.schedule import Schedule, Side, make_schedule, round_to_lots

__all__ = ["DEFAULT_POV_RATE", "STRATEGIES", "PlanRequest", "plan", "warm_up"]

STRATEGIES: Final = ("ac", "dp", "twap", "vwap", "pov", "aggressive", "conservative")
DEFAULT_POV_RATE: Final = 0.15
# The general DP costs N * S * K steps; past this it takes minutes, so ask for bigger lots.
MAX_DP_WORK: Final = 4e9


@dataclass(frozen=True, slots=True, kw_only=True)
class PlanRequest:
    """What to plan. Units as in :mod:`strategies.almgren_chriss`.

    ``volumes`` is the forecast market volume per period (shares); it is required by ``vwap``,
    ``pov``, a participation cap and the square-root model. ``pov_cap`` is a fraction in
    ``(0, 1]``.
    """

    strategy: str
    shares: float
    side: Side
    horizon: float
    periods: int
    sigma: float
    model: ImpactModel
    risk_aversion: float = 0.0
    drift: float = 0.0
    volumes: NDArray[np.float64] | None = None
    pov_cap: float | None = None
    lot: float | None = None

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise InvalidParameterError(
                f"unknown strategy {self.strategy!r}; choose one of {', '.join(STRATEGIES)}"
            )
        positive("shares", self.shares)
        positive("horizon", self.horizon)
        positive_int("periods", self.periods)
        non_negative("sigma", self.sigma)
        finite("risk_aversion", self.risk_aversion)
        finite("drift", self.drift)
        if self.lot is not None:
            positive("lot", self.lot)
        object.__setattr__(self, "side", Side(self.side))
        if self.volumes is not None:
            v = np.asarray(self.volumes, dtype=np.float64)
            if v.shape != (self.periods,):
                raise InvalidParameterError(
                    f"the volume forecast has {v.size} values for {self.periods} periods"
                )
            object.__setattr__(self, "volumes", v)
        if self.pov_cap is not None and not 0.0 < self.pov_cap <= 1.0:
            raise InvalidParameterError(
                f"participation cap must be in (0, 1], got {self.pov_cap!r}"
            )
        n_coef = self.model.n_periods
        if n_coef is not None and n_coef != self.periods:
            raise InvalidParameterError(
                f"the impact model has coefficients for {n_coef} periods, the plan has "
                f"{self.periods}"
            )

    @property
    def tau(self) -> float:
        return self.horizon / self.periods

    def _needs_volumes(self, why: str) -> NDArray[np.float64]:
        if self.volumes is None:
            raise InvalidParameterError(f"{why} needs a volume forecast (volume per period)")
        return self.volumes


def plan(req: PlanRequest) -> Schedule:
    """Return the schedule of ``req.strategy`` for ``req``, scored under ``req.model``.

    Raises
    ------
    InvalidParameterError
        If the request is inconsistent (``ac`` with a non-linear model, a missing volume
        forecast, a quantity that is not a whole number of lots, ...).
    InfeasibleScheduleError
        If the participation cap cannot be honoured.
    """
    if req.pov_cap is not None:
        req._needs_volumes("a participation cap")
    if req.strategy == "dp":
        return _plan_dp(req)
    caps = None if req.pov_cap is None else req.pov_cap * req._needs_volumes("a cap")
    if req.strategy == "ac":
        exact = _plan_ac(req)
        if req.lot is None:
            if caps is not None:
                _check_cap(req, exact.trades, caps)
            return exact
        trades, details = np.array(exact.trades), dict(exact.details)
    else:
        trades, details = _baseline(req), {}
    if req.lot is not None:
        lots_in(req.shares, req.lot)
        trades = round_to_lots(trades, req.lot, caps)
    if caps is not None:
        _check_cap(req, trades, caps)
    holdings = req.shares - np.concatenate(([0.0], np.cumsum(trades)))
    holdings[-1] = 0.0
    return make_schedule(
        req.strategy,
        holdings,
        req.model,
        tau=req.tau,
        sigma=req.sigma,
        side=req.side,
        volumes=req.volumes,
        drift=req.drift,
        details=details,
    )


def _baseline(req: PlanRequest) -> NDArray[np.float64]:
    if req.strategy == "twap":
        return baselines.twap(req.shares, req.periods)
    if req.strategy == "vwap":
        return baselines.vwap(req.shares, req._needs_volumes("vwap"))
    if req.strategy == "pov":
        rate = DEFAULT_POV_RATE if req.pov_cap is None else req.pov_cap
        return baselines.pov(req.shares, req._needs_volumes("pov"), rate, req.lot)
    if req.strategy == "aggressive":
        return baselines.front_loaded(req.shares, req.periods)
    return baselines.back_loaded(req.shares, req.periods)


def _plan_ac(req: PlanRequest) -> Schedule:
    m = req.model
    if not isinstance(m, LinearImpact) or m.n_periods is not None:
        raise InvalidParameterError(
            "the Almgren-Chriss closed form needs linear impact with constant coefficients; "
            "use --strategy dp for power-law, square-root, table or time-varying impact"
        )
    return almgren_chriss(
        ACParameters(
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
    )


def _check_cap(req: PlanRequest, trades: NDArray[np.float64], caps: NDArray[np.float64]) -> None:
    over = np.flatnonzero(trades > caps * (1.0 + 1e-9) + 1e-9)
    if over.size:
        assert req.volumes is not None
        with np.errstate(all="ignore"):
            worst = float(np.max(trades[over] / req.volumes[over]))
        raise InfeasibleScheduleError(
            f"{req.strategy} breaks the {req.pov_cap:.1%} participation cap in {over.size} of "
            f"{req.periods} periods (worst {worst:.1%}, first period {int(over[0]) + 1}); use "
            "--strategy dp or pov, lengthen the horizon, or raise the cap"
        )


def _plan_dp(req: PlanRequest) -> Schedule:
    table = build_cost_table(
        req.model,
        shares=req.shares,
        lot=1.0 if req.lot is None else req.lot,
        periods=req.periods,
        tau=req.tau,
        volumes=req.volumes,
        pov_cap=req.pov_cap,
        sigma=req.sigma,
        risk_aversion=req.risk_aversion,
        drift=req.drift,
        side=req.side,
    )
    width = table.cost.shape[1]
    limits = (
        np.full(req.periods, width - 1) if table.caps is None else np.minimum(table.caps, width - 1)
    )
    general = table.holding is not None or not is_convex_table(table.cost, limits)
    if general and req.periods * table.total_lots * width > MAX_DP_WORK:
        raise InvalidParameterError(
            f"{table.total_lots} lots over {req.periods} periods is too fine for the exact "
            "general DP (a risk term or non-convex costs); use a larger lot size"
        )
    # Convexity was settled above; name the path so it is not tested twice.
    alloc = optimal_allocation(
        table.cost,
        table.total_lots,
        table.caps,
        holding_cost=table.holding,
        method="general" if general else "convex",
    )
    trades = alloc.lots.astype(np.float64) * table.lot
    holdings = req.shares - np.concatenate(([0.0], np.cumsum(trades)))
    holdings[-1] = 0.0
    return make_schedule(
        "dp",
        holdings,
        req.model,
        tau=req.tau,
        sigma=req.sigma,
        side=req.side,
        volumes=req.volumes,
        drift=req.drift,
        details={"objective": alloc.total_cost + table.constant, "lots": float(table.total_lots)},
    )


def warm_up() -> None:
    """Load every compiled kernel now. numba loads each from its on-disk cache on first call
    (about 0.1 s apiece): a daemon calls this at start-up so that its first parents do not
    stall the event loop. Covers both DP paths, with and without a cap."""
    model = LinearImpact(eta=1e-4, gamma=1e-6, epsilon=0.005)
    volumes = np.full(4, 1e5)
    for risk in (0.0, 1e-6):  # convex path, general path (risk term)
        for cap in (None, 0.1):
            plan(
                PlanRequest(
                    strategy="dp",
                    shares=2_000.0,
                    side=Side.SELL,
                    horizon=240.0,
                    periods=4,
                    sigma=0.02,
                    model=model,
                    risk_aversion=risk,
                    volumes=volumes,
                    pov_cap=cap,
                    lot=100.0,
                )
            )
