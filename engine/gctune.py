"""Garbage-collector settings for a latency-sensitive loop.

CPython's cyclic collector stops the world: with the default thresholds a daemon holding a
thousand working parents runs a young-generation pass every 700 net allocations (several
milliseconds each with a large heap) and now and then a full pass over everything (tens of
milliseconds), and every one of those is event-loop lag. After start-up the daemon moves what
it has allocated so far (modules, configuration, compiled kernels: never garbage) to the
permanent generation with :func:`gc.freeze`, and collects young objects less often. The engine
makes few reference cycles (order state is freed by reference counting when a parent is
forgotten), so this costs little memory; ``tests/bench/bench_load.py`` measures both.
"""

from __future__ import annotations

import gc

__all__ = ["tune_gc_for_latency"]

# Young collections every 50,000 net allocations instead of 700; a middle pass every 20 of
# those, a full pass every 100 middle ones (and only when enough long-lived objects are new).
THRESHOLDS = (50_000, 20, 100)


def tune_gc_for_latency() -> None:
    """Freeze what is allocated so far and raise the collection thresholds (see the module
    docstring). Call once, after start-up."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
