"""Test-wide settings: hypothesis profiles (CI runs more examples, derandomised)."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

# "nojit": with the JIT off every kernel runs as Python, so example counts stay small.
for _name, _examples in (("default", 60), ("ci", 300), ("nojit", 15)):
    settings.register_profile(
        _name,
        max_examples=_examples,
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
