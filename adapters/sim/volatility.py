r"""Regime-switching stochastic volatility: an Ornstein-Uhlenbeck process in log-variance.

``h_t = log sigma_t^2`` (sigma per square-root second, a fraction of price) follows

.. math:: dh = \kappa (\theta_{r_t} - h)\,dt + \xi\,dW_t

with ``r_t`` in {LV, HV} a two-state Markov chain (intensities ``q_LH``, ``q_HL`` per unit time).
Steps use the exact OU transition over ``dt``:
``h' = theta + (h - theta) e^{-kappa dt} + xi sqrt((1 - e^{-2 kappa dt}) / (2 kappa)) Z``.

``theta_r`` is set so that the *mean* variance in regime ``r`` equals the configured daily
volatility squared per session: for a stationary OU, ``E[e^h] = e^{theta + s^2/2}`` with
``s^2 = xi^2 / (2 kappa)``, so ``theta_r = log(daily_r^2 / T_session) - s^2 / 2``.

A switch moves ``h`` by ``theta_new - theta_old`` at once: the regime sets the level, and the
OU deviation ``h - theta_r`` (the weather within a regime, half-life ``ln 2 / kappa``, about 14
minutes by default) carries over. Volatility is therefore high exactly while the regime is HV,
so the regime labels are a ground truth a detector can be scored against (were ``h`` to relax
toward the new level instead, a short episode would end before its volatility arrived).
Volatility clustering comes from the OU persistence and from the regimes. The log-price
increment over ``dt`` is ``sigma_t sqrt(dt) Z'`` (Euler in ``h``).
"""

from __future__ import annotations

import math
import random

from adapters.sim.config import Regime, VolatilityConfig

__all__ = ["VolatilityProcess"]


class VolatilityProcess:
    """The volatility state of one symbol, advanced in steps of ``dt`` seconds."""

    def __init__(self, cfg: VolatilityConfig, session_seconds: float, rng: random.Random) -> None:
        self._rng = rng
        self.kappa = cfg.kappa_per_hour / 3600.0
        self.xi = cfg.xi_per_sqrt_hour / 60.0
        s2 = self.xi**2 / (2.0 * self.kappa)
        self.theta = {
            Regime.LV: math.log(cfg.lv_daily**2 / session_seconds) - 0.5 * s2,
            Regime.HV: math.log(cfg.hv_daily**2 / session_seconds) - 0.5 * s2,
        }
        self.switch_rate = {
            Regime.LV: cfg.lv_to_hv_per_hour / 3600.0,
            Regime.HV: cfg.hv_to_lv_per_hour / 3600.0,
        }
        self.regime = cfg.start_regime
        # Start at the regime's long-run level plus one stationary draw, like any later moment.
        self.h = self.theta[self.regime] + math.sqrt(s2) * rng.gauss(0.0, 1.0)

    @property
    def sigma(self) -> float:
        """Current volatility, fraction of price per square-root second."""
        return math.exp(0.5 * self.h)

    def step(self, dt: float) -> tuple[float, bool]:
        """Advance ``dt`` seconds; return the log-price shock and whether the regime switched."""
        if dt <= 0.0:
            return 0.0, False
        rng = self._rng
        shock = self.sigma * math.sqrt(dt) * rng.gauss(0.0, 1.0)
        switched = rng.random() < -math.expm1(-self.switch_rate[self.regime] * dt)
        if switched:
            old = self.theta[self.regime]
            self.regime = Regime.HV if self.regime is Regime.LV else Regime.LV
            self.h += self.theta[self.regime] - old
        theta = self.theta[self.regime]
        decay = math.exp(-self.kappa * dt)
        spread = self.xi * math.sqrt(-math.expm1(-2.0 * self.kappa * dt) / (2.0 * self.kappa))
        self.h = theta + (self.h - theta) * decay + spread * rng.gauss(0.0, 1.0)
        return shock, switched
