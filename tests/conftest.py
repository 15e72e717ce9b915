"""Test-wide settings: hypothesis profiles (CI runs more examples, derandomised)."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "default",
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "ci",
    max_examples=300,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
# With the JIT off every kernel runs as Python: keep example counts small.
settings.register_profile(
    "nojit",
    max_examples=15,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
if os.environ.get("NUMBA_DISABLE_JIT") == "1":
    settings.load_profile("nojit")
elif os.environ.get("CI"):
    settings.load_profile("ci")
else:
    settings.load_profile("default")
