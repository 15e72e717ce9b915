"""The FIX exchange simulator (``unwind fixsim``): a QuickFIX acceptor in front of a market.

* :mod:`.venue`: the sans-I/O core: FIX messages in and out over a market in simulated time;
* :mod:`.faults`: seeded, deterministic fault injection (drops, duplicates, late fills, ...);
* :mod:`.application`: the QuickFIX callbacks, which only hand message copies to the loop;
* :mod:`.server`: the asyncio daemon: acceptor lifecycle, market clock, shutdown;
* :mod:`.ws` / :mod:`.wsjson`: the same market data over a WebSocket, as JSON;
* :mod:`.command`: the ``unwind fixsim`` arguments and run.

Threading: one asyncio loop owns all state; QuickFIX threads only call
``loop.call_soon_threadsafe`` with copies (see :mod:`.application`). docs/fixsim.md is the
operator's guide.
"""
