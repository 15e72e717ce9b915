"""A scripted trader of ours for evaluation days: predictable phases invite the adversary.

The regime detector's adversarial score measures how the market reacts to *our* executions, so
a simulated day without our trading has nothing to score. The probe trader is the simplest
trader that makes such a day informative: it works one side all day with market orders through
the venue port (so its fills arrive as ExecutionReports, exactly as the engine's would), in
alternating phases:

* **predictable**: ``clip`` shares every ``interval_s`` seconds, the pattern a predatory
  participant looks for (regular prints of one size on one side);
* **random**: sizes uniform over ``1..2*clip/lot`` lots and exponential gaps of mean
  ``interval_s``: the same average rate with nothing regular to latch on to.

The day starts with a random phase; phase lengths are drawn uniformly from the configured
ranges. Seeded: the same config and seed give the same orders. It is not an execution strategy
(no schedule, no participation cap): the engine's scheduler replaces it in paper trading.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from adapters.sim.market import MarketSimulator
from engine.events import MarketEvent, NewOrder, OrderType, Side, TimeInForce, VenueEvent
from engine.ports import VenuePort

__all__ = ["Phase", "ProbeConfig", "ProbeTrader", "run_probe_day"]

_NS = 1_000_000_000


@dataclass(frozen=True, slots=True, kw_only=True)
class ProbeConfig:
    side: Side = Side.SELL
    clip: int = 500  # shares per order in predictable phases (mean size in random phases)
    interval_s: float = 30.0  # gap between orders (mean gap in random phases)
    predictable_s: tuple[float, float] = (1800.0, 3000.0)  # phase length range
    random_s: tuple[float, float] = (2400.0, 4200.0)
    lot: int = 100

    def __post_init__(self) -> None:
        if self.clip < self.lot or self.clip % self.lot:
            raise ValueError("clip must be a positive multiple of lot")
        if self.interval_s <= 0:
            raise ValueError("interval_s must be > 0")
        for lo, hi in (self.predictable_s, self.random_s):
            if not 0 < lo <= hi:
                raise ValueError("phase length ranges need 0 < low <= high")


@dataclass(frozen=True, slots=True)
class Phase:
    start_ns: int
    end_ns: int
    predictable: bool


class ProbeTrader:
    """Sends the probe's orders; the caller advances the market to :attr:`next_ns` and calls
    :meth:`act`."""

    def __init__(
        self,
        venue: VenuePort,
        symbol: str,
        cfg: ProbeConfig,
        *,
        start_ns: int,
        end_ns: int,
        seed: int,
    ) -> None:
        self.cfg = cfg
        self._venue = venue
        self._symbol = symbol
        self._rng = random.Random(seed)
        self.phases: list[Phase] = []
        t, predictable = start_ns, False
        while t < end_ns:
            lo, hi = cfg.predictable_s if predictable else cfg.random_s
            end = min(end_ns, t + round(self._rng.uniform(lo, hi) * _NS))
            self.phases.append(Phase(t, end, predictable))
            t, predictable = end, not predictable
        self._end_ns = end_ns
        self._ids = 0
        self.sent_qty = 0
        self.next_ns = start_ns + round(cfg.interval_s * _NS)

    def phase_at(self, ts_ns: int) -> Phase:
        for p in self.phases:
            if p.start_ns <= ts_ns < p.end_ns:
                return p
        return self.phases[-1]

    @property
    def done(self) -> bool:
        return self.next_ns >= self._end_ns

    def act(self, now_ns: int) -> None:
        """Send the order due at ``now_ns`` and schedule the next one."""
        cfg = self.cfg
        if self.phase_at(now_ns).predictable:
            qty, gap = cfg.clip, cfg.interval_s
        else:
            lots = self._rng.randint(1, 2 * cfg.clip // cfg.lot)
            qty, gap = lots * cfg.lot, self._rng.expovariate(1.0 / cfg.interval_s)
        self._ids += 1
        self._venue.submit(
            NewOrder(
                f"probe-{self._ids}",
                self._symbol,
                cfg.side,
                qty,
                OrderType.MARKET,
                None,
                TimeInForce.IOC,
                now_ns,
            )
        )
        self.sent_qty += qty
        self.next_ns = now_ns + max(1, round(gap * _NS))


def run_probe_day(
    market: MarketSimulator,
    probe: ProbeConfig,
    *,
    seed: int,
    on_market: Callable[[MarketEvent], None],
    on_report: Callable[[VenueEvent], None],
) -> ProbeTrader:
    """Run ``market`` to the end of its session with a probe trader working in it.

    ``on_market`` receives the public feed, ``on_report`` the probe's execution reports.
    """
    trader = ProbeTrader(
        market.venue("us"),
        market.symbol,
        probe,
        start_ns=market.start_ns,
        end_ns=market.end_ns,
        seed=seed,
    )
    market.connect(on_report)
    market.subscribe(market.symbol, on_market)
    while not trader.done:
        market.advance_to(trader.next_ns)
        trader.act(market.now_ns)
    market.run()
    return trader
