r"""The adversarial-flow score: how the market reacts to our own executions.

Each of our executions opens an observation. Every measure compares our side with the other
side of the same market in the same window, never with a slow baseline: a baseline would adapt
to a persistent adversary within minutes, and the two sides move together with the time of
day and the volatility regime, so their ratio isolates what is aimed at us. Over the next
``horizon_s`` seconds (and, for the markout, ``markout_s``) four reactions are measured, each
mapped to [0, 1]:

============  ==============================================================  ==================
component     measurement                                                     maps 0 -> 1 over
============  ==============================================================  ==================
``flow``      same-side aggressive volume in the window (ours excluded) over  ratio 1.5 -> 4
              the opposite side's (others trading with us, or ahead of us)
``fade``      displayed size at the touch we trade against (bids for a sell)  shortfall 20% ->
              relative to the opposite touch, at the end of the window:       70%
              ``1 - ours / theirs``: liquidity withdrawn from our side
``impact``    mid move in our direction over the window, over the move the   ratio 1 -> 3
              impact model predicted (``expected_move``; by default half the
              spread at our fill)
``markout``   mid move in our direction ``markout_s`` after the fill, in      0 -> 4 half-spreads
              half-spreads: the price keeps going where we push it
============  ==============================================================  ==================

An observation's evidence is ``e = 0.35 flow + 0.25 fade + 0.2 impact + 0.2 markout`` (the
weights are configurable). The score is an exponentially weighted mean of the evidence of
closed observations (weight ``alpha`` per observation) that also decays toward 0 with
half-life ``decay_halflife_s`` of wall time without new evidence, so old suspicion fades. With
no executions of ours it stays at 0: neutral, no evidence of anything. It lies in [0, 1].

Pure: every method takes ``ts_ns``; nothing reads a clock.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

from strategies.errors import InvalidParameterError
from strategies.schedule import Side

__all__ = ["AdverseConfig", "AdverseFlowScore", "Evidence"]

_NS = 1_000_000_000


@dataclass(frozen=True, slots=True, kw_only=True)
class AdverseConfig:
    horizon_s: float = 20.0
    markout_s: float = 60.0
    decay_halflife_s: float = 900.0
    alpha: float = 0.15
    w_flow: float = 0.35
    w_fade: float = 0.25
    w_impact: float = 0.2
    w_markout: float = 0.2

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
    """The components measured for one of our executions, each in [0, 1]."""

    ts_ns: int
    flow: float
    fade: float
    impact: float
    markout: float
    total: float


@dataclass(slots=True)
class _Obs:
    ts: int
    side: Side
    qty: int
    mid: float
    half_spread: float
    expected_move: float
    same_side_volume: int = 0
    other_side_volume: int = 0
    flow: float | None = None
    fade: float = 0.0
    impact: float = 0.0
    pending: list[int] = field(default_factory=list)


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
        """One of our fills. ``expected_move``: the mid move the impact model predicts for it."""
        if qty <= 0:
            raise InvalidParameterError(f"execution quantity must be > 0, got {qty}")
        mid = 0.5 * (self._bid + self._ask)
        if not math.isfinite(mid):
            return  # no market seen yet: nothing to compare with
        half = max(0.5 * (self._ask - self._bid), 1e-12)
        move = half if expected_move is None else max(expected_move, 1e-12)
        # Our own print arrives on the tape too: start below zero so it nets out.
        self._open.append(_Obs(ts_ns, side, qty, mid, half, move, -qty))

    # --- output -------------------------------------------------------------------------------

    def score(self, ts_ns: int) -> float:
        """The score at ``ts_ns``, decayed for the time since the last evidence."""
        self._progress(ts_ns)
        dt = max(ts_ns - self._score_ts, 0) / _NS
        return self._score * 0.5 ** (dt / self.cfg.decay_halflife_s)

    # --- internals ----------------------------------------------------------------------------

    def _progress(self, ts_ns: int) -> None:
        mid = 0.5 * (self._bid + self._ask)
        while self._open:
            obs = self._open[0]
            if obs.flow is None and ts_ns >= obs.ts + self._h_ns:
                self._close_window(obs, mid)
            if obs.flow is not None and ts_ns >= obs.ts + self._mk_ns:
                self._open.popleft()
                self._finish(obs, mid, ts_ns)
                continue
            break
        for obs in list(self._open)[1:]:
            if obs.flow is None and ts_ns >= obs.ts + self._h_ns:
                self._close_window(obs, mid)

    def _close_window(self, obs: _Obs, mid: float) -> None:
        same = max(obs.same_side_volume, 0)
        # One share of slack on the other side keeps a quiet window from dividing by zero.
        obs.flow = _ramp(same / (obs.other_side_volume + 1.0), 1.5, 4.0) if same else 0.0
        ours, theirs = (
            (self._bid_size, self._ask_size)
            if obs.side is Side.SELL
            else (self._ask_size, self._bid_size)
        )
        if theirs > 0:
            obs.fade = _ramp(1.0 - ours / theirs, 0.2, 0.7)
        direction = -1.0 if obs.side is Side.SELL else 1.0
        move = direction * (mid - obs.mid)
        obs.impact = _ramp(move / obs.expected_move, 1.0, 3.0) if math.isfinite(move) else 0.0

    def _finish(self, obs: _Obs, mid: float, ts_ns: int) -> None:
        cfg = self.cfg
        direction = -1.0 if obs.side is Side.SELL else 1.0
        move = direction * (mid - obs.mid)
        markout = _ramp(move / obs.half_spread, 0.0, 4.0) if math.isfinite(move) else 0.0
        assert obs.flow is not None
        total = (
            cfg.w_flow * obs.flow
            + cfg.w_fade * obs.fade
            + cfg.w_impact * obs.impact
            + cfg.w_markout * markout
        )
        self.history.append(Evidence(obs.ts, obs.flow, obs.fade, obs.impact, markout, total))
        dt = max(ts_ns - self._score_ts, 0) / _NS
        current = self._score * 0.5 ** (dt / cfg.decay_halflife_s)
        self._score = (1 - cfg.alpha) * current + cfg.alpha * total
        self._score_ts = ts_ns
