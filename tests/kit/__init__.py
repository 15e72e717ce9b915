"""Shared test helpers: reference parameter sets and small builders."""

from __future__ import annotations

from strategies.almgren_chriss import ACParameters
from strategies.schedule import Side

__all__ = ["paper_example"]


def paper_example(**overrides: object) -> ACParameters:
    """Almgren & Chriss (2001) section 4: 1M shares of a $50 stock over 5 days in 5 periods."""
    base: dict[str, object] = dict(
        shares=1e6,
        horizon=5.0,
        periods=5,
        sigma=0.95,
        eta=2.5e-6,
        gamma=2.5e-7,
        epsilon=0.0625,
        risk_aversion=1e-6,
        drift=0.0,
        side=Side.SELL,
    )
    base.update(overrides)
    return ACParameters(**base)  # type: ignore[arg-type]
