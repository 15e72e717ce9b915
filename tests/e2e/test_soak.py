"""`unwind soak` end to end: two seeded paper sessions over FIX with the fault profile on.

Each run is a real subprocess (fixsim, engine and OMS over loopback FIX sessions), checked
against the simulator's record. Seeds 107 and 108: their fault schedules put a halt and a
forced disconnect inside the first 120 simulated seconds, the warm-up before the parent, so the
timed faults fire however the wall clock runs (where later ones fall against the parent depends
on how long the logons took); the delivery faults (drops, duplicates, delays, held fills,
rejects) fire on the parent's reports.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from adapters.fixsim.faults import FaultSchedule, fault_profile
from engine.clock import NS
from engine.soak import SoakOptions, run_soak

SEEDS = (107, 108)
_TIMED = ("disconnects", "halts")


def test_the_seeds_schedule_a_halt_and_a_disconnect_within_the_warm_up() -> None:
    for seed in SEEDS:
        schedule, kinds = FaultSchedule(fault_profile("on", seed), ["XYZ"], 0), set()
        while (t := schedule.next_time()) is not None and t < 120 * NS:
            kinds |= {a.kind.value for a in schedule.pop_due(t)}
        assert {"halt", "disconnect"} <= kinds, (seed, kinds)


@pytest.mark.slow
def test_soak_when_two_seeds_run_with_faults_then_no_violation_and_faults_fired(
    tmp_path: Path,
) -> None:
    out = io.StringIO()
    opts = SoakOptions(
        runs=len(SEEDS),
        first_seed=SEEDS[0],
        jobs=2,
        minutes=3,
        speed=300,
        json_path=tmp_path / "soak.json",
        keep_failed=tmp_path / "failed",
    )
    result = run_soak(opts, out=out)
    summary = result.summary()
    assert [r["seed"] for r in result.runs] == list(SEEDS)
    assert summary["errors"] == 0 and summary["violations"] == 0, out.getvalue()
    for run in result.runs:
        assert all(run["faults"][k] >= 1 for k in _TIMED), run
    assert summary["children_at_venue"] > 0  # the venue's record has children to judge
    fired = summary["faults_fired"]
    assert sum(v for k, v in fired.items() if k not in _TIMED) > 0, fired
    assert (tmp_path / "soak.json").stat().st_size > 0
    assert "summary: 2 runs" in out.getvalue()
