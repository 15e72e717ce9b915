"""Turn an impact model, a volume forecast and a participation cap into a DP cost table.

For lots of ``L`` shares, ``N`` periods of length ``tau`` and ``S`` lots in total::

    cost[t, k]    = temporary_cost(k L, tau, V_t, t) - gamma (k L)^2 / 2
    caps[t]       = floor(pov_cap * V_t / L)                       (when a cap is given)
    holding[t, h] = lambda sigma^2 tau (h L)^2 - s alpha tau h L    (when lambda or alpha != 0)

The ``-gamma n^2 / 2`` term is the per-period part of the permanent-impact cost
``gamma sum x_k n_k = gamma X^2 / 2 - gamma/2 sum n_k^2`` (see :mod:`strategies.impact`); the
constant ``gamma X^2 / 2`` is the same for every schedule and is reported as ``constant``.
``s`` is +1 for a sell program, -1 for a buy. The table's optimum therefore minimises exactly
``E + lambda V`` of :mod:`strategies.schedule`, restricted to whole lots.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from strategies._validate import finite, non_negative, non_negative_array, positive, positive_int
from strategies.errors import InfeasibleScheduleError, InvalidParameterError
from strategies.impact import ImpactModel
from strategies.schedule import Side

__all__ = ["CostTable", "build_cost_table", "lots_in"]


@dataclass(frozen=True, slots=True)
class CostTable:
    """A DP cost table with its caps, holding cost and the constant left out of it."""

    cost: NDArray[np.float64]
    caps: NDArray[np.int64] | None
    holding: NDArray[np.float64] | None
    total_lots: int
    lot: float
    constant: float


def lots_in(shares: float, lot: float) -> int:
    """Return ``shares / lot`` as a whole number of lots.

    Raises
    ------
    InvalidParameterError
        If ``shares`` is not a whole multiple of ``lot``.
    """
    lot = positive("lot", lot)
    exact = non_negative("shares", shares) / lot
    lots = round(exact)
    if abs(exact - lots) > 1e-9 * max(1.0, exact):
        raise InvalidParameterError(
            f"{shares:g} shares is not a whole number of lots of {lot:g}; "
            "choose a lot size that divides the quantity"
        )
    return int(lots)


def build_cost_table(
    model: ImpactModel,
    *,
    shares: float,
    lot: float,
    periods: int,
    tau: float,
    volumes: ArrayLike | None = None,
    pov_cap: float | None = None,
    sigma: float = 0.0,
    risk_aversion: float = 0.0,
    drift: float = 0.0,
    side: Side = Side.SELL,
) -> CostTable:
    """Build the cost table, caps and holding cost for :func:`strategies.dp.optimal_allocation`.

    Raises
    ------
    InvalidParameterError
        If a parameter is out of range, the quantity is not a whole number of lots, or a cap is
        given without a volume forecast.
    InfeasibleScheduleError
        If the cap leaves less room than the quantity over the whole horizon.
    """
    periods = positive_int("periods", periods)
    tau = positive("tau", tau)
    sigma = non_negative("sigma", sigma)
    risk_aversion = finite("risk_aversion", risk_aversion)
    drift = finite("drift", drift)
    total = lots_in(shares, lot)
    vol = (
        np.full(periods, np.inf)
        if volumes is None
        else non_negative_array("volumes", volumes, length=periods)
    )
    caps = None
    max_lots = total
    if pov_cap is not None:
        if not 0.0 < pov_cap <= 1.0:
            raise InvalidParameterError(f"participation cap must be in (0, 1], got {pov_cap!r}")
        if volumes is None:
            raise InvalidParameterError("a participation cap needs a volume forecast")
        # A hair of slack so 0.15 * 1000 / 150 is 1 lot, not 0 because of rounding.
        caps = np.floor(pov_cap * vol / lot + 1e-9).astype(np.int64)
        if int(caps.sum()) < total:
            raise InfeasibleScheduleError(
                f"a {pov_cap:.1%} participation cap allows {int(caps.sum()) * lot:,.0f} of "
                f"{shares:,.0f} shares over the horizon; raise the cap, lengthen the horizon "
                "or trade less"
            )
        max_lots = min(total, int(caps.max(initial=0)))
    k = np.arange(max_lots + 1, dtype=np.float64) * lot
    t = np.arange(periods)[:, None]
    cost = model.temporary_cost(k[None, :], tau, vol[:, None], t)
    cost = np.ascontiguousarray(cost - 0.5 * model.gamma * k[None, :] ** 2)
    holding = None
    if risk_aversion != 0.0 or drift != 0.0:
        h = np.arange(total + 1, dtype=np.float64) * lot
        row = risk_aversion * sigma**2 * tau * h * h - side.sign * drift * tau * h
        holding = np.ascontiguousarray(np.broadcast_to(row, (periods, total + 1)))
    return CostTable(
        cost=cost,
        caps=caps,
        holding=holding,
        total_lots=total,
        lot=float(lot),
        constant=0.5 * model.gamma * float(shares) ** 2,
    )
