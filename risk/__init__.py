"""The pre-trade risk gate and circuit breakers.

Nothing lives here yet; the gate lands with the engine and risk issues. See docs/ARCHITECTURE.md
for what belongs here and what may be imported.
"""
