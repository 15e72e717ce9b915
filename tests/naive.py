"""Slow, obviously-correct reference implementations the fast code is checked against.

Nothing here is clever: straightforward loops and dense linear algebra, written independently
of the production code (no shared helpers) so a bug in one does not hide in the other.
"""

from __future__ import annotations

import itertools
import math

import numpy as np


def dp_triple_loop(cost, total, caps=None, holding=None):
    """Pure-Python backward induction. Returns ``(lots, total_cost)``; ``None`` if infeasible."""
    cost = [list(map(float, row)) for row in np.asarray(cost)]
    n, width = len(cost), len(cost[0])
    limit = [width - 1 if caps is None else min(width - 1, int(caps[t])) for t in range(n)]
    inf = math.inf
    value = [[inf] * (total + 1) for _ in range(n + 1)]
    choice = [[0] * (total + 1) for _ in range(n)]
    value[n][0] = 0.0
    for t in range(n - 1, -1, -1):
        for s in range(total + 1):
            best, arg = inf, 0
            for k in range(min(limit[t], s) + 1):
                h = 0.0 if holding is None else float(holding[t][s - k])
                v = cost[t][k] + h + value[t + 1][s - k]
                if v < best:
                    best, arg = v, k
            value[t][s], choice[t][s] = best, arg
    if value[0][total] == inf:
        return None
    lots, s = [], total
    for t in range(n):
        lots.append(choice[t][s])
        s -= choice[t][s]
    return lots, value[0][total]


def dp_exhaustive(cost, total, caps=None):
    """Try every allocation. Only for tiny tables. Returns the minimum total cost or ``None``."""
    cost = np.asarray(cost, dtype=float)
    n, width = cost.shape
    ranges = [range(min(width - 1, total if caps is None else int(caps[t])) + 1) for t in range(n)]
    best = None
    for lots in itertools.product(*ranges):
        if sum(lots) != total:
            continue
        c = sum(cost[t, k] for t, k in enumerate(lots))
        if math.isfinite(c) and (best is None or c < best):
            best = c
    return best


def ac_kkt(shares, horizon, periods, sigma, eta, gamma, risk_aversion, drift=0.0, sign=1):
    """Minimise E + lambda V of Almgren-Chriss by solving its first-order conditions densely.

    Unknowns are the signed interior holdings x_1 .. x_{N-1}; x_0 = sign * X, x_N = 0. With all
    trades of one sign, the objective is the quadratic

        sum_k (eta_t / tau) (x_{k-1} - x_k)^2 + lambda sigma^2 tau x_k^2 - alpha tau x_k

    plus constants. Its gradient is linear; we build the full (N-1)x(N-1) matrix term by term
    and call numpy.linalg.solve. Returns the N + 1 signed holdings.
    """
    tau = horizon / periods
    eta_t = eta - 0.5 * gamma * tau
    m = periods - 1
    x0 = sign * shares
    if m == 0:
        return np.array([x0, 0.0])
    a = np.zeros((m, m))
    b = np.zeros(m)
    for i in range(m):  # variable x_{i+1}
        # d/dx_j of (eta_t/tau)(x_{j-1} - x_j)^2 + (eta_t/tau)(x_j - x_{j+1})^2
        a[i, i] += 4.0 * eta_t / tau
        if i > 0:
            a[i, i - 1] -= 2.0 * eta_t / tau
        else:
            b[i] += 2.0 * eta_t / tau * x0
        if i < m - 1:
            a[i, i + 1] -= 2.0 * eta_t / tau
        # d/dx_j of lambda sigma^2 tau x_j^2 - alpha tau x_j
        a[i, i] += 2.0 * risk_aversion * sigma**2 * tau
        b[i] += drift * tau
    interior = np.linalg.solve(a, b)
    return np.concatenate(([x0], interior, [0.0]))


def ac_objective(holdings_signed, horizon, sigma, eta, gamma, epsilon, risk_aversion, drift=0.0):
    """E + lambda V of a signed trajectory, summed term by term from the paper's definitions."""
    x = [float(v) for v in holdings_signed]
    n = len(x) - 1
    tau = horizon / n
    e = 0.0
    var = 0.0
    for k in range(1, n + 1):
        nk = x[k - 1] - x[k]
        e += gamma * x[k] * nk  # permanent impact paid on what is still held
        e += epsilon * abs(nk) + eta / tau * nk * nk  # temporary impact
        e -= drift * tau * x[k]
        var += sigma**2 * tau * x[k] ** 2
    return e + risk_aversion * var, e, var


class NaiveBook:
    """A list-of-orders book: every match re-scans all orders for the best by key.

    Key: better price, then displayed before hidden, then earlier sequence number. Icebergs
    refill their peak and take a new sequence number. Same rules as adapters.sim.book, none of
    its data structures.
    """

    def __init__(self):
        self.orders = {}  # id -> dict(side, price, qty, display, visible, seq, owner)
        self.seq = 0

    def _key(self, o):
        price_rank = -o["price"] if o["side"] == "buy" else o["price"]
        return (price_rank, 0 if o["display"] != 0 else 1, o["seq"])

    def add(self, oid, side, qty, price, kind, tif, display, owner):
        """Return (fills as (price, qty, passive_id), rested, canceled)."""
        fills = []
        left = qty
        opp = "sell" if side == "buy" else "buy"
        while left:
            eligible = [
                (i, o)
                for i, o in self.orders.items()
                if o["side"] == opp
                and (
                    kind == "market"
                    or (o["price"] <= price if side == "buy" else o["price"] >= price)
                )
            ]
            if not eligible:
                break
            i, o = min(eligible, key=lambda io: self._key(io[1]))
            if owner is not None and o["owner"] == owner:
                return fills, 0, left
            avail = o["qty"] if o["display"] == 0 else o["visible"]
            take = min(left, avail)
            left -= take
            o["qty"] -= take
            if o["display"] != 0:
                o["visible"] -= take
            fills.append((o["price"], take, i))
            if o["qty"] == 0:
                del self.orders[i]
            elif o["display"] != 0 and o["visible"] == 0:
                self.seq += 1
                o["seq"] = self.seq
                o["visible"] = min(o["display"] or o["qty"], o["qty"])
        if left and kind == "limit" and tif == "day":
            self.seq += 1
            vis = 0 if display == 0 else min(display or left, left)
            self.orders[oid] = dict(
                side=side,
                price=price,
                qty=left,
                display=display,
                visible=vis,
                seq=self.seq,
                owner=owner,
            )
            return fills, left, 0
        return fills, 0, left

    def cancel(self, oid):
        o = self.orders.pop(oid, None)
        return 0 if o is None else o["qty"]

    def replace(self, oid, qty, price):
        o = self.orders.get(oid)
        if o is None:
            return None
        if price == o["price"] and qty <= o["qty"]:
            o["qty"] = qty
            o["visible"] = min(o["visible"], qty)
            return [], qty, 0
        del self.orders[oid]
        return self.add(oid, o["side"], qty, price, "limit", "day", o["display"], o["owner"])

    def depth(self, side):
        levels = {}
        for o in self.orders.values():
            if o["side"] == side and o["visible"] > 0:
                levels[o["price"]] = levels.get(o["price"], 0) + o["visible"]
        return tuple(sorted(levels.items(), reverse=(side == "buy")))
