"""Benchmarks of the quant core, each measured beside its reference in the same run.

Run with ``make bench`` (or ``.venv/bin/python tests/bench/bench_core.py``). Prints one line per
figure with its target, and the machine it ran on. Figures go into docs/performance.md.

1. Almgren-Chriss re-plan, N = 390: median wall time of ``almgren_chriss`` (target < 50 us),
   against scipy.optimize SLSQP minimising the same E + lambda V (the seed notebook's approach),
   given the exact gradient and a well-scaled problem so it is a strong reference; target
   >= 100x faster at equal or better objective. SLSQP with finite differences (the notebook as
   written) is timed once beside it.
2. DP general path, N = 390, S = 1,000, K = 1,000, non-convex table (target < 1 s), and the
   pure-Python triple loop (tests/naive.py) on a smaller case: speed ratio and exact agreement.
3. DP convex path, N = 390, S = 10,000 (target < 50 ms), and the triple loop on a smaller case.
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numba
import scipy
from scipy.optimize import minimize

from strategies.almgren_chriss import ACParameters, almgren_chriss
from strategies.dp import optimal_allocation
from tests import naive

SEED = 20261121


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _median_time(fn, repeat: int, number: int = 1) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        times.append((time.perf_counter() - t0) / number)
    return statistics.median(times)


def _row(name: str, value: str, target: str, ok: bool | None) -> None:
    verdict = "" if ok is None else ("PASS" if ok else "FAIL")
    print(f"  {name:<54} {value:>16}   {target:<22} {verdict}")


def bench_ac() -> bool:
    p = ACParameters(
        shares=1e6,
        horizon=1.0,
        periods=390,
        sigma=0.95 * np.sqrt(5),
        eta=2.5e-6 / 5,
        gamma=2.5e-7,
        epsilon=0.0625,
        risk_aversion=1e-6,
    )
    for _ in range(200):
        almgren_chriss(p)
    t_ac = _median_time(lambda: almgren_chriss(p), repeat=2000)
    s = almgren_chriss(p)

    n, tau, lam, sig, big_x = p.periods, p.tau, p.risk_aversion, p.sigma, p.shares
    eta_t = p.eta - 0.5 * p.gamma * tau

    def objective_x(x):
        nk = x[:-1] - x[1:]
        e = p.gamma * np.dot(x[1:], nk) + p.epsilon * np.abs(nk).sum() + p.eta / tau * nk @ nk
        return e + lam * sig**2 * tau * np.dot(x[1:], x[1:])

    # SLSQP works on fractions of the parent and a unit-scaled objective: on raw shares and
    # dollars it stops early, far from the optimum, which would flatter the closed form.
    scale = objective_x(np.linspace(big_x, 0.0, n + 1))

    def full(u):
        return big_x * np.concatenate(([1.0], u, [0.0]))

    def objective(u):
        return objective_x(full(u)) / scale

    def gradient(u):
        x = full(u)
        nk = x[:-1] - x[1:]
        # d/dx_j of eta_t/tau * sum n_k^2 (gamma's schedule-dependent part folded into eta_t)
        # plus lambda sigma^2 tau x_j^2; the epsilon and gamma X^2/2 terms are constant here.
        gx = 2 * eta_t / tau * (nk[1:] - nk[:-1]) + 2 * lam * sig**2 * tau * x[1:-1]
        return gx * big_x / scale

    u0 = np.linspace(1.0, 0.0, n + 1)[1:-1]
    bounds = [(0.0, 1.0)] * (n - 1)
    opts = {"maxiter": 2000, "ftol": 1e-15}

    def slsqp(jac=gradient):
        return minimize(objective, u0, jac=jac, method="SLSQP", bounds=bounds, options=opts)

    res = slsqp()
    t_sp = _median_time(slsqp, repeat=3)
    t0 = time.perf_counter()
    res_fd = slsqp(jac=None)
    t_fd = time.perf_counter() - t0
    f_ac = objective_x(np.asarray(s.holdings))
    f_sp, f_fd = res.fun * scale, res_fd.fun * scale
    ratio = t_sp / t_ac
    same_or_better = f_ac <= f_sp * (1 + 1e-12)
    print("Almgren-Chriss re-plan, N = 390")
    _row("unwind almgren_chriss (median of 2000)", f"{t_ac * 1e6:.1f} us", "< 50 us", t_ac < 50e-6)
    _row(f"SLSQP, exact gradient ({res.nit} it., median of 3)", f"{t_sp * 1e3:,.0f} ms", "", None)
    _row(f"SLSQP, finite differences ({res_fd.nit} it., once)", f"{t_fd * 1e3:,.0f} ms", "", None)
    _row("speed ratio vs SLSQP with exact gradient", f"{ratio:,.0f}x", ">= 100x", ratio >= 100)
    _row("objective E + lambda V: closed form", f"{f_ac:,.4f}", "", None)
    _row("objective: SLSQP exact gradient", f"{f_sp:,.4f}", ">= closed form", same_or_better)
    _row("objective: SLSQP finite differences", f"{f_fd:,.4f}", "", None)
    return t_ac < 50e-6 and ratio >= 100 and same_or_better


def _nonconvex_table(rng, n, k, lot=100.0):
    # Concave-then-convex impact with noise: a realistic non-convex table (walking a book
    # with a thin second level), forcing the general path.
    shares = np.arange(k + 1) * lot
    base = 0.01 * shares + 2e-3 * shares**0.6 * np.sqrt(shares)
    noise = rng.integers(0, 5, size=(n, k + 1)).astype(float)
    noise[:, 0] = 0.0
    return np.round(base[None, :] + noise)


def _convex_table(rng, n, k):
    marg = np.sort(rng.integers(0, 1000, size=(n, k)), axis=1).astype(float)
    return np.hstack([np.zeros((n, 1)), np.cumsum(marg, axis=1)])


def bench_dp() -> bool:
    rng = np.random.default_rng(SEED)
    ok = True
    print("DP, general path (non-convex costs)")
    n, s, k = 390, 1000, 1000
    cost = _nonconvex_table(rng, n, k)
    optimal_allocation(cost[:2, :3], 1, method="general")  # compile outside the timing
    t_gen = _median_time(lambda: optimal_allocation(cost, s, method="general"), repeat=3)
    _row(f"N={n}, S={s}, K={k}", f"{t_gen * 1e3:.0f} ms", "< 1 s", t_gen < 1.0)
    ok &= t_gen < 1.0
    n2, s2, k2 = 20, 150, 150
    small = _nonconvex_table(rng, n2, k2)
    t0 = time.perf_counter()
    ref = naive.dp_triple_loop(small, s2)
    t_ref = time.perf_counter() - t0
    t_small = _median_time(lambda: optimal_allocation(small, s2, method="general"), repeat=20)
    got = optimal_allocation(small, s2, method="general")
    same = got.total_cost == ref[1]
    _row(f"pure-Python triple loop, N={n2}, S={s2}, K={k2}", f"{t_ref * 1e3:.0f} ms", "", None)
    _row("numba general path, same case", f"{t_small * 1e3:.3f} ms", "", None)
    _row("speed ratio; optima agree exactly", f"{t_ref / t_small:,.0f}x; {same}", "agree", same)
    ok &= same

    print("DP, convex fast path (marginal-cost merging)")
    n, s = 390, 10_000
    cost = _convex_table(rng, n, s)
    optimal_allocation(cost[:2, :3], 1)
    t_cvx = _median_time(lambda: optimal_allocation(cost, s), repeat=5)
    method = optimal_allocation(cost, s).method
    _row(
        f"N={n}, S={s}, K={s} (auto -> {method})", f"{t_cvx * 1e3:.1f} ms", "< 50 ms", t_cvx < 0.05
    )
    ok &= t_cvx < 0.05 and method == "convex"
    n3, s3 = 30, 300
    small = _convex_table(rng, n3, s3)
    t0 = time.perf_counter()
    ref = naive.dp_triple_loop(small, s3)
    t_ref = time.perf_counter() - t0
    t_small = _median_time(lambda: optimal_allocation(small, s3), repeat=20)
    got = optimal_allocation(small, s3)
    same = got.total_cost == ref[1]
    _row(f"pure-Python triple loop, N={n3}, S={s3}, K={s3}", f"{t_ref * 1e3:.0f} ms", "", None)
    _row("numba convex path, same case", f"{t_small * 1e3:.3f} ms", "", None)
    _row("speed ratio; optima agree exactly", f"{t_ref / t_small:,.0f}x; {same}", "agree", same)
    return ok and same


def main() -> int:
    print(
        f"machine: {_cpu()}, {os.cpu_count()} cores; Python {platform.python_version()}, "
        f"numpy {np.__version__}, numba {numba.__version__}, scipy {scipy.__version__}"
    )
    if os.environ.get("NUMBA_DISABLE_JIT") == "1":
        print("NUMBA_DISABLE_JIT=1: figures are for the pure-Python reading of the kernels")
    ok = bench_ac()
    ok &= bench_dp()
    print("all targets met" if ok else "SOME TARGETS MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
