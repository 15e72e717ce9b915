"""The market simulator: one symbol's market in simulated time, seeded and deterministic.

A discrete-event loop over one heap of timed events: background arrivals
(:mod:`adapters.sim.background`), adversaries' decisions (:mod:`adapters.sim.adversary`) and our
own instructions, which reach the exchange after ``latency_s``. Between events the fundamental
log-price diffuses with the regime-switching stochastic volatility of
:mod:`adapters.sim.volatility`; every aggressive share moves it by
``permanent_impact_per_share`` (permanent impact, from net aggressive volume, ours included).
Temporary impact is what a trade takes out of the book; it decays as the background flow refills
the thinner side (see :mod:`adapters.sim.background`).

``MarketSimulator`` implements the venue port (for the session ``"us"``; :meth:`venue` gives
other sessions their own), the market-data port and ``advance_to``: the engine cannot tell it
from a FIX venue. Ground truth
(regime changes, adversaries becoming active or passive) is recorded as it happens and exported
by :meth:`MarketSimulator.ground_truth` so the regime detector can be scored.

Same config and seed, same calls: same events, bit for bit. All randomness comes from one
``numpy.random.SeedSequence(seed)`` spawned per component.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from adapters.sim.adversary import Adversary
from adapters.sim.background import BackgroundFlow
from adapters.sim.book import Fill
from adapters.sim.config import MarketConfig, Regime
from adapters.sim.exchange import Exchange, ExchangeSession, Instrument
from adapters.sim.volatility import VolatilityProcess
from engine.events import (
    PRICE_SCALE,
    CancelOrder,
    MarketEvent,
    NewOrder,
    ReplaceOrder,
    Side,
    StatusRequest,
    VenueEvent,
)

__all__ = ["GroundTruth", "MarketSimulator", "SimVenue"]

_NS = 1_000_000_000
_BACKGROUND, _ADVERSARY, _INSTRUCTION = 0, 1, 2


@dataclass(frozen=True, slots=True)
class GroundTruth:
    """What really happened: regime changes and adversary activity, as step functions."""

    regime_ts: NDArray[np.int64]  # times at which the regime became regime_values[i]
    regime_values: tuple[Regime, ...]
    adversary_ts: dict[str, NDArray[np.int64]]  # per adversary: times its state changed
    # The side of the trader it hunts from that time on (None: not hunting). A predator can
    # mistake background flow for a trader and hunt a side nobody of ours is on.
    adversary_target: dict[str, tuple[Side | None, ...]]

    def regime_at(self, ts: NDArray[np.int64] | int) -> NDArray[np.str_]:
        """The regime in force at each time (vectorised)."""
        idx = np.searchsorted(self.regime_ts, np.asarray(ts), side="right") - 1
        return np.asarray(self.regime_values, dtype=str)[np.maximum(idx, 0)]

    def adversary_active_at(
        self, ts: NDArray[np.int64] | int, *, against: Side | None = None
    ) -> NDArray[np.bool_]:
        """Whether any adversary was active at each time (vectorised); with ``against``, only
        adversaries hunting a trader on that side."""
        t = np.asarray(ts)
        out = np.zeros(t.shape, dtype=bool)
        for name, times in self.adversary_ts.items():
            idx = np.searchsorted(times, t, side="right") - 1
            targets = self.adversary_target[name]
            active = np.array(
                [x is not None and (against is None or x is against) for x in targets], dtype=bool
            )
            out |= np.where(idx >= 0, active[np.maximum(idx, 0)], False)
        return out


class SimVenue:
    """Our venue port on the simulator: instructions reach the exchange after the latency."""

    def __init__(self, sim: MarketSimulator, session: ExchangeSession) -> None:
        self._sim = sim
        self._session = session

    def connect(self, sink: Callable[[VenueEvent], None]) -> None:
        self._session.connect(sink)

    def submit(self, order: NewOrder) -> None:
        self._sim._instruct(self._session.submit, order)

    def cancel(self, request: CancelOrder) -> None:
        self._sim._instruct(self._session.cancel, request)

    def replace(self, request: ReplaceOrder) -> None:
        self._sim._instruct(self._session.replace, request)

    def request_status(self, request: StatusRequest) -> None:
        self._sim._instruct(self._session.request_status, request)


class MarketSimulator:
    """A simulated market for one symbol (see the module docstring)."""

    def __init__(self, cfg: MarketConfig) -> None:
        self.cfg = cfg
        self.symbol = cfg.symbol
        self.start_ns = cfg.start_ns
        self.end_ns = cfg.end_ns
        self._now = cfg.start_ns
        self._last_diffusion = cfg.start_ns
        step = cfg.diffusion_step_s
        self._step_ns = 0 if step is None else max(1, round(step * _NS))
        self._exo = [0.0]  # on the grid: the diffusion's log move to the end of each step
        self._session_s = cfg.duration_s
        seeds = np.random.SeedSequence(cfg.seed).spawn(3 + len(cfg.adversaries))
        rngs = [random.Random(int(s.generate_state(1)[0])) for s in seeds]
        self.exchange = Exchange([Instrument(cfg.symbol, cfg.tick, cfg.lot)], lambda: self._now)
        self.exchange.trade_listeners.append(self._on_fill)
        self._us = SimVenue(self, self.exchange.session("us"))
        self.vol = VolatilityProcess(cfg.volatility, cfg.duration_s, rngs[0])
        self.flow = BackgroundFlow(cfg.flow, cfg.symbol, cfg.tick, cfg.duration_s, rngs[1])
        self.adversaries = [
            Adversary(a, cfg.symbol, cfg.flow.lot_shares, rngs[3 + i])
            for i, a in enumerate(cfg.adversaries)
        ]
        self._log_fund = math.log(cfg.start_price * PRICE_SCALE)
        self._heap: list[tuple[int, int, int, Any]] = []
        self._seq = itertools.count()
        self._latency_ns = round(cfg.latency_s * _NS)
        self._regimes: list[tuple[int, Regime]] = [(cfg.start_ns, self.vol.regime)]
        self._adv_log: dict[str, list[tuple[int, Side | None]]] = {
            a.name: [(cfg.start_ns, None)] for a in self.adversaries
        }
        self.flow.seed_book(self.exchange, self.fundamental_ticks, self.vol.regime)
        for a in self.adversaries:
            self.exchange.subscribe(cfg.symbol, a.on_market_data)
        self._schedule_background(0.0)
        for i, a in enumerate(self.adversaries):
            first = cfg.start_ns + round(a.cfg.decision_interval_s * _NS)
            self._push(first, _ADVERSARY, i)

    # --- state --------------------------------------------------------------------------------

    @property
    def now_ns(self) -> int:
        return self._now

    @property
    def next_event_ns(self) -> int | None:
        """When the next scheduled event is due (``None`` if none): lets a driver interleave
        its own timers with the market's events in time order."""
        return self._heap[0][0] if self._heap else None

    @property
    def fundamental_ticks(self) -> float:
        return math.exp(self._log_fund) / self.cfg.tick

    @property
    def fundamental_price(self) -> float:
        """The fundamental value in currency (what the mid-price is drawn toward)."""
        return math.exp(self._log_fund) / PRICE_SCALE

    @property
    def regime(self) -> Regime:
        return self.vol.regime

    def exogenous_move(self, ts_ns: int) -> float:
        """The log move of the fundamental value from the start to ``ts_ns`` that no trade
        caused (the diffusion alone, impact excluded), as far as the market has run. Only on a
        fixed grid (``diffusion_step_s``), where it is the same whatever anyone trades: a
        backtest subtracts it from every strategy's shortfall as a control variate."""
        if not self._step_ns:
            raise ValueError("the exogenous move is kept only with diffusion_step_s set")
        k = (ts_ns - self.start_ns) // self._step_ns
        return self._exo[min(max(k, 0), len(self._exo) - 1)]

    # --- ports --------------------------------------------------------------------------------

    def venue(self, owner: str = "us") -> SimVenue:
        """Return a venue port for ``owner``; its instructions arrive after the latency."""
        if owner == "us":
            return self._us
        return SimVenue(self, self.exchange.session(owner))

    def connect(self, sink: Callable[[VenueEvent], None]) -> None:
        self._us.connect(sink)

    def submit(self, order: NewOrder) -> None:
        self._us.submit(order)

    def cancel(self, request: CancelOrder) -> None:
        self._us.cancel(request)

    def replace(self, request: ReplaceOrder) -> None:
        self._us.replace(request)

    def request_status(self, request: StatusRequest) -> None:
        self._us.request_status(request)

    def subscribe(self, symbol: str, sink: Callable[[MarketEvent], None]) -> None:
        self.exchange.subscribe(symbol, sink)

    def unsubscribe(self, symbol: str, sink: Callable[[MarketEvent], None]) -> None:
        self.exchange.unsubscribe(symbol, sink)

    # --- time ---------------------------------------------------------------------------------

    def advance_to(self, ts_ns: int) -> None:
        """Process every event due at or before ``ts_ns``; then the clock reads ``ts_ns``."""
        if ts_ns < self._now:
            raise ValueError(f"time runs forward: asked for {ts_ns} < now {self._now}")
        heap = self._heap
        while heap and heap[0][0] <= ts_ns:
            ts, _, kind, payload = heapq.heappop(heap)
            self._now = ts
            self._diffuse(ts)
            if kind == _BACKGROUND:
                self.flow.act(self.exchange, self.fundamental_ticks, self.vol.regime)
                self._schedule_background((ts - self.start_ns) / _NS)
            elif kind == _INSTRUCTION:
                method, arg = payload
                method(arg)
            else:
                self._adversary_turn(payload, ts)
        self._now = ts_ns
        self._diffuse(ts_ns)

    def run(self) -> None:
        """Run to the end of the session."""
        self.advance_to(max(self.end_ns, self._now))

    def ground_truth(self) -> GroundTruth:
        return GroundTruth(
            regime_ts=np.array([t for t, _ in self._regimes], dtype=np.int64),
            regime_values=tuple(r for _, r in self._regimes),
            adversary_ts={
                n: np.array([t for t, _ in log], dtype=np.int64) for n, log in self._adv_log.items()
            },
            adversary_target={n: tuple(a for _, a in log) for n, log in self._adv_log.items()},
        )

    # --- internals ----------------------------------------------------------------------------

    def _push(self, ts: int, kind: int, payload: Any) -> None:
        heapq.heappush(self._heap, (ts, next(self._seq), kind, payload))

    def _instruct(self, method: Callable[[Any], None], arg: Any) -> None:
        self._push(self._now + self._latency_ns, _INSTRUCTION, (method, arg))

    def _schedule_background(self, t_s: float) -> None:
        nxt = self.flow.next_time(t_s)
        if nxt < self._session_s:
            self._push(self.start_ns + round(nxt * _NS), _BACKGROUND, None)

    def _diffuse(self, ts: int) -> None:
        if self._step_ns:
            # On the fixed grid: every step whose end has been reached, and no other draw.
            step_s = self.cfg.diffusion_step_s
            while self._last_diffusion + self._step_ns <= ts:
                self._last_diffusion += self._step_ns
                shock, switched = self.vol.step(step_s)
                self._log_fund += shock
                self._exo.append(self._exo[-1] + shock)
                if switched:
                    self._regimes.append((self._last_diffusion, self.vol.regime))
            return
        dt = (ts - self._last_diffusion) / _NS
        if dt <= 0.0:
            return
        self._last_diffusion = ts
        shock, switched = self.vol.step(dt)
        self._log_fund += shock
        if switched:
            self._regimes.append((ts, self.vol.regime))

    def _adversary_turn(self, i: int, ts: int) -> None:
        a = self.adversaries[i]
        was = a.target
        a.act(self.exchange, ts)
        if a.target is not was:
            self._adv_log[a.name].append((ts, a.target))
        nxt = ts + round(a.cfg.decision_interval_s * _NS)
        if nxt < self.end_ns:
            self._push(nxt, _ADVERSARY, i)

    def _on_fill(self, symbol: str, fill: Fill, now: int) -> None:
        sign = 1.0 if fill.aggressor_side is Side.BUY else -1.0
        self._log_fund += sign * self.cfg.flow.permanent_impact_per_share * fill.qty
