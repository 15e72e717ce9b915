"""PNG charts for people: a schedule's trajectory (with, for Almgren-Chriss, its frontier), a day
of regimes, a paper session, and a parent's TCA report."""

from __future__ import annotations

import bisect
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
    from matplotlib.figure import Figure

    from adapters.sim.market import GroundTruth
    from engine.executor import ParentExecutor
    from engine.posttrade import PostTrade
    from engine.tca import ParentTca
    from engine.tca_trace import ParentTrace

__all__ = ["plot_paper", "plot_regimes", "plot_schedule", "plot_tca", "tca_figure"]


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


_MARGIN_NS = 60 * 1_000_000_000  # of market shown before the decision and after the end


def tca_figure(trace: ParentTrace, tca: ParentTca) -> Figure:
    """The TCA report of one parent as a figure of four panels on one time axis (minutes since
    the decision): (a) the mid with our fills (area by quantity), the decision mid and the
    interval VWAP; (b) the plan in force against the shares filled, re-plans marked; (c)
    participation over the trailing cap window at each fill against the cap; (d) the regime the
    detector called, each from its bar's end to the next. The title carries the headline
    figures. The caller closes it (``matplotlib.pyplot.close``)."""
    from engine.tca_trace import participation_series, plan_steps

    t0, lo, hi = trace.decision_ns, trace.decision_ns - _MARGIN_NS, trace.end_ns + _MARGIN_NS

    def minutes(ts: float) -> float:
        return (ts - t0) / 6e10

    fig, (ax_p, ax_q, ax_r, ax_g) = plt.subplots(
        4, 1, figsize=(10, 10), sharex=True, gridspec_kw={"height_ratios": [3, 2.2, 1.6, 0.45]}
    )
    # (a) Price: the mid as a step (from the last one before the window), fills, references.
    first = max(0, bisect.bisect_right([t for t, _ in trace.mids], lo) - 1)
    shown = [(t, m) for t, m in trace.mids[first:] if t <= hi]
    if shown:
        mt = [minutes(max(t, lo)) for t, _ in shown] + [minutes(hi)]
        mv = [m for _, m in shown] + [shown[-1][1]]
        step = max(1, len(mt) // 20_000)  # a chart needs no more points than pixels
        ax_p.step(mt[::step], mv[::step], where="post", color="0.35", lw=0.8, label="mid")
    fx = [minutes(t) for t, _, _ in trace.fills]
    if trace.fills:
        biggest = max(q for _, q, _ in trace.fills)
        ax_p.scatter(
            fx,
            [p for _, _, p in trace.fills],
            s=[8 + 120 * q / biggest for _, q, _ in trace.fills],
            color="C3",
            alpha=0.6,
            edgecolors="none",
            zorder=3,
            label="our fills (area: shares)",
        )
    ax_p.axhline(tca.decision_mid, color="C2", ls="--", lw=0.9, label="decision mid")
    if tca.interval_vwap is not None:
        ax_p.hlines(
            tca.interval_vwap,
            minutes(trace.start_ns),
            minutes(trace.end_ns),
            color="C0",
            ls=":",
            lw=1.2,
            label="interval VWAP",
        )
    ax_p.set_ylabel("price")
    ax_p.legend(loc="best", fontsize=8)
    # (b) Plan against actual, cumulative shares since the parent's start.
    steps = plan_steps(trace)
    if steps:
        ax_q.step(
            [minutes(t) for t, _ in steps],
            [v for _, v in steps],
            where="post",
            color="0.55",
            lw=1.2,
            label="plan in force",
        )
        replans = [p for p in trace.plans[1:]]
        ax_q.scatter(
            [minutes(p.start_ns) for p in replans],
            [p.target_at(p.start_ns) for p in replans],
            marker="|",
            s=80,
            color="0.2",
            zorder=3,
            label=f"re-plans ({len(replans)})",
        )
    cum = np.cumsum([q for _, q, _ in trace.fills]) if trace.fills else np.array([], int)
    ax_q.step(
        [minutes(trace.decision_ns), *fx, minutes(trace.end_ns)],
        [0, *cum, cum[-1] if cum.size else 0],
        where="post",
        color="C0",
        lw=1.8,
        label="filled",
    )
    ax_q.axhline(trace.qty, color="0.75", lw=0.8)
    ax_q.set_ylabel("shares")
    ax_q.legend(loc="upper left", fontsize=8)
    # (c) Participation over the trailing cap window, at each fill.
    part = participation_series(trace)
    window_min = trace.cap_window_ns / 6e10
    ax_r.plot(
        [minutes(t) for t, _ in part],
        [v for _, v in part],
        ".-",
        ms=3,
        lw=0.8,
        color="C0",
        label=f"participation, trailing {window_min:g} min",
    )
    ax_r.axhline(trace.cap, color="C3", ls="--", lw=1.0, label=f"cap {trace.cap:.0%}")
    ax_r.set_ylim(0, max([trace.cap * 1.3, *(v for _, v in part if v == v)]))
    ax_r.set_ylabel("participation")
    ax_r.legend(loc="upper right", fontsize=8)
    # (d) The regime timeline: each call holds from its bar's end to the next bar's.
    ends = [t for t, _ in trace.regimes] + [hi]
    for (t, label), nxt in zip(trace.regimes, ends[1:], strict=True):
        if nxt > lo and t < hi:
            a, b = minutes(max(t, lo)), minutes(min(nxt, hi))
            ax_g.axvspan(a, b, color=_REGIME_COLOURS.get(label, "0.9"), lw=0)
    ax_g.set_yticks([])
    ax_g.set_ylabel("regime", rotation=0, ha="right", va="center")
    handles = [Patch(color=c, label=r) for r, c in _REGIME_COLOURS.items()]
    ax_g.legend(handles=handles, loc="center right", ncols=3, fontsize=7)
    ax_g.set_xlabel("minutes since the decision")
    for ax in (ax_p, ax_q, ax_r, ax_g):
        ax.axvline(minutes(trace.start_ns), color="0.6", lw=0.6)
        ax.axvline(minutes(trace.end_ns), color="0.6", lw=0.6)
        if trace.order_end_ns <= hi:
            ax.axvline(minutes(trace.order_end_ns), color="C3", lw=0.6, ls=":")
    for ax in (ax_p, ax_q, ax_r):
        ax.grid(alpha=0.3)
    ax_g.set_xlim(minutes(lo), minutes(hi))
    fig.suptitle(
        f"{trace.parent_id}: {trace.side.value} {trace.qty:,} {trace.symbol} ({trace.strategy}), "
        f"filled {tca.filled:,} at {tca.avg_price:.4f}\n"
        f"shortfall {tca.shortfall_bps + 0.0:+.2f} bps = delay {tca.delay_bps + 0.0:+.2f} "
        f"+ timing/impact {tca.timing_bps + 0.0:+.2f} + spread {tca.spread_bps + 0.0:+.2f} "
        f"+ fees {tca.fees_bps + 0.0:+.2f} + opportunity {tca.opportunity_bps + 0.0:+.2f}\n"
        f"vs interval VWAP {_bps(tca.vs_vwap_bps)}, participation {tca.participation:.1%}",
        fontsize=10,
    )
    fig.tight_layout()
    return fig


def _bps(v: float | None) -> str:
    return "n/a" if v is None else f"{v + 0.0:+.2f} bps"


def plot_tca(trace: ParentTrace, tca: ParentTca, path: Path) -> None:
    """Write the TCA report of one parent as a PNG (:func:`tca_figure`).

    Raises
    ------
    OSError
        If the file cannot be written.
    """
    fig = tca_figure(trace, tca)
    try:
        fig.savefig(path, dpi=100)
    finally:
        plt.close(fig)
