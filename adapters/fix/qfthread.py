"""Run a blocking QuickFIX call without blocking the asyncio loop.

``acceptor.stop()`` and ``initiator.stop()`` wait for QuickFIX's threads, and those threads'
callbacks post to the loop; calling ``stop()`` on the loop thread would deadlock. A fresh
thread that ends with the call (rather than an executor) leaves nothing running behind it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import TypeVar

__all__ = ["in_thread"]

_T = TypeVar("_T")


async def in_thread(fn: Callable[..., _T], *args: object, name: str = "quickfix-blocking") -> _T:
    """Run ``fn(*args)`` in a thread of its own and await its result (or exception)."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[_T] = loop.create_future()

    def run() -> None:
        try:
            result = fn(*args)
        except BaseException as e:  # re-raised in the awaiting coroutine
            loop.call_soon_threadsafe(done.set_exception, e)
        else:
            loop.call_soon_threadsafe(done.set_result, result)

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    try:
        return await done
    finally:
        thread.join()
