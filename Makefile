# The two commands a new machine needs: `make paper` and `make test`.
# Everything installs into .venv; nothing is expected on the machine beyond Python 3.11+ and a
# C++ compiler (quickfix builds from source once; pip caches the wheel).

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

.PHONY: venv test test-fast test-nojit bench lint paper soak crash clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

# The full suite, then the numba-compiled parts once more as plain Python (NUMBA_DISABLE_JIT=1),
# so the kernels and their pure-Python reading agree.
test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(PY) -m pytest
	$(MAKE) test-nojit

test-nojit: $(STAMP)
	NUMBA_DISABLE_JIT=1 $(PY) -m pytest -q -m "not slow" tests/unit tests/property

test-fast: $(STAMP)
	$(PY) -m pytest -q -x -m "not slow"

bench: $(STAMP)
	@# Every benchmark runs; the exit status says whether any missed its target.
	@status=0; for f in tests/bench/bench_*.py; do echo "== $$f"; $(PY) $$f || status=1; done; exit $$status

lint: $(STAMP)
	$(VENV)/bin/ruff check .

# The main job: FIX exchange simulator, engine and demo OMS on loopback, one parent order
# (sell 100,000 over 20 simulated minutes at 60x), live progress, a post-trade summary and
# paper-report.png. Exits 0 only if the parent filled within the cap.
paper: $(STAMP)
	$(VENV)/bin/unwind paper

# The soak: 200 seeded paper sessions (10 simulated minutes at 120x, two at a time, each in its
# own process) against the FIX simulator with its fault profile on, each checked against the
# simulator's record (docs/risk.md). About 20 minutes on 2 cores, so not part of `make test`.
# Exits 0 only if no run broke an invariant; failed runs' logs go to soak-failed/.
soak: $(STAMP)
	$(VENV)/bin/unwind soak --runs 200 --first-seed 1 --jobs 2 --minutes 10 --speed 120 \
		--json soak-report.json

# The SIGKILL crash tests alone, printing every kill: the engine daemon as a real process,
# killed at seeded moments of paper sessions and restarted (docs/journal.md). Part of
# `make test` with their default 20 kills (about two minutes); KILLS=60 runs six sessions.
KILLS ?= 20
crash: $(STAMP)
	UNWIND_CRASH_KILLS=$(KILLS) $(PY) -m pytest -q -s -p no:logging tests/e2e/test_crash_restart.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
