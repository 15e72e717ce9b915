r"""Almgren-Chriss optimal execution: the exact discrete-time closed form.

Reference: R. Almgren and N. Chriss, "Optimal execution of portfolio transactions", Journal of
Risk 3(2), 2001, sections 1-3. Symbols and units:

=========  ===========================================================  =====================
symbol     meaning                                                      units
=========  ===========================================================  =====================
X          shares to trade (the program is a sell; a buy mirrors it)    shares
T, N       horizon and number of periods; ``tau = T / N``               time, count
sigma      price volatility                                              price / sqrt(time)
eta        temporary impact: per-share cost ``eta * n / tau``            price x time / share
gamma      permanent impact: price move per share traded                 price / share
epsilon    fixed cost per share (half the spread)                        price
lambda     risk aversion                                                 1 / currency
alpha      expected price drift (optional)                               price / time
=========  ===========================================================  =====================

With ``eta_tilde = eta - gamma tau / 2`` and ``kappa_tilde^2 = lambda sigma^2 / eta_tilde``, the
minimiser of ``E + lambda V`` has holdings (paper, eq. 18)::

    x_j = sinh(kappa (T - t_j)) / sinh(kappa T) * X,   cosh(kappa tau) = 1 + tau^2 kappa_tilde^2 / 2

We compute ``kappa tau = 2 asinh(tau kappa_tilde / 2)``, the same root without the cancellation
in ``arccosh(1 + small)``. The expected cost and variance are the paper's eq. 20 and 21::

    E = gamma X^2/2 + epsilon |X| + eta_tilde X^2 tanh(kappa tau/2) (tau sinh 2kT + 2T sinh k tau)
                                                         / (2 tau^2 sinh^2 kT)
    V = sigma^2 X^2/2 (tau sinh kT cosh k(T - tau) - T sinh k tau) / (sinh^2 kT sinh k tau)

Cases the paper leaves implicit, handled exactly here:

* ``lambda = 0`` is the linear (TWAP) trajectory with ``E = gamma X^2/2 + epsilon|X| +
  eta_tilde X^2 / T`` and ``V = sigma^2 X^2 T (1 - 1/N)(1 - 1/(2N)) / 3``, not a limit taken
  numerically.
* ``lambda < 0`` (risk-loving) gives ``kappa = i omega`` and every hyperbolic function becomes
  its trigonometric twin. The objective is bounded below only while ``omega T < pi``; beyond
  that no optimum exists and :class:`InvalidParameterError` says how negative lambda may go.
* A drift ``alpha`` shifts the trajectory (paper, section 3.3) by
  ``xbar (1 - (sinh k(T - t) + sinh k t) / sinh kT)`` with ``xbar = alpha / (2 lambda sigma^2)``;
  we use the equivalent ``2 sinh(k(T - t)/2) sinh(k t/2) / cosh(kT/2)``, finite as lambda -> 0,
  and at ``lambda = 0`` the exact parabola ``alpha tau^2 j (N - j) / (4 eta_tilde)``. With drift,
  E and V are summed from the trajectory (the closed forms above assume none).

The half-life of the trade is ``1 / kappa`` (paper, section 2.3).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from strategies._validate import finite, non_negative, positive, positive_int
from strategies.errors import InvalidParameterError
from strategies.impact import LinearImpact
from strategies.schedule import Schedule, Side, evaluate

__all__ = [
    "ACParameters",
    "Frontier",
    "almgren_chriss",
    "efficient_frontier",
    "min_risk_aversion",
]

FloatArray = NDArray[np.float64]
_CLOSED_FORM_MIN_KT = 1e-2


@dataclass(frozen=True, slots=True, kw_only=True)
class ACParameters:
    """Inputs of the Almgren-Chriss problem (units in the module docstring).

    ``shares`` is unsigned; ``side`` says whether the program buys or sells.
    """

    shares: float
    horizon: float
    periods: int
    sigma: float
    eta: float
    gamma: float = 0.0
    epsilon: float = 0.0
    risk_aversion: float = 0.0
    drift: float = 0.0
    side: Side = Side.SELL

    def __post_init__(self) -> None:
        non_negative("shares", self.shares)
        positive("horizon", self.horizon)
        positive_int("periods", self.periods)
        non_negative("sigma", self.sigma)
        positive("eta", self.eta)
        non_negative("gamma", self.gamma)
        non_negative("epsilon", self.epsilon)
        finite("risk_aversion", self.risk_aversion)
        finite("drift", self.drift)
        object.__setattr__(self, "side", Side(self.side))
        if self.eta_tilde <= 0.0:
            raise InvalidParameterError(
                f"eta ({self.eta:g}) must exceed gamma * tau / 2 ({self.gamma * self.tau / 2:g}) "
                "for the problem to be convex; use more periods or check eta and gamma"
            )

    @property
    def tau(self) -> float:
        return self.horizon / self.periods

    @property
    def eta_tilde(self) -> float:
        return self.eta - 0.5 * self.gamma * self.tau

    @property
    def kappa_tilde_sq(self) -> float:
        return self.risk_aversion * self.sigma**2 / self.eta_tilde

    def impact_model(self) -> LinearImpact:
        """The linear impact model these parameters describe."""
        return LinearImpact(eta=self.eta, gamma=self.gamma, epsilon=self.epsilon)

    def with_risk_aversion(self, risk_aversion: float) -> ACParameters:
        return ACParameters(
            shares=self.shares,
            horizon=self.horizon,
            periods=self.periods,
            sigma=self.sigma,
            eta=self.eta,
            gamma=self.gamma,
            epsilon=self.epsilon,
            risk_aversion=risk_aversion,
            drift=self.drift,
            side=self.side,
        )


def min_risk_aversion(p: ACParameters) -> float:
    """Return the most negative lambda for which ``E + lambda V`` still has a minimum.

    The quadratic form is positive definite while the smallest eigenvalue of
    ``(eta_tilde / tau) L + lambda sigma^2 tau I`` is positive, ``L`` being the second-difference
    matrix of size N - 1, whose smallest eigenvalue is ``4 sin^2(pi / 2N)``. Returns ``-inf`` when
    sigma is 0 (no variance, any lambda is fine).
    """
    if p.sigma == 0.0 or p.periods == 1:
        return -math.inf
    s = math.sin(math.pi / (2 * p.periods))
    return -p.eta_tilde * (2.0 * s / p.tau) ** 2 / p.sigma**2


@dataclass(frozen=True, slots=True)
class _Shape:
    """``kappa * tau`` and whether the solution is hyperbolic (+1), linear (0) or trig (-1)."""

    kind: int
    k_tau: float


def _shape(p: ACParameters) -> _Shape:
    kt2 = p.kappa_tilde_sq
    if kt2 == 0.0:
        return _Shape(0, 0.0)
    half = 0.5 * p.tau * math.sqrt(abs(kt2))
    if kt2 > 0.0:
        return _Shape(1, 2.0 * math.asinh(half))
    if p.risk_aversion <= min_risk_aversion(p) or half >= 1.0:
        raise InvalidParameterError(
            f"risk aversion {p.risk_aversion:g} is too negative: E + lambda*V has no minimum "
            f"for these parameters; use lambda > {min_risk_aversion(p):.6g}"
        )
    return _Shape(-1, 2.0 * math.asin(half))


def _holdings_signed(p: ACParameters, shape: _Shape) -> FloatArray:
    """Signed holdings ``x_0 .. x_N`` (positive for a sell program)."""
    n, big_x = p.periods, p.side.sign * p.shares
    j = np.arange(n + 1, dtype=np.float64)
    if shape.kind == 0:
        x = big_x * (n - j) / n
        x[-1] = 0.0
        if p.drift != 0.0:
            x += p.drift * p.tau**2 / (4.0 * p.eta_tilde) * j * (n - j)
        return x
    # In units of kappa*tau, kappa*(T - t_j) = k_tau*(N - j): no division by tau anywhere.
    a = shape.k_tau
    f, g = (np.sinh, np.cosh) if shape.kind > 0 else (np.sin, np.cos)
    x = big_x * f(a * (n - j)) / f(a * n)
    if p.drift != 0.0:
        bracket = 2.0 * f(0.5 * a * (n - j)) * f(0.5 * a * j) / g(0.5 * a * n)
        # xbar * bracket with xbar = alpha / (2 eta_tilde kappa_tilde^2); the sign of
        # kappa_tilde^2 flips with the trig identity's, so the product keeps its sign.
        x += p.drift / (2.0 * p.eta_tilde * abs(p.kappa_tilde_sq)) * bracket
    x[-1] = 0.0
    return x


def _closed_form(p: ACParameters, shape: _Shape) -> tuple[float, float]:
    """The paper's E (eq. 20) and V (eq. 21), for a program without drift."""
    big_x, tau, t, n = p.shares, p.tau, p.horizon, p.periods
    base = 0.5 * p.gamma * big_x**2 + p.epsilon * big_x
    if shape.kind == 0:
        e = base + p.eta_tilde * big_x**2 / t
        v = p.sigma**2 * big_x**2 * t * (1 - 1 / n) * (1 - 1 / (2 * n)) / 3.0
        return e, v
    a = shape.k_tau
    k_t = a * n  # kappa * T
    if shape.kind > 0:
        e_term = (
            math.tanh(0.5 * a)
            * (tau * math.sinh(2 * k_t) + 2 * t * math.sinh(a))
            / (2 * tau**2 * math.sinh(k_t) ** 2)
        )
        v_term = (tau * math.sinh(k_t) * math.cosh(k_t - a) - t * math.sinh(a)) / (
            math.sinh(k_t) ** 2 * math.sinh(a)
        )
    else:
        e_term = (
            math.tan(0.5 * a)
            * (tau * math.sin(2 * k_t) + 2 * t * math.sin(a))
            / (2 * tau**2 * math.sin(k_t) ** 2)
        )
        v_term = (t * math.sin(a) - tau * math.sin(k_t) * math.cos(k_t - a)) / (
            math.sin(k_t) ** 2 * math.sin(a)
        )
    return base + p.eta_tilde * big_x**2 * e_term, 0.5 * p.sigma**2 * big_x**2 * v_term


def almgren_chriss(params: ACParameters) -> Schedule:
    """Return the Almgren-Chriss optimal schedule for ``params``.

    ``expected_cost`` and ``variance`` use the paper's closed forms when there is no drift,
    every trade has the program's sign (always so for ``lambda >= 0``) and ``kappa T >= 0.01``
    (below, the closed form for V loses precision to cancellation); otherwise they are summed
    exactly from the trajectory. ``details`` carries ``kappa`` (0 for the linear case,
    ``omega`` with a minus sign for the risk-loving case), ``half_life`` (``1/kappa``, ``inf`` when
    kappa <= 0) and ``eta_tilde``.

    Raises
    ------
    InvalidParameterError
        If a parameter is out of range, or lambda is so negative that no optimum exists.
    """
    shape = _shape(params)
    x = _holdings_signed(params, shape)
    q = params.side.sign * x
    trades = q[:-1] - q[1:]
    sign_consistent = bool(np.all(trades >= 0.0))
    # The paper's V formula cancels catastrophically as kappa*T -> 0 (its numerator's leading
    # terms cancel, losing ~(kappa T)^-2 in relative precision): below 1e-2 we sum instead.
    well_conditioned = shape.kind == 0 or shape.k_tau * params.periods >= _CLOSED_FORM_MIN_KT
    if params.drift == 0.0 and sign_consistent and well_conditioned:
        e, v = _closed_form(params, shape)
    else:
        e, v = evaluate(
            q,
            params.impact_model(),
            tau=params.tau,
            sigma=params.sigma,
            side=params.side,
            drift=params.drift,
        )
    kappa = shape.kind * shape.k_tau / params.tau
    q.flags.writeable = False
    trades.flags.writeable = False
    return Schedule(
        strategy="ac",
        side=params.side,
        holdings=q,
        trades=trades,
        tau=params.tau,
        expected_cost=e,
        variance=v,
        details={
            "kappa": kappa,
            "half_life": 1.0 / kappa if kappa > 0.0 else math.inf,
            "eta_tilde": params.eta_tilde,
            "risk_aversion": params.risk_aversion,
        },
    )


@dataclass(frozen=True, slots=True)
class Frontier:
    """Points of the efficient frontier: for each lambda, the optimal ``E`` and ``V``."""

    risk_aversion: FloatArray
    expected_cost: FloatArray
    variance: FloatArray


def efficient_frontier(params: ACParameters, risk_aversions: ArrayLike) -> Frontier:
    """Return ``E`` and ``V`` of the optimal schedule for each risk aversion in the list.

    Raises
    ------
    InvalidParameterError
        If any lambda is not finite or too negative for an optimum to exist.
    """
    lams = np.asarray(risk_aversions, dtype=np.float64).ravel()
    es = np.empty_like(lams)
    vs = np.empty_like(lams)
    for i, lam in enumerate(lams):
        s = almgren_chriss(params.with_risk_aversion(float(lam)))
        es[i], vs[i] = s.expected_cost, s.variance
    return Frontier(risk_aversion=lams, expected_cost=es, variance=vs)
