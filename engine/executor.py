"""The per-parent executor: plan the remainder, turn the current bucket into child orders.

One :class:`ParentExecutor` per working parent, driven by the engine on the loop thread:
``decide(now)`` after every market event of its symbol, every report about its children, and
its own timers (bucket boundaries, a resting child's time to live, the deadline).

* **Plan.** The remainder is re-planned with the parent's strategy at each bucket boundary, on a
  regime change, and when fills drift from the plan by more than ``drift_replan`` of the
  parent. Inputs: the OU forecast of integrated variance over the remaining horizon, a volume
  forecast (the U-shaped intraday profile, scaled by what has traded since the start against
  what the profile expected), and the regime's policy. ``adaptive`` is Almgren-Chriss with the
  policy's risk-aversion and impact multipliers and follows the policy's tactics (child size,
  passive share, display, randomisation); the other strategies keep the calm (LV) tactics.
  A plan that would break the cap falls back to the capped DP, and if even that is
  infeasible, to trading at the cap (the deadline is then at risk and the parent ends
  DoneForDay with the remainder).
* **Children.** At most one child is live per parent. A stale resting child (past its time to
  live, off the touch, or of a previous plan) is cancelled, and nothing new is sent until the
  venue has confirmed the cancel or the fill: a replacement is never sent while the quantity it
  replaces may still fill. Every child passes the risk gate (:mod:`risk.gate`) first.
"""

from __future__ import annotations

import functools
import math
import random
from dataclasses import dataclass
from statistics import NormalDist
from typing import NamedTuple, Protocol

import numpy as np

from engine.clock import NS, Clock, Timer
from engine.config import EngineConfig, SymbolConfig
from engine.events import (
    PRICE_SCALE,
    CancelOrder,
    NewOrder,
    OrderType,
    StatusRequest,
    TimeInForce,
)
from engine.market_state import SymbolMarket
from engine.orders import (
    PARENT_MACHINE,
    ChildEvent,
    ChildOrder,
    ChildState,
    ParentEvent,
    ParentState,
)
from engine.parent_events import ParentOrder, PendingReplace
from engine.window import TrailingSum
from risk.gate import GateView, Verdict, run_gate, volume_needed
from risk.ratelimit import TokenBucket
from risk.states import ScopeState, TradingState, TradingStates
from strategies.errors import InfeasibleScheduleError, InvalidParameterError
from strategies.impact import LinearImpact
from strategies.planner import PlanRequest, plan
from strategies.regime import STATIC_POLICY, Policy, Regime, RegimeDetector
from strategies.schedule import Side
from strategies.tactics import ChildIntent, MarketView, TacticsConfig, choose_child, must_fraction
from strategies.volume import u_shape

__all__ = [
    "BREAKERS",
    "SHORTFALL_BREAKER",
    "VAR_BREAKER",
    "EngineContext",
    "ParentExecutor",
    "PlanState",
    "volume_forecast",
]

# The breakers, as trading-state changes name who made them (``by``): the metrics expose each
# from zero, so an alert sees its first trip as an increase.
VAR_BREAKER = "breaker:var"
SHORTFALL_BREAKER = "breaker:shortfall"
BREAKERS = (SHORTFALL_BREAKER, VAR_BREAKER)

# A child in these states can be asked to cancel (UNKNOWN first needs the venue's word).
_CANCELLABLE = (ChildState.NEW, ChildState.PARTIALLY_FILLED, ChildState.PENDING_NEW)
_PROFILE_BINS = 390  # one-minute bins of the intraday profile


class EngineContext(Protocol):
    """What an executor needs from the engine (ids, the venue, reports)."""

    clock: Clock
    cfg: EngineConfig
    venue_up: bool
    trading: TradingStates
    venue_rate: TokenBucket

    def new_child_id(self, parent: ParentExecutor) -> str: ...

    def child_id_used(self, cl_ord_id: str) -> bool: ...

    def symbol_load(self, symbol: str, since_ns: int) -> tuple[int, int, int]: ...

    def trip(
        self, parent: ParentExecutor, state: TradingState, *, reason: str, by: str, act: bool = True
    ) -> None: ...

    def alert(self, parent: ParentExecutor, name: str, **fields: object) -> None: ...

    def send_child(self, parent: ParentExecutor, child: ChildOrder) -> None: ...

    def send_cancel(self, parent: ParentExecutor, request: CancelOrder) -> None: ...

    def send_status(self, parent: ParentExecutor, request: StatusRequest) -> None: ...

    def on_verdicts(
        self,
        parent: ParentExecutor,
        verdicts: list[Verdict],
        *,
        cl_ord_id: str = "",
        asked: int = 0,
        granted: int = 0,
    ) -> None: ...

    def parent_finished(self, parent: ParentExecutor) -> None: ...

    def finish_replace(self, parent: ParentExecutor) -> None: ...

    def plan_made(self, parent: ParentExecutor, plan: PlanState) -> None: ...

    def note(self, parent: ParentExecutor, event: str, **fields: object) -> None: ...


@dataclass(frozen=True, slots=True)
class PlanState:
    """The plan in force: cumulative targets at bucket boundaries (shares), from ``start_ns``."""

    strategy: str
    start_ns: int
    bucket_ns: int
    cum_targets: tuple[int, ...]  # after each bucket, from the plan's start
    filled_at_start: int
    regime: Regime | None
    reason: str

    def bucket_at(self, ts_ns: int) -> int:
        return min(max((ts_ns - self.start_ns) // self.bucket_ns, 0), len(self.cum_targets) - 1)


def volume_forecast(
    sym: SymbolConfig, start_ns: int, bucket_ns: int, periods: int, scale: float
) -> np.ndarray:
    """Expected market volume per bucket from the U-shaped profile x daily volume x ``scale``:
    the exact integral of the piecewise-constant one-minute rate over each bucket (outside the
    session, the nearest minute's rate)."""
    session = sym.session_close_s - sym.session_open_s
    rate, cum = _profile(sym.daily_volume, session)
    t0 = start_ns / NS % 86_400 - sym.session_open_s
    edges = t0 + np.arange(periods + 1) * (bucket_ns / NS)
    inside = np.interp(edges, np.linspace(0.0, session, _PROFILE_BINS + 1), cum)
    below = np.minimum(edges, 0.0) * rate[0]  # before the open, at the first minute's rate
    above = np.maximum(edges - session, 0.0) * rate[-1]  # after the close, at the last's
    out = np.diff(inside + below + above) * scale
    return np.maximum(out, 1.0)


@functools.lru_cache(maxsize=1024)
def _linear_impact(eta: float, gamma: float, epsilon: float) -> LinearImpact:
    # Immutable and validated on construction (tens of microseconds): one per symbol and
    # regime multiplier, not one per re-plan.
    return LinearImpact(eta=eta, gamma=gamma, epsilon=epsilon)


@functools.lru_cache(maxsize=256)
def _profile(daily_volume: float, session_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-second rate of each one-minute bin and the cumulative volume at the bin edges.
    Cached: every re-plan of every parent of a symbol asks for the same profile."""
    per_bin = u_shape(_PROFILE_BINS, daily_volume)
    rate = per_bin / (session_s / _PROFILE_BINS)
    cum = np.concatenate(([0.0], np.cumsum(per_bin)))
    rate.flags.writeable = False
    cum.flags.writeable = False
    return rate, cum


_NEVER = 2**63 - 1
_RESTING = (ChildState.NEW, ChildState.PARTIALLY_FILLED)


class _Wake(NamedTuple):
    """What must happen before a market event can change this parent's decision."""

    until_ns: int  # this time is reached
    bars: int  # the detector classifies a new bar (its regime and policy may change)
    volume: int | None  # the symbol's traded volume reaches this (None: does not matter)
    touch: int | None  # a best price moves from this touch version (None: ditto)
    band: tuple[int, int] | None  # our side's best price leaves [lo, hi] (None: ditto)


class _Lines(NamedTuple):
    bucket: int
    bucket_end: int
    must: float  # shares that must be done by now
    may: float  # shares the current bucket allows
    target: float  # the current bucket's target
    done: int
    final: bool  # the last stretch before the end time


def _ioc_unended(child: ChildOrder) -> bool:
    return child.order.tif is TimeInForce.IOC and child.state in (
        ChildState.NEW,
        ChildState.PARTIALLY_FILLED,
    )


def urgency_risk_mult(urgency: float) -> float:
    """Urgency's effect on the planners' risk aversion (ac, dp, adaptive): a factor of 100 either
    way of the neutral 0.5 (``10 ** (4 (u - 0.5))``). At the default risk aversion that spans a
    schedule close to TWAP (0) to one as front-loaded as the cap allows (1)."""
    return float(10.0 ** (4.0 * (urgency - 0.5)))


def urgency_passive_mult(urgency: float) -> float:
    """Urgency's effect on the share of each bucket worked passively (every strategy): x2 at
    0 (patient), x1 at 0.5, x0 at 1 (every child marketable, within the cap)."""
    return 2.0 * (1.0 - urgency)


class ParentExecutor:
    """One parent order being worked (see the module docstring)."""

    def __init__(
        self,
        ctx: EngineContext,
        parent_id: str,
        order: ParentOrder,
        *,
        start_ns: int,
        end_ns: int,
        cap: float,
        risk_aversion: float,
        market: SymbolMarket,
        urgency: float = 0.5,
        detector: RegimeDetector,
        sym: SymbolConfig,
    ) -> None:
        self.ctx = ctx
        self.id = parent_id
        self.order = order
        self.cl_ord_id = order.cl_ord_id  # the OMS's current ClOrdID (changes on replace)
        self.orig_cl_ord_id: str | None = None
        self.halt_cancels = True  # whether the halt in force cancels working children
        self.ids_to_ask = 0  # after a restart: ClOrdIDs of this parent the venue is asked about
        # The OMS's replace waiting for the children to be done (Engine.finish_replace).
        self.pending_replace: PendingReplace | None = None
        self.oms_ids: list[str] = []  # every ClOrdID the OMS has used for this parent
        self.ids_issued = 0  # child and cancel ClOrdIDs are f"{id}-{n}" for n up to this
        self.qty = order.qty
        self.side = order.side
        self.symbol = order.symbol
        self.strategy = order.strategy
        self.limit_price = order.limit_price
        self.start_ns = start_ns
        self.end_ns = end_ns
        self.cap = cap
        self.risk_aversion = risk_aversion
        self.urgency = urgency
        self.market = market
        self.detector = detector
        self.sym = sym
        self.state = ParentState.PENDING_NEW
        self.filled = 0
        self.notional = 0.0  # price units x shares
        self.children: dict[str, ChildOrder] = {}
        self._live: list[ChildOrder] = []  # children not yet seen final (see live_children)
        self.fills = TrailingSum()  # our fills within the cap window
        self.market_volume_at_start = market.total_volume
        self.arrival_mid = market.mid
        self.plan: PlanState | None = None
        self.plans: list[PlanState] = []
        self.stop_reason = ""  # why the parent was ended before its end time, if it was
        self.deadline_at_risk = False  # the feasibility projection's verdict at the last plan
        self.deadline_ratio: float | None = None  # remainder / what the cap allows to the end
        # The trading state last acted on (the engine compares it with the effective one).
        self.trading_seen = TradingState.ACTIVE
        self.rng = random.Random(f"{ctx.cfg.seed}:{order.cl_ord_id}")
        self.tick = round(sym.tick * PRICE_SCALE)
        self.lot = sym.lot
        self.bucket_ns = round(ctx.cfg.bucket_s * NS)
        self._tactics = TacticsConfig(collar_ticks=ctx.cfg.collar_ticks)
        # The gate's fixed inputs, read once (every child builds a snapshot).
        risk = ctx.cfg.risk
        self._window_ns = round(ctx.cfg.cap_window_s * NS)
        # Our fills are stamped by the venue's clock, the window's edge is ours: a venue clock
        # behind ours would age our fills out early and under-count them. They are kept this
        # much longer (the market volume is not), so the skew can only make the cap stricter.
        self._ours_window_ns = self._window_ns + round(ctx.cfg.risk.clock_skew_s * NS)
        self._gate_limits = (
            ctx.cfg.symbol_participation,
            risk.max_child_qty,
            risk.max_child_notional * PRICE_SCALE,
            risk.max_parent_notional * PRICE_SCALE,
            risk.collar_bps / 10_000,
        )
        self._var_z = NormalDist().inv_cdf(risk.var_alpha)
        self.var: float | None = None  # VaR of the remainder at the last plan (currency)
        # The first plan's expected cost and its standard deviation (currency): the shortfall
        # breaker's band is the cost + shortfall_z sd. None: no plan with a cost model yet.
        self.plan_cost: tuple[float, float] | None = None
        self._bucket_timer: Timer | None = None
        self._next_child_ns = 0
        self._view_at = -1  # the market version _view_cache was built from
        self._wake: _Wake | None = None  # what a market event must change to matter (on_market)
        self._held_back: tuple[int, int | None] = (0, None)  # set by _send on a denial
        self._view_cache: MarketView | None = None
        self._finished = False
        self.ended_reason = ""

    # --- lifecycle --------------------------------------------------------------------------------

    def transition(self, event: ParentEvent) -> None:
        self.state = PARENT_MACHINE.next(self.state, event)

    def adopt(self, child: ChildOrder) -> None:
        """A child this parent's engine sent but lost track of (found at the venue after a
        restart): counted from now on like any other."""
        self.children[child.cl_ord_id] = child
        self._live.append(child)

    def replace_done(self) -> None:
        """Out of PENDING_REPLACE, back to working: NEW or PARTIALLY_FILLED by what filled."""
        self.transition(ParentEvent.REPLACE_DONE)
        if self.filled:
            self.state = ParentState.PARTIALLY_FILLED

    def accept(self) -> None:
        self.transition(ParentEvent.ACCEPT)
        clock = self.ctx.clock
        clock.call_at(self.start_ns, lambda: self.decide(clock.now_ns()))
        clock.call_at(self.end_ns, lambda: self.decide(clock.now_ns()))

    @property
    def trading(self) -> ScopeState:
        """The trading state that applies: the most severe of the engine's, the symbol's and
        this parent's (:mod:`risk.states`)."""
        return self.ctx.trading.effective(self.symbol, self.id)

    @property
    def halted(self) -> bool:
        return self.trading.state is TradingState.HALTED

    @property
    def effective_urgency(self) -> float:
        """The parent's urgency, or 1 while REDUCING (out of the risk faster) or while the
        deadline is at risk (no slack left to give away), always within the caps."""
        if self.deadline_at_risk or self.trading.state is TradingState.REDUCING:
            return 1.0
        return self.urgency

    @property
    def working(self) -> int:
        """Shares that may still fill: the leaves of every child not known to be final."""
        return sum(c.leaves for c in self._live if not c.state.final)

    @property
    def live_children(self) -> list[ChildOrder]:
        # Read on every market event: only the few children sent since the last look are
        # scanned, not every child the parent ever had.
        self._live = [c for c in self._live if not c.state.final]
        return list(self._live)  # a copy: callers may send or cancel while iterating

    @property
    def avg_price(self) -> float:
        return self.notional / self.filled if self.filled else 0.0

    @property
    def leaves(self) -> int:
        return 0 if self.state.final else self.qty - self.filled

    @property
    def regime(self) -> Regime | None:
        st = self.detector.state
        return None if st is None else st.regime

    # --- fills --------------------------------------------------------------------------------

    def record_fill(self, ts_ns: int, qty: int, price_notional: float) -> None:
        self.filled += qty
        self.notional += price_notional
        self.fills.add(ts_ns, qty)

    def ours_since(self, ts_ns: int) -> int:
        """Our fills after ``ts_ns`` (the start of the trailing window: never earlier than
        the last call's)."""
        return self.fills.after(ts_ns)

    # --- planning -----------------------------------------------------------------------------

    def _replan(self, now: int, reason: str) -> None:
        remaining = self.qty - self.filled
        horizon_ns = self.end_ns - now
        if remaining <= 0 or horizon_ns <= 0:
            return
        periods = max(1, math.ceil(horizon_ns / self.bucket_ns))
        bucket_ns = math.ceil(horizon_ns / periods)
        horizon_s = horizon_ns / NS
        state = self.detector.state
        policy = state.policy if state is not None else self.detector.policies[Regime.LV]
        mid = self.market.mid
        price = (mid if mid is not None else (self.market.last_price or PRICE_SCALE)) / PRICE_SCALE
        iv = (
            self.detector.volatility.forecast_integrated_variance(horizon_s)
            if state is not None
            else self.sym.fallback_daily_vol**2
            * horizon_s
            / (self.sym.session_close_s - self.sym.session_open_s)
        )
        sigma = price * math.sqrt(max(iv, 0.0) / horizon_s)  # currency / sqrt(s)
        expected = self._expected_volume_so_far(now)
        traded = self.market_since_start()
        scale = min(max(traded / expected, 0.25), 4.0) if expected > 1000 else 1.0
        volumes = volume_forecast(self.sym, now, bucket_ns, periods, scale)
        # Both before the risk aversion: each may raise the urgency of the plan being made.
        self._check_var(remaining, price, iv)
        if self._project_deadline(now, remaining, volumes):
            return  # the configured policy ended the parent
        adaptive = self.strategy == "adaptive"
        impact_mult = policy.impact_mult if adaptive else 1.0
        risk = (
            self.risk_aversion
            * (policy.risk_aversion_mult if adaptive else 1.0)
            * urgency_risk_mult(self.effective_urgency)
        )
        model = _linear_impact(self.sym.eta * impact_mult, self.sym.gamma, self.sym.epsilon)
        strategy = "ac" if adaptive else self.strategy
        lots = remaining / self.lot
        lot = float(self.lot) if abs(lots - round(lots)) < 1e-9 else 1.0
        trades, used, expected_cost, variance = self._plan_trades(
            strategy, remaining, horizon_s, periods, sigma, model, risk, volumes, lot
        )
        if self.plan_cost is None and math.isfinite(expected_cost):
            self.plan_cost = (expected_cost, math.sqrt(max(variance, 0.0)))
        if used != strategy:
            reason += f"; {strategy} infeasible under the cap, using {used}"
        cum = np.cumsum(trades)
        cum[-1] = remaining
        targets = tuple(round(float(c)) for c in cum)
        self.plan = PlanState(
            used, now, bucket_ns, targets, self.filled, state.regime if state else None, reason
        )
        self.plans.append(self.plan)
        self.ctx.note(self, "plan", strategy=used, reason=reason, periods=periods, sigma=sigma)
        self.ctx.plan_made(self, self.plan)
        # Re-plan at the next bucket boundary of this plan; an earlier plan's timer goes, or
        # each re-plan would leave one behind and boundaries would be planned several times.
        if self._bucket_timer is not None:
            self._bucket_timer.cancel()
            self._bucket_timer = None
        t = now + bucket_ns
        if t < self.end_ns:
            self._bucket_timer = self.ctx.clock.call_at(t, self._on_bucket)

    def _plan_trades(
        self,
        strategy: str,
        remaining: int,
        horizon_s: float,
        periods: int,
        sigma: float,
        model: LinearImpact,
        risk: float,
        volumes: np.ndarray,
        lot: float,
    ) -> tuple[np.ndarray, str, float, float]:
        """The trades, the strategy used, and its expected cost and variance (currency; NaN
        when trading at the cap, which no cost model scores)."""
        cap = self.cap
        for name, with_cap in ((strategy, True), ("dp", True)):
            try:
                req = PlanRequest(
                    strategy=name,
                    shares=float(remaining),
                    side=self.side,
                    horizon=horizon_s,
                    periods=periods,
                    sigma=sigma,
                    model=model,
                    risk_aversion=risk,
                    volumes=volumes,
                    pov_cap=cap if with_cap else None,
                    lot=lot if name == "dp" else None,
                )
                sched = plan(req)
                trades = np.asarray(sched.trades, dtype=np.float64)
                return trades, name, float(sched.expected_cost), float(sched.variance)
            except (InfeasibleScheduleError, InvalidParameterError):
                continue
        # Even the capped DP cannot finish: trade at the cap and report the rest at the end.
        per = np.minimum(cap * volumes, remaining)
        cum = np.minimum(np.cumsum(per), remaining)
        return np.diff(np.concatenate(([0.0], cum))), "pov-at-cap", math.nan, math.nan

    def _project_deadline(self, now: int, remaining: int, volumes: np.ndarray) -> bool:
        """The feasibility projection: the remainder against what the cap allows of the volume
        forecast to the end (``capacity``). Past ``deadline_at_risk`` of it the parent is at
        risk: an alert (once, until it clears) and the plan loses its slack (urgency 1, within
        the caps). Past all of it completion is impossible, and the configured policy applies:
        ``respect_cap`` (the default) trades at the cap and ends DoneForDay with the remainder;
        ``stop`` ends DoneForDay now. Returns whether the parent was ended."""
        risk = self.ctx.cfg.risk
        capacity = self.cap * float(np.sum(volumes))
        ratio = remaining / capacity if capacity > 0 else math.inf
        self.deadline_ratio = ratio
        at_risk = ratio > risk.deadline_at_risk
        if at_risk and not self.deadline_at_risk:
            self.ctx.alert(
                self,
                "deadline at risk",
                remaining=remaining,
                capacity=round(capacity),
                ratio=round(ratio, 3),
            )
        self.deadline_at_risk = at_risk
        if ratio > 1.0 and risk.infeasible_policy == "stop":
            self.end(now, f"cannot finish by the end time under the cap ({ratio:.0%} of capacity)")
            return True
        return False

    def _check_var(self, remaining: int, price: float, iv: float) -> None:
        """The VaR breaker: z(alpha) x the OU forecast of the remaining horizon's volatility x
        the remainder's value. Above the limit the parent goes REDUCING (urgency raised within
        the caps) until an operator resets it; the plan being made already uses it."""
        var = self._var_z * math.sqrt(max(iv, 0.0)) * remaining * price
        self.var = var
        limit = self.ctx.cfg.risk.var_limit
        if limit > 0 and var > limit:
            self.ctx.trip(
                self,
                TradingState.REDUCING,
                reason=f"VaR {var:,.0f} of the remainder above the limit {limit:,.0f}",
                by=VAR_BREAKER,
                act=False,  # we are planning: the plan in the making is the REDUCING one
            )

    def shortfall(self) -> float | None:
        """Implementation shortfall so far vs the arrival mid (currency, positive = cost): the
        filled shares at their average price, the rest marked at the mid."""
        arrival, mid = self.arrival_mid, self.market.mid
        if arrival is None or mid is None:
            return None
        sign = -self.side.sign  # a cost: +1 when buying (paying up), -1 when selling
        filled_cost = sign * (self.notional - arrival * self.filled)
        open_cost = sign * (mid - arrival) * (self.qty - self.filled)
        return (filled_cost + open_cost) / PRICE_SCALE

    def shortfall_breach(self) -> str | None:
        """The shortfall breaker's test: why it trips, or None."""
        z = self.ctx.cfg.risk.shortfall_z
        if self.plan_cost is None or z <= 0 or self.state.final:
            return None
        band = self.plan_cost[0] + z * self.plan_cost[1]
        cost = self.shortfall()
        if cost is None or cost <= band:
            return None
        return f"shortfall {cost:,.0f} past the plan's expected cost + z sd {band:,.0f}"

    def _expected_volume_so_far(self, now: int) -> float:
        elapsed = now - self.start_ns
        if elapsed <= 0:
            return 0.0
        return float(np.sum(volume_forecast(self.sym, self.start_ns, elapsed, 1, 1.0)))

    def _on_bucket(self) -> None:
        now = self.ctx.clock.now_ns()
        if self.state.final:
            return
        self._replan(now, "bucket boundary")
        self.decide(now)

    # --- deciding -----------------------------------------------------------------------------

    def on_market(self, now: int) -> None:
        """A book change or a print on this parent's symbol: decide again only if it can change
        what to do. Every path of :meth:`decide` leaves a :class:`_Wake` saying what could:
        the time (the must line reaching the tolerance, a child's jitter gap), a new regime bar,
        a print (when the cap held the parent back), our side's best price moving far enough
        from a resting child to make it stale, or (rarely needed) any move of a best price.
        Anything else wakes the parent directly: venue reports, timers, operator commands."""
        w = self._wake
        if w is None or now >= w.until_ns or self.detector.bars != w.bars:
            return self.decide(now)
        market = self.market
        if w.volume is not None and market.total_volume >= w.volume:
            return self.decide(now)
        if w.touch is not None and market.touch_version != w.touch:
            return self.decide(now)
        if w.band is not None:
            px = market.best_price(self.side)
            if px is not None and not w.band[0] <= px <= w.band[1]:
                return self.decide(now)

    def _sleep(
        self,
        until_ns: int,
        *,
        volume: int | None = None,
        touch: bool = False,
        band: tuple[int, int] | None = None,
    ) -> None:
        self._wake = _Wake(
            until_ns,
            self.detector.bars,
            volume,
            self.market.touch_version if touch else None,
            band,
        )

    def _touch_band(self, resting: list[ChildOrder]) -> tuple[int, int]:
        """Where our side's best price may move without making a resting child stale: more
        than two ticks better than its price (see :meth:`_refresh`)."""
        lo, hi = -_NEVER, _NEVER
        for c in resting:
            price = c.order.price
            if price is None:
                continue
            if self.side is Side.SELL:
                lo = max(lo, price - 2 * self.tick)
            else:
                hi = min(hi, price + 2 * self.tick)
        return lo, hi

    def decide(self, now: int) -> None:
        """Look at the parent and act: end it, cancel what is stale, or send the next child."""
        self._wake = None  # a path that sets none is woken by every market event
        if self.state.final or self.state is ParentState.PENDING_NEW:
            return
        if self.state is ParentState.PENDING_CANCEL or now >= self.end_ns:
            self._wind_down(now)
            return
        if self.state is ParentState.PENDING_REPLACE:
            # Nothing new until every child is done: then the replace is applied or refused on
            # what they filled. A child whose state was unknown when the replace came is
            # cancelled here once the venue has said it lives.
            live = self.live_children
            for child in live:
                if child.state in _CANCELLABLE:
                    self.cancel_child(now, child, "parent replaced below what may fill")
            if live:
                return self._sleep(_NEVER)
            return self.ctx.finish_replace(self)
        if now < self.start_ns:
            return self._sleep(self.start_ns)
        if self.halted and self.halt_cancels:
            # A child the halt could not cancel (the session was down, its state unknown) is
            # cancelled once the venue has said it rests; a drain that leaves children set
            # halt_cancels off.
            self._pull_resting(now, "halted")
        if self.halted or self.market.halted:
            # Resumed by the operator (the engine decides again) or a TradingStatus event.
            return self._sleep(_NEVER)
        if self.market.stale:
            # Blind: a resting child could be picked off at a price the market has left. Pull
            # it, send nothing; the engine wakes the parent when the data is fresh again.
            self._pull_resting(now, "market data stale")
            return self._sleep(_NEVER)
        if self.plan is None:
            self._replan(now, "start")
        elif self.regime is not self.plan.regime and self.strategy == "adaptive":
            self._replan(now, f"regime {self.plan.regime} -> {self.regime}")
        plan_ = self.plan
        if plan_ is None:
            return
        lines = self._lines(plan_, now)
        prev = plan_.cum_targets[lines.bucket - 1] if lines.bucket > 0 else 0
        drift = abs(lines.done - prev) / self.qty
        if lines.bucket > 0 and drift > self.ctx.cfg.drift_replan and now > plan_.start_ns:
            self._replan(now, f"off plan by {drift:.1%}")
            return self.decide(now)

        live = self.live_children
        if live:
            if not self._refresh(now, live):
                # Resting children are looked at again when the touch moves away from them or
                # the plan's must line gets ahead of them (their time to live is a timer); the
                # others when the venue answers (or their ack timer asks it: _check_ack).
                until = _NEVER
                resting = [
                    c for c in live if c.state in _RESTING and c.order.tif is TimeInForce.DAY
                ]
                if resting:
                    until = self._behind_at(plan_, lines, now)
                self._sleep(until, band=self._touch_band(resting) if resting else None)
            return
        if not self.ctx.venue_up:
            return self._sleep(_NEVER)  # nothing new into a dead session; woken when it is back
        if now < self._next_child_ns and not lines.final:
            # A stealth gap: kept, but not past the start of the final push.
            return self._sleep(min(self._next_child_ns, self._push_at()))
        view = self._view()
        if view is None:
            return self._sleep(_NEVER, touch=True)
        intent = choose_child(
            side=self.side,
            may=int(lines.may - lines.done),
            behind=int(lines.must - lines.done),
            bucket_target=int(lines.target),
            market=view,
            policy=self._policy(),
            cfg=self._tactics,
            rng=self.rng,
            limit_price=self.limit_price,
            urgent=lines.final,
        )
        if intent is None:
            # Nothing to do until the must line moves, unless a price decided it: a limit
            # price, or an empty side of the book.
            priced = self.limit_price is not None or view.bid is None or view.ask is None
            self._sleep(self._behind_at(plan_, lines, now), touch=priced)
        elif not self._send(now, intent, bucket_end=lines.bucket_end, final=lines.final):
            until, volume = self._held_back
            self._sleep(min(until, self._behind_at(plan_, lines, now)), volume=volume)

    def _policy(self) -> Policy:
        # Only ``adaptive`` follows the detected regime. The others are the static benchmarks
        # a desk compares it with (a TWAP is a TWAP whatever the market does), so they keep
        # fixed tactics throughout, whatever the regime and however adaptive's table is tuned:
        # that is what lets a backtest measure what the regime policy is worth.
        if self.strategy != "adaptive":
            return STATIC_POLICY
        st = self.detector.state
        return self.detector.policies[Regime.LV] if st is None else st.policy

    @property
    def policy(self) -> Policy:
        """The regime's policy the tactics follow now."""
        return self._policy()

    def _view(self) -> MarketView | None:
        market = self.market
        if self._view_at == market.version:
            return self._view_cache
        bid, ask = market.best(Side.BUY), market.best(Side.SELL)
        view = None
        if bid is not None or ask is not None:
            levels = self._tactics.depth_levels
            view = MarketView(
                bid=None if bid is None else bid[0],
                ask=None if ask is None else ask[0],
                bid_depth=market.depth(Side.BUY, levels),
                ask_depth=market.depth(Side.SELL, levels),
                tick=self.tick,
                lot=self.lot,
            )
        self._view_at, self._view_cache = market.version, view
        return view

    def market_since_start(self) -> int:
        """Market volume printed since the start, by the prints' own times: a print that
        happened before the start but arrived after it (feed latency; in an accelerated paper
        session a millisecond is a third of a simulated second) must not make room under the
        cap. Once the kept tape no longer reaches back to the start, the running total carries
        on from the last exact count."""
        market = self.market
        since = market.volume_printed_after(self.start_ns)
        if since is None:
            return market.total_volume - self.market_volume_at_start
        self.market_volume_at_start = market.total_volume - since
        return since

    def _gate_view(self, now: int, life_ns: int, cl_ord_id: str, price: int | None) -> GateView:
        window = self._window_ns
        keep_from = now + life_ns - window
        market = self.market
        reference = market.mid
        if reference is None:
            reference = market.last_price
        live = self.live_children
        committed = self.notional + sum(c.leaves * (c.order.price or 0) for c in live)
        ours_from = now - self._ours_window_ns
        sym_ours, sym_working, sym_expiry = self.ctx.symbol_load(self.symbol, ours_from)
        trading = self.trading
        symbol_cap, max_qty, max_child_notional, max_parent_notional, collar = self._gate_limits
        return GateView(
            now_ns=now,
            end_ns=self.end_ns,
            parent_qty=self.qty,
            filled=self.filled,
            working=sum(c.leaves for c in live),
            lot=self.lot,
            cap=self.cap,
            ours_window=self.ours_since(ours_from),
            market_window_kept=market.volume_since(keep_from),
            ours_since_start=self.filled,
            market_since_start=self.market_since_start(),
            market_stale=market.stale,
            market_halted=market.halted,
            buy=self.side is Side.BUY,
            price=price,
            reference_price=None if reference is None else round(reference),
            collar=max(self.tick, round((reference or 0) * collar)),
            parent_limit=self.limit_price,
            duplicate_id=self.ctx.child_id_used(cl_ord_id),
            # ClOrdIDs a restart is still asking about count as children in unknown state.
            unknown_children=sum(c.state is ChildState.UNKNOWN for c in live) + self.ids_to_ask,
            symbol_cap=symbol_cap,
            symbol_ours_window=sym_ours,
            symbol_working=sym_working,
            # Until the last of every parent's working children can expire: a resting child
            # of another parent was let in on the volume to its own expiry, later than ours.
            symbol_market_kept=market.volume_since(max(keep_from, sym_expiry - window)),
            max_child_qty=max_qty,
            max_child_notional=max_child_notional,
            max_parent_notional=max_parent_notional,
            parent_notional=committed,
            trading_state=trading.state,
            trading_reason=trading.reason,
            rate_tokens=self.ctx.venue_rate.available(now),
        )

    def _send(self, now: int, intent: ChildIntent, *, bucket_end: int, final: bool = False) -> bool:
        cfg = self.ctx.cfg
        ttl = round(cfg.child_ttl_s * NS)
        if intent.marketable:
            life = round(cfg.cancel_allowance_s * NS)  # an IOC lives only until it is answered
        else:
            ttl = max(min(ttl, bucket_end - now, self.end_ns - now), 1)
            life = ttl + round(cfg.cancel_allowance_s * NS)
        # The id the child will have: the gate checks it was never used. It is taken only if
        # the child goes out, so a denial uses up no id (recovery asks the venue about the
        # ids a crash may have used: they are only children's and cancels').
        cl_ord_id = f"{self.id}-{self.ids_issued + 1}"
        view = self._gate_view(now, life, cl_ord_id, intent.price)
        qty, verdicts = run_gate(view, intent.qty)
        qty = qty // self.lot * self.lot
        self.ctx.on_verdicts(self, verdicts, cl_ord_id=cl_ord_id, asked=intent.qty, granted=qty)
        if qty <= 0:
            self._held_back = self._until_room(now, view, verdicts[-1].check if verdicts else "")
            return False
        if self.ctx.new_child_id(self) != cl_ord_id:  # nothing in between may take an id
            raise RuntimeError(f"{self.id}: the child's id {cl_ord_id} was taken meanwhile")
        display = intent.display_qty
        if display is not None:
            display = min(display, qty)
        order = NewOrder(
            cl_ord_id=cl_ord_id,
            symbol=self.symbol,
            side=self.side,
            qty=qty,
            order_type=OrderType.LIMIT,
            price=intent.price,
            tif=TimeInForce.IOC if intent.marketable else TimeInForce.DAY,
            ts_init=now,
            display_qty=display,
        )
        child = ChildOrder(
            order,
            self.id,
            sent_ns=now,
            stale_ns=now + life - round(cfg.cancel_allowance_s * NS),
            expires_ns=now + life,
            reason=intent.why,
        )
        self.children[order.cl_ord_id] = child
        self._live.append(child)
        self.ctx.send_child(self, child)
        clock = self.ctx.clock
        clock.call_at(now + round(cfg.ack_timeout_s * NS), lambda: self._check_ack(child))
        if not intent.marketable:
            clock.call_at(now + ttl, lambda: self.decide(clock.now_ns()))
        # No random gap in the final push: stealth is worth nothing once the remainder must go
        # out before the end time, and an ADV gap of up to 18 s there left a parent short
        # (seed 612 of the 1,000-day sweep, docs/results.md).
        jitter = 0.0 if final else self._policy().time_jitter
        if jitter > 0:
            gap = jitter * self.rng.random() * cfg.child_ttl_s
            self._next_child_ns = now + round(gap * NS)
        return True

    def _pull_resting(self, now: int, why: str) -> None:
        """Cancel every confirmed resting child (unconfirmed ones are settled by the status
        asked for them first; with the venue down no cancel can go out)."""
        if not self.ctx.venue_up:
            return
        for child in self.live_children:
            if child.order.tif is TimeInForce.DAY and child.state in (
                ChildState.NEW,
                ChildState.PARTIALLY_FILLED,
            ):
                self.cancel_child(now, child, why)

    def _until_room(self, now: int, view: GateView, check: str) -> tuple[int, int | None]:
        """What can change a denial by ``check``: (a time, a traded volume to reach). A parent
        held back by a cap used to decide again on every print; with several parents on a
        capped symbol that was most of the loop's work. The cap's room grows with the market
        volume printed, so the parent sleeps until enough has printed for a lot (or a second,
        as the trailing window slides and our own fills leave it)."""
        total = self.market.total_volume
        need = volume_needed(view, check, self.lot)  # room for one lot under the cap
        if need is not None:
            return now + NS, total + max(need, 1)
        if check == "rate":
            return self.ctx.venue_rate.next_token_ns(now), None
        if check in ("trading_state", "market_data", "unknown_child", "deadline"):
            return _NEVER, None  # the engine, the venue or a timer wakes the parent
        return now + NS, total + 1  # anything else: the next print, or a second

    def _refresh(self, now: int, live: list[ChildOrder]) -> bool:
        """Cancel a resting child that is stale; wait for anything else to resolve. Returns
        whether a cancel went out."""
        cancelled = False
        for child in live:
            # Its own time to live, not the configured one: a child sent late in a bucket lives
            # only to the bucket's end, and the gate let it in on the volume to then.
            stale = now >= child.stale_ns
            if child.state in (ChildState.PENDING_NEW, ChildState.UNKNOWN):
                # Unconfirmed, but it may be resting at the venue: past its time to live it
                # must go, or it could fill after the cap window slid past the volume that
                # allowed it. A cancel of an order the venue never saw is refused harmlessly.
                # With the venue down a cancel cannot go out; the status asked after the
                # reconnection settles the child first.
                if child.order.tif is TimeInForce.DAY and stale and self.ctx.venue_up:
                    self.cancel_child(now, child, "stale, unconfirmed")
                    cancelled = True
                continue
            if child.state not in (ChildState.NEW, ChildState.PARTIALLY_FILLED):
                continue  # already being cancelled: wait for the venue
            if child.order.tif is TimeInForce.IOC:
                continue  # it ends at once; if its end is never heard of, _check_ack asks
            best = self.market.best(self.side)  # our own side's touch
            off = (
                best is not None
                and child.order.price is not None
                and ((best[0] - child.order.price) * self.side.sign * -1 > 2 * self.tick)
            )
            behind = self._behind_now(now)
            if stale or off or behind:
                why = "stale" if stale else "off the touch" if off else "behind plan"
                self.cancel_child(now, child, why)
                cancelled = True
        return cancelled

    def _lines(self, plan_: PlanState, now: int) -> _Lines:
        """Where the plan says this parent should be now (shares since the plan's start).

        In the last ``final_push_s`` before the end time (at most one bucket) the must line is
        the whole remainder: what is left goes out marketable, within the cap, rather than
        resting until the deadline ends the parent short.
        """
        k = plan_.bucket_at(now)
        bucket_start = plan_.start_ns + k * plan_.bucket_ns
        prev = plan_.cum_targets[k - 1] if k > 0 else 0
        target = plan_.cum_targets[k] - prev
        done = self.filled - plan_.filled_at_start
        if now >= self._push_at():
            total = plan_.cum_targets[-1]
            return _Lines(k, bucket_start + plan_.bucket_ns, total, total, target, done, True)
        elapsed = (now - bucket_start) / plan_.bucket_ns
        passive = self._passive_fraction()
        must = prev + must_fraction(elapsed, passive) * target
        may = plan_.cum_targets[k]
        return _Lines(k, bucket_start + plan_.bucket_ns, must, may, target, done, False)

    def _push_at(self) -> int:
        """When the final push starts: ``final_push_s`` (at most one bucket) before the end."""
        cfg = self.ctx.cfg
        return self.end_ns - round(min(cfg.final_push_s, cfg.bucket_s) * NS)

    def _passive_fraction(self) -> float:
        """The share of each bucket left to passive orders: the regime policy's (adaptive) or
        the configured one, scaled by urgency (:func:`urgency_passive_mult`)."""
        base = (
            self._policy().passive_fraction
            if self.strategy == "adaptive"
            else self.ctx.cfg.passive_fraction
        )
        return min(1.0, base * urgency_passive_mult(self.effective_urgency))

    def _behind_now(self, now: int) -> bool:
        plan_ = self.plan
        if plan_ is None:
            return False
        lines = self._lines(plan_, now)
        tolerance = self.lot - 1 if lines.final else max(self.lot, 0.1 * lines.target)
        return lines.must - lines.done > tolerance

    def _behind_at(self, plan_: PlanState, lines: _Lines, now: int) -> int:
        """The earliest time the must line can get more than the tolerance ahead of what is
        done (``now`` if it already is): before then, time alone changes no decision. Never
        later than the bucket's end or the start of the final push."""
        push_at = self._push_at()
        horizon = min(lines.bucket_end, push_at) if now < push_at else lines.bucket_end
        tolerance = (
            self.lot - 1
            if lines.final
            else min(
                max(self.lot, 0.1 * lines.target),
                max(
                    self._tactics.min_child_lots * self.lot,
                    self._tactics.behind_tolerance * lines.target,
                ),
            )
        )
        if lines.must - lines.done > tolerance:
            return now
        if lines.final or lines.target <= 0:
            return horizon  # the must line is flat until then
        passive = self._passive_fraction()
        if passive >= 1.0:
            return horizon
        k = lines.bucket
        prev = plan_.cum_targets[k - 1] if k > 0 else 0
        need = (tolerance + lines.done - prev) / lines.target  # must_fraction to reach
        if need >= 1.0:
            return horizon
        elapsed = passive + max(need, 0.0) * (1.0 - passive)
        at = plan_.start_ns + k * plan_.bucket_ns + math.floor(elapsed * plan_.bucket_ns)
        return max(min(at, horizon), now)

    def cancel_child(self, now: int, child: ChildOrder, why: str) -> None:
        if child.state.final or child.state is ChildState.PENDING_CANCEL:
            return
        if not self.ctx.venue_up:
            # It could not go out: left as it is (unknown), the child is asked about when the
            # session is back, and the decision that wanted it cancelled asks again then.
            return
        child.apply(ChildEvent.CANCEL_REQUEST)
        child.cancel_id = self.ctx.new_child_id(self)
        child.cancel_ns = now
        self.ctx.note(self, "cancel_child", child=child.cl_ord_id, why=why)
        self.ctx.send_cancel(
            self,
            CancelOrder(child.cancel_id, child.cl_ord_id, self.symbol, self.side, now),
        )
        self.ctx.clock.call_at(
            now + round(self.ctx.cfg.ack_timeout_s * NS), lambda: self._check_cancel(child)
        )

    def _check_ack(self, child: ChildOrder) -> None:
        """At the child's ack timeout: unacknowledged, it is unknown until the venue says; an
        acknowledged IOC should have ended at once, so its end report was lost: ask too."""
        if child.state is ChildState.PENDING_NEW:
            child.apply(ChildEvent.LOST)
            self.ctx.note(self, "child_unknown", child=child.cl_ord_id, why="no ack in time")
            self.request_status(child)
        elif _ioc_unended(child):
            child.status_asked = True
            self.ctx.note(self, "child_unknown", child=child.cl_ord_id, why="IOC end not heard")
            self.request_status(child)

    def _check_cancel(self, child: ChildOrder) -> None:
        if child.state is ChildState.PENDING_CANCEL:
            self.request_status(child)

    def request_status(self, child: ChildOrder) -> None:
        now = self.ctx.clock.now_ns()
        self.ctx.send_status(self, StatusRequest(child.cl_ord_id, self.symbol, self.side, now))
        # Ask again until the venue answers: an unknown child blocks this parent.
        self.ctx.clock.call_at(
            now + round(self.ctx.cfg.ack_timeout_s * NS), lambda: self._recheck(child)
        )

    def _recheck(self, child: ChildOrder) -> None:
        if child.state in (ChildState.UNKNOWN, ChildState.PENDING_CANCEL) or _ioc_unended(child):
            self.request_status(child)

    def end(self, now: int, reason: str) -> None:
        """End the parent now, DoneForDay with the remainder (the feasibility policy
        ``stop``): its children are cancelled first, as at the end time."""
        self.end_ns = min(self.end_ns, now)
        self.stop_reason = reason
        self.ctx.note(self, "ending", reason=reason)
        self._wind_down(now)

    def _wind_down(self, now: int) -> None:
        """The end time has passed or a cancel was asked: cancel children, then finish."""
        for child in self.live_children:
            if child.state in _CANCELLABLE:
                self.cancel_child(now, child, "parent ending")
        if self.live_children:
            return self._sleep(_NEVER)  # finished when the venue has answered for every child
        if self.state is ParentState.PENDING_CANCEL:
            self.transition(ParentEvent.CANCEL_DONE)
            self.ended_reason = "canceled"
        elif self.filled >= self.qty:
            return
        else:
            self.transition(ParentEvent.END_OF_DAY)
            left = self.qty - self.filled
            self.ended_reason = (
                f"{self.stop_reason}: ended with {left} left"
                if self.stop_reason
                else f"end time reached with {left} left"
            )
        self._finish()

    def _finish(self) -> None:
        self._finished = True
        if self._bucket_timer is not None:
            self._bucket_timer.cancel()
            self._bucket_timer = None
        self.ctx.parent_finished(self)

    def record_complete(self) -> None:
        """The last share filled: the parent is FILLED (reported with that fill)."""
        if self.filled >= self.qty and not self.state.final:
            self.transition(ParentEvent.FILL_COMPLETE)
            self.ended_reason = "filled"

    def child_done(self, now: int) -> None:
        """A child reached a final state or filled: finish or go on."""
        if self.state is ParentState.FILLED:
            if not self._finished:
                self._finished = True
                self._finish()
            return
        self.decide(now)
