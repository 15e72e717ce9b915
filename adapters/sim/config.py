"""Configuration of the market simulator: frozen, keyword-only, every default documented.

Units: time in seconds unless a name ends in ``_ns``; prices in integer units of 1/10,000
currency (``engine.events.PRICE_SCALE``); volatility as a fraction of price; sizes in shares.
The defaults describe a liquid US stock around $50 over a 6.5-hour day with ~100,000 background
events, a calm regime most of the time and short high-volatility episodes.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "AdversaryConfig",
    "FlowConfig",
    "MarketConfig",
    "Regime",
    "VolatilityConfig",
]

SESSION_SECONDS = 6.5 * 3600.0


class Regime(enum.StrEnum):
    """The simulator's ground-truth volatility regime."""

    LV = "LV"
    HV = "HV"


def _check(cond: bool, message: str) -> None:
    if not cond:
        raise ValueError(message)


@dataclass(frozen=True, slots=True, kw_only=True)
class VolatilityConfig:
    """Regime-switching Ornstein-Uhlenbeck log-variance.

    ``h = log(sigma^2)`` (sigma per square-root second) follows ``dh = kappa (theta_r - h) dt +
    xi dW`` with ``theta_r`` set by the regime ``r``; regimes switch as a two-state Markov chain.
    """

    lv_daily: float = 0.012  # long-run volatility in LV, fraction per 6.5-hour day
    hv_daily: float = 0.035  # long-run volatility in HV
    kappa_per_hour: float = 3.0  # mean reversion of log-variance: half-life ~14 minutes
    xi_per_sqrt_hour: float = 1.2  # volatility of log-variance
    lv_to_hv_per_hour: float = 0.2  # switching intensities of the Markov chain
    hv_to_lv_per_hour: float = 1.0  # HV episodes last an hour on average
    start_regime: Regime = Regime.LV

    def __post_init__(self) -> None:
        _check(0 < self.lv_daily < self.hv_daily, "need 0 < lv_daily < hv_daily")
        _check(
            self.kappa_per_hour > 0 and self.xi_per_sqrt_hour >= 0, "kappa must be > 0 and xi >= 0"
        )
        _check(
            self.lv_to_hv_per_hour >= 0 and self.hv_to_lv_per_hour >= 0,
            "switching intensities must be >= 0",
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class FlowConfig:
    """Background order flow: Poisson limit orders, cancels and market orders."""

    events_per_day: float = 100_000.0  # expected background events over the session
    limit_share: float = 0.46  # of events: new limit orders
    cancel_share: float = 0.42  # cancels of resting background orders
    # The rest (0.12) are market orders.
    u_shape_depth: float = 0.6  # midday intensity is (1 - depth) x that of the open and close
    mean_limit_lots: float = 3.0  # mean limit order size near the touch, lots of `lot_shares`
    mean_market_lots: float = 2.0  # mean market order size
    lot_shares: int = 100
    placement_decay: float = 0.25  # P(k ticks behind the touch) ~ (1 - decay)^k
    max_levels: int = 20  # limit orders land at most this many ticks behind the touch
    depth_growth: float = 0.2  # sizes grow by this fraction per tick behind the touch
    lv_half_spread_ticks: int = 1  # quotes sit this far from the fundamental value
    hv_half_spread_ticks: int = 3  # spreads widen in HV ...
    hv_size_factor: float = 0.5  # ... and displayed depth thins
    informed_skew_per_tick: float = 0.1  # market orders lean toward the fundamental value
    permanent_impact_per_share: float = 2e-8  # log-price move per share of net aggressive flow
    initial_levels: int = 10  # the book starts with this many populated levels a side
    # Each resting order is cancelled at a rate of its own (as in Cont, Stoikov & Talreja
    # 2010), so cancels scale with the book: a cancel event fires with probability
    # min(1, resting orders / target_resting_orders).
    target_resting_orders: int = 150

    def __post_init__(self) -> None:
        _check(self.events_per_day > 0, "events_per_day must be > 0")
        _check(
            self.limit_share > 0
            and self.cancel_share >= 0
            and self.limit_share + self.cancel_share < 1,
            "need limit_share > 0, cancel_share >= 0 and their sum < 1",
        )
        _check(0 <= self.u_shape_depth < 1, "u_shape_depth must be in [0, 1)")
        _check(
            self.mean_limit_lots >= 1 and self.mean_market_lots >= 1, "mean sizes must be >= 1 lot"
        )
        _check(0 < self.placement_decay < 1, "placement_decay must be in (0, 1)")
        _check(self.max_levels >= 1 and self.lot_shares >= 1, "max_levels and lot_shares >= 1")
        _check(
            1 <= self.lv_half_spread_ticks <= self.hv_half_spread_ticks,
            "need 1 <= lv_half_spread_ticks <= hv_half_spread_ticks",
        )
        _check(0 < self.hv_size_factor <= 1, "hv_size_factor must be in (0, 1]")
        _check(self.target_resting_orders >= 1, "target_resting_orders must be >= 1")

    @property
    def market_share(self) -> float:
        return 1.0 - self.limit_share - self.cancel_share


@dataclass(frozen=True, slots=True, kw_only=True)
class AdversaryConfig:
    """A predatory participant watching the tape for a persistent one-sided trader.

    It detects (a) aggressive prints of one side, of similar size, at regular intervals, or
    (b) a displayed size at the touch that keeps refilling after being hit. Once it detects a
    trader it trades ahead of it (same side, aggressively) and withdraws its own liquidity from
    the side that trader hits, until nothing has been detected for ``cooldown_s``.
    """

    name: str = "predator"
    sensitivity: float = 0.5  # 0..1: higher detects sooner and on weaker evidence
    aggressiveness: float = 0.5  # 0..1: size and frequency of trading ahead
    window_s: float = 600.0  # look-back on the tape
    min_prints: int = 12  # prints of one size cluster (or refills) needed before judging
    cooldown_s: float = 300.0  # stays active this long after the last detection
    decision_interval_s: float = 2.0  # how often it acts
    quote_lots: int = 5  # size it quotes at the touch while passive (its liquidity)
    # The most it will hold from trading ahead, in lots (None: no limit). Without one it goes
    # on trading ahead for as long as it detects anything, at a rate that can be half the
    # market's volume, and a false alarm on background flow moves the price by tens of bps.
    max_inventory_lots: int | None = None
    # How it gets out once the hunt is over: "market" orders of at most quote_lots, which push
    # the price back where its trading ahead had moved it; or "passive", a limit order joined
    # at its own side's touch and kept there, so it buys back from the sellers (the hunted
    # trader among them) without moving the price back: the predatory round trip of
    # Brunnermeier & Pedersen (2005), whose cost the hunted trader bears.
    unwind: Literal["market", "passive"] = "market"
    # Whether it quotes both sides while not hunting. A predator that only ever trades against
    # a trader it has found leaves every other day exactly as it would be without it, so a
    # backtest's adversary-on/off pairs differ only where it hunted.
    make_markets: bool = True
    # What it counts as evidence of a trader: "prints" (aggressive prints of one size at
    # regular gaps), "refills" (a touch that refills to its size after being hit) and "clock"
    # (orders of one size joining the touch in step with a slicing clock: see the adversary's
    # module docstring). The first two, tested at the 12 prints of ``min_prints``, fire on
    # background flow about as often as on a trader (a 100-share level refilled by another
    # 100-share order; twelve Poisson gaps that happen to look even): a predator trading on
    # them hunts noise. The clock is a significance test and seldom does.
    evidence: tuple[Literal["prints", "refills", "clock"], ...] = ("prints", "refills")
    clock_periods_s: tuple[float, ...] = (15.0, 30.0, 60.0)  # the slicing clocks it tries
    clock_window_s: float = 900.0  # look-back of the clock test
    clock_min_orders: int = 6  # orders of one size in that window before testing them

    def __post_init__(self) -> None:
        _check(0 <= self.sensitivity <= 1, "sensitivity must be in [0, 1]")
        _check(
            len(self.evidence) > 0
            and all(e in ("prints", "refills", "clock") for e in self.evidence),
            f"evidence must name some of prints, refills, clock; got {self.evidence!r}",
        )
        _check(
            len(self.clock_periods_s) > 0 and all(p > 0 for p in self.clock_periods_s),
            "clock_periods_s must be one or more positive periods",
        )
        _check(
            self.clock_window_s > 0 and self.clock_min_orders >= 3,
            "clock_window_s must be > 0 and clock_min_orders >= 3",
        )
        _check(
            self.max_inventory_lots is None or self.max_inventory_lots >= 1,
            "max_inventory_lots must be >= 1 (or None: no limit)",
        )
        _check(
            self.unwind in ("market", "passive"),
            f"unwind must be market or passive, got {self.unwind!r}",
        )
        _check(0 <= self.aggressiveness <= 1, "aggressiveness must be in [0, 1]")
        _check(
            self.window_s > 0 and self.cooldown_s >= 0 and self.decision_interval_s > 0,
            "window, cooldown and decision interval must be positive",
        )
        _check(self.min_prints >= 3, "min_prints must be >= 3 (regularity needs intervals)")


@dataclass(frozen=True, slots=True, kw_only=True)
class MarketConfig:
    """One simulated symbol for one session."""

    symbol: str = "XYZ"
    seed: int = 1
    start_price: float = 50.0
    tick: int = 100  # price units (1/10,000): one cent
    lot: int = 1  # exchange lot size in shares (background flow trades round lots anyway)
    start_ns: int = 34_200 * 1_000_000_000  # 09:30 as nanoseconds after midnight
    duration_s: float = SESSION_SECONDS
    latency_s: float = 0.0005  # one-way latency of our instructions to the exchange
    volatility: VolatilityConfig = field(default_factory=VolatilityConfig)
    flow: FlowConfig = field(default_factory=FlowConfig)
    adversaries: tuple[AdversaryConfig, ...] = ()
    # None: the fundamental value and the volatility process step at every event (the number
    # of random draws then depends on what everyone, us included, did). A step in seconds
    # puts them on a fixed grid instead, so the day's volatility, regimes and fundamental
    # path are the same whatever we trade: what a backtest needs to compare strategies on
    # common random numbers (each strategy's own impact still moves the price).
    diffusion_step_s: float | None = None

    def __post_init__(self) -> None:
        _check(self.start_price > 0, "start_price must be > 0")
        _check(
            self.diffusion_step_s is None or self.diffusion_step_s > 0,
            "diffusion_step_s must be > 0 (or None: step at every event)",
        )
        _check(self.tick > 0 and self.lot > 0, "tick and lot must be > 0")
        _check(self.duration_s > 0, "duration_s must be > 0")
        _check(self.latency_s >= 0, "latency_s must be >= 0")
        names = [a.name for a in self.adversaries]
        _check(len(names) == len(set(names)), f"adversary names must be unique, got {names}")

    @property
    def end_ns(self) -> int:
        return self.start_ns + round(self.duration_s * 1e9)
