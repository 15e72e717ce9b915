"""Market-impact models: the expected cost of trading ``x`` shares in one period.

Every model answers one question: what does it cost, in currency, to trade ``x >= 0`` shares
during a period of length ``tau`` (time units of the caller's choice) in which the market trades
``V`` shares? Coefficients may be scalars or one value per period (time-varying liquidity).

Notation follows Almgren & Chriss, "Optimal execution of portfolio transactions", J. Risk 3
(2001): ``n`` shares traded in a period of length ``tau`` at rate ``v = n / tau``.

================  =====================================================  ==========================
model             temporary cost of trading ``n`` shares                 coefficients (units)
================  =====================================================  ==========================
LinearImpact      ``epsilon |n| + eta n^2 / tau``                        epsilon: price; eta:
                  (per-share impact ``epsilon + eta v``)                 price x time / share
PowerLawImpact    ``epsilon |n| + eta |n|^(1+beta) / tau^beta``          eta: price x time^beta /
                  (per-share impact ``epsilon + eta v^beta``)            share^beta; beta > 0
SquareRootImpact  ``epsilon |n| + Y sigma sqrt(tau) |n|^1.5 / sqrt(V)``  Y: dimensionless; sigma:
                  (per-share impact ``Y sigma_period sqrt(n / V)``)      price / sqrt(time)
TableImpact       piecewise-linear interpolation of a cost table,        shares and currency
                  ``inf`` beyond its last point (the book is exhausted)
================  =====================================================  ==========================

Permanent impact is linear in every model (``gamma``, price per share traded, as in Almgren &
Chriss): trading ``n_k`` moves the price by ``gamma n_k`` for the rest of the program, so a
schedule with holdings ``x_k`` after period ``k`` pays ``gamma * sum_k x_k n_k``. For a constant
``gamma`` that equals ``gamma X^2 / 2 - gamma/2 * sum_k n_k^2``, which is separable per period;
:func:`strategies.cost_table.build_cost_table` relies on this. ``gamma`` is therefore a scalar,
a property of the stock rather than of the time of day.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray

from strategies._validate import non_negative
from strategies.errors import InvalidParameterError

__all__ = [
    "ImpactModel",
    "LinearImpact",
    "PowerLawImpact",
    "SquareRootImpact",
    "TableImpact",
]

FloatArray = NDArray[np.float64]


def _coefficient(name: str, value: ArrayLike, *, positive: bool = False) -> FloatArray:
    """Validate a scalar or per-period coefficient and return it as a read-only array."""
    arr = np.array(value, dtype=np.float64)
    if arr.ndim > 1:
        raise InvalidParameterError(f"{name} must be a number or one value per period")
    if arr.ndim == 1 and arr.size == 0:
        raise InvalidParameterError(f"{name} must not be empty")
    if not np.all(np.isfinite(arr)):
        raise InvalidParameterError(f"{name} must be finite")
    if positive and np.any(arr <= 0.0):
        raise InvalidParameterError(f"{name} must be > 0")
    if not positive and np.any(arr < 0.0):
        raise InvalidParameterError(f"{name} must be >= 0")
    arr.flags.writeable = False
    return arr


def _at(name: str, coef: FloatArray, period: NDArray[np.intp]) -> FloatArray:
    """Select the coefficient for each period (a scalar broadcasts to every period)."""
    if coef.ndim == 0:
        return coef
    if period.size and int(period.max()) >= coef.shape[0]:
        raise InvalidParameterError(
            f"{name} has {coef.shape[0]} per-period values but period {int(period.max())} "
            "was asked for; give one value per period or a single number"
        )
    return coef[period]


class ImpactModel(ABC):
    """Expected cost of trading in one period, plus linear permanent impact ``gamma``."""

    gamma: float

    @abstractmethod
    def temporary_cost(
        self, shares: ArrayLike, tau: float, volume: ArrayLike, period: ArrayLike
    ) -> FloatArray:
        """Return the expected temporary-impact cost (currency) of trading ``shares``.

        Parameters
        ----------
        shares
            Unsigned quantities traded, broadcast against ``volume`` and ``period``.
        tau
            Period length (time units shared with the coefficients).
        volume
            Market volume in each period, shares. Models that ignore volume accept anything.
        period
            Index of the period, selecting time-varying coefficients.

        Raises
        ------
        InvalidParameterError
            If ``shares`` is negative or a per-period coefficient is too short.
        """

    @property
    def n_periods(self) -> int | None:
        """Number of periods the coefficients describe, or ``None`` if all are scalars."""
        lengths = {a.shape[0] for a in self._coefficients() if a.ndim == 1}
        if len(lengths) > 1:
            raise InvalidParameterError(
                f"per-period coefficients disagree on the number of periods: {sorted(lengths)}"
            )
        return lengths.pop() if lengths else None

    def _coefficients(self) -> tuple[FloatArray, ...]:
        return ()

    def permanent_cost(self, holdings_after: ArrayLike, trades: ArrayLike) -> float:
        """Return ``gamma * sum_k x_k n_k``: the cost of the price moved by our own trades."""
        x = np.asarray(holdings_after, dtype=np.float64)
        n = np.asarray(trades, dtype=np.float64)
        return float(self.gamma * np.dot(x, n))


def _prepare(
    shares: ArrayLike, tau: float, period: ArrayLike
) -> tuple[FloatArray, NDArray[np.intp]]:
    x = np.asarray(shares, dtype=np.float64)
    if np.any(x < 0.0):
        raise InvalidParameterError("shares traded in a period must be >= 0")
    if not (tau > 0.0 and math.isfinite(tau)):
        raise InvalidParameterError(f"period length tau must be > 0, got {tau!r}")
    # Broadcast now so the result has the caller's (period x shares) shape even when every
    # coefficient is a scalar.
    x, p = np.broadcast_arrays(x, np.asarray(period, dtype=np.intp))
    return x, p


@dataclass(frozen=True, slots=True)
class LinearImpact(ImpactModel):
    """Almgren-Chriss linear impact: ``epsilon |n| + eta n^2 / tau``, permanent ``gamma``."""

    eta: ArrayLike
    gamma: float = 0.0
    epsilon: ArrayLike = 0.0
    _eta: FloatArray = field(init=False, repr=False)
    _eps: FloatArray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_eta", _coefficient("eta", self.eta, positive=True))
        object.__setattr__(self, "_eps", _coefficient("epsilon", self.epsilon))
        object.__setattr__(self, "gamma", non_negative("gamma", self.gamma))

    def _coefficients(self) -> tuple[FloatArray, ...]:
        return (self._eta, self._eps)

    def temporary_cost(
        self, shares: ArrayLike, tau: float, volume: ArrayLike, period: ArrayLike
    ) -> FloatArray:
        x, p = _prepare(shares, tau, period)
        eta, eps = _at("eta", self._eta, p), _at("epsilon", self._eps, p)
        return np.asarray(eps * x + eta * x * x / tau, dtype=np.float64)


@dataclass(frozen=True, slots=True)
class PowerLawImpact(ImpactModel):
    """Power-law impact: per-share ``epsilon + eta v^beta`` at trading rate ``v = n / tau``."""

    eta: ArrayLike
    beta: float = 0.6
    gamma: float = 0.0
    epsilon: ArrayLike = 0.0
    _eta: FloatArray = field(init=False, repr=False)
    _eps: FloatArray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_eta", _coefficient("eta", self.eta, positive=True))
        object.__setattr__(self, "_eps", _coefficient("epsilon", self.epsilon))
        object.__setattr__(self, "gamma", non_negative("gamma", self.gamma))
        beta = float(self.beta)
        if not (0.0 < beta <= 3.0):
            raise InvalidParameterError(f"impact exponent beta must be in (0, 3], got {beta!r}")
        object.__setattr__(self, "beta", beta)

    def _coefficients(self) -> tuple[FloatArray, ...]:
        return (self._eta, self._eps)

    def temporary_cost(
        self, shares: ArrayLike, tau: float, volume: ArrayLike, period: ArrayLike
    ) -> FloatArray:
        x, p = _prepare(shares, tau, period)
        eta, eps = _at("eta", self._eta, p), _at("epsilon", self._eps, p)
        return np.asarray(eps * x + eta * x * (x / tau) ** self.beta, dtype=np.float64)


@dataclass(frozen=True, slots=True)
class SquareRootImpact(ImpactModel):
    """Square-root law: per-share ``Y sigma sqrt(tau) sqrt(n / V)`` plus half-spread ``epsilon``.

    ``sigma`` is the price volatility per square-root time unit, so ``sigma * sqrt(tau)`` is the
    volatility over the period whose market volume is ``V``. Trading into a period with no
    volume costs ``inf``: there is nobody to trade with.
    """

    sigma: ArrayLike
    y: float = 1.0
    gamma: float = 0.0
    epsilon: ArrayLike = 0.0
    _sigma: FloatArray = field(init=False, repr=False)
    _eps: FloatArray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_sigma", _coefficient("sigma", self.sigma))
        object.__setattr__(self, "_eps", _coefficient("epsilon", self.epsilon))
        object.__setattr__(self, "gamma", non_negative("gamma", self.gamma))
        y = float(self.y)
        if not (y > 0.0 and math.isfinite(y)):
            raise InvalidParameterError(f"square-root coefficient Y must be > 0, got {y!r}")
        object.__setattr__(self, "y", y)

    def _coefficients(self) -> tuple[FloatArray, ...]:
        return (self._sigma, self._eps)

    def temporary_cost(
        self, shares: ArrayLike, tau: float, volume: ArrayLike, period: ArrayLike
    ) -> FloatArray:
        x, p = _prepare(shares, tau, period)
        v = np.asarray(volume, dtype=np.float64)
        if np.any(v < 0.0) or not np.all(np.isfinite(v)):
            raise InvalidParameterError("market volume must be finite and >= 0")
        sigma, eps = _at("sigma", self._sigma, p), _at("epsilon", self._eps, p)
        # A vanishing volume overflows to inf: correctly, as nobody is there to trade with.
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            impact = self.y * sigma * math.sqrt(tau) * x * np.sqrt(x / v)
        # 0 shares cost nothing even when the period has no volume; anything else is impossible.
        impact = np.where(x == 0.0, 0.0, np.where(v == 0.0, np.inf, impact))
        return np.asarray(eps * x + impact, dtype=np.float64)


@dataclass(frozen=True, slots=True)
class TableImpact(ImpactModel):
    """Cost read from a table, for example the cost of walking a real order-book snapshot.

    ``shares_grid`` is strictly increasing from 0; ``costs`` has the same length (one table for
    every period) or shape ``(N, len(shares_grid))`` (one table per period), with ``costs[..., 0]
    == 0``. Between grid points the cost is interpolated linearly, which is exact for a book
    (each level is a constant price per share). Beyond the last point the cost is ``inf``.
    """

    shares_grid: ArrayLike
    costs: ArrayLike
    gamma: float = 0.0
    _grid: FloatArray = field(init=False, repr=False)
    _costs: FloatArray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        grid = np.array(self.shares_grid, dtype=np.float64)
        costs = np.array(self.costs, dtype=np.float64)
        if grid.ndim != 1 or grid.size < 2:
            raise InvalidParameterError("shares_grid must be 1-D with at least two points")
        if grid[0] != 0.0 or np.any(np.diff(grid) <= 0.0) or not np.all(np.isfinite(grid)):
            raise InvalidParameterError("shares_grid must start at 0 and strictly increase")
        if costs.ndim not in (1, 2) or costs.shape[-1] != grid.size:
            raise InvalidParameterError(
                f"costs must have shape ({grid.size},) or (N, {grid.size}), got {costs.shape}"
            )
        if not np.all(np.isfinite(costs)):
            raise InvalidParameterError("costs must be finite (the grid's end marks infinity)")
        if np.any(costs[..., 0] != 0.0):
            raise InvalidParameterError("costs at 0 shares must be 0")
        grid.flags.writeable = False
        costs.flags.writeable = False
        object.__setattr__(self, "_grid", grid)
        object.__setattr__(self, "_costs", costs)
        object.__setattr__(self, "gamma", non_negative("gamma", self.gamma))

    @classmethod
    def from_book(
        cls,
        prices: ArrayLike,
        sizes: ArrayLike,
        reference_price: float,
        side: str,
        gamma: float = 0.0,
    ) -> TableImpact:
        """Build the cost of walking one side of a book snapshot.

        A sell walks the bids (``prices`` descending), a buy walks the asks (ascending). The cost
        of each share is its distance from ``reference_price`` (usually the mid), so a book with
        a one-cent spread costs half a cent per share at the touch.

        Raises
        ------
        InvalidParameterError
            If the levels are empty, unsorted for ``side``, or sizes are not positive.
        """
        p = np.asarray(prices, dtype=np.float64)
        q = np.asarray(sizes, dtype=np.float64)
        if p.ndim != 1 or p.shape != q.shape or p.size == 0:
            raise InvalidParameterError("prices and sizes must be 1-D, non-empty, equal length")
        if np.any(q <= 0.0):
            raise InvalidParameterError("book level sizes must be > 0")
        steps = np.diff(p)
        if side == "sell":
            if np.any(steps >= 0.0):
                raise InvalidParameterError("bid prices must strictly decrease level by level")
            per_share = reference_price - p
        elif side == "buy":
            if np.any(steps <= 0.0):
                raise InvalidParameterError("ask prices must strictly increase level by level")
            per_share = p - reference_price
        else:
            raise InvalidParameterError(f"side must be 'buy' or 'sell', got {side!r}")
        grid = np.concatenate(([0.0], np.cumsum(q)))
        costs = np.concatenate(([0.0], np.cumsum(per_share * q)))
        return cls(shares_grid=grid, costs=costs, gamma=gamma)

    def _coefficients(self) -> tuple[FloatArray, ...]:
        return (self._costs[:, 0],) if self._costs.ndim == 2 else ()

    @property
    def max_shares(self) -> float:
        """Largest quantity the table prices; more than this costs ``inf``."""
        return float(self._grid[-1])

    def temporary_cost(
        self, shares: ArrayLike, tau: float, volume: ArrayLike, period: ArrayLike
    ) -> FloatArray:
        x, p = _prepare(shares, tau, period)
        grid = self._grid
        idx = np.clip(np.searchsorted(grid, x, side="right") - 1, 0, grid.size - 2)
        if self._costs.ndim == 1:
            lo, hi = self._costs[idx], self._costs[idx + 1]
        else:
            if p.size and int(p.max()) >= self._costs.shape[0]:
                raise InvalidParameterError(
                    f"the cost table has {self._costs.shape[0]} periods but period "
                    f"{int(p.max())} was asked for"
                )
            lo, hi = self._costs[p, idx], self._costs[p, idx + 1]
        w = (x - grid[idx]) / (grid[idx + 1] - grid[idx])
        out = lo + w * (hi - lo)
        return np.where(x > grid[-1], np.inf, out).astype(np.float64)
