"""PNG charts for people: a schedule's trajectory (with, for Almgren-Chriss, its frontier), and
a day of regimes."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")  # no display on servers; must precede pyplot
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Patch

from strategies.almgren_chriss import Frontier
from strategies.regime import SESSION_SECONDS, RegimeState
from strategies.schedule import Schedule

if TYPE_CHECKING:
    from adapters.sim.market import GroundTruth
    from engine.executor import ParentExecutor
    from engine.posttrade import PostTrade

__all__ = ["plot_paper", "plot_regimes", "plot_schedule"]


def plot_schedule(
    path: Path, schedule: Schedule, *, frontier: Frontier | None = None, risk_aversion: float = 0.0
) -> None:
    """Write a PNG of the holdings trajectory, with the efficient frontier beside it if given.

    Raises
    ------
    OSError
        If the file cannot be written.
    """
    ncols = 2 if frontier is not None else 1
    fig, axes = plt.subplots(1, ncols, figsize=(6.5 * ncols, 4.5), squeeze=False)
    ax = axes[0, 0]
    t = np.arange(schedule.n_periods + 1) * schedule.tau
    ax.step(t, schedule.holdings, where="post", color="0.6", lw=1, label="held (stepwise)")
    ax.plot(t, schedule.holdings, "o-", ms=3, lw=1.5, label="holdings x_k")
    ax.set_xlabel("time")
    ax.set_ylabel("shares left to trade")
    ax.set_title(f"{schedule.strategy}: {schedule.side} {schedule.quantity:,.0f} shares")
    ax.grid(alpha=0.3)
    ax.legend()
    if frontier is not None:
        fx = axes[0, 1]
        fx.plot(frontier.variance, frontier.expected_cost, "-", lw=1.5, label="efficient frontier")
        fx.plot(
            [schedule.variance],
            [schedule.expected_cost],
            "o",
            color="C3",
            ms=8,
            label=f"chosen (lambda = {risk_aversion:g})",
        )
        fx.set_xlabel("variance V (currency^2)")
        fx.set_ylabel("expected cost E (currency)")
        fx.set_xscale("log")
        fx.set_title("Almgren-Chriss efficient frontier")
        fx.grid(alpha=0.3)
        fx.legend()
    fig.tight_layout()
    try:
        fig.savefig(path, dpi=110)
    finally:
        plt.close(fig)


_REGIME_COLOURS = {"LV": "#d9f0d3", "HV": "#fddbc7", "ADV": "#d1c4e9"}


def plot_regimes(
    path: Path,
    symbol: str,
    history: Sequence[RegimeState],
    mids: Sequence[tuple[int, float]],
    truth: GroundTruth | None = None,
) -> None:
    """Write a PNG: the mid-price, the volatility estimate with its 95% band, and the regime
    as coloured bands behind both (with the simulator's true regime as a strip, if given).

    Raises
    ------
    OSError
        If the file cannot be written.
    """
    fig, (ax_p, ax_v) = plt.subplots(2, 1, figsize=(12, 6.5), sharex=True)
    hours = 1.0 / 3.6e12  # ns -> hours after midnight
    if mids:
        t, m = np.array(mids, dtype=float).T
        step = max(1, t.size // 20_000)  # a chart needs no more points than pixels
        ax_p.plot(t[::step] * hours, m[::step], lw=0.7, color="0.2")
    if history:
        ts = np.array([s.ts_ns for s in history], dtype=float) * hours
        day = 100.0 * math.sqrt(SESSION_SECONDS)  # per square-root second -> % a day
        ax_v.plot(ts, [s.sigma * day for s in history], lw=1.2, color="C0", label="estimate")
        ax_v.fill_between(
            ts,
            [s.sigma_low * day for s in history],
            [s.sigma_high * day for s in history],
            color="C0",
            alpha=0.2,
            label="95% band",
        )
        bar = ts[1] - ts[0] if ts.size > 1 else 1.0 / 60.0
        called = [str(s.regime) for s in history]
        for ax in (ax_p, ax_v):
            for label, start, end in _runs(called, ts, bar):
                ax.axvspan(start, end, color=_REGIME_COLOURS[label], lw=0)
        if truth is not None:
            ns = np.array([s.ts_ns for s in history])
            hunted = truth.adversary_active_at(ns)
            true = [
                "ADV" if h else str(r) for r, h in zip(truth.regime_at(ns), hunted, strict=True)
            ]
            for label, start, end in _runs(true, ts, bar):
                ax_v.axvspan(start, end, ymin=0.0, ymax=0.05, color=_REGIME_COLOURS[label], lw=0)
    handles = [Patch(color=c, label=r) for r, c in _REGIME_COLOURS.items()]
    ax_p.legend(handles=handles, loc="upper right", ncols=3, title="regime")
    ax_p.set_ylabel("mid price")
    ax_p.set_title(f"{symbol}: regimes" + (" (bottom strip: simulator truth)" if truth else ""))
    ax_v.set_ylabel("volatility, % per 6.5-h day")
    ax_v.set_xlabel("hours after midnight")
    ax_v.legend(loc="upper left")
    for ax in (ax_p, ax_v):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    try:
        fig.savefig(path, dpi=110)
    finally:
        plt.close(fig)


def _runs(labels: Sequence[str], ends: np.ndarray, bar: float) -> list[tuple[str, float, float]]:
    """Consecutive bars with one label, as (label, start, end): one band each, not one a bar."""
    runs: list[tuple[str, float, float]] = []
    for label, end in zip(labels, ends, strict=True):
        if runs and runs[-1][0] == label:
            runs[-1] = (label, runs[-1][1], float(end))
        else:
            runs.append((label, float(end) - bar, float(end)))
    return runs


def plot_paper(
    path: Path,
    parent: ParentExecutor,
    fills: Sequence[tuple[int, int, float]],
    tape: Sequence[tuple[int, int, float]],
    summary: PostTrade,
) -> None:
    """Write the paper session's chart: plan vs actual, price with our fills, participation.

    Raises
    ------
    OSError
        If the file cannot be written.
    """
    t0 = parent.start_ns
    fig, (ax1, ax2, ax3) = plt.subplots(3, 1, figsize=(9, 9), sharex=True)
    for plan in parent.plans:
        ts = [
            (plan.start_ns + k * plan.bucket_ns - t0) / 6e10
            for k in range(len(plan.cum_targets) + 1)
        ]
        cum = [plan.filled_at_start, *(plan.filled_at_start + c for c in plan.cum_targets)]
        ax1.step(ts, cum, where="post", color="0.7", lw=0.8)
    fs = sorted(fills)
    x = [(t - t0) / 6e10 for t, _, _ in fs]
    ax1.step(
        [0.0, *x],
        np.concatenate(([0], np.cumsum([q for _, q, _ in fs]))),
        where="post",
        color="C0",
        lw=1.8,
        label="filled",
    )
    ax1.plot([], [], color="0.7", label="plan (each re-plan)")
    ax1.set_ylabel("shares")
    ax1.set_title(
        f"{parent.side.value} {parent.qty:,} {parent.symbol} ({parent.strategy}): "
        f"{summary.shortfall_bps:+.1f} bps vs arrival, "
        f"{summary.vs_vwap_bps:+.1f} bps vs VWAP"
    )
    ax1.legend(loc="upper left")
    span = [(t, q, p) for t, q, p in tape if t >= t0 - 60 * 1_000_000_000]
    ax2.plot(
        [(t - t0) / 6e10 for t, _, _ in span],
        [p for _, _, p in span],
        color="0.6",
        lw=0.6,
        label="market prints",
    )
    ax2.scatter(x, [p for _, _, p in fs], s=8, color="C3", label="our fills", zorder=3)
    ax2.axhline(summary.arrival_mid, color="C2", ls="--", lw=0.8, label="arrival mid")
    ax2.set_ylabel("price")
    ax2.legend(loc="best", fontsize=8)
    window = 300 * 1_000_000_000
    tape_ts = np.array([t for t, _, _ in tape], dtype=np.int64)
    tape_cum = np.concatenate(([0], np.cumsum([q for _, q, _ in tape])))
    fill_ts = np.array([t for t, _, _ in fs], dtype=np.int64)
    fill_cum = np.concatenate(([0], np.cumsum([q for _, q, _ in fs])))
    part = []
    for t in fill_ts:
        lo = max(t - window, t0)
        ours = (
            fill_cum[np.searchsorted(fill_ts, t, "right")]
            - fill_cum[np.searchsorted(fill_ts, lo, "right")]
        )
        mkt = (
            tape_cum[np.searchsorted(tape_ts, t, "right")]
            - tape_cum[np.searchsorted(tape_ts, lo, "right")]
        )
        part.append(ours / mkt if mkt else 0.0)
    ax3.plot(x, part, color="C0", label="participation, trailing 5 min")
    ax3.axhline(parent.cap, color="C3", ls="--", label="cap")
    ax3.set_ylabel("participation")
    ax3.set_xlabel("minutes since the order")
    ax3.legend(loc="best", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
