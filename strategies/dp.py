r"""Exact dynamic programming over lots: the separable execution problem.

Problem (the seed write-up's general form): choose integer lots ``k_t`` for periods
``t = 0 .. N-1`` to minimise

.. math::  \sum_t c_t(k_t) + \sum_t h_t(S_t)   \quad\text{s.t.}\quad \sum_t k_t = S,\;
           0 \le k_t \le \min(K, \mathrm{cap}_t)

where ``c_t(k) = cost[t, k]`` is any table (non-convex allowed, ``inf`` forbids an entry), and
``h_t`` is an optional cost of the ``S_t`` lots still held after period ``t`` (this is how the
Almgren-Chriss risk term ``lambda sigma^2 tau x_t^2`` enters a DP). Costs are in currency.

General path: backward induction on the lots remaining, ``V_t(s) = min_k c_t(k) + h_t(s - k) +
V_{t+1}(s - k)`` with ``V_N(0) = 0``; ``O(N S K)`` time, ``O(N S)`` memory. Only values are kept;
the arg-min is recomputed while walking forward, which keeps the inner loop a pure min-reduction
that LLVM vectorises. Ties go to the smallest ``k``, so results are deterministic.

Convex path: when there is no holding cost and every row is convex in ``k`` (non-decreasing
marginal costs, ``inf`` only as a suffix), the problem is the min-plus convolution of convex
sequences, solved exactly by merging marginal costs: take the ``S`` cheapest marginal lots across
periods (Federgruen & Groenevelt, "The greedy procedure for resource allocation problems",
Operations Research 34(6), 1986). ``O(S N + N K)``. ``method="auto"`` picks it when it applies.

Both kernels are private numba functions over arrays; :func:`optimal_allocation` validates,
dispatches and returns a named result.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numba
import numpy as np
from numpy.typing import ArrayLike, NDArray

from strategies.errors import InfeasibleScheduleError, InvalidParameterError

__all__ = ["Allocation", "is_convex_table", "optimal_allocation"]

# Relative slack when testing convexity: tables built from float formulas (eta * k^2 ...) carry
# rounding of a few ulps in their second differences; that must not push them off the fast path.
CONVEXITY_RTOL = 1e-12

# Min-reductions need no NaN/signed-zero care to vectorise; infinities stay meaningful ('ninf'
# is deliberately left out: inf marks forbidden entries).
_FAST = {"nnan", "nsz", "arcp", "contract", "reassoc"}


@dataclass(frozen=True, slots=True)
class Allocation:
    """Optimal lots per period and the total cost of the allocation.

    ``total_cost`` is ``sum_t cost[t, lots[t]]`` (plus the holding cost when one was given),
    summed in period order, so equal allocations always report identical totals.
    """

    lots: NDArray[np.int64]
    total_cost: float
    method: Literal["general", "convex"]


@numba.njit(cache=True, fastmath=_FAST)
def _backward_values(
    cost: NDArray[np.float64],
    limits: NDArray[np.int64],
    total: int,
    hold: NDArray[np.float64],
    use_hold: bool,
) -> NDArray[np.float64]:
    n = cost.shape[0]
    values = np.empty((n + 1, total + 1))
    values[n, :] = np.inf
    values[n, 0] = 0.0
    rev = np.empty(total + 1)
    for t in range(n - 1, -1, -1):
        # rev[j] = W(total - j): reversed so the inner loop reads memory forwards.
        for j in range(total + 1):
            w = values[t + 1, total - j]
            if use_hold:
                w += hold[t, total - j]
            rev[j] = w
        row = cost[t]
        lim = limits[t]
        for s in range(total + 1):
            m = min(lim, s)
            base = total - s
            best = np.inf
            for k in range(m + 1):
                v = row[k] + rev[base + k]
                best = min(best, v)
            values[t, s] = best
    return values


@numba.njit(cache=True, fastmath=_FAST)
def _walk_forward(
    cost: NDArray[np.float64],
    limits: NDArray[np.int64],
    total: int,
    hold: NDArray[np.float64],
    use_hold: bool,
    values: NDArray[np.float64],
) -> NDArray[np.int64]:
    n = cost.shape[0]
    lots = np.zeros(n, dtype=np.int64)
    s = total
    for t in range(n):
        m = min(limits[t], s)
        best = np.inf
        arg = 0
        for k in range(m + 1):
            w = values[t + 1, s - k]
            if use_hold:
                w += hold[t, s - k]
            v = cost[t, k] + w
            if v < best:
                best = v
                arg = k
        lots[t] = arg
        s -= arg
    return lots


@numba.njit(cache=True)
def _greedy_convex(
    cost: NDArray[np.float64], limits: NDArray[np.int64], total: int
) -> NDArray[np.int64]:
    n = cost.shape[0]
    lots = np.zeros(n, dtype=np.int64)
    for _ in range(total):
        best = np.inf
        arg = -1
        for t in range(n):
            k = lots[t]
            if k < limits[t]:
                marginal = cost[t, k + 1] - cost[t, k]
                if marginal < best:
                    best = marginal
                    arg = t
        if arg < 0:
            # No finite marginal lot left: the caller reports infeasibility.
            lots[0] = -1
            return lots
        lots[arg] += 1
    return lots


def is_convex_table(cost: NDArray[np.float64], limits: NDArray[np.int64]) -> bool:
    """Return whether every row is convex up to its limit (``inf`` allowed only as a suffix)."""
    for t in range(cost.shape[0]):
        row = cost[t, : int(limits[t]) + 1]
        finite = np.isfinite(row)
        n_finite = int(finite.sum())
        if n_finite == 0 or not finite[:n_finite].all():
            return False
        r = row[:n_finite]
        if r.size < 3:
            continue
        second = np.diff(r, 2)
        scale = float(np.abs(r).max())
        if np.any(second < -CONVEXITY_RTOL * max(scale, 1e-300)):
            return False
    return True


def _check_inputs(
    cost: ArrayLike, total_lots: int, caps: ArrayLike | None, holding_cost: ArrayLike | None
) -> tuple[NDArray[np.float64], int, NDArray[np.int64], NDArray[np.float64] | None]:
    table = np.ascontiguousarray(cost, dtype=np.float64)
    if table.ndim != 2 or table.shape[0] == 0 or table.shape[1] == 0:
        raise InvalidParameterError(
            f"cost must have shape (N, K+1) with N >= 1 periods, got {np.shape(cost)}"
        )
    if np.isnan(table).any():
        raise InvalidParameterError("cost contains NaN; use inf to forbid an entry")
    if np.isneginf(table).any():
        raise InvalidParameterError("cost contains -inf: the problem would be unbounded")
    if isinstance(total_lots, bool) or int(total_lots) != total_lots or total_lots < 0:
        raise InvalidParameterError(f"total_lots must be a whole number >= 0, got {total_lots!r}")
    total = int(total_lots)
    n, width = table.shape
    limits = np.full(n, width - 1, dtype=np.int64)
    if caps is not None:
        c = np.asarray(caps)
        if c.shape != (n,):
            raise InvalidParameterError(f"caps must have one value per period ({n}), got {c.shape}")
        if not np.all(np.isfinite(c)) or np.any(c < 0) or np.any(np.floor(c) != c):
            raise InvalidParameterError("caps must be whole numbers of lots, >= 0")
        limits = np.minimum(limits, c.astype(np.int64))
    hold = None
    if holding_cost is not None:
        hold = np.ascontiguousarray(holding_cost, dtype=np.float64)
        if hold.shape != (n, total + 1):
            raise InvalidParameterError(
                f"holding_cost must have shape (N, total_lots + 1) = ({n}, {total + 1}), "
                f"got {hold.shape}"
            )
        if np.isnan(hold).any() or np.isneginf(hold).any():
            raise InvalidParameterError("holding_cost must not contain NaN or -inf")
    reachable = int(limits.sum())
    if reachable < total:
        raise InfeasibleScheduleError(
            f"cannot trade {total} lots: the per-period limits allow at most {reachable} in "
            f"{n} periods; raise the cap, lengthen the horizon or trade less"
        )
    return table, total, limits, hold


def optimal_allocation(
    cost: ArrayLike,
    total_lots: int,
    caps: ArrayLike | None = None,
    *,
    holding_cost: ArrayLike | None = None,
    method: Literal["auto", "general", "convex"] = "auto",
) -> Allocation:
    """Return the exact minimum-cost allocation of ``total_lots`` lots over the periods.

    Parameters
    ----------
    cost
        Array of shape ``(N, K+1)``: ``cost[t, k]`` is the cost of trading ``k`` lots in period
        ``t``. Any finite values (non-convex allowed); ``inf`` forbids an entry.
    total_lots
        ``S``, the number of lots that must be traded in total.
    caps
        Optional per-period maximum number of lots (for example ``0.15 * volume_t / lot``).
    holding_cost
        Optional ``(N, S+1)`` array: ``holding_cost[t, h]`` is the cost of holding ``h`` lots
        after period ``t`` (risk or drift terms). Forces the general path.
    method
        ``"auto"`` uses the convex fast path when it is exact, else the general DP.

    Raises
    ------
    InvalidParameterError
        If the shapes or values are malformed, or ``method="convex"`` is asked of a non-convex
        problem.
    InfeasibleScheduleError
        If no allocation trades exactly ``total_lots`` at finite cost.
    """
    table, total, limits, hold = _check_inputs(cost, total_lots, caps, holding_cost)
    if method not in ("auto", "general", "convex"):
        raise InvalidParameterError(f"method must be auto, general or convex, got {method!r}")
    convex_ok = hold is None and is_convex_table(table, limits)
    if method == "convex" and not convex_ok:
        raise InvalidParameterError(
            "the convex path needs convex rows (non-decreasing marginal costs) and no "
            "holding cost; use method='general'"
        )
    chosen: Literal["general", "convex"] = (
        "convex" if method == "convex" or (method == "auto" and convex_ok) else "general"
    )
    if chosen == "convex":
        lots = _greedy_convex(table, limits, total)
        if total > 0 and lots[0] < 0:
            raise InfeasibleScheduleError(
                f"cannot trade {total} lots at finite cost: the table forbids (inf) too many "
                "entries within the caps"
            )
    else:
        dummy = np.zeros((1, 1)) if hold is None else hold
        values = _backward_values(table, limits, total, dummy, hold is not None)
        if not np.isfinite(values[0, total]):
            raise InfeasibleScheduleError(
                f"cannot trade {total} lots at finite cost: every allocation within the caps "
                "uses a forbidden (inf) entry"
            )
        lots = _walk_forward(table, limits, total, dummy, hold is not None, values)
    return Allocation(lots=lots, total_cost=_total(table, lots, hold, total), method=chosen)


def _total(
    table: NDArray[np.float64],
    lots: NDArray[np.int64],
    hold: NDArray[np.float64] | None,
    total: int,
) -> float:
    periods = np.arange(table.shape[0])
    s = float(np.sum(table[periods, lots]))
    if hold is not None:
        remaining = total - np.cumsum(lots)
        s += float(np.sum(hold[periods, remaining]))
    return s
