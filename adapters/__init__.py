"""The edges of Unwind: FIX (QuickFIX) sessions, market-data feeds, the market simulator.

Nothing lives here yet; the simulator, the LOBSTER replay and the FIX adapters land with their
issues. See docs/ARCHITECTURE.md for what belongs here and what may be imported.
"""
