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
``flow``      aggressive *orders* on our side in the window (prints of one    share 0.4 -> 0.8
              order share a time and side; ours excluded) and on the other
              side; pooled as our side's share of their weighted means,
              less ``flow_price_beta`` x the pooled ``impact`` (the part of
              one-sided flow that the price move explains)
``fade``      ``1 - ours / theirs``: displayed size at the touch we trade     20% -> 70%
              against (bids for a sell) relative to the opposite touch at
              the end of the window: liquidity withdrawn from our side
``impact``    mid move in our direction over the window, over the move the   0 -> 0.5
              impact model predicted (``expected_move``; by default half the
              spread at our fill), clipped to +-``impact_clip`` before
              pooling (Evidence keeps the unclipped value)
``markout``   mid move in our direction ``markout_s`` after the fill, in      0.2 -> 1
              half-spreads: the price keeps going where we push it            half-spread
============  ==============================================================  ==================

Why orders, not shares: a participant trading ahead of us sends many small orders, while
share volume is dominated by a few large background orders; on simulator days the count
separates a hunting predator from quiet minutes far better (per-minute AUC 0.90 against
0.64). Why the price term: informed and arbitrage flow follows the price, so in an ordinary
market sellers outnumber buyers whenever the price falls, our fault or not; what a falling
price explains is not evidence against anyone.

One observation is noise (a 30-second window holds a dozen prints), so nothing is mapped per
observation: each raw measure is pooled across observations as an exponentially weighted mean
(weight ``alpha`` per observation, raised after a long gap so old evidence ages with wall
time). Flow, fade and impact are pooled when the window closes, the markout when it is known.
The score is

    ``score = w_flow flow + w_fade fade + w_impact impact + w_markout markout``

of the mapped values, with weights that sum to 1. It decays toward 0 with half-life
``decay_halflife_s`` while no new evidence arrives, so old suspicion fades. With no executions
of ours it stays at 0: neutral, no evidence of anything. It lies in [0, 1].

**Default weights: flow 1, the others 0.** All four are measured, pooled and reported
(:meth:`AdverseFlowScore.components`), and any weighting can be configured. On the tuning days
(simulator seeds 101-110, disjoint from the evaluation seeds 1-20) a predator moves the
markout and the impact only as much as an ordinary price move does, and the fade not at all;
each weight given to them raised false alarms or delayed detection (docs/strategies.md). On a
venue where withdrawing liquidity is the predator's tell, the fade weight is the setting to
raise.

Pure: every method takes ``ts_ns``; nothing reads a clock.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Any

from strategies.errors import InvalidParameterError
from strategies.schedule import Side

__all__ = ["AdverseConfig", "AdverseFlowScore", "Evidence", "trim_history"]

_NS = 1_000_000_000
_OWN_KEPT = 64  # our recent orders' (time, side): enough to recognise their prints


@dataclass(frozen=True, slots=True, kw_only=True)
class AdverseConfig:
    horizon_s: float = 30.0
    markout_s: float = 60.0
    decay_halflife_s: float = 900.0
    # 0.55: the pool follows a new predator within two or three of our fills (0.4 needed
    # four); the extra noise is paid for by the stricter ADV exit and the impact clip.
    alpha: float = 0.55
    # Same-side share of aggressive orders explained by the price move: subtracted per unit
    # of pooled impact (see the module docstring).
    flow_price_beta: float = 0.03
    # One window's impact is clipped to +-impact_clip expected moves before pooling: a jump
    # in the price (news, a sweep) is no measure of our impact, and unclipped it dominated the
    # pooled price term and with it the flow (false alarms on the tuning days).
    impact_clip: float = 5.0
    w_flow: float = 1.0
    w_fade: float = 0.0
    w_impact: float = 0.0
    w_markout: float = 0.0
    # Raw pooled values mapped 0 -> 1 (see the module docstring).
    flow_range: tuple[float, float] = (0.4, 0.8)
    fade_range: tuple[float, float] = (0.2, 0.7)
    impact_range: tuple[float, float] = (0.0, 0.5)
    markout_range: tuple[float, float] = (0.2, 1.0)

    def __post_init__(self) -> None:
        if not 0 < self.horizon_s <= self.markout_s:
            raise InvalidParameterError("need 0 < horizon_s <= markout_s")
        if not 0 < self.alpha <= 1:
            raise InvalidParameterError("alpha must be in (0, 1]")
        if not self.impact_clip > 0:
            raise InvalidParameterError("impact_clip must be > 0")
        for name in ("flow_range", "fade_range", "impact_range", "markout_range"):
            lo, hi = getattr(self, name)
            if not lo < hi:
                raise InvalidParameterError(f"{name} needs low < high, got ({lo}, {hi})")
        w = (self.w_flow, self.w_fade, self.w_impact, self.w_markout)
        if min(w) < 0 or not math.isclose(sum(w), 1.0):
            raise InvalidParameterError(f"weights must be >= 0 and sum to 1, got {w}")


@dataclass(frozen=True, slots=True)
class Evidence:
    """What was measured after one of our executions (raw, before pooling)."""

    ts_ns: int
    same_orders: int  # same-side aggressive orders in the window, ours excluded
    other_orders: int  # opposite-side aggressive orders in the window
    same_volume: int  # their shares
    other_volume: int
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
    same_orders: int = 0
    other_orders: int = 0
    same_volume: int = 0
    other_volume: int = 0
    closed: bool = False
    fade: float = 0.0
    impact: float = 0.0


def _ramp(x: float, lo: float, hi: float) -> float:
    return min(1.0, max(0.0, (x - lo) / (hi - lo)))


class AdverseFlowScore:
    """The adversarial-flow score of one symbol (see the module docstring)."""

    def __init__(
        self, cfg: AdverseConfig | None = None, *, history_limit: int | None = None
    ) -> None:
        self.cfg = cfg or AdverseConfig()
        self.history_limit = history_limit  # None: keep every Evidence (analysis, tests)
        self._h_ns = round(self.cfg.horizon_s * _NS)
        self._mk_ns = round(self.cfg.markout_s * _NS)
        # Our fills, oldest first: those whose reaction window is open, then those whose window
        # has closed and whose markout is not yet due. Two queues, so that a print or a quote
        # touches only what it can change.
        self._pending: deque[_Obs] = deque()
        self._waiting: deque[_Obs] = deque()
        self._bid = self._ask = math.nan
        self._bid_size = self._ask_size = 0
        # Our own prints are not evidence: the (time, side) of our recent executions, and the
        # last aggressive order seen on the tape with the windows that counted it (a venue may
        # publish our print before our execution report arrives).
        # Insertion-ordered, bounded to the last _OWN_KEPT: a dict for O(1) lookups per print.
        self._own: dict[tuple[int, Side], None] = {}
        self._last_order: tuple[int, Side] | None = None
        self._last_counted: list[_Obs] = []
        self._last_volume = 0
        # Exponentially weighted pooled statistics: flow and the window measures over closed
        # windows, the markout over finished observations.
        self._same = self._other = 0.0
        self._fade = self._impact = self._markout = 0.0
        self._n_flow = self._n_markout = 0
        self._flow_ts = self._markout_ts = 0
        self._score = 0.0
        self._score_ts = 0
        self.history: list[Evidence] = []  # finished observations, oldest first

    # --- inputs -------------------------------------------------------------------------------

    def on_quote(self, ts_ns: int, bid: float, bid_size: int, ask: float, ask_size: int) -> None:
        """Top of book (prices in any unit, consistently)."""
        self._bid, self._bid_size, self._ask, self._ask_size = bid, bid_size, ask, ask_size
        if self._pending or self._waiting:
            self._progress(ts_ns)

    def on_trade(self, ts_ns: int, aggressor: Side | None, size: int) -> None:
        """A print on the tape (ours included; they are netted out).

        Prints of one aggressive order share its time and side: they count as one order.
        """
        if not self._pending and not self._waiting:
            return  # no window to count into (and nothing of ours to net out of one)
        if aggressor is not None and (ts_ns, aggressor) not in self._own:
            key = (ts_ns, aggressor)
            new_order = key != self._last_order
            if new_order:
                self._last_order, self._last_counted, self._last_volume = key, [], 0
            self._last_volume += size
            # Newest first, and only as far back as windows that hold this print: a print
            # stamped inside a window that has just closed (feeds may deliver a little out of
            # order) still counts in that observation's record.
            for queue in (self._pending, self._waiting):
                for obs in reversed(queue):
                    if obs.ts + self._h_ns < ts_ns:
                        break
                    if obs.ts < ts_ns:
                        if new_order:
                            self._last_counted.append(obs)
                        if obs.side is aggressor:
                            obs.same_orders += new_order
                            obs.same_volume += size
                        else:
                            obs.other_orders += new_order
                            obs.other_volume += size
        self._progress(ts_ns)

    def on_execution(
        self, ts_ns: int, side: Side, qty: int, expected_move: float | None = None
    ) -> None:
        """One of our fills. ``expected_move``: the mid move the impact model predicts for it.

        Fills of one order at one instant (walking several levels) are one observation.
        """
        if qty <= 0:
            raise InvalidParameterError(f"execution quantity must be > 0, got {qty}")
        key = (ts_ns, side)
        if key == self._last_order:
            self._uncount_last()  # our print reached the tape before our report
        if key in self._own:
            return  # another fill of the same order
        self._own[key] = None
        if len(self._own) > _OWN_KEPT:
            del self._own[next(iter(self._own))]
        mid = 0.5 * (self._bid + self._ask)
        if not math.isfinite(mid):
            return  # no market seen yet: nothing to compare with
        half = max(0.5 * (self._ask - self._bid), 1e-12)
        move = half if expected_move is None else max(expected_move, 1e-12)
        self._pending.append(_Obs(ts_ns, side, mid, half, move))

    # --- output -------------------------------------------------------------------------------

    def score(self, ts_ns: int) -> float:
        """The score at ``ts_ns``, decayed for the time since the last evidence."""
        self._progress(ts_ns)
        dt = max(ts_ns - self._score_ts, 0) / _NS
        return self._score * 0.5 ** (dt / self.cfg.decay_halflife_s)

    def pooled(self) -> dict[str, float]:
        """The pooled raw measures: ``flow`` (same-side share of aggressive orders beyond what
        the price move explains), ``fade``, ``impact`` and ``markout``; NaN before the first
        observation of each."""
        nan = math.nan
        if self._n_flow == 0:
            flow = fade = impact = nan
        else:
            share = self._same / max(self._same + self._other, 1e-12)
            flow = share - self.cfg.flow_price_beta * self._impact
            fade, impact = self._fade, self._impact
        return {
            "flow": flow,
            "fade": fade,
            "impact": impact,
            "markout": self._markout if self._n_markout else nan,
        }

    def components(self) -> dict[str, float]:
        """The four pooled components, each in [0, 1] (0 before any evidence)."""
        cfg = self.cfg
        raw = self.pooled()
        ranges = {
            "flow": cfg.flow_range,
            "fade": cfg.fade_range,
            "impact": cfg.impact_range,
            "markout": cfg.markout_range,
        }
        return {k: 0.0 if math.isnan(raw[k]) else _ramp(raw[k], *ranges[k]) for k in ranges}

    # --- internals ----------------------------------------------------------------------------

    def _uncount_last(self) -> None:
        _, side = self._last_order  # type: ignore[misc]
        for obs in self._last_counted:
            if obs.side is side:
                obs.same_orders -= 1
                obs.same_volume -= self._last_volume
            else:
                obs.other_orders -= 1
                obs.other_volume -= self._last_volume
        self._last_order, self._last_counted, self._last_volume = None, [], 0

    def _weight(self, n: int, last_ts: int, ts_ns: int) -> float:
        # Time also ages the pool: after a long gap the new evidence weighs more.
        if n == 0:
            return 1.0
        gap = max(ts_ns - last_ts, 0) / _NS
        return 1.0 - (1.0 - self.cfg.alpha) * 0.5 ** (gap / self.cfg.decay_halflife_s)

    def _progress(self, ts_ns: int) -> None:
        mid = 0.5 * (self._bid + self._ask)
        while self._pending and ts_ns >= self._pending[0].ts + self._h_ns:
            obs = self._pending.popleft()  # windows end in the order they began
            self._close_window(obs, mid, ts_ns)
            self._waiting.append(obs)
        while self._waiting and ts_ns >= self._waiting[0].ts + self._mk_ns:
            self._finish(self._waiting.popleft(), mid, ts_ns)

    def _close_window(self, obs: _Obs, mid: float, ts_ns: int) -> None:
        """The reaction window is over: pool the flow, fade and impact now (the markout
        follows later), so the score answers within one window."""
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
        impact = min(max(obs.impact, -self.cfg.impact_clip), self.cfg.impact_clip)
        a = self._weight(self._n_flow, self._flow_ts, ts_ns)
        self._n_flow += 1
        self._flow_ts = ts_ns
        self._same += a * (obs.same_orders - self._same)
        self._other += a * (obs.other_orders - self._other)
        self._fade += a * (obs.fade - self._fade)
        self._impact += a * (impact - self._impact)
        self._rescore(ts_ns)

    def _finish(self, obs: _Obs, mid: float, ts_ns: int) -> None:
        direction = -1.0 if obs.side is Side.SELL else 1.0
        move = direction * (mid - obs.mid)
        markout = move / obs.half_spread if math.isfinite(move) else 0.0
        self.history.append(
            Evidence(
                obs.ts,
                obs.same_orders,
                obs.other_orders,
                obs.same_volume,
                obs.other_volume,
                obs.fade,
                obs.impact,
                markout,
            )
        )
        trim_history(self.history, self.history_limit)
        a = self._weight(self._n_markout, self._markout_ts, ts_ns)
        self._n_markout += 1
        self._markout_ts = ts_ns
        self._markout += a * (markout - self._markout)
        self._rescore(ts_ns)

    def _rescore(self, ts_ns: int) -> None:
        cfg = self.cfg
        c = self.components()
        self._score = (
            cfg.w_flow * c["flow"]
            + cfg.w_fade * c["fade"]
            + cfg.w_impact * c["impact"]
            + cfg.w_markout * c["markout"]
        )
        self._score_ts = ts_ns


def trim_history(history: list[Any], limit: int | None) -> None:
    """Keep the latest ``limit`` entries of a history that a long-running daemon appends to
    for ever; trimmed in halves so the cost per append stays constant."""
    if limit is not None and len(history) >= 2 * limit:
        del history[: len(history) - limit]
