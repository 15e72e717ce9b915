"""Fit impact and volatility parameters from samples, and score fits on held-out data.

Pure numerics: arrays in, named results out; the samples come from
:mod:`adapters.lobster.impact_samples` (the real book) or :mod:`engine.fill_samples` (our own
fills in the simulator).

Temporary impact (per-share cost of a marketable order of ``x`` shares, bps of the mid)::

    g(x) = epsilon + eta * x^beta                          epsilon, eta >= 0, beta in (0, 2]

``epsilon`` is the fixed part (about the half-spread), ``eta x^beta`` what walking deeper adds.
The fit is least squares in bps: for each ``beta`` on a grid the model is linear in
``(epsilon, eta)`` and solved exactly (non-negativity enforced by refitting on the boundary);
the best grid point is refined by golden-section search. The curve is fitted in shares, not in
``x / ADV`` or ``x / interval volume``: the cost of walking a displayed book is an instantaneous
quantity that depends on the depth at that moment, not on how much trades in an interval, and
within one day ``ADV`` is one constant, so ``x / ADV`` only rescales ``eta``
(:meth:`PowerLawFit.eta_adv` gives that form). This is the power law of
:class:`strategies.impact.PowerLawImpact` with the period's trading rate ``x / tau`` replaced by
the order size (one marketable order per period), i.e. ``PowerLawImpact(eta * mid / 1e4 *
tau^beta, beta, epsilon=epsilon * mid / 1e4)`` in currency.

Permanent impact (Kyle 1985, lambda): over windows of fixed length, the mid move ``dm`` (bps)
regressed on the aggressor-signed executed volume ``q`` (shares)::

    dm = a + lambda * q + e          (ordinary least squares)

``lambda * mid / 1e4`` is ``gamma`` of :mod:`strategies.impact` (currency per share).

Volatility: realised variance of log mids sampled on a regular grid (previous-tick), at the
shortest interval at which the signature plot (RV against sampling interval) has flattened:
at shorter intervals bid-ask bounce and price discreteness inflate RV (Andersen, Bollerslev,
Diebold & Labys 2000, "Great realizations"). The microstructure noise variance is estimated
from the finest sampling as ``RV_fine / (2 n)`` (Zhang, Mykland & Ait-Sahalia 2005), and the
two-scale estimator (TSRV, same paper) is reported beside it as a check.

Fit quality (:func:`fit_quality`): R^2 (1 - SSE / SST around the held-out mean: it can be
negative when a fit predicts worse than the held-out mean), RMSE and MAE in the units of the
target (bps here).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from strategies.errors import InvalidParameterError

__all__ = [
    "BucketQuality",
    "FitQuality",
    "PermanentFit",
    "PowerLawFit",
    "VolatilityFit",
    "fit_permanent",
    "fit_power_law",
    "fit_quality",
    "fit_volatility",
    "previous_tick",
    "quality_by_bucket",
    "realised_variance",
    "signature",
]

FloatArray = NDArray[np.float64]
_BETA_LO, _BETA_HI = 0.02, 2.0
_GOLDEN = (math.sqrt(5.0) - 1.0) / 2.0


@dataclass(frozen=True, slots=True)
class FitQuality:
    """How well predictions match observations: ``n`` points, R^2, RMSE and MAE (target units)."""

    n: int
    r2: float
    rmse: float
    mae: float
    mean: float  # mean of the observations

    def to_dict(self) -> dict[str, float]:
        return {"n": self.n, "r2": self.r2, "rmse": self.rmse, "mae": self.mae, "mean": self.mean}


@dataclass(frozen=True, slots=True)
class BucketQuality:
    """Fit quality of the points whose ``x`` lies in ``[lo, hi)``."""

    lo: float
    hi: float
    quality: FitQuality


def _vectors(*arrays: ArrayLike) -> list[FloatArray]:
    out = [np.asarray(a, dtype=np.float64).ravel() for a in arrays]
    if len({a.size for a in out}) != 1:
        raise InvalidParameterError(f"arrays must have equal lengths, got {[a.size for a in out]}")
    if not all(np.all(np.isfinite(a)) for a in out):
        raise InvalidParameterError("samples must be finite (drop NaN rows first)")
    return out


def fit_quality(y: ArrayLike, yhat: ArrayLike) -> FitQuality:
    """Return R^2, RMSE and MAE of predictions ``yhat`` against observations ``y``.

    Raises
    ------
    InvalidParameterError
        If the arrays differ in length, are empty or hold non-finite values.
    """
    yy, pp = _vectors(y, yhat)
    if yy.size == 0:
        raise InvalidParameterError("fit quality needs at least one observation")
    err = yy - pp
    sse = float(np.dot(err, err))
    sst = float(np.sum((yy - yy.mean()) ** 2))
    r2 = 1.0 - sse / sst if sst > 0.0 else (1.0 if sse == 0.0 else -math.inf)
    return FitQuality(
        n=int(yy.size),
        r2=r2,
        rmse=math.sqrt(sse / yy.size),
        mae=float(np.mean(np.abs(err))),
        mean=float(yy.mean()),
    )


def quality_by_bucket(
    x: ArrayLike, y: ArrayLike, yhat: ArrayLike, edges: ArrayLike
) -> list[BucketQuality]:
    """Return :func:`fit_quality` per bucket ``[edges[i], edges[i+1])`` of ``x`` (empty skipped)."""
    xx, yy, pp = _vectors(x, y, yhat)
    e = np.asarray(edges, dtype=np.float64)
    out = []
    for lo, hi in itertools.pairwise(e):
        m = (xx >= lo) & (xx < hi)
        if m.any():
            out.append(BucketQuality(float(lo), float(hi), fit_quality(yy[m], pp[m])))
    return out


# --- temporary impact: the power law ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PowerLawFit:
    """``g(x) = epsilon + eta x^beta``: per-share cost (target units, bps) of ``x`` shares."""

    epsilon: float
    eta: float
    beta: float
    n: int
    in_sample: FitQuality

    def predict(self, shares: ArrayLike) -> FloatArray:
        x = np.asarray(shares, dtype=np.float64)
        return self.epsilon + self.eta * np.power(x, self.beta)

    def eta_adv(self, adv: float) -> float:
        """``eta`` for sizes as a fraction of ``adv``: ``g = epsilon + eta_adv (x / ADV)^beta``."""
        return self.eta * adv**self.beta

    def to_dict(self) -> dict[str, float]:
        return {"epsilon": self.epsilon, "eta": self.eta, "beta": self.beta, "n": self.n}


def _solve_at(
    beta: float, xu: FloatArray, wsum: FloatArray, wy: FloatArray, wyy: float, fit_eps: bool
) -> tuple[float, float, float]:
    """Weighted least squares of ``y ~ eps + eta x^beta``, ``eps, eta >= 0``: (eps, eta, SSE).

    Works on sufficient statistics per distinct size ``xu``: the weight ``wsum`` and the
    weighted target sum ``wy`` of its samples, and ``wyy``, the weighted sum of ``y^2``.
    """
    z = np.power(xu, beta)

    def only_eta() -> tuple[float, float]:
        den = float(np.dot(wsum, z * z))
        return 0.0, max(0.0, float(np.dot(z, wy)) / den) if den > 0 else 0.0

    if fit_eps:
        sw = float(wsum.sum())
        zm, ym = float(np.dot(wsum, z)) / sw, float(wy.sum()) / sw
        szz = float(np.dot(wsum, (z - zm) ** 2))
        eta = float(np.dot(z - zm, wy)) / szz if szz > 0 else 0.0
        if eta < 0.0:
            eps, eta = max(0.0, ym), 0.0
        else:
            eps = ym - eta * zm
            if eps < 0.0:
                eps, eta = only_eta()
    else:
        eps, eta = only_eta()
    f = eps + eta * z
    sse = wyy - 2.0 * float(np.dot(wy, f)) + float(np.dot(wsum, f * f))
    return eps, eta, max(sse, 0.0)


def fit_power_law(
    shares: ArrayLike,
    cost: ArrayLike,
    *,
    weights: ArrayLike | None = None,
    fit_epsilon: bool = True,
    beta_bounds: tuple[float, float] = (_BETA_LO, _BETA_HI),
) -> PowerLawFit:
    """Fit ``cost = epsilon + eta shares^beta`` by (weighted) least squares.

    Parameters
    ----------
    shares
        Order sizes (> 0).
    cost
        Per-share cost of each order, any units (bps of mid in this project).
    weights
        Optional non-negative weight per sample.
    fit_epsilon
        Fit the fixed part; ``False`` forces ``epsilon = 0``.
    beta_bounds
        Search interval for the exponent.

    Raises
    ------
    InvalidParameterError
        If fewer than three samples, non-positive sizes, two or fewer distinct sizes, or bad
        weights or bounds.
    """
    x, y = _vectors(shares, cost)
    w = np.ones_like(x) if weights is None else _vectors(weights, x)[0]
    if x.size < 3:
        raise InvalidParameterError(f"a power-law fit needs at least 3 samples, got {x.size}")
    if np.any(x <= 0.0):
        raise InvalidParameterError("order sizes must be > 0")
    if np.unique(x).size < 3:
        raise InvalidParameterError("a power-law fit needs at least 3 distinct sizes")
    if np.any(w < 0.0) or w.sum() <= 0.0:
        raise InvalidParameterError("weights must be >= 0 and not all 0")
    lo, hi = beta_bounds
    if not 0.0 < lo < hi:
        raise InvalidParameterError(f"beta bounds must satisfy 0 < lo < hi, got {beta_bounds}")
    # Rescale sizes so x^beta stays O(1) over the grid: the fit is invariant (eta rescales).
    scale = float(np.exp(np.mean(np.log(x))))
    xu, inv = np.unique(x / scale, return_inverse=True)
    stats = (xu, np.bincount(inv, w), np.bincount(inv, w * y), float(np.dot(w, y * y)))

    def solve(beta: float) -> tuple[float, float, float]:
        return _solve_at(beta, *stats, fit_epsilon)

    grid = np.linspace(lo, hi, 100)
    sse = np.array([solve(b) for b in grid])[:, 2]
    i = int(np.argmin(sse))
    a, b = grid[max(i - 1, 0)], grid[min(i + 1, grid.size - 1)]
    for _ in range(60):  # golden-section refinement inside the bracketing grid cells
        c, d = b - _GOLDEN * (b - a), a + _GOLDEN * (b - a)
        if solve(c)[2] <= solve(d)[2]:
            b = d
        else:
            a = c
    beta = float(0.5 * (a + b))
    if solve(beta)[2] > sse[i]:
        beta = float(grid[i])
    eps, eta_s, _ = solve(beta)
    eta = eta_s / scale**beta
    return PowerLawFit(eps, eta, beta, int(x.size), fit_quality(y, eps + eta * x**beta))


# --- permanent impact -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PermanentFit:
    """``dm = intercept + lam * q``: mid move (bps) per share of signed volume ``q``."""

    lam: float
    intercept: float
    n: int
    in_sample: FitQuality

    def predict(self, signed_volume: ArrayLike) -> FloatArray:
        return self.intercept + self.lam * np.asarray(signed_volume, dtype=np.float64)

    def gamma(self, mid: float) -> float:
        """``lam`` in currency per share at price ``mid`` (``gamma`` of the impact models)."""
        return self.lam * mid / 1e4

    def to_dict(self) -> dict[str, float]:
        return {"lambda_bps_per_share": self.lam, "intercept_bps": self.intercept, "n": self.n}


def fit_permanent(
    signed_volume: ArrayLike, mid_change: ArrayLike, *, intercept: bool = True
) -> PermanentFit:
    """Regress the mid move on signed executed volume (Kyle's lambda) by least squares.

    Raises
    ------
    InvalidParameterError
        If fewer than 3 windows, or the signed volume does not vary.
    """
    q, dm = _vectors(signed_volume, mid_change)
    if q.size < 3:
        raise InvalidParameterError(f"a permanent-impact fit needs >= 3 windows, got {q.size}")
    if intercept:
        qm, dmm = float(q.mean()), float(dm.mean())
        sqq = float(np.sum((q - qm) ** 2))
        if sqq == 0.0:
            raise InvalidParameterError("signed volume does not vary: lambda is not identified")
        lam = float(np.sum((q - qm) * (dm - dmm))) / sqq
        a = dmm - lam * qm
    else:
        sqq = float(np.dot(q, q))
        if sqq == 0.0:
            raise InvalidParameterError("signed volume is all zero: lambda is not identified")
        lam, a = float(np.dot(q, dm)) / sqq, 0.0
    return PermanentFit(lam, a, int(q.size), fit_quality(dm, a + lam * q))


# --- volatility -------------------------------------------------------------------------------


def previous_tick(ts: ArrayLike, values: ArrayLike, grid: ArrayLike) -> FloatArray:
    """Sample ``values`` at each ``grid`` time: the last value at or before it (NaN before any).

    ``ts`` must be non-decreasing.
    """
    t = np.asarray(ts, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    g = np.asarray(grid, dtype=np.float64)
    if t.shape != v.shape or t.ndim != 1:
        raise InvalidParameterError("times and values must be 1-D and of equal length")
    if t.size and np.any(np.diff(t) < 0):
        raise InvalidParameterError("times must be non-decreasing")
    idx = np.searchsorted(t, g, side="right") - 1
    out = np.where(idx >= 0, v[np.clip(idx, 0, max(t.size - 1, 0))], np.nan)
    return out.astype(np.float64)


def realised_variance(prices: ArrayLike) -> float:
    """Sum of squared log returns of a regularly sampled price path (NaN returns skipped)."""
    p = np.asarray(prices, dtype=np.float64)
    if np.any(p[np.isfinite(p)] <= 0):
        raise InvalidParameterError("prices must be > 0")
    r = np.diff(np.log(p))
    return float(np.sum(r[np.isfinite(r)] ** 2))


def signature(
    ts_s: ArrayLike, mid: ArrayLike, intervals_s: ArrayLike, start_s: float, end_s: float
) -> FloatArray:
    """Realised variance per second over ``[start_s, end_s]`` at each sampling interval.

    Returns ``RV(delta) / (end_s - start_s)``, averaged over the ``delta / finest`` offsets of
    the grid so coarse intervals use every observation (subsampling, as in TSRV).
    """
    if not end_s > start_s:
        raise InvalidParameterError("need end_s > start_s")
    span = end_s - start_s
    out = []
    for d in np.asarray(intervals_s, dtype=np.float64):
        if not d > 0:
            raise InvalidParameterError("sampling intervals must be > 0")
        offsets = np.linspace(0.0, d, max(1, min(round(d), 10)), endpoint=False)
        rv = [
            realised_variance(previous_tick(ts_s, mid, np.arange(start_s + o, end_s, d)))
            for o in offsets
        ]
        out.append(float(np.mean(rv)) / span)
    return np.asarray(out, dtype=np.float64)


@dataclass(frozen=True, slots=True)
class VolatilityFit:
    """Volatility of the log mid, per square-root second, and how it was measured."""

    sigma: float  # per sqrt(second), from RV at ``interval_s``
    interval_s: float
    noise_var: float  # variance of the microstructure noise in log price
    sigma_tsrv: float  # two-scale estimator, per sqrt(second)
    intervals_s: tuple[float, ...]
    signature_var: tuple[float, ...]  # RV per second at each interval

    def daily(self, session_s: float = 23_400.0) -> float:
        """Volatility over a session of ``session_s`` seconds, a fraction of price."""
        return self.sigma * math.sqrt(session_s)

    def to_dict(self) -> dict[str, float]:
        return {
            "sigma_per_sqrt_s": self.sigma,
            "sigma_daily": self.daily(),
            "interval_s": self.interval_s,
            "noise_sd_bps": math.sqrt(self.noise_var) * 1e4,
            "sigma_tsrv_daily": self.sigma_tsrv * math.sqrt(23_400.0),
        }


def fit_volatility(
    ts_s: ArrayLike,
    mid: ArrayLike,
    start_s: float,
    end_s: float,
    *,
    intervals_s: ArrayLike = (1, 2, 5, 10, 20, 30, 60, 120, 300),
    tolerance: float = 0.15,
) -> VolatilityFit:
    """Estimate volatility robust to microstructure noise over ``[start_s, end_s]``.

    The sampling interval is the shortest whose RV per second lies within ``tolerance`` of the
    plateau (the median of the RV per second at the longer half of the intervals).

    Raises
    ------
    InvalidParameterError
        If the window is empty or the prices are not positive.
    """
    t = np.asarray(ts_s, dtype=np.float64)
    m = np.asarray(mid, dtype=np.float64)
    ok = np.isfinite(m)
    t, m = t[ok], m[ok]
    if t.size < 3:
        raise InvalidParameterError("volatility needs at least 3 prices")
    iv = np.sort(np.asarray(intervals_s, dtype=np.float64))
    sig = signature(t, m, iv, start_s, end_s)
    plateau = float(np.median(sig[iv.size // 2 :]))
    close = np.flatnonzero(np.abs(sig - plateau) <= tolerance * plateau)
    j = int(close[0]) if close.size else iv.size - 1
    # Noise and TSRV from every change of the mid inside the window (tick time).
    inside = (t >= start_s) & (t <= end_s)
    lp = np.log(m[inside])
    lp = lp[np.concatenate(([True], np.diff(lp) != 0))] if lp.size else lp
    n = max(lp.size - 1, 1)
    rv_all = float(np.sum(np.diff(lp) ** 2))
    noise = rv_all / (2.0 * n)
    k = max(1, round(n ** (2.0 / 3.0)))  # the slow scale K ~ n^(2/3) of the paper
    rv_k = float(np.mean([np.sum(np.diff(lp[o::k]) ** 2) for o in range(k)])) if n > k else 0.0
    nbar = (n - k + 1) / k
    tsrv = max(rv_k - nbar / n * rv_all, 0.0)
    span = end_s - start_s
    return VolatilityFit(
        sigma=math.sqrt(sig[j]),
        interval_s=float(iv[j]),
        noise_var=noise,
        sigma_tsrv=math.sqrt(tsrv / span),
        intervals_s=tuple(float(v) for v in iv),
        signature_var=tuple(float(v) for v in sig),
    )
