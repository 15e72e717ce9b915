"""PNG charts for people: a schedule's trajectory and, for Almgren-Chriss, its frontier."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on servers; must precede pyplot
import matplotlib.pyplot as plt
import numpy as np

from strategies.almgren_chriss import Frontier
from strategies.schedule import Schedule

__all__ = ["plot_schedule"]


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
