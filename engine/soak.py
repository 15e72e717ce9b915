"""``unwind soak``: many seeded paper sessions over FIX with faults on, each checked.

Each run is one ``unwind paper`` session (:func:`engine.paper.paper_session`) with the FIX
simulator's fault profile ``on``, in a subprocess of its own: QuickFIX's threads, sockets and
stores stay apart, and a crash or a hang is one failed run, not a dead soak. ``--jobs`` run at
a time. A run passes when :mod:`engine.invariants` finds nothing in its record (no overfill, no
cap breach, nothing sent at or after the deadline, one child at a time, the venue's fills equal
the engine's, the parent ended consistent with its fills) and its journal replays to the same
decisions (``unwind replay``); completion (FILLED) is counted, not required, since a halt or an
outage can make it impossible.

A seed names one session: the market, the fault schedule and the order (strategy, side,
quantity) follow from it (:func:`spec_for`). The sessions run in accelerated wall time over
real sockets, so the order of events within a session may differ from one run of a seed to
the next; the session asked for does not.

The command prints a line per run as it finishes and a summary, writes everything as JSON with
``--json``, keeps the FIX logs and engine log of a failed run under ``--keep-failed``, and exits
0 only when no run broke an invariant or failed to run.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from engine.invariants import Kind

__all__ = [
    "RunSpec",
    "SoakOptions",
    "SoakResult",
    "add_soak_arguments",
    "options_from_args",
    "run_soak",
    "spec_for",
]

STRATEGIES = ("ac", "dp", "twap", "vwap", "pov", "adaptive")
REPO = Path(__file__).resolve().parents[1]
# The paper market's volume per simulated minute: PAPER_DAILY_VOLUME over a 390-minute day.
_VOLUME_PER_MINUTE = 18_000_000 / 390
# Wall seconds a run may take beyond its simulated time at its speed: start-up and logon, the
# 30 s paper allows past the horizon, the drain.
_RUN_SLACK_S = 90.0
_NO_RESULT: dict[str, Any] = {
    "filled": 0,
    "oms_cum": 0,
    "children": 0,
    "arrived": 0,
    "peak_participation": 0.0,
    "cap": 0.0,
    "violations": [],
    "faults": {},
}


@dataclass(frozen=True, slots=True, kw_only=True)
class RunSpec:
    """The session a seed names."""

    seed: int
    strategy: str
    side: str
    qty: int


def spec_for(seed: int, minutes: float) -> RunSpec:
    """The order of soak run ``seed``: the strategy cycles with the seed (each as often), side
    and quantity are drawn from it; the quantity is 2% to 10% of the paper market's expected
    volume over the horizon, inside the 15% cap with room for a halt and an outage."""
    rng = random.Random(f"soak:{seed}")
    side = rng.choice(("buy", "sell"))
    fraction = rng.uniform(0.02, 0.10)
    lots = max(1, round(fraction * _VOLUME_PER_MINUTE * minutes / 100))
    return RunSpec(
        seed=seed, strategy=STRATEGIES[(seed - 1) % len(STRATEGIES)], side=side, qty=100 * lots
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class SoakOptions:
    runs: int = 200
    first_seed: int = 1
    jobs: int = 2
    minutes: float = 10.0  # each parent's horizon, simulated
    speed: float = 120.0  # simulated seconds per wall second
    warmup_s: float = 120.0  # simulated market before each parent (the detector's bars)
    faults: str = "on"
    json_path: Path | None = None
    keep_failed: Path | None = None  # failed runs' FIX logs and engine log go under it


@dataclass(slots=True)
class SoakResult:
    runs: list[dict[str, Any]] = field(default_factory=list)
    wall_s: float = 0.0

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [r for r in self.runs if r["violations"] or r["error"]]

    def summary(self) -> dict[str, Any]:
        kinds = Counter(v["kind"] for r in self.runs for v in r["violations"])
        fired: Counter[str] = Counter()
        for r in self.runs:
            fired.update(r["faults"])
        states = Counter(r["state"] for r in self.runs)
        peaks = [r["peak_participation"] for r in self.runs if not r["error"]]
        return {
            "runs": len(self.runs),
            "violations": sum(kinds.values()),
            "runs_with_violations": sum(1 for r in self.runs if r["violations"]),
            "overfills": kinds[Kind.OVERFILL.value],
            "cap_breaches": kinds[Kind.CAP.value],
            "sent_after_deadline": kinds[Kind.DEADLINE.value],
            "inconsistent_ends": kinds[Kind.END.value],
            "replay_divergences": kinds[Kind.REPLAY.value],
            "other": sum(kinds[k.value] for k in (Kind.FILLS, Kind.TWO_LIVE, Kind.ORPHAN)),
            "errors": sum(1 for r in self.runs if r["error"]),
            "completed": states["filled"],
            "children": sum(r["children"] for r in self.runs),
            "children_at_venue": sum(r["arrived"] for r in self.runs),
            "states": dict(states),
            "faults_fired": dict(fired),
            "max_peak_participation": max(peaks, default=0.0),
            "wall_s": round(self.wall_s, 1),
        }


def machine() -> dict[str, Any]:
    """Where the soak ran: CPU model and count, Python version, platform."""
    model = platform.processor() or ""
    with_cpuinfo = Path("/proc/cpuinfo")
    if with_cpuinfo.exists():
        for line in with_cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def run_soak(opts: SoakOptions, out: TextIO = sys.stdout) -> SoakResult:
    """Run ``opts.runs`` seeded sessions, ``opts.jobs`` at a time; print a line for each."""
    seeds = range(opts.first_seed, opts.first_seed + opts.runs)
    result = SoakResult()
    out.write(
        f"soak: {opts.runs} paper runs over FIX (seeds {seeds[0]}-{seeds[-1]}), faults "
        f"{opts.faults}, {opts.minutes:g} simulated min at {opts.speed:g}x, {opts.jobs} at a time\n"
    )
    out.flush()
    t0 = time.monotonic()
    with (
        tempfile.TemporaryDirectory(prefix="unwind-soak-") as work,
        ThreadPoolExecutor(max_workers=opts.jobs) as pool,
    ):
        futures = [
            pool.submit(_run_one, spec_for(seed, opts.minutes), opts, Path(work)) for seed in seeds
        ]
        for future in as_completed(futures):
            run = future.result()
            result.runs.append(run)
            out.write(_line(run) + "\n")
            out.flush()
    result.wall_s = time.monotonic() - t0
    result.runs.sort(key=lambda r: r["seed"])
    summary = result.summary()
    out.write(_summary_text(summary, opts))
    out.flush()
    if opts.json_path is not None:
        doc = {
            "options": {k: str(v) for k, v in dataclasses.asdict(opts).items()},
            "machine": machine(),
            "summary": summary,
            "runs": result.runs,
        }
        opts.json_path.write_text(json.dumps(doc, indent=1) + "\n")
    return result


def _run_one(spec: RunSpec, opts: SoakOptions, work: Path) -> dict[str, Any]:
    """One session in a subprocess (``python -m engine.soak --worker``); its result file."""
    run_dir = work / f"seed-{spec.seed}"
    run_dir.mkdir()
    result_path = run_dir / "result.json"
    cmd = [
        sys.executable,
        "-m",
        "engine.soak",
        "--worker",
        json.dumps(dataclasses.asdict(spec)),
        "--minutes",
        str(opts.minutes),
        "--speed",
        str(opts.speed),
        "--warmup",
        str(opts.warmup_s),
        "--faults",
        opts.faults,
        "--dir",
        str(run_dir),
    ]
    # The child imports this checkout's code, whatever the venv's editable install points at.
    path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    env = dict(os.environ, PYTHONPATH=path)
    timeout = (opts.warmup_s + opts.minutes * 60 + 60) / opts.speed + _RUN_SLACK_S
    started = time.monotonic()
    error = ""
    with (run_dir / "engine.log").open("w") as log:
        try:
            proc = subprocess.run(
                cmd, stdout=log, stderr=subprocess.STDOUT, env=env, timeout=timeout, check=False
            )
            if not result_path.exists():
                error = f"the run died (exit status {proc.returncode}) before its result"
        except subprocess.TimeoutExpired:
            error = f"the run took more than {timeout:.0f} wall seconds"
    run: dict[str, Any] = (
        json.loads(result_path.read_text()) if not error else dict(_NO_RESULT, state="error")
    )
    run |= dataclasses.asdict(spec) | {"error": error, "wall_s": time.monotonic() - started}
    if (error or run["violations"]) and opts.keep_failed is not None:
        opts.keep_failed.mkdir(parents=True, exist_ok=True)
        dest = opts.keep_failed / run_dir.name
        shutil.rmtree(dest, ignore_errors=True)
        shutil.copytree(run_dir, dest)
    shutil.rmtree(run_dir, ignore_errors=True)
    return run


def _line(run: dict[str, Any]) -> str:
    fired = run["faults"]
    short = " ".join(f"{k[:4]} {v}" for k, v in fired.items())
    head = (
        f"seed {run['seed']:>4} {run['strategy']:>8} {run['side']:>4} "
        f"{run['state']:>12} {run['filled']:>6,}/{run['qty']:<6,} "
        f"children {run['children']:>3} ({run['arrived']:>3} at venue) "
        f"peak {run['peak_participation']:5.1%} (cap {run['cap']:.0%})  faults [{short}]"
    )
    if run["error"]:
        return f"{head}  FAILED: {run['error']}"
    if not run["violations"]:
        return f"{head}  ok"
    texts = "; ".join(f"{v['kind']}: {v['text']}" for v in run["violations"])
    return f"{head}  VIOLATIONS {len(run['violations'])}: {texts}"


def _summary_text(s: dict[str, Any], opts: SoakOptions) -> str:
    fired = ", ".join(f"{k} {v}" for k, v in s["faults_fired"].items())
    ends = ", ".join(f"{k} {v}" for k, v in sorted(s["states"].items()))
    return (
        f"\nsummary: {s['runs']} runs, faults {opts.faults}, "
        f"{opts.minutes:g} min at {opts.speed:g}x\n"
        f"  violations           {s['violations']} (in {s['runs_with_violations']} runs)\n"
        f"  overfills            {s['overfills']}\n"
        f"  cap breaches         {s['cap_breaches']}\n"
        f"  sent after deadline  {s['sent_after_deadline']}\n"
        f"  inconsistent ends    {s['inconsistent_ends']}\n"
        f"  replays that differ  {s['replay_divergences']}\n"
        f"  other violations     {s['other']} (fills disagree, two children live, orphans)\n"
        f"  runs that failed     {s['errors']} (crashed or hung)\n"
        f"  completed (filled)   {s['completed']} of {s['runs']}; ends: {ends}\n"
        f"  child orders         {s['children']:,} ({s['children_at_venue']:,} reached the venue)\n"
        f"  highest window peak  {s['max_peak_participation']:.1%}\n"
        f"  faults fired         {fired}\n"
        f"  wall time            {s['wall_s']:.0f} s\n"
    )


# --- the CLI ---------------------------------------------------------------------------------


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a whole number > 0, got {text}")
    return value


def _positive(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text}")
    return value


def add_soak_arguments(p: argparse.ArgumentParser) -> None:
    """Add the ``soak`` options to ``p``."""
    p.add_argument("--runs", type=_positive_int, default=200, help="how many seeds")
    p.add_argument("--first-seed", type=int, default=1, help="seeds first-seed .. +runs-1")
    p.add_argument("--jobs", type=_positive_int, default=2, help="sessions at a time")
    p.add_argument("--minutes", type=_positive, default=10.0, help="horizon, simulated minutes")
    p.add_argument("--speed", type=_positive, default=120.0, help="simulated s per wall s")
    p.add_argument("--faults", choices=("on", "off"), default="on", help="fault profile")
    p.add_argument("--json", type=Path, dest="json_path", help="write every run as JSON here")
    p.add_argument(
        "--keep-failed",
        type=Path,
        default=Path("soak-failed"),
        help="a failed run's FIX logs and engine log are kept here",
    )


def options_from_args(args: argparse.Namespace) -> SoakOptions:
    """The :class:`SoakOptions` of parsed ``soak`` arguments."""
    return SoakOptions(
        runs=args.runs,
        first_seed=args.first_seed,
        jobs=args.jobs,
        minutes=args.minutes,
        speed=args.speed,
        faults=args.faults,
        json_path=args.json_path,
        keep_failed=args.keep_failed,
    )


def _worker(argv: Sequence[str]) -> int:
    """One run: the paper session a spec names, its outcome written as JSON to DIR/result.json."""
    import asyncio

    from engine.logs import configure_logging
    from engine.paper import PaperOptions, paper_session
    from engine.replay import replay
    from strategies.schedule import Side

    p = argparse.ArgumentParser(prog="engine.soak --worker")
    p.add_argument("--worker", required=True)
    p.add_argument("--minutes", type=float, required=True)
    p.add_argument("--speed", type=float, required=True)
    p.add_argument("--warmup", type=float, required=True)
    p.add_argument("--faults", required=True)
    p.add_argument("--dir", type=Path, required=True)
    args = p.parse_args(argv)
    spec = RunSpec(**json.loads(args.worker))
    configure_logging(level="warning")
    opts = PaperOptions(
        side=Side(spec.side),
        qty=spec.qty,
        minutes=args.minutes,
        speed=args.speed,
        seed=spec.seed,
        strategy=spec.strategy,
        warmup_s=args.warmup,
        chart=None,
        data_dir=args.dir / "fix",
        journal=args.dir / "journal.sqlite",
        faults=args.faults,
        quiet=True,
    )
    outcome = asyncio.run(paper_session(opts))
    violations = [{"kind": v.kind.value, "text": v.text} for v in outcome.violations]
    # The session's journal must replay to the same decisions, faults and all.
    replayed = replay(args.dir / "journal.sqlite")
    if replayed.divergence is not None:
        d = replayed.divergence
        violations.append(
            {
                "kind": Kind.REPLAY.value,
                "text": f"journal record {d.seq}: recorded {d.expected}; replayed {d.got}",
            }
        )
    doc = {
        "state": outcome.state,
        "filled": outcome.filled,
        "oms_cum": outcome.oms_cum,
        "children": outcome.children,
        "arrived": outcome.arrived,
        "peak_participation": outcome.peak_participation,
        "cap": outcome.cap,
        "violations": violations,
        "faults": outcome.faults,
    }
    (args.dir / "result.json").write_text(json.dumps(doc))
    return 0


if __name__ == "__main__":  # the worker of one run, started by _run_one
    sys.exit(_worker(sys.argv[1:]))
