r"""The adversarial-flow score: how the market reacts to our own executions.

Each of our executions opens an observation. Every measure compares our side with the other
side of the same market in the same window, never with a slow baseline: a baseline would adapt
to a persistent adversary within minutes, and the two sides move together with the time of
day and the volatility regime, so their ratio isolates what is aimed at us. Over the next
``horizon_s`` seconds (and, for the markout, ``markout_s``) four reactions are measured:

============  ==============================================================  ==================
component     measurement (raw, per observation; see :class:`Evidence`)       pooled value maps
                                                                              0 -> 1 over
============  ==============================================================  ==================
``flow``      same-side aggressive volume in the window (ours excluded) and   ratio 1.1 -> 2.2
              the opposite side's; pooled as the ratio of their weighted
              means (others trading with us, or ahead of us)
``fade``      ``1 - ours / theirs``: displayed size at the touch we trade     20% -> 70%
              against (bids for a sell) relative to the opposite touch at
              the end of the window: liquidity withdrawn from our side
``impact``    mid move in our direction over the window, over the move the   0 -> 0.5
              impact model predicted (``expected_move``; by default half the
              spread at our fill)
``markout``   mid move in our direction ``markout_s`` after the fill, in      0.2 -> 1
              half-spreads: the price keeps going where we push it            half-spread
============  ==============================================================  ==================

One observation is noise (a 20-second window holds a handful of prints), so nothing is mapped
per observation: each raw measure is pooled across closed observations as an exponentially
weighted mean (weight ``alpha`` per observation, raised after a long gap so old evidence
ages with wall time), and the score is

    ``score = 0.45 flow + 0.1 fade + 0.15 impact + 0.3 markout``

of the pooled values (weights configurable). It decays toward 0 with half-life
``decay_halflife_s`` while no new evidence arrives, so old suspicion fades. With no executions
of ours it stays at 0: neutral, no evidence of anything. It lies in [0, 1]. The ranges and
weights were set on simulator days (seeds 101-105, disjoint from the evaluation seeds): the
flow ratio and the markout separate an active adversary best; on the simulator the fade
barely does (see docs/performance.md).

Pure: every method takes ``ts_ns``; nothing reads a clock.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

from strategies.errors import InvalidParameterError
from strategies.schedule import Side

__all__ = ["AdverseConfig", "AdverseFlowScore", "Evidence"]

_NS = 1_000_000_000


@dataclass(frozen=True, slots=True, kw_only=True)
class AdverseConfig:
    horizon_s: float = 20.0
    markout_s: float = 60.0
    decay_halflife_s: float = 900.0
    alpha: float = 0.25
    w_flow: float = 0.45
    w_fade: float = 0.1
    w_impact: float = 0.15
    w_markout: float = 0.3

    def __post_init__(self) -> None:
        if not 0 < self.horizon_s <= self.markout_s:
            raise InvalidParameterError("need 0 < horizon_s <= markout_s")
        if not 0 < self.alpha <= 1:
            raise InvalidParameterError("alpha must be in (0, 1]")
        w = (self.w_flow, self.w_fade, self.w_impact, self.w_markout)
        if min(w) < 0 or not math.isclose(sum(w), 1.0):
            raise InvalidParameterError(f"weights must be >= 0 and sum to 1, got {w}")


@dataclass(frozen=True, slots=True)
class Evidence:
    """What was measured after one of our executions (raw, before pooling)."""

    ts_ns: int
    same_volume: int  # same-side aggressive volume in the window, ours excluded
    other_volume: int  # opposite-side aggressive volume in the window
    fade: float  # 1 - (our touch / their touch) at the end of the window
    impact: float  # mid move our way over the window / the predicted move
    markout: float  # mid move our way after markout_s, in half-spreads


@dataclass(slots=True)
class _Obs:
    ts: int
    side: Side
    mid: float
    half_spread: float
    expected_move: float
    same_side_volume: int = 0
    other_side_volume: int = 0
    closed: bool = False
    fade: float = 0.0
    impact: float = 0.0


def _ramp(x: float, lo: float, hi: float) -> float:
    return min(1.0, max(0.0, (x - lo) / (hi - lo)))


class AdverseFlowScore:
    """The adversarial-flow score of one symbol (see the module docstring)."""

    def __init__(self, cfg: AdverseConfig | None = None) -> None:
        self.cfg = cfg or AdverseConfig()
        self._h_ns = round(self.cfg.horizon_s * _NS)
        self._mk_ns = round(self.cfg.markout_s * _NS)
        self._open: deque[_Obs] = deque()
        self._bid = self._ask = math.nan
        self._bid_size = self._ask_size = 0
        # Exponentially weighted pooled statistics over closed observations.
        self._same = self._other = 0.0
        self._fade = self._impact = self._markout = 0.0
        self._n = 0
        self._score = 0.0
        self._score_ts = 0
        self.history: list[Evidence] = []

    # --- inputs -------------------------------------------------------------------------------

    def on_quote(self, ts_ns: int, bid: float, bid_size: int, ask: float, ask_size: int) -> None:
        """Top of book (prices in any unit, consistently)."""
        self._bid, self._bid_size, self._ask, self._ask_size = bid, bid_size, ask, ask_size
        if self._open:
            self._progress(ts_ns)

    def on_trade(self, ts_ns: int, aggressor: Side | None, size: int) -> None:
        """A print on the tape (ours included; they are netted out)."""
        if aggressor is not None:
            for obs in self._open:
                if ts_ns <= obs.ts + self._h_ns:
                    if obs.side is aggressor:
                        obs.same_side_volume += size
                    else:
                        obs.other_side_volume += size
        if self._open:
            self._progress(ts_ns)

    def on_execution(
        self, ts_ns: int, side: Side, qty: int, expected_move: float | None = None
    ) -> None:
        """One of our fills. ``expected_move``: the mid move the impact model predicts for it.

        Fills of one order at one instant (walking several levels) are one observation.
        """
        if qty <= 0:
            raise InvalidParameterError(f"execution quantity must be > 0, got {qty}")
        last = self._open[-1] if self._open else None
        if last is not None and last.ts == ts_ns and last.side is side:
            last.same_side_volume -= qty
            return
        mid = 0.5 * (self._bid + self._ask)
        if not math.isfinite(mid):
            return  # no market seen yet: nothing to compare with
        half = max(0.5 * (self._ask - self._bid), 1e-12)
        move = half if expected_move is None else max(expected_move, 1e-12)
        # Our own print arrives on the tape too: start below zero so it nets out.
        self._open.append(_Obs(ts_ns, side, mid, half, move, -qty))

    # --- output -------------------------------------------------------------------------------

    def score(self, ts_ns: int) -> float:
        """The score at ``ts_ns``, decayed for the time since the last evidence."""
        self._progress(ts_ns)
        dt = max(ts_ns - self._score_ts, 0) / _NS
        return self._score * 0.5 ** (dt / self.cfg.decay_halflife_s)

    def components(self) -> dict[str, float]:
        """The four pooled components, each in [0, 1], as of the last closed observation."""
        if self._n == 0:
            return {"flow": 0.0, "fade": 0.0, "impact": 0.0, "markout": 0.0}
        ratio = self._same / (self._other + 1.0)
        return {
            "flow": _ramp(ratio, 1.1, 2.2),
            "fade": _ramp(self._fade, 0.2, 0.7),
            "impact": _ramp(self._impact, 0.0, 0.5),
            "markout": _ramp(self._markout, 0.2, 1.0),
        }

    # --- internals ----------------------------------------------------------------------------

    def _progress(self, ts_ns: int) -> None:
        mid = 0.5 * (self._bid + self._ask)
        for obs in self._open:  # oldest first: windows end in this order
            if ts_ns < obs.ts + self._h_ns:
                break
            if not obs.closed:
                self._close_window(obs, mid)
        while self._open and self._open[0].closed and ts_ns >= self._open[0].ts + self._mk_ns:
            self._finish(self._open.popleft(), mid, ts_ns)

    def _close_window(self, obs: _Obs, mid: float) -> None:
        obs.closed = True
        ours, theirs = (
            (self._bid_size, self._ask_size)
            if obs.side is Side.SELL
            else (self._ask_size, self._bid_size)
        )
        obs.fade = 1.0 - ours / theirs if theirs > 0 else 0.0
        direction = -1.0 if obs.side is Side.SELL else 1.0
        move = direction * (mid - obs.mid)
        obs.impact = move / obs.expected_move if math.isfinite(move) else 0.0

    def _finish(self, obs: _Obs, mid: float, ts_ns: int) -> None:
        cfg = self.cfg
        direction = -1.0 if obs.side is Side.SELL else 1.0
        move = direction * (mid - obs.mid)
        markout = move / obs.half_spread if math.isfinite(move) else 0.0
        same = max(obs.same_side_volume, 0)
        ev = Evidence(obs.ts, same, obs.other_side_volume, obs.fade, obs.impact, markout)
        self.history.append(ev)
        # Time also ages the pool: after a long gap the new evidence weighs more.
        gap = max(ts_ns - self._score_ts, 0) / _NS
        a = 1.0 if self._n == 0 else 1.0 - (1.0 - cfg.alpha) * 0.5 ** (gap / cfg.decay_halflife_s)
        self._n += 1
        self._same += a * (ev.same_volume - self._same)
        self._other += a * (ev.other_volume - self._other)
        self._fade += a * (ev.fade - self._fade)
        self._impact += a * (ev.impact - self._impact)
        self._markout += a * (ev.markout - self._markout)
        c = self.components()
        self._score = (
            cfg.w_flow * c["flow"]
            + cfg.w_fade * c["fade"]
            + cfg.w_impact * c["impact"]
            + cfg.w_markout * c["markout"]
        )
        self._score_ts = ts_ns
