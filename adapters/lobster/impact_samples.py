"""Turn a LOBSTER day into calibration samples: the cost of walking the book, and order flow.

Three extractions, all from the aggregated book rows (row ``i`` is the book after message
``i``), so orders that predate the file do not matter:

* :func:`walk_cost_bps`: for book snapshots and a grid of sizes, the per-share cost of a
  marketable order that walks the displayed levels, in bps of the mid at that moment (a buy
  walks the asks, a sell the bids). NaN when the displayed depth cannot fill the size: hidden
  liquidity and refills are unknown, so no number is made up.
* :func:`impact_samples`: at every ``step_s`` seconds, for each size and side, the features an
  execution algorithm knows at that instant (spread, depth on the side taken, imbalance, recent
  volatility, time of day, log size), the cost now, and the cost the order would pay *over the
  next* ``horizon_s`` seconds (the mean of the walk-the-book cost at ``n_ahead`` evenly spaced
  later instants, each against its own mid). The latter is the target of the learned model:
  a forecast of the period's cost, not a function of the features.
* :func:`flow_windows`: per window, the aggressor-signed executed volume (an execution of a
  sell order is a buy: LOBSTER direction -1 gives +1) and the mid move over the window, bps.

Units: times in seconds after midnight, sizes in shares, costs and moves in bps of the mid.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from adapters.lobster.loader import EXECUTE, EXECUTE_HIDDEN, LobsterDay

__all__ = [
    "FEATURES",
    "FlowWindows",
    "ImpactSamples",
    "book_rows",
    "cost_curves",
    "flow_windows",
    "impact_samples",
    "walk_cost_bps",
]

FEATURES = (
    "spread_bps",
    "depth1",
    "depth3",
    "depth_all",
    "imbalance",
    "vol_5m_bps",
    "hour",
    "log_size",
    "size_over_depth",
)
_NS = 1_000_000_000
FloatArray = NDArray[np.float64]


def book_rows(day: LobsterDay, times_s: ArrayLike) -> NDArray[np.intp]:
    """Row of the book in force at each time: the last row at or before it (0 before any)."""
    t = np.round(np.asarray(times_s, dtype=np.float64) * _NS).astype(np.int64)
    return np.clip(np.searchsorted(day.ts_ns, t, side="right") - 1, 0, len(day) - 1)


def _side_book(day: LobsterDay, rows: NDArray[np.intp], side: int) -> tuple[FloatArray, FloatArray]:
    if side > 0:
        return day.ask_px[rows].astype(np.float64), day.ask_sz[rows].astype(np.float64)
    return day.bid_px[rows].astype(np.float64), day.bid_sz[rows].astype(np.float64)


def walk_cost_bps(
    prices: ArrayLike,
    sizes: ArrayLike,
    mid: ArrayLike,
    shares: ArrayLike,
    side: int,
    *,
    extend: bool = False,
) -> FloatArray:
    """Per-share cost (bps of ``mid``) of walking ``(n, levels)`` book sides for each size.

    Returns shape ``(n, len(shares))``; NaN where the displayed depth is short of the size,
    unless ``extend``: then the shares beyond the displayed depth are priced at the deepest
    displayed level (a lower bound on what they would cost).
    """
    p = np.asarray(prices, dtype=np.float64)
    q = np.asarray(sizes, dtype=np.float64)
    m = np.asarray(mid, dtype=np.float64)
    x = np.asarray(shares, dtype=np.float64)
    cum_q = np.cumsum(q, axis=1)
    cum_n = np.cumsum(p * q, axis=1)
    out = np.full((p.shape[0], x.size), np.nan)
    rows = np.arange(p.shape[0])
    for j, s in enumerate(x):
        lvl = np.minimum((cum_q < s).sum(axis=1), p.shape[1] - 1)
        ok = (cum_q[:, -1] >= s) | extend
        before_q = np.where(lvl > 0, cum_q[rows, lvl - 1], 0.0)
        before_n = np.where(lvl > 0, cum_n[rows, lvl - 1], 0.0)
        avg = (before_n + (s - before_q) * p[rows, lvl]) / s
        cost = side * (avg - m) / m * 1e4
        out[ok, j] = cost[ok]
    return out


def cost_curves(
    day: LobsterDay, times_s: ArrayLike, shares: ArrayLike, side: int, *, extend: bool = False
) -> tuple[FloatArray, FloatArray]:
    """Walk-the-book cost (bps) at each time for each size, and the mid (price units).

    ``extend`` as in :func:`walk_cost_bps`.
    """
    rows = book_rows(day, times_s)
    mid = day.mid_prices()[rows]
    px, sz = _side_book(day, rows, side)
    return walk_cost_bps(px, sz, mid, shares, side, extend=extend), mid


@dataclass(frozen=True, slots=True)
class ImpactSamples:
    """One row per (instant, side, size): features, the cost now and over the next period."""

    t_s: FloatArray
    side: NDArray[np.int8]
    shares: FloatArray
    mid: FloatArray  # price units (1/10,000 currency)
    features: FloatArray  # (n, len(FEATURES))
    cost_now_bps: FloatArray
    cost_next_bps: FloatArray  # mean cost over the next horizon: the forecast target
    horizon_s: float

    def __len__(self) -> int:
        return int(self.t_s.size)

    def select(self, mask: NDArray[np.bool_]) -> ImpactSamples:
        return ImpactSamples(
            self.t_s[mask],
            self.side[mask],
            self.shares[mask],
            self.mid[mask],
            self.features[mask],
            self.cost_now_bps[mask],
            self.cost_next_bps[mask],
            self.horizon_s,
        )


def _recent_vol_bps(day: LobsterDay, times_s: FloatArray, window_s: float) -> FloatArray:
    """Realised volatility of 1-second log mids over the ``window_s`` before each time, bps."""
    t0 = float(day.ts_ns[0]) / _NS
    grid = np.arange(np.floor(t0), float(day.ts_ns[-1]) / _NS + 1.0, 1.0)
    mid = day.mid_prices()[book_rows(day, grid)]
    r2 = np.concatenate(([0.0], np.diff(np.log(mid)) ** 2))
    r2[~np.isfinite(r2)] = 0.0
    csum = np.cumsum(r2)
    hi = np.clip(np.searchsorted(grid, times_s, side="right") - 1, 0, grid.size - 1)
    lo = np.clip(np.searchsorted(grid, times_s - window_s, side="right") - 1, 0, grid.size - 1)
    return np.sqrt(np.maximum(csum[hi] - csum[lo], 0.0)) * 1e4


def impact_samples(
    day: LobsterDay,
    *,
    shares: ArrayLike = (10, 25, 50, 100, 200, 300, 500),
    step_s: float = 10.0,
    horizon_s: float = 60.0,
    n_ahead: int = 6,
    start_s: float = 34_200.0 + 300.0,
    end_s: float = 57_600.0 - 60.0,
    vol_window_s: float = 300.0,
) -> ImpactSamples:
    """Sample features and walk-the-book costs every ``step_s`` seconds in ``[start_s, end_s)``.

    ``start_s`` leaves ``vol_window_s`` of history for the volatility feature; ``end_s`` leaves
    room for the horizon. Rows whose cost now or over the next horizon is unknown (the displayed
    depth is too thin on every look-ahead instant) are dropped.
    """
    x = np.asarray(shares, dtype=np.float64)
    times = np.arange(start_s, end_s, step_s)
    rows = book_rows(day, times)
    mid_all = day.mid_prices()
    mid = mid_all[rows]
    spread = (day.ask_px[rows, 0] - day.bid_px[rows, 0]) / mid * 1e4
    b1, a1 = day.bid_sz[rows, 0].astype(np.float64), day.ask_sz[rows, 0].astype(np.float64)
    vol = _recent_vol_bps(day, times, vol_window_s)
    hour = (times - 34_200.0) / 3600.0
    ahead = times[:, None] + horizon_s * np.arange(1, n_ahead + 1)[None, :] / n_ahead
    parts = []
    for side in (1, -1):
        px, sz = _side_book(day, rows, side)
        now = walk_cost_bps(px, sz, mid, x, side)
        fut_rows = book_rows(day, ahead.ravel())
        fpx, fsz = _side_book(day, fut_rows, side)
        fut = walk_cost_bps(fpx, fsz, mid_all[fut_rows], x, side).reshape(times.size, n_ahead, -1)
        with np.errstate(all="ignore"):
            nxt = np.nanmean(np.where(np.isfinite(fut), fut, np.nan), axis=1)
        own1 = a1 if side > 0 else b1
        imbalance = side * (b1 - a1) / np.maximum(b1 + a1, 1.0)  # > 0: pressure toward us
        d3, dall = sz[:, :3].sum(axis=1), sz.sum(axis=1)
        for j, s in enumerate(x):
            feats = np.column_stack(
                [
                    spread,
                    own1,
                    d3,
                    dall,
                    imbalance,
                    vol,
                    hour,
                    np.full(times.size, np.log(s)),
                    s / np.maximum(dall, 1.0),
                ]
            )
            parts.append((times, np.full(times.size, side), np.full(times.size, s), feats,
                          now[:, j], nxt[:, j]))
    t = np.concatenate([p[0] for p in parts])
    sd = np.concatenate([p[1] for p in parts]).astype(np.int8)
    sh = np.concatenate([p[2] for p in parts])
    f = np.concatenate([p[3] for p in parts])
    c_now = np.concatenate([p[4] for p in parts])
    c_next = np.concatenate([p[5] for p in parts])
    m = np.tile(mid, len(parts))
    ok = np.isfinite(c_now) & np.isfinite(c_next) & np.all(np.isfinite(f), axis=1)
    order = np.lexsort((sh[ok], -sd[ok], t[ok]))
    return ImpactSamples(
        t[ok][order], sd[ok][order], sh[ok][order], m[ok][order], f[ok][order],
        c_now[ok][order], c_next[ok][order], float(horizon_s),
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class FlowWindows:
    """Per window starting at ``t_s``: signed executed volume (shares) and mid move (bps)."""

    t_s: FloatArray
    signed_volume: FloatArray
    mid_change_bps: FloatArray
    volume: FloatArray
    mid: FloatArray  # mid at the window's start, price units


def flow_windows(
    day: LobsterDay,
    *,
    window_s: float = 60.0,
    start_s: float = 34_200.0,
    end_s: float = 57_600.0,
    hidden: bool = True,
) -> FlowWindows:
    """Aggressor-signed executed volume and the mid's move over consecutive windows.

    ``hidden`` counts executions against hidden orders (type 5) too; their direction field is
    the hidden order's side, so the aggressor sign is derived the same way.
    """
    edges = np.arange(start_s, end_s + 1e-9, window_s)
    types = (EXECUTE, EXECUTE_HIDDEN) if hidden else (EXECUTE,)
    ex = np.isin(day.event_type, types)
    t_ex = day.ts_ns[ex].astype(np.float64) / _NS
    signed = -day.direction[ex].astype(np.float64) * day.size[ex].astype(np.float64)
    idx = np.searchsorted(edges, t_ex, side="right") - 1
    keep = (idx >= 0) & (idx < edges.size - 1)
    nwin = edges.size - 1
    q = np.bincount(idx[keep], weights=signed[keep], minlength=nwin)[:nwin]
    vol = np.bincount(idx[keep], weights=np.abs(signed[keep]), minlength=nwin)[:nwin]
    mid = day.mid_prices()[book_rows(day, edges)]
    dm = np.diff(np.log(mid)) * 1e4
    ok = np.isfinite(dm)
    return FlowWindows(edges[:-1][ok], q[ok], dm[ok], vol[ok], mid[:-1][ok])
