"""Errors raised by the numerical core.

Exception tree::

    UnwindError                     (root of everything Unwind raises on purpose)
     └── StrategyError              (a strategy cannot produce a schedule from these inputs)
          ├── InvalidParameterError (an input is out of its domain: negative shares, N = 0, ...)
          └── InfeasibleScheduleError
                                    (inputs are valid, but no schedule satisfies every constraint:
                                     caps too tight, every allocation has infinite cost, ...)

Both leaves subclass ``ValueError`` as well, so callers that only know the standard library can
still catch them. Messages say what to change, because they reach people at a terminal.
"""

from __future__ import annotations

__all__ = [
    "InfeasibleScheduleError",
    "InvalidParameterError",
    "StrategyError",
    "UnwindError",
]


class UnwindError(Exception):
    """Root of every error Unwind raises deliberately."""


class StrategyError(UnwindError):
    """A strategy cannot produce a schedule from the inputs it was given."""


class InvalidParameterError(StrategyError, ValueError):
    """An input lies outside its domain (for example, a negative quantity)."""


class InfeasibleScheduleError(StrategyError, ValueError):
    """The inputs are valid but no schedule satisfies every constraint."""
