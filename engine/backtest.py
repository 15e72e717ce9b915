"""One backtest run: one parent, one strategy, one market, the engine's own code in simulated time.

A :class:`Job` names everything a run depends on (the market, the strategy, side, quantity and
window), so a run is a pure function of its job: the same job gives the same decisions and the
same figures in any process, on any machine (:mod:`engine.backtest_sweep` relies on this to
farm jobs out). :func:`run_job` builds an :class:`~engine.simrun.SimSession` on the job's market,
works one parent with :class:`~engine.engine.Engine` exactly as the daemon would, and returns
a :class:`RunResult` of plain numbers.

Two kinds of market:

* ``sim``: a seeded day of the market simulator (:mod:`adapters.sim`) with regime switching and,
  when ``adversary`` is on, a predator hunting predictable traders. The fundamental value
  diffuses on a fixed one-second grid (``MarketConfig.diffusion_step_s``), so every strategy
  (and the adversary-off twin of a day) sees the same volatility, regimes and exogenous price
  path: strategies are compared on common random numbers.
* ``lobster``: a window of a real NASDAQ day (GOOG or AAPL, 2012-06-21) replayed by
  :class:`~adapters.lobster.replay.ReplayVenue`: our orders meet the historical book, history
  does not react to them (docs/replay.md).

Figures (bps of the order's value at the arrival mid, positive = cost):

* ``shortfall_bps``: implementation shortfall vs the arrival mid with the unfilled remainder
  marked at the end mid (Perold), from :func:`engine.tca.analyse`, with its decomposition.
* ``cost_bps``: the same, less the part the exogenous price path explains (the diffusion in the
  simulator, the historical mid in a replay) at our holdings: ``s * sum_i q_i (e(t_i) - e(t_0))
  / Q`` with ``e`` the exogenous log price, ``s`` +1 for a buy and -1 for a sell, the
  remainder counted at the end. The subtracted term has mean zero (the path does not depend on
  what we do), so ``cost_bps`` estimates the same expected shortfall with most of the market's
  noise removed: a control variate.
"""

from __future__ import annotations

import dataclasses
import functools
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from adapters.sim.config import AdversaryConfig, MarketConfig, Regime, VolatilityConfig
from engine.clock import NS
from engine.config import EngineConfig, SymbolConfig
from engine.events import PRICE_SCALE, BookSnapshot, BookUpdate, ExecType, MarketEvent, Quote, Trade
from engine.executor import volume_forecast
from engine.invariants import find_violations, window_peaks
from engine.orders import ParentState
from engine.parent_events import PARENT_STRATEGIES, ParentOrder
from engine.simrun import SimSession
from engine.tca import analyse
from strategies.schedule import Side

__all__ = [
    "BACKTEST_ADVERSARY",
    "TRAJECTORY_POINTS",
    "Job",
    "RunResult",
    "run_job",
    "sim_market_config",
]

# The predator of a backtest day: more sensitive and more aggressive than the simulator's
# default, so that a predictable schedule is found and hunted within a 30-minute order (the
# default one seldom finds anything in that time).
BACKTEST_ADVERSARY = AdversaryConfig(
    # Hunts only on the slicing-clock test: the print and refill evidence fired on
    # background flow as often as on us, so its hunts were noise (docs/results.md).
    evidence=("clock",),
    sensitivity=0.9,
    aggressiveness=0.8,
    max_inventory_lots=200,
    unwind="passive",
    make_markets=False,
)
SIM_DAILY_VOLUME = 6_000_000.0  # what the default simulated market trades in a day
TRAJECTORY_POINTS = 21  # the filled fraction at 0, 5, ..., 100% of the window
_WARMUP_S = 300.0  # before the order: a book, a tape and the regime detector's first bars


@dataclass(frozen=True, slots=True, kw_only=True)
class Job:
    """Everything one run depends on. ``qty`` is shares, or (``qty_pct``) a fraction of the
    volume the engine's profile forecasts over the window; times are seconds after midnight."""

    market: Literal["sim", "lobster"]
    strategy: str
    side: Side
    start_s: float
    end_s: float
    qty: int = 0
    qty_pct: float = 0.0
    seed: int = 0  # sim: the day
    adversary: bool = True  # sim: a predator in the market
    symbol: str = "XYZ"
    data_dir: str = ""  # lobster: where the files are
    levels: int = 10  # lobster: book depth of the files
    engine_seed: int = 7

    def __post_init__(self) -> None:
        if self.strategy not in PARENT_STRATEGIES:
            raise ValueError(
                f"unknown strategy {self.strategy!r}; known: {', '.join(PARENT_STRATEGIES)}"
            )
        if not self.end_s > self.start_s:
            raise ValueError(f"end ({self.end_s}) must be after start ({self.start_s})")
        if (self.qty > 0) == (self.qty_pct > 0):
            raise ValueError("give exactly one of qty (shares) and qty_pct (fraction of volume)")
        if self.market == "lobster" and not self.data_dir:
            raise ValueError("a lobster job needs data_dir")

    @property
    def day(self) -> str:
        """The market the job runs on, the key strategies are paired by."""
        if self.market == "sim":
            return f"sim-{self.seed}"
        return f"{self.symbol}-{_hhmm(self.start_s)}"


@dataclass(frozen=True, slots=True, kw_only=True)
class RunResult:
    """What one run did, as plain values (JSON-ready through ``dataclasses.asdict``)."""

    day: str
    market: str
    strategy: str
    adversary: bool
    seed: int
    side: str
    qty: int
    filled: int
    state: str
    arrival_mid: float
    avg_price: float
    shortfall_bps: float
    cost_bps: float  # shortfall less the exogenous move at our holdings (module docstring)
    delay_bps: float
    timing_bps: float
    spread_bps: float
    opportunity_bps: float
    vs_vwap_bps: float | None
    participation: float
    max_participation: float  # highest over the cap's trailing window
    market_volume: int
    children: int
    violations: tuple[str, ...]
    hunted: float  # sim: share of the window a predator hunted our side
    hv: float  # sim: share of the window in the high-volatility regime
    trajectory: tuple[float, ...] = field(default_factory=tuple)  # filled fraction
    wall_s: float = 0.0
    # sim: share of the window a predator hunted a trader on the other side. There is none
    # (the background is random), so it is a false alarm, and one that moves the price our way.
    hunted_other: float = 0.0

    @property
    def completed(self) -> bool:
        return self.filled == self.qty


def _hhmm(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}"


def sim_market_config(seed: int, adversary: bool) -> MarketConfig:
    """A backtest day of the simulator: the default market, the diffusion on a one-second
    grid (common random numbers), the first regime drawn from the chain's stationary law, and
    :data:`BACKTEST_ADVERSARY` when ``adversary``."""
    vol = VolatilityConfig()
    # The simulator starts every day calm; a backtest day starts in the regime chain's
    # stationary law instead (HV with probability lv_to_hv / (lv_to_hv + hv_to_lv), 1/6 by
    # default), or a morning order would almost never meet a volatile market.
    p_hv = vol.lv_to_hv_per_hour / (vol.lv_to_hv_per_hour + vol.hv_to_lv_per_hour)
    start = Regime.HV if random.Random(f"start-regime-{seed}").random() < p_hv else Regime.LV
    return MarketConfig(
        seed=seed,
        diffusion_step_s=1.0,
        volatility=dataclasses.replace(vol, start_regime=start),
        adversaries=(BACKTEST_ADVERSARY,) if adversary else (),
    )


@functools.lru_cache(maxsize=4)
def _lobster_day(data_dir: str, symbol: str, levels: int):  # type: ignore[no-untyped-def]
    """One process loads a day once, however many windows it replays."""
    from adapters.lobster.loader import find_files, load_day

    files = find_files(Path(data_dir), symbol=symbol, levels=levels)
    return load_day(*files)


def _engine_config(job: Job, daily_volume: float, tick: float, lot: int) -> EngineConfig:
    return EngineConfig(
        symbols={job.symbol: SymbolConfig(daily_volume=daily_volume, tick=tick, lot=lot)},
        seed=job.engine_seed,
    )


class _Tape:
    """Every print (with its price) and every change of the engine's mid, as the run goes."""

    def __init__(self, session: SimSession, symbol: str) -> None:
        self.market = session.engine.symbols[symbol].market
        self.mids: list[tuple[int, float]] = []
        self.prints: list[tuple[int, int, float]] = []

    def __call__(self, event: MarketEvent) -> None:
        if isinstance(event, Trade):
            self.prints.append((event.ts_event, event.size, event.price / PRICE_SCALE))
        elif isinstance(event, Quote | BookUpdate | BookSnapshot):
            mid = self.market.mid
            if mid is not None and (not self.mids or self.mids[-1][1] != mid / PRICE_SCALE):
                self.mids.append((event.ts_event, mid / PRICE_SCALE))


def _session(job: Job) -> tuple[SimSession, EngineConfig, object]:
    """The session, its engine config and the market's exogenous log-price path (a function
    of time)."""
    if job.market == "sim":
        mcfg = sim_market_config(job.seed, job.adversary)
        cfg = _engine_config(job, SIM_DAILY_VOLUME, 0.01, 100)
        s = SimSession(mcfg, cfg)
        return s, cfg, s.market.exogenous_move
    from adapters.lobster.replay import ReplayConfig, ReplayVenue

    day = _lobster_day(job.data_dir, job.symbol, job.levels)
    start = round((job.start_s - _WARMUP_S) * NS)
    venue = ReplayVenue(day, ReplayConfig(origin_ns=0, start_ns=start))
    executed = day.size[np.isin(day.event_type, (4, 5))].sum()
    cfg = _engine_config(job, float(executed), 0.01, 1)
    s = SimSession(venue, cfg)
    # History's own mid, which nothing we do moves: the exogenous path of a replay.
    ts = day.ts_ns
    mid = (day.bid_px[:, 0] + day.ask_px[:, 0]) / 2.0
    log_mid = np.log(mid)

    def exo(t: int) -> float:
        i = int(np.searchsorted(ts, t, side="right")) - 1
        return float(log_mid[max(i, 0)])

    return s, cfg, exo


def _quantity(job: Job, cfg: EngineConfig) -> int:
    if job.qty:
        return job.qty
    sym = cfg.symbols[job.symbol]
    span = round((job.end_s - job.start_s) * NS)
    expected = float(volume_forecast(sym, round(job.start_s * NS), span, 1, 1.0)[0])
    lots = max(1, round(job.qty_pct * expected / sym.lot))
    return lots * sym.lot


def run_job(job: Job) -> RunResult:
    """Run one job to the end of its window (and a settling minute after) and measure it."""
    wall = time.perf_counter()
    s, cfg, exo = _session(job)
    tape = _Tape(s, job.symbol)
    s.market.subscribe(job.symbol, tape)
    start_ns, end_ns = round(job.start_s * NS), round(job.end_s * NS)
    # The simulated session opens at 09:30 and a replay starts _WARMUP_S early: either way the
    # engine has a book, a tape and regime bars before the order arrives.
    s.run_until(start_ns)
    qty = _quantity(job, cfg)
    order = ParentOrder(
        cl_ord_id="BT1",
        symbol=job.symbol,
        side=job.side,
        qty=qty,
        strategy=job.strategy,
        end_ns=end_ns,
        ts_init=start_ns,
    )
    p = s.engine.submit(order)
    s.run_until(end_ns)
    # A settling minute, for the answers to the last cancels; no longer than the parent and
    # its children take to finish (nothing after that changes a figure below).
    settle = end_ns + 60 * NS
    while s.clock.now_ns() < settle and not (p.state.final and not p.live_children):
        s.run_until(min(s.clock.now_ns() + NS, settle))
    fills = [
        (r.ts_event, r.last_qty, r.last_price / PRICE_SCALE)
        for r in s.oms.reports
        if r.exec_type is ExecType.TRADE and r.last_qty > 0
    ]
    end = max([t for t, _, _ in fills] + [start_ns]) if p.state is ParentState.FILLED else end_ns
    tca = analyse(
        side=job.side,
        qty=qty,
        fills=fills,
        mids=tape.mids,
        tape=tape.prints,
        decision_ns=start_ns,
        start_ns=min([o.ts_init for _, o in s.venue.sent] + [end]),
        end_ns=end,
        horizons_s=(),
    )
    sign = 1.0 if job.side is Side.BUY else -1.0
    e0 = exo(start_ns)
    moved = sum(q * (exo(t) - e0) for t, q, _ in fills) + (qty - p.filled) * (exo(end) - e0)
    exo_bps = sign * 1e4 * moved / qty
    violations = tuple(v.text for v in find_violations(s, cap_window_s=cfg.cap_window_s))
    hunted = hunted_other = hv = 0.0
    if job.market == "sim":
        truth = s.market.ground_truth()
        grid = np.arange(start_ns, end_ns, 10 * NS)
        hunted = float(truth.adversary_active_at(grid, against=job.side).mean())
        hunted_other = float(truth.adversary_active_at(grid, against=job.side.opposite).mean())
        hv = float((truth.regime_at(grid) == "HV").mean())
    return RunResult(
        day=job.day,
        market=job.market,
        strategy=job.strategy,
        adversary=job.adversary if job.market == "sim" else False,
        seed=job.seed,
        side=job.side.value,
        qty=qty,
        filled=p.filled,
        state=p.state.value,
        arrival_mid=tca.decision_mid,
        avg_price=tca.avg_price,
        shortfall_bps=tca.shortfall_bps,
        cost_bps=tca.shortfall_bps - exo_bps,
        delay_bps=tca.delay_bps,
        timing_bps=tca.timing_bps,
        spread_bps=tca.spread_bps,
        opportunity_bps=tca.opportunity_bps,
        vs_vwap_bps=tca.vs_vwap_bps,
        participation=tca.participation,
        max_participation=window_peaks(s, cap_window_s=cfg.cap_window_s).get(p.id, 0.0),
        market_volume=tca.market_volume,
        children=len(s.venue.sent),
        violations=violations,
        hunted=hunted,
        hv=hv,
        trajectory=_trajectory(fills, qty, start_ns, end_ns),
        wall_s=time.perf_counter() - wall,
        hunted_other=hunted_other,
    )


def _trajectory(
    fills: list[tuple[int, int, float]], qty: int, start_ns: int, end_ns: int
) -> tuple[float, ...]:
    """The filled fraction at evenly spaced points of the window (both ends included)."""
    points = np.linspace(start_ns, end_ns, TRAJECTORY_POINTS)
    ts = np.array([t for t, _, _ in sorted(fills)], dtype=np.float64)
    cum = np.cumsum([q for _, q, _ in sorted(fills)]) if fills else np.zeros(0)
    idx = np.searchsorted(ts, points, side="right")
    out = np.where(idx > 0, cum[np.maximum(idx - 1, 0)] if len(cum) else 0.0, 0.0) / qty
    return tuple(round(float(x), 6) for x in out)
