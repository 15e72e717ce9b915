"""The plots of a backtest sweep: cost distributions and trajectories, one PNG each.

* ``costs.png``: per strategy (and adversary mode), the distribution of the control-variate
  cost over the runs (box and whiskers at the 5th and 95th percentiles, the mean marked), and
  beside it the paired difference with TWAP, which is what the comparison rests on.
* ``trajectories.png``: the mean filled fraction across the order's window per strategy, with
  a band between the 10th and 90th percentiles.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from engine.backtest import TRAJECTORY_POINTS, RunResult

__all__ = ["plot_backtest"]


def _label(r: RunResult) -> str:
    if r.market != "sim":
        return r.strategy
    return f"{r.strategy} (adv {'on' if r.adversary else 'off'})"


def plot_backtest(results: Sequence[RunResult], directory: Path) -> list[Path]:
    """Write the sweep's plots into ``directory``; return their paths."""
    groups: dict[str, list[RunResult]] = defaultdict(list)
    for r in results:
        groups[_label(r)].append(r)
    labels = sorted(groups)
    by_day = {(r.day, r.adversary, r.strategy): r for r in results}
    paths = []

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 0.5 * len(labels) + 2.5), sharey=True)
    data = [[r.cost_bps for r in groups[k]] for k in labels]
    ax1.boxplot(data, orientation="horizontal", whis=(5, 95), showfliers=False, showmeans=True)
    ax1.set_xlabel("cost, bps (shortfall less the exogenous move)")
    ax1.axvline(0.0, color="grey", lw=0.5)
    diffs = []
    for k in labels:
        rs = groups[k]
        diffs.append(
            [
                r.cost_bps - b.cost_bps
                for r in rs
                if (b := by_day.get((r.day, r.adversary, "twap"))) is not None
            ]
        )
    ax2.boxplot(diffs, orientation="horizontal", whis=(5, 95), showfliers=False, showmeans=True)
    ax2.axvline(0.0, color="grey", lw=0.5)
    ax2.set_xlabel("minus TWAP on the same day, bps")
    # After both boxplots: the second resets the shared axis's ticks.
    ax1.set_yticks(range(1, len(labels) + 1), labels)
    n = max(len(v) for v in data)
    fig.suptitle(f"Backtest costs over {n} runs per strategy (box 25-75%, whiskers 5-95%)")
    fig.tight_layout()
    path = directory / "costs.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    paths.append(path)

    fig, ax = plt.subplots(figsize=(9, 5.5))
    x = np.linspace(0.0, 100.0, TRAJECTORY_POINTS)
    for k in labels:
        traj = np.array([r.trajectory for r in groups[k]], dtype=np.float64)
        (line,) = ax.plot(x, traj.mean(axis=0) * 100.0, label=k)
        lo, hi = np.percentile(traj, [10, 90], axis=0) * 100.0
        ax.fill_between(x, lo, hi, color=line.get_color(), alpha=0.12)
    ax.plot(x, x, color="grey", lw=0.8, ls="--", label="straight line")
    ax.set_xlabel("% of the order's window")
    ax.set_ylabel("% of the order filled (mean; band 10-90%)")
    ax.legend(fontsize=8)
    ax.set_title("Trajectories")
    fig.tight_layout()
    path = directory / "trajectories.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    paths.append(path)
    return paths
