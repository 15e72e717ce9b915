"""Structured JSON logs (structlog): one object per line, with the parent and child ids that
the engine binds on every event.

Every line about a child order names it (``child``, its ClOrdID) and its parent (``parent``).
The venue adapter knows only ClOrdIDs; the engine issues them as ``{parent id}-{n}`` (children
and their cancels alike), so :func:`add_parent_of_child` fills ``parent`` in from ``child``
where a line has only the latter. Lines about a parent order the OMS sent but the engine
refused carry the OMS's ``cl_ord_id`` and ``session`` (it never got a parent id)."""

from __future__ import annotations

import logging
import sys
from typing import TextIO

import structlog

__all__ = ["add_parent_of_child", "configure_logging"]


def add_parent_of_child(
    _logger: object, _method: str, event: structlog.typing.EventDict
) -> structlog.typing.EventDict:
    """``parent`` from ``child`` (``{parent id}-{n}``) on a line that names only the child."""
    child = event.get("child")
    if "parent" not in event and isinstance(child, str) and "-" in child:
        event["parent"] = child.rpartition("-")[0]
    return event


def configure_logging(level: str = "info", stream: TextIO | None = None) -> None:
    """JSON lines on ``stream`` (stderr by default) at ``level`` and above, ISO-8601 UTC
    timestamps."""
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            add_parent_of_child,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=structlog.PrintLoggerFactory(stream or sys.stderr),
        cache_logger_on_first_use=False,
    )
