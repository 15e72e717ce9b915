"""A small neural-network impact model: an MLP in numpy, and its use as a DP cost table.

The network maps features known when an order is decided (for LOBSTER: spread, depth on the
side taken, imbalance, recent volatility, time of day, log size; see
:mod:`adapters.lobster.impact_samples`) to the per-share cost of a marketable order of that
size, in bps of the mid. Architecture::

    z = standardise(features);  h1 = tanh(W1 z + b1);  [h2 = tanh(W2 h1 + b2)];  y = w h + b

trained on mean squared error of the standardised target with Adam (Kingma & Ba 2015: step
``lr``, ``beta1 = 0.9``, ``beta2 = 0.999``), L2 weight decay, mini-batches, and early stopping
on a validation split taken from the *end* of the training rows (callers pass them in time
order, so validation is later than what it validates: the same direction as the out-of-sample
test). Weights start from Glorot-uniform draws of ``numpy.random.default_rng(seed)`` and the
batches are shuffled by the same generator, so training is a pure function of the data, the
config and the seed.

:func:`cost_table` turns predictions for each period and a grid of sizes into a
:class:`strategies.impact.TableImpact` of shape ``(N, grid)`` in currency, which
:func:`strategies.planner.plan` and :func:`strategies.dp.optimal_allocation` accept.

Saving is left to the caller (``strategies/`` does no I/O): :meth:`ImpactMLP.to_arrays` and
:meth:`ImpactMLP.from_arrays` round-trip every number, e.g. through ``numpy.savez``.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray

from strategies.errors import InvalidParameterError
from strategies.impact import TableImpact

__all__ = ["ImpactMLP", "MLPConfig", "TrainResult", "cost_table", "train_mlp"]

FloatArray = NDArray[np.float64]


@dataclass(frozen=True, slots=True, kw_only=True)
class MLPConfig:
    """Training settings; every default is what the LOBSTER figures in docs/calibration.md use."""

    hidden: tuple[int, ...] = (32, 16)  # one or two hidden layers of tanh units
    learning_rate: float = 3e-3  # Adam step
    weight_decay: float = 1e-4  # L2 penalty on weights (not biases)
    batch_size: int = 256
    max_epochs: int = 300
    patience: int = 20  # epochs without a better validation loss before stopping
    val_fraction: float = 0.2  # the last rows of the training data
    seed: int = 0

    def __post_init__(self) -> None:
        if not 1 <= len(self.hidden) <= 2 or any(h < 1 for h in self.hidden):
            raise InvalidParameterError("hidden must be one or two layer widths >= 1")
        if not (self.learning_rate > 0 and self.weight_decay >= 0):
            raise InvalidParameterError("need learning_rate > 0 and weight_decay >= 0")
        if self.batch_size < 1 or self.max_epochs < 1 or self.patience < 1:
            raise InvalidParameterError("batch_size, max_epochs and patience must be >= 1")
        if not 0.0 < self.val_fraction < 1.0:
            raise InvalidParameterError("val_fraction must be in (0, 1)")


@dataclass(frozen=True, slots=True)
class ImpactMLP:
    """A trained network: weights, biases and the standardisation of inputs and target."""

    weights: tuple[FloatArray, ...]
    biases: tuple[FloatArray, ...]
    x_mean: FloatArray
    x_std: FloatArray
    y_mean: float
    y_std: float
    feature_names: tuple[str, ...] = field(default=())

    @property
    def n_features(self) -> int:
        return int(self.x_mean.size)

    def predict(self, features: ArrayLike) -> FloatArray:
        """Per-share cost (target units) for each row of ``features``.

        Raises
        ------
        InvalidParameterError
            If the number of columns differs from training.
        """
        x = np.asarray(features, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.n_features:
            raise InvalidParameterError(
                f"expected features of shape (n, {self.n_features}), got {x.shape}"
            )
        out = _forward(self.weights, self.biases, (x - self.x_mean) / self.x_std)[-1]
        return out[:, 0] * self.y_std + self.y_mean

    def to_arrays(self) -> dict[str, NDArray[np.generic]]:
        """Every number of the model as named arrays (for ``numpy.savez``)."""
        out: dict[str, NDArray[np.generic]] = {
            "x_mean": self.x_mean,
            "x_std": self.x_std,
            "y": np.array([self.y_mean, self.y_std]),
            "names": np.array(self.feature_names, dtype=np.str_),
        }
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            out[f"w{i}"], out[f"b{i}"] = w, b
        return out

    @classmethod
    def from_arrays(cls, arrays: dict[str, NDArray[np.generic]]) -> ImpactMLP:
        """Rebuild a model from :meth:`to_arrays` output (or a loaded ``.npz``)."""
        n = sum(1 for k in arrays if k.startswith("w"))
        if n < 2:
            raise InvalidParameterError("not an ImpactMLP: fewer than two weight matrices")
        y = np.asarray(arrays["y"], dtype=np.float64)
        return cls(
            weights=tuple(np.asarray(arrays[f"w{i}"], dtype=np.float64) for i in range(n)),
            biases=tuple(np.asarray(arrays[f"b{i}"], dtype=np.float64) for i in range(n)),
            x_mean=np.asarray(arrays["x_mean"], dtype=np.float64),
            x_std=np.asarray(arrays["x_std"], dtype=np.float64),
            y_mean=float(y[0]),
            y_std=float(y[1]),
            feature_names=tuple(str(s) for s in np.asarray(arrays["names"])),
        )


@dataclass(frozen=True, slots=True)
class TrainResult:
    """The model at its best validation loss, and the loss curves (standardised MSE)."""

    model: ImpactMLP
    best_epoch: int
    train_loss: tuple[float, ...]
    val_loss: tuple[float, ...]


def _forward(
    weights: tuple[FloatArray, ...], biases: tuple[FloatArray, ...], z: FloatArray
) -> list[FloatArray]:
    acts = [z]
    for i, (w, b) in enumerate(zip(weights, biases, strict=True)):
        a = acts[-1] @ w + b
        acts.append(a if i == len(weights) - 1 else np.tanh(a))
    return acts


def _grads(
    weights: list[FloatArray], biases: list[FloatArray], z: FloatArray, y: FloatArray, decay: float
) -> tuple[list[FloatArray], list[FloatArray]]:
    acts = _forward(tuple(weights), tuple(biases), z)
    delta = 2.0 * (acts[-1] - y) / z.shape[0]
    gw: list[FloatArray] = [np.empty(0)] * len(weights)
    gb: list[FloatArray] = [np.empty(0)] * len(weights)
    for i in range(len(weights) - 1, -1, -1):
        gw[i] = acts[i].T @ delta + 2.0 * decay * weights[i]
        gb[i] = delta.sum(axis=0)
        if i:
            delta = (delta @ weights[i].T) * (1.0 - acts[i] ** 2)
    return gw, gb


def _mse(ws: list[FloatArray], bs: list[FloatArray], z: FloatArray, y: FloatArray) -> float:
    return float(np.mean((_forward(tuple(ws), tuple(bs), z)[-1] - y) ** 2))


def train_mlp(
    features: ArrayLike,
    target: ArrayLike,
    config: MLPConfig | None = None,
    *,
    feature_names: tuple[str, ...] = (),
) -> TrainResult:
    """Train an :class:`ImpactMLP` on rows in time order; the last rows validate.

    Raises
    ------
    InvalidParameterError
        If shapes disagree, values are not finite, or there are too few rows for a split.
    """
    cfg = MLPConfig() if config is None else config
    x = np.asarray(features, dtype=np.float64)
    y = np.asarray(target, dtype=np.float64).reshape(-1, 1)
    if x.ndim != 2 or x.shape[0] != y.shape[0]:
        raise InvalidParameterError("features must be (n, f) with one target per row")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise InvalidParameterError("features and target must be finite")
    n_val = round(cfg.val_fraction * x.shape[0])
    if n_val < 1 or x.shape[0] - n_val < 2:
        raise InvalidParameterError(f"{x.shape[0]} rows are too few for a validation split")
    x_mean, x_std = x.mean(axis=0), x.std(axis=0)
    x_std = np.where(x_std > 0, x_std, 1.0)
    y_mean, y_std = float(y.mean()), float(y.std()) or 1.0
    z, t = (x - x_mean) / x_std, (y - y_mean) / y_std
    z_tr, t_tr, z_va, t_va = z[:-n_val], t[:-n_val], z[-n_val:], t[-n_val:]
    rng = np.random.default_rng(cfg.seed)
    sizes = [x.shape[1], *cfg.hidden, 1]
    ws, bs = [], []
    for a, b in itertools.pairwise(sizes):
        lim = math.sqrt(6.0 / (a + b))
        ws.append(rng.uniform(-lim, lim, size=(a, b)))
        bs.append(np.zeros(b))
    params = ws + bs
    m1 = [np.zeros_like(p) for p in params]
    m2 = [np.zeros_like(p) for p in params]
    b1, b2, eps, step = 0.9, 0.999, 1e-8, 0
    best = (math.inf, 0, [p.copy() for p in params])
    tr_curve, va_curve = [], []
    nl = len(ws)
    for epoch in range(cfg.max_epochs):
        order = rng.permutation(z_tr.shape[0])
        for s in range(0, order.size, cfg.batch_size):
            idx = order[s : s + cfg.batch_size]
            gw, gb = _grads(params[:nl], params[nl:], z_tr[idx], t_tr[idx], cfg.weight_decay)
            step += 1
            for i, g in enumerate(gw + gb):
                m1[i] = b1 * m1[i] + (1 - b1) * g
                m2[i] = b2 * m2[i] + (1 - b2) * g * g
                mh, vh = m1[i] / (1 - b1**step), m2[i] / (1 - b2**step)
                params[i] = params[i] - cfg.learning_rate * mh / (np.sqrt(vh) + eps)
        tr_curve.append(_mse(params[:nl], params[nl:], z_tr, t_tr))
        va = _mse(params[:nl], params[nl:], z_va, t_va)
        va_curve.append(va)
        if va < best[0]:
            best = (va, epoch, [p.copy() for p in params])
        elif epoch - best[1] >= cfg.patience:
            break
    kept = best[2]
    model = ImpactMLP(
        weights=tuple(kept[:nl]),
        biases=tuple(kept[nl:]),
        x_mean=x_mean,
        x_std=x_std,
        y_mean=y_mean,
        y_std=y_std,
        feature_names=feature_names,
    )
    return TrainResult(model, best[1], tuple(tr_curve), tuple(va_curve))


def cost_table(
    per_share_bps: ArrayLike, shares_grid: ArrayLike, mid: ArrayLike, gamma: float = 0.0
) -> TableImpact:
    """Per-period cost table (currency) from per-share costs (bps of mid) on a grid of sizes.

    ``per_share_bps`` has shape ``(N, G)`` (a model's prediction for each period and size),
    ``shares_grid`` the ``G`` sizes (increasing, > 0), ``mid`` the price per period (or one
    number). The table is ``cost[t, k] = bps[t, k] / 1e4 * mid_t * shares_k`` with a leading
    zero column at 0 shares; past the last size the cost is ``inf`` (no order larger than the
    grid was ever priced). Negative predictions are floored at 0: a marketable order never earns.

    Raises
    ------
    InvalidParameterError
        If shapes disagree or values are not finite.
    """
    c = np.asarray(per_share_bps, dtype=np.float64)
    g = np.asarray(shares_grid, dtype=np.float64)
    if c.ndim != 2 or g.ndim != 1 or c.shape[1] != g.size:
        raise InvalidParameterError(f"per_share_bps must be (N, {g.size}), got {c.shape}")
    if g.size == 0 or g[0] <= 0 or np.any(np.diff(g) <= 0):
        raise InvalidParameterError("shares_grid must be positive and strictly increasing")
    m = np.broadcast_to(np.asarray(mid, dtype=np.float64).reshape(-1, 1), (c.shape[0], 1))
    if not (np.all(np.isfinite(c)) and np.all(np.isfinite(m)) and np.all(m > 0)):
        raise InvalidParameterError("costs must be finite and mids positive")
    costs = np.maximum(c, 0.0) / 1e4 * m * g[None, :]
    zero = np.zeros((c.shape[0], 1))
    return TableImpact(np.concatenate(([0.0], g)), np.hstack([zero, costs]), gamma=gamma)
