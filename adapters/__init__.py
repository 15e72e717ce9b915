"""The edges of Unwind: markets to trade against and the wire formats they speak.

``adapters.sim`` (matching engine, exchange, market simulator), ``adapters.lobster`` (real NASDAQ
data and a replay venue), ``adapters.fix`` and ``adapters.fixsim`` (FIX codec and the FIX exchange
simulator). Each implements the venue and market-data ports of ``engine.ports``; domain values
come from ``engine.events``. See docs/ARCHITECTURE.md.
"""
