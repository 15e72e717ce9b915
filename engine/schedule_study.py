"""``unwind schedule-study``: the DP write-up's claim, measured (issue 9, seed claim 1).

The claim: on a 390-minute day with square-root impact ``g(x) = C sqrt(x)`` dollars per share
(``C`` = 0.00236 FROG, 0.00396 CRWV, 0.000385 SOUN) and with the time-varying walk-the-book
cost of the real GOOG book, the naive (equal) schedule costs 15-25% more than the optimal DP
schedule. For each cost model this prints the expected cost of the DP optimum, naive (TWAP),
front-loaded (trades ``N..1``) and back-loaded (``1..N``) and each one's excess over the DP.

Cost models (one period = one minute, ``N = 390``):

* ``sqrt``: ``g(x) = C sqrt(x)`` per share in every minute, i.e. ``PowerLawImpact(eta=C,
  beta=0.5)`` with ``tau = 1``. Time-invariant and convex, so the equal split *is* optimal and
  naive's excess is 0 up to lot rounding. Every ratio here is independent of ``C`` and of the
  order size (the cost is ``C sum x_t^1.5``, homogeneous), so one size serves all three.
* ``sqrt-u`` (our assumption about what the write-up may have meant): ``g_t(x) = C
  sqrt(x / u_t)`` with ``u_t`` the intraday volume of minute ``t`` relative to the day's mean,
  from the U-shaped profile :func:`strategies.volume.u_shape` (midday trades 40% of the open's
  rate). The optimum then trades in proportion to volume, and naive's excess is what the U
  shape is worth.
* ``goog-book``: the real GOOG book of 2012-06-21 (LOBSTER, 10 levels), sell side: for each
  minute the cost of walking the bids, averaged over 12 snapshots 5 s apart, on a grid of 10
  shares; shares beyond the 10 displayed levels are priced at the deepest level (a lower bound).
  The DP uses the per-minute table (:class:`strategies.impact.TableImpact` of shape (390, grid)).
  That is hindsight: the DP sees each minute's realised book. ``GOOG book, 30-min plan`` plans
  the DP on the table averaged over 30-minute blocks (a time-of-day profile) and scores it on
  the per-minute table, separating what the time-of-day shape is worth from minute-level luck.

Costs are in dollars; the excess is ``cost / cost_DP - 1``.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from typing import Any, TextIO

import numpy as np
from numpy.typing import NDArray

from adapters.lobster.impact_samples import cost_curves
from adapters.lobster.loader import LobsterError, default_data_dir, find_files, load_day
from engine.events import PRICE_SCALE
from strategies.errors import StrategyError
from strategies.impact import ImpactModel, PowerLawImpact, TableImpact
from strategies.planner import PlanRequest, plan
from strategies.schedule import Side, make_schedule
from strategies.volume import u_shape

__all__ = [
    "STOCKS",
    "StudyRow",
    "add_schedule_study_arguments",
    "compare_schedules",
    "goog_book_model",
    "run_schedule_study",
    "smoothed",
    "study",
]

STOCKS = {"FROG": 0.00236, "CRWV": 0.00396, "SOUN": 0.000385}
PERIODS = 390
SQRT_SHARES = 117_000.0  # 300 shares (3 lots) a minute: any size gives the same ratios
SQRT_LOT = 10.0
GOOG_SHARES = 39_000.0  # 100 shares a minute on average, ~5.5% of the day's NASDAQ volume
GOOG_LOT = 10.0
GOOG_GRID_MAX = 2_000.0
STRATEGIES = ("dp", "twap", "aggressive", "conservative")
NAMES = {"dp": "optimal", "twap": "naive", "aggressive": "front", "conservative": "back"}
EXIT_OK, EXIT_USAGE = 0, 2


@dataclass(frozen=True, slots=True)
class StudyRow:
    """One cost model: the expected cost of each schedule (dollars) and its excess over DP."""

    model: str
    shares: float
    lot: float
    costs: dict[str, float]
    trades: dict[str, NDArray[np.float64]]

    def excess(self, strategy: str) -> float:
        return self.costs[strategy] / self.costs["dp"] - 1.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "shares": self.shares,
            "lot": self.lot,
            "periods": PERIODS,
            "cost": {NAMES[s]: self.costs[s] for s in STRATEGIES},
            "excess_over_optimal": {NAMES[s]: self.excess(s) for s in STRATEGIES if s != "dp"},
            "optimal_by_hour": _by_hour(self.trades["dp"]).tolist(),
        }


def _by_hour(trades: NDArray[np.float64]) -> NDArray[np.float64]:
    """Share of the order traded in each of the 6.5 hours (the last holds 30 minutes)."""
    edges = np.arange(0, PERIODS + 60, 60).clip(max=PERIODS)
    return np.add.reduceat(trades, edges[:-1]) / trades.sum()


def compare_schedules(
    name: str,
    model: ImpactModel,
    shares: float,
    lot: float,
    *,
    plan_model: ImpactModel | None = None,
) -> StudyRow:
    """Plan DP, TWAP, front- and back-loaded under ``model`` and score each under it.

    With ``plan_model`` the DP plans under that model instead (a forecast) and is still scored
    under ``model`` (what happened); the baselines do not depend on the model.
    """
    costs, trades = {}, {}
    for strategy in STRATEGIES:
        s = plan(
            PlanRequest(
                strategy=strategy,
                shares=shares,
                side=Side.SELL,
                horizon=float(PERIODS),
                periods=PERIODS,
                sigma=0.0,
                model=model if plan_model is None else plan_model,
                lot=lot,
            )
        )
        if plan_model is not None:
            s = make_schedule(strategy, s.holdings, model, tau=1.0, sigma=0.0)
        costs[strategy] = float(s.expected_cost)
        trades[strategy] = np.asarray(s.trades)
    return StudyRow(name, shares, lot, costs, trades)


def goog_book_model(
    data_dir: str | None = None, *, lot: float = GOOG_LOT, grid_max: float = GOOG_GRID_MAX
) -> tuple[TableImpact, NDArray[np.float64]]:
    """The per-minute walk-the-bids cost table of the GOOG day (dollars), and the mean cost of
    100 shares per minute in bps (for the report).

    Raises
    ------
    LobsterError
        If the files are missing or malformed.
    """
    folder = default_data_dir() if data_dir is None else data_dir
    day = load_day(*find_files(folder, "GOOG", 10))
    grid = np.arange(lot, grid_max + lot / 2, lot)
    times = 34_200.0 + 60.0 * np.arange(PERIODS)[:, None] + 5.0 * np.arange(12)[None, :]
    bps, mid = cost_curves(day, times.ravel(), grid, side=-1, extend=True)
    dollars = bps / 1e4 * (mid / PRICE_SCALE)[:, None] * grid[None, :]
    per_min = dollars.reshape(PERIODS, 12, grid.size).mean(axis=1)
    bps_100 = bps[:, int(np.argmin(np.abs(grid - 100.0)))].reshape(PERIODS, 12).mean(axis=1)
    table = TableImpact(
        np.concatenate(([0.0], grid)), np.hstack([np.zeros((PERIODS, 1)), per_min])
    )
    return table, bps_100


def study(data_dir: str | None = None, *, with_book: bool = True) -> list[StudyRow]:
    """Every cost model of the study; the GOOG book is skipped when ``with_book`` is false."""
    rows = []
    u = u_shape(PERIODS, total=float(PERIODS))
    for stock, c in STOCKS.items():
        rows.append(compare_schedules(f"{stock} sqrt", PowerLawImpact(c, 0.5), SQRT_SHARES,
                                      SQRT_LOT))  # fmt: skip
        rows.append(
            compare_schedules(
                f"{stock} sqrt-u (assumed)", PowerLawImpact(c / np.sqrt(u), 0.5), SQRT_SHARES,
                SQRT_LOT,
            )
        )  # fmt: skip
    if with_book:
        table, _ = goog_book_model(data_dir)
        rows.append(compare_schedules("GOOG book", table, GOOG_SHARES, GOOG_LOT))
        rows.append(
            compare_schedules(
                "GOOG book, 30-min plan", table, GOOG_SHARES, GOOG_LOT,
                plan_model=smoothed(table, 30),
            )
        )  # fmt: skip
    return rows


def smoothed(table: TableImpact, minutes: int) -> TableImpact:
    """The table averaged over blocks of ``minutes`` periods: a time-of-day profile, without
    the minute-by-minute detail only hindsight knows."""
    costs = np.asarray(table.costs, dtype=np.float64)
    out = np.empty_like(costs)
    for a in range(0, costs.shape[0], minutes):
        out[a : a + minutes] = costs[a : a + minutes].mean(axis=0)
    return TableImpact(table.shares_grid, out)


def add_schedule_study_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", metavar="DIR", help="LOBSTER folder (default: the shared data)")
    p.add_argument("--no-book", action="store_true", help="skip the GOOG walk-the-book model")
    p.add_argument("--json", action="store_true", help="print JSON")


def run_schedule_study(args: argparse.Namespace, *, out: TextIO, err: TextIO) -> int:
    """Run :func:`study` and print a table (or JSON)."""
    try:
        rows = study(args.data, with_book=not args.no_book)
    except (LobsterError, StrategyError) as e:
        print(f"unwind schedule-study: error: {e}", file=err)
        return EXIT_USAGE
    if args.json:
        print(json.dumps([r.to_dict() for r in rows], indent=2), file=out)
        return EXIT_OK
    print(
        f"{PERIODS} one-minute periods, sell; cost in dollars, excess over the DP optimum",
        file=out,
    )
    head = f"{'model':<24}{'shares':>9}" + "".join(f"{NAMES[s]:>12}" for s in STRATEGIES)
    head += "".join(f"{'+' + NAMES[s]:>10}" for s in STRATEGIES[1:])
    print(head, file=out)
    for r in rows:
        line = f"{r.model:<24}{r.shares:>9,.0f}" + "".join(
            f"{r.costs[s]:>12,.2f}" for s in STRATEGIES
        )
        line += "".join(f"{r.excess(s):>10.2%}" for s in STRATEGIES[1:])
        print(line, file=out)
    return EXIT_OK
