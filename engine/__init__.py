"""The Unwind daemon and its command line.

So far this package holds the ``unwind`` command (``engine.cli``) and the ``plan`` subcommand.
The asyncio daemon, clocks, order state machines, journal and REST/metrics server land here with
the engine issue; see docs/ARCHITECTURE.md for the map.
"""
