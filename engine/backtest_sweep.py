"""A backtest sweep: many jobs, run side by side on every core, or on any executor.

:func:`sweep_jobs` lays out the grid (each day x each strategy, and for simulated days with the
adversary both on and off when asked), and :func:`run_sweep` runs it. Jobs are independent and
seeded (:mod:`engine.backtest`), so the results do not depend on where or in which order they
run: ``run_sweep`` returns them in the jobs' order whatever the executor did.

The executor is anything with ``concurrent.futures.Executor.map``: by default a
``ProcessPoolExecutor`` over every core (``workers=1`` runs in this process, for tests and
debugging). A distributed pool plugs in the same way, for example Dask's
``distributed.Client(...).get_executor()`` or Ray's ``ray.util.multiprocessing.Pool`` (whose
``map`` has the same shape); ship the project to its workers and pass it as ``executor``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from typing import Protocol

from engine.backtest import Job, RunResult, run_job
from strategies.schedule import Side

__all__ = ["MapExecutor", "run_sweep", "sweep_jobs"]


class MapExecutor(Protocol):
    """What :func:`run_sweep` needs of an executor: ``Executor.map``'s shape."""

    def map(
        self, fn: Callable[[Job], RunResult], *iterables: Iterable[Job], chunksize: int = 1
    ) -> Iterator[RunResult]: ...


def sweep_jobs(
    *,
    market: str,
    strategies: Sequence[str],
    side: Side,
    start_s: float,
    end_s: float,
    qty: int = 0,
    qty_pct: float = 0.0,
    seeds: Sequence[int] = (),
    adversary: str = "on",
    symbols: Sequence[str] = (),
    data_dir: str = "",
    windows: Sequence[tuple[float, float]] = (),
) -> list[Job]:
    """The grid of a sweep. ``market`` ``sim``: one day per seed, the adversary ``on``, ``off``
    or ``both`` (each day twice, the twin without it). ``lobster``: each symbol's day, over
    ``windows`` (``(start_s, end_s)`` pairs; default the one window ``start_s``-``end_s``)."""
    jobs: list[Job] = []
    base = dict(side=side, qty=qty, qty_pct=qty_pct)
    if market == "sim":
        modes = {"on": (True,), "off": (False,), "both": (True, False)}[adversary]
        for seed in seeds:
            for adv in modes:
                for strategy in strategies:
                    jobs.append(
                        Job(
                            market="sim",
                            strategy=strategy,
                            start_s=start_s,
                            end_s=end_s,
                            seed=seed,
                            adversary=adv,
                            **base,  # type: ignore[arg-type]
                        )
                    )
        return jobs
    for symbol in symbols:
        levels = 10 if symbol == "GOOG" else 1  # the sample's deepest files
        for lo, hi in windows or ((start_s, end_s),):
            for strategy in strategies:
                jobs.append(
                    Job(
                        market="lobster",
                        strategy=strategy,
                        start_s=lo,
                        end_s=hi,
                        symbol=symbol,
                        levels=levels,
                        data_dir=data_dir,
                        **base,  # type: ignore[arg-type]
                    )
                )
    return jobs


def run_sweep(
    jobs: Sequence[Job],
    *,
    workers: int | None = None,
    executor: Executor | MapExecutor | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[RunResult]:
    """Run every job; results in the jobs' order. ``executor`` wins over ``workers`` (default:
    one process per core; 1: here, in order)."""
    n = len(jobs)
    if executor is None and (workers or os.cpu_count() or 1) <= 1:
        out = []
        for i, job in enumerate(jobs):
            out.append(run_job(job))
            if progress:
                progress(i + 1, n)
        return out
    own = executor is None
    pool = executor or ProcessPoolExecutor(max_workers=workers or os.cpu_count())
    try:
        # Small chunks: runs differ in length (a strategy, an adversary), and the pool's
        # balance matters more than the pickling saved by big ones.
        out = []
        for i, result in enumerate(pool.map(run_job, jobs, chunksize=2)):
            out.append(result)
            if progress:
                progress(i + 1, n)
        return out
    finally:
        if own:
            pool.shutdown()  # type: ignore[union-attr]
