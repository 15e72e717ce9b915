r"""Online volatility: a Kalman filter on an Ornstein-Uhlenbeck log-variance, with its parameters
estimated from a rolling window.

Model (per second, volatility as a fraction of price):

.. math::  h_t = \log \sigma_t^2, \qquad dh = \kappa(\theta - h)\,dt + \xi\,dW

**Measurement.** Mids are sampled on a grid of ``sub_s`` seconds; over each bar of ``bar_s``
seconds the ``m`` grid log-returns give the realised variance ``RV = sum r_i^2`` (default) or
the bipower variation (Barndorff-Nielsen & Shephard, "Power and bipower variation with
stochastic volatility and jumps", J. Fin. Econometrics 2004)

.. math::  BV = \frac{\pi}{2}\frac{m}{m-1}\sum_{i \ge 2} |r_i||r_{i-1}|

BV is robust to jumps, but on a price that moves in whole ticks most adjacent products are
zero and it collapses, hence RV by default. Sampling at ``sub_s`` rather than tick by tick
limits bid-ask bounce. ``y = log(measure / bar_s)`` observes ``h`` with sampling noise of
variance ``2/m`` (RV) or ``2.609/m`` (BV) and mean ``-R/2``, which is removed. The noise
actually present (discreteness, bounce) is larger; it is estimated below. A bar with no
measurable move is a censored observation (variance below one minimal move per bar): it pulls
the estimate down to that resolution when it stands above it and is otherwise ignored.

**Filter.** Between bars the OU state moves exactly: ``h' = theta + (h - theta) phi + e`` with
``phi = exp(-kappa bar_s)`` and ``Var e = Q = xi^2 (1 - phi^2) / (2 kappa)``; a scalar Kalman
update then combines the prediction with ``y``, its innovation clipped at ``outlier_sd``
predictive standard deviations (a Huber-type robust update). The output is the posterior mean
and variance of ``h``: the volatility estimate ``exp(h/2)`` and its uncertainty.

**Parameters.** Over the last ``window_bars`` measurements, ``y`` is an AR(1) plus white noise,
so its autocovariances are ``c_j = s^2 phi^j`` for lags ``j >= 1`` (``s^2 = xi^2/(2 kappa)``, the
stationary variance of ``h``). A least-squares fit of ``log c_j`` on ``j`` for ``j = 1..L`` gives
``phi`` and ``s^2``, hence ``kappa = -log(phi)/bar_s`` and ``xi = sqrt(2 kappa s^2)``; the
measurement noise is ``R = c_0 - s^2`` (at least the sampling noise); ``theta`` is the window
median of ``y`` (high-volatility episodes are excursions: the median stays at the usual level
while they fill less than half the window). Until ``min_bars`` bars are in, the configured
priors are used; after that kappa and ``s^2`` are shrunk toward them with the weight of
``prior_weight_bars`` bars.

**Forecast.** The expected integrated variance over the next ``H`` seconds, given the posterior
``h ~ N(m, P)``, is ``int_0^H exp(mu_s + v_s/2) ds`` with ``mu_s = theta + (m - theta) e^{-kappa
s}`` and ``v_s = P e^{-2 kappa s} + s^2 (1 - e^{-2 kappa s})``, integrated by Gauss-Legendre
quadrature. The scheduler and the VaR breaker use this forecast, not the last value.

Pure: time is an argument (``ts_ns``); no clock, no I/O.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np

from strategies.errors import InvalidParameterError

__all__ = ["OUFilterConfig", "OUParameters", "OUVolatilityFilter"]

_BV_SCALE = math.pi / 2.0
_BV_REL_VAR = math.pi**2 / 4.0 + math.pi - 3.0  # ~2.609
_RV_REL_VAR = 2.0  # relative variance of a sum of m squared Gaussian returns: 2/m
_NS = 1_000_000_000
_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(24)


@dataclass(frozen=True, slots=True)
class OUParameters:
    """OU parameters of log-variance: per-second ``kappa`` and ``xi``; ``theta`` is log var/s."""

    kappa: float
    theta: float
    xi: float

    @property
    def stationary_var(self) -> float:
        """Variance of ``h`` around ``theta`` in the long run: ``xi^2 / (2 kappa)``."""
        return self.xi**2 / (2.0 * self.kappa)

    @property
    def long_run_sigma(self) -> float:
        """Volatility per square-root second at ``h = theta``."""
        return math.exp(0.5 * self.theta)


@dataclass(frozen=True, slots=True, kw_only=True)
class OUFilterConfig:
    """Settings of :class:`OUVolatilityFilter` (defaults suit one-minute bars of a stock)."""

    bar_s: float = 60.0  # measurement bar
    sub_s: float = 5.0  # grid on which mids are sampled inside a bar
    # "rv": realised variance (sum of squared grid returns); "bv": bipower variation. BV is
    # robust to jumps but, on a price that moves in whole ticks, most products of adjacent
    # returns are zero and it collapses; RV is the default for that reason.
    estimator: str = "rv"
    outlier_sd: float = 4.0  # innovations are clipped at this many predictive deviations
    # Rolling window for the parameters: two sessions of bars, so that with next_session()
    # today is judged against yesterday as well as against itself.
    window_bars: int = 780
    min_bars: int = 30  # bars before the estimated parameters replace the priors
    # Until the window is long, kappa and the stationary variance are shrunk toward the
    # priors with this many bars' weight: 30 bars of noise can fake a persistent state, and
    # a tiny stationary variance makes every wobble look like many standard deviations.
    prior_weight_bars: int = 60
    max_lag: int = 5  # autocovariance lags used to fit phi
    # Priors: 2% daily volatility over a 6.5-hour day, log-variance half-life ~10 minutes.
    prior_kappa_per_s: float = math.log(2) / 600.0
    prior_sigma_daily: float = 0.02
    prior_xi_per_sqrt_s: float = 0.02

    def __post_init__(self) -> None:
        if not (self.bar_s > 0 and self.sub_s > 0 and self.bar_s / self.sub_s >= 3):
            raise InvalidParameterError("need bar_s > 0, sub_s > 0 and at least 3 grid steps a bar")
        if self.min_bars < self.max_lag + 3 or self.window_bars < self.min_bars:
            raise InvalidParameterError("need window_bars >= min_bars >= max_lag + 3")
        if self.prior_kappa_per_s <= 0 or self.prior_sigma_daily <= 0:
            raise InvalidParameterError("priors must be positive")
        if not self.outlier_sd > 0:
            raise InvalidParameterError("outlier_sd must be > 0")
        if self.estimator not in ("rv", "bv"):
            raise InvalidParameterError(f"estimator must be 'rv' or 'bv', got {self.estimator!r}")

    def prior(self) -> OUParameters:
        theta = math.log(self.prior_sigma_daily**2 / 23_400.0)
        return OUParameters(self.prior_kappa_per_s, theta, self.prior_xi_per_sqrt_s)


class OUVolatilityFilter:
    """Online volatility of one symbol (see the module docstring)."""

    def __init__(self, cfg: OUFilterConfig | None = None) -> None:
        self.cfg = cfg = cfg or OUFilterConfig()
        self._bar_ns = round(cfg.bar_s * _NS)
        self._sub_ns = round(cfg.sub_s * _NS)
        self._m = max(2, round(cfg.bar_s / cfg.sub_s))
        self._bipower = cfg.estimator == "bv"
        rel_var = _BV_REL_VAR if self._bipower else _RV_REL_VAR
        # Sampling noise of y alone; the noise actually present (price discreteness, bounce)
        # is estimated from the data once the window is long enough (see _estimate).
        self._r_sampling = rel_var / self._m
        self._r = self._r_sampling
        self._prior = self.params = cfg.prior()
        self._mean = self.params.theta
        self._var = self.params.stationary_var
        self._ys: deque[float] = deque(maxlen=cfg.window_bars)
        self._bar_end: int | None = None
        self._next_grid = 0
        self._last_log_mid = math.nan
        self._grid_prev = math.nan  # log mid at the previous grid point
        self._abs_prev = math.nan  # |return| of the previous grid step
        self._bp_sum = 0.0
        self._sq_sum = 0.0
        self._steps = 0
        self._min_sq = math.inf  # smallest non-zero squared grid return: the resolution
        self.bars = 0
        self.last_y: float | None = None
        self.last_bar_end_ns = 0  # end of the last closed bar

    # --- the hot path -------------------------------------------------------------------------

    def on_mid(self, ts_ns: int, mid: float) -> bool:
        """Take one mid-price observation; return True if it closed at least one bar."""
        if mid <= 0.0:
            raise InvalidParameterError(f"mid price must be > 0, got {mid!r}")
        if self._bar_end is None:
            self._start(ts_ns, mid)
            return False
        closed = False
        while ts_ns >= self._next_grid:
            # Grid points passed since the last mid take that mid (zero return if skipped).
            self._grid_step(self._last_log_mid)
            self._next_grid += self._sub_ns
            if self._next_grid > self._bar_end:
                self._close_bar()
                closed = True
        self._last_log_mid = math.log(mid)
        return closed

    def _start(self, ts_ns: int, mid: float) -> None:
        self._bar_end = ts_ns + self._bar_ns
        self._next_grid = ts_ns + self._sub_ns
        self._last_log_mid = self._grid_prev = math.log(mid)

    def _grid_step(self, log_mid: float) -> None:
        r = abs(log_mid - self._grid_prev)
        self._grid_prev = log_mid
        if self._bipower and self._steps:
            self._bp_sum += r * self._abs_prev
        self._abs_prev = r
        sq = r * r
        self._sq_sum += sq
        if 0.0 < sq < self._min_sq:
            self._min_sq = sq
        self._steps += 1

    # --- once a bar ---------------------------------------------------------------------------

    def _close_bar(self) -> None:
        m = self._steps
        bipower = _BV_SCALE * m / max(m - 1, 1) * self._bp_sum
        measure = bipower if self._bipower else self._sq_sum
        bar_s = self.cfg.bar_s
        if measure > 0.0:
            self._update(math.log(measure / bar_s) + 0.5 * self._r_sampling)
        elif math.isfinite(self._min_sq):
            # No measurable move: the variance is at most about one minimal move per bar.
            # A censored observation: it pulls the estimate down to that resolution if it
            # stands above it, and says nothing if it is already below.
            self._update(math.log(self._min_sq / bar_s), censored=True)
        else:
            self._update(None)  # nothing has moved yet: predict only
        self._bp_sum = self._sq_sum = 0.0
        self._steps = 0
        self._abs_prev = math.nan
        assert self._bar_end is not None
        self.last_bar_end_ns = self._bar_end
        self._bar_end += self._bar_ns

    def _update(self, y: float | None, *, censored: bool = False) -> None:
        self.bars += 1
        p = self.params
        phi = math.exp(-p.kappa * self.cfg.bar_s)
        q = p.stationary_var * (1.0 - phi * phi)
        mean = p.theta + (self._mean - p.theta) * phi
        var = phi * phi * self._var + q
        if y is None or (censored and y >= mean):
            self._mean, self._var = mean, var
            return
        # Innovations beyond outlier_sd predictive deviations are clipped (a Huber-type
        # robust Kalman update): one bad bar (a jump, a stale feed) moves the estimate by a
        # bounded amount, and the window below stores the clipped value.
        bound = self.cfg.outlier_sd * math.sqrt(var + self._r)
        y = mean + min(max(y - mean, -bound), bound)
        self.last_y = y
        self._ys.append(y)
        gain = var / (var + self._r)
        self._mean = mean + gain * (y - mean)
        self._var = (1.0 - gain) * var
        if len(self._ys) >= self.cfg.min_bars:
            self.params, self._r = self._estimate()

    def _estimate(self) -> tuple[OUParameters, float]:
        y = np.fromiter(self._ys, dtype=np.float64)
        # The median, not the mean: high-volatility episodes are excursions above the usual
        # level, and while they fill less than half the window the median stays at that level,
        # so z-scores measure them against normal conditions rather than a mean they inflate.
        theta = float(np.median(y))
        d = y - y.mean()
        n = d.size
        lags = np.arange(1, self.cfg.max_lag + 1)
        cov = np.array([np.dot(d[:-j], d[j:]) / n for j in lags])
        total = float(np.dot(d, d) / n)
        ok = cov > 0
        prior = self.params
        if ok.sum() < 2 or not ok[0]:
            return OUParameters(prior.kappa, theta, prior.xi), self._r
        slope, intercept = np.polyfit(lags[ok], np.log(cov[ok]), 1)
        phi = min(max(math.exp(slope), 0.01), 0.999)
        s2 = min(math.exp(intercept), total)
        kappa = -math.log(phi) / self.cfg.bar_s
        # What the OU state does not explain at lag 0 is measurement noise.
        r = max(total - s2, self._r_sampling)
        w = n / (n + self.cfg.prior_weight_bars)
        first = self._prior
        kappa = w * kappa + (1 - w) * first.kappa
        s2 = w * s2 + (1 - w) * first.stationary_var
        return OUParameters(kappa=kappa, theta=theta, xi=math.sqrt(2.0 * kappa * s2)), r

    def next_session(self) -> OUVolatilityFilter:
        """A filter for the next session of the same symbol that keeps what this one learnt.

        The window of measurements (and so kappa, theta, xi and the measurement noise) carries
        over: a day that opens in high volatility is then judged against the symbol's usual
        level instead of against itself. The state keeps its mean but its variance goes back
        to the stationary variance: the overnight gap is not observed.
        """
        nxt = OUVolatilityFilter(self.cfg)
        nxt._ys.extend(self._ys)
        nxt.params, nxt._r, nxt._min_sq = self.params, self._r, self._min_sq
        nxt._mean, nxt._var = self._mean, self.params.stationary_var
        return nxt

    # --- outputs ------------------------------------------------------------------------------

    @property
    def log_variance(self) -> tuple[float, float]:
        """Posterior mean and variance of ``h`` (log variance per second)."""
        return self._mean, self._var

    @property
    def sigma(self) -> float:
        """Volatility estimate, fraction of price per square-root second."""
        return math.exp(0.5 * self._mean)

    @property
    def sigma_interval(self) -> tuple[float, float]:
        """A 95% interval for the volatility, from the posterior of ``h``."""
        half = 1.96 * math.sqrt(self._var)
        return math.exp(0.5 * (self._mean - half)), math.exp(0.5 * (self._mean + half))

    @property
    def z_score(self) -> float:
        """Where ``h`` stands in the OU stationary distribution: ``(h - theta) / s``."""
        return (self._mean - self.params.theta) / math.sqrt(self.params.stationary_var)

    def forecast_integrated_variance(self, horizon_s: float) -> float:
        """Expected variance accumulated over the next ``horizon_s`` seconds (fraction^2).

        Raises
        ------
        InvalidParameterError
            If ``horizon_s`` is negative.
        """
        if horizon_s < 0:
            raise InvalidParameterError(f"horizon must be >= 0, got {horizon_s!r}")
        if horizon_s == 0:
            return 0.0
        p = self.params
        s = 0.5 * horizon_s * (_GL_NODES + 1.0)
        decay = np.exp(-p.kappa * s)
        mu = p.theta + (self._mean - p.theta) * decay
        v = self._var * decay**2 + p.stationary_var * (1.0 - decay**2)
        return float(0.5 * horizon_s * np.dot(_GL_WEIGHTS, np.exp(mu + 0.5 * v)))
