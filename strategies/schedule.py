"""The common result of every strategy, and how a schedule is scored.

A schedule sells (or buys) ``X`` shares over ``N`` periods of length ``tau``. ``holdings[k]`` is
the quantity still to trade after period ``k`` (``holdings[0] == X``, ``holdings[N] == 0``) and
``trades[k-1] = holdings[k-1] - holdings[k]`` is what period ``k`` trades. Both are unsigned: the
side is carried separately, so buy and sell programs read the same way.

Scoring follows Almgren & Chriss (2001), section 1.4. With ``x_k`` the signed position
(``+q_k`` for a sell program, ``-q_k`` for a buy) and ``n_k = x_{k-1} - x_k``::

    E = sum_k temporary_cost(|n_k|) + gamma * sum_k x_k n_k - alpha * tau * sum_k x_k
    V = sigma^2 * tau * sum_{k=1}^{N} x_k^2

``alpha`` is the expected price drift per unit time (price units): a rising price helps a
seller who waits and hurts a buyer who waits. Costs are in currency; divide by ``X * price``
for a fraction of notional.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from strategies._validate import non_negative, positive
from strategies.errors import InvalidParameterError
from strategies.impact import ImpactModel

__all__ = ["Schedule", "Side", "evaluate", "make_schedule", "round_to_lots"]

FloatArray = NDArray[np.float64]


class Side(enum.StrEnum):
    """Direction of a parent order."""

    BUY = "buy"
    SELL = "sell"

    @property
    def sign(self) -> int:
        """``+1`` for a sell program (we hold a long position), ``-1`` for a buy."""
        return 1 if self is Side.SELL else -1

    @property
    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY


@dataclass(frozen=True, slots=True)
class Schedule:
    """A trading schedule and its expected cost and variance under one impact model.

    Attributes
    ----------
    strategy
        Name of the strategy that produced it (``"ac"``, ``"dp"``, ``"twap"``, ...).
    side
        Buy or sell.
    holdings
        ``N + 1`` unsigned quantities left to trade, from ``X`` down to 0.
    trades
        ``N`` unsigned quantities traded per period.
    tau
        Period length.
    expected_cost
        Expected implementation shortfall ``E`` (currency).
    variance
        Variance ``V`` of the shortfall (currency squared).
    details
        Strategy-specific figures (for Almgren-Chriss: ``kappa``, ``half_life``).
    """

    strategy: str
    side: Side
    holdings: FloatArray
    trades: FloatArray
    tau: float
    expected_cost: float
    variance: float
    details: dict[str, float] = field(default_factory=dict)

    @property
    def quantity(self) -> float:
        """Total quantity ``X`` of the program."""
        return float(self.holdings[0])

    @property
    def n_periods(self) -> int:
        return int(self.trades.shape[0])

    @property
    def std(self) -> float:
        """Standard deviation of the shortfall (currency)."""
        return float(np.sqrt(max(self.variance, 0.0)))

    def utility(self, risk_aversion: float) -> float:
        """Return ``E + lambda V``, the mean-variance objective this schedule scores."""
        return self.expected_cost + risk_aversion * self.variance

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dictionary."""
        return {
            "strategy": self.strategy,
            "side": str(self.side),
            "quantity": self.quantity,
            "periods": self.n_periods,
            "tau": self.tau,
            "holdings": self.holdings.tolist(),
            "trades": self.trades.tolist(),
            "expected_cost": self.expected_cost,
            "variance": self.variance,
            "std": self.std,
            **self.details,
        }


def _readonly(a: ArrayLike) -> FloatArray:
    arr = np.array(a, dtype=np.float64)
    arr.flags.writeable = False
    return arr


def evaluate(
    holdings: ArrayLike,
    model: ImpactModel,
    *,
    tau: float,
    sigma: float,
    side: Side = Side.SELL,
    volumes: ArrayLike | None = None,
    drift: float = 0.0,
) -> tuple[float, float]:
    """Return ``(E, V)`` of a holdings trajectory under ``model`` (see the module docstring).

    Raises
    ------
    InvalidParameterError
        If ``holdings`` is not a 1-D array of at least two values, or a parameter is invalid.
    """
    q = np.asarray(holdings, dtype=np.float64)
    if q.ndim != 1 or q.size < 2:
        raise InvalidParameterError("holdings must be 1-D with at least two values (X ... 0)")
    tau = positive("tau", tau)
    sigma = non_negative("sigma", sigma)
    n = q[:-1] - q[1:]
    after = q[1:]
    vol = np.full(n.size, np.inf) if volumes is None else np.asarray(volumes, dtype=np.float64)
    temporary = model.temporary_cost(np.abs(n), tau, vol, np.arange(n.size))
    # Signed positions: s*q. gamma*sum(x_k n_k) is invariant under the sign; the drift is not.
    expected = float(np.sum(temporary)) + model.permanent_cost(after, n)
    expected -= side.sign * drift * tau * float(np.sum(after))
    variance = sigma * sigma * tau * float(np.dot(after, after))
    return expected, variance


def make_schedule(
    strategy: str,
    holdings: ArrayLike,
    model: ImpactModel,
    *,
    tau: float,
    sigma: float,
    side: Side = Side.SELL,
    volumes: ArrayLike | None = None,
    drift: float = 0.0,
    details: dict[str, float] | None = None,
) -> Schedule:
    """Score ``holdings`` under ``model`` and wrap it as a :class:`Schedule`."""
    q = _readonly(holdings)
    expected, variance = evaluate(
        q, model, tau=tau, sigma=sigma, side=side, volumes=volumes, drift=drift
    )
    return Schedule(
        strategy=strategy,
        side=side,
        holdings=q,
        trades=_readonly(q[:-1] - q[1:]),
        tau=float(tau),
        expected_cost=expected,
        variance=variance,
        details=dict(details or {}),
    )


def round_to_lots(trades: ArrayLike, lot: float, caps: ArrayLike | None = None) -> FloatArray:
    """Round per-period trades to whole lots, keeping the total and, where possible, the caps.

    The total must be a whole number of lots. Each period gets the floor of its lots; the lots
    left over (fewer than the number of periods) go to the largest fractional remainders,
    earliest first on ties, skipping periods already at their cap. Rounding therefore never
    breaks a cap the continuous schedule respected; a schedule that already broke one is
    returned as broken for the caller to refuse.

    Raises
    ------
    InvalidParameterError
        If the total is not a whole number of lots, or a trade is negative.
    """
    lot = positive("lot", lot)
    t = np.asarray(trades, dtype=np.float64)
    if np.any(t < -1e-9 * max(1.0, float(np.abs(t).max(initial=0.0)))):
        raise InvalidParameterError("trades must be >= 0 to round them to lots")
    t = np.maximum(t, 0.0)
    exact = t / lot
    total = float(exact.sum())
    total_lots = round(total)
    if abs(total - total_lots) > 1e-6 * max(1.0, total):
        raise InvalidParameterError(
            f"quantity {total * lot:g} is not a whole number of lots of {lot:g}"
        )
    room = np.full(t.size, np.iinfo(np.int64).max, dtype=np.int64)
    if caps is not None:
        room = np.floor(np.asarray(caps, dtype=np.float64) / lot + 1e-9).astype(np.int64)
    # Floors are never clipped to the caps: a schedule that breaks a cap must stay visibly
    # broken for the caller to refuse, not be reshaped here into a different strategy.
    base = np.floor(exact + 1e-9).astype(np.int64)
    left = total_lots - int(base.sum())
    # Largest remainder first, earlier period on ties (stable sort); periods at their cap are
    # skipped while any other period has room.
    order = np.argsort(-(exact - base), kind="stable")
    for k in order:
        if left == 0:
            break
        if base[k] < room[k]:
            base[k] += 1
            left -= 1
    for k in order[:left]:
        base[k] += 1
    return base.astype(np.float64) * lot
