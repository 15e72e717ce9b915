"""Engine configuration: validated once at the edge (pydantic), then read as plain attributes.

Units: times in seconds, prices in currency, impact coefficients in the units of
:mod:`strategies.almgren_chriss` with time in seconds (``eta``: currency x s / share, ``gamma``:
currency / share, ``epsilon``: currency / share), risk aversion per currency. A bad value is
refused with the field's path and the rule it breaks.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = ["EngineConfig", "RiskConfig", "SymbolConfig", "load_config"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SymbolConfig(_Strict):
    """What the engine must know of a symbol to trade it."""

    tick: float = Field(0.01, gt=0, description="price increment, currency")
    lot: int = Field(100, ge=1, description="shares per round lot; children are whole lots")
    daily_volume: float = Field(gt=0, description="expected shares traded over the session")
    session_open_s: float = Field(34_200.0, ge=0, lt=86_400, description="seconds after 00:00")
    session_close_s: float = Field(57_600.0, gt=0, le=86_400)
    eta: float = Field(1e-4, gt=0, description="temporary impact, currency x s / share")
    gamma: float = Field(1e-6, ge=0, description="permanent impact, currency / share")
    epsilon: float = Field(0.005, ge=0, description="fixed cost (half spread), currency/share")
    fallback_daily_vol: float = Field(
        0.02, gt=0, description="volatility (fraction of price a session) before the filter knows"
    )

    @model_validator(mode="after")
    def _session(self) -> SymbolConfig:
        if self.session_close_s <= self.session_open_s:
            raise ValueError("session_close_s must be after session_open_s")
        return self


class RiskConfig(_Strict):
    """The risk gate's limits and the breakers (docs/risk.md). Notionals in currency."""

    collar_bps: float = Field(
        200.0, gt=0, description="a child's limit price within this of the mid (or last)"
    )
    max_child_qty: int = Field(50_000, ge=0, description="shares per child (0: no limit)")
    max_child_notional: float = Field(5_000_000.0, ge=0, description="per child (0: no limit)")
    max_parent_notional: float = Field(
        100_000_000.0, ge=0, description="filled + working + new, per parent (0: no limit)"
    )
    symbol_participation: float | None = Field(
        None, gt=0, le=1, description="cap of all parents on a symbol together (None: max cap)"
    )
    clock_skew_s: float = Field(
        1.0, ge=0, description="our fills count this much longer in the cap's window (venue clock)"
    )
    orders_per_s: float = Field(100.0, gt=0, description="venue message rate (token bucket)")
    orders_burst: float = Field(200.0, ge=1, description="messages the bucket banks")
    deadline_at_risk: float = Field(
        0.9, gt=0, description="remainder over cap x forecast volume to the end that alerts"
    )
    infeasible_policy: Literal["respect_cap", "stop"] = Field(
        "respect_cap",
        description="completion impossible: trade at the cap to the end, or end DoneForDay now",
    )
    var_alpha: float = Field(0.99, gt=0.5, lt=1, description="the VaR's confidence")
    var_limit: float = Field(
        1_000_000.0, ge=0, description="VaR of a parent's remainder that trips REDUCING (0: off)"
    )
    shortfall_z: float = Field(
        0.0, ge=0, description="shortfall past the plan's cost + z sd halts the parent (0: off)"
    )


class EngineConfig(_Strict):
    """Everything the daemon's decisions depend on (the FIX and REST settings live beside)."""

    engine_id: str = Field("UNW", min_length=1, max_length=8, pattern=r"^[A-Za-z0-9]+$")
    seed: int = 0
    symbols: dict[str, SymbolConfig]
    default_participation: float = Field(0.15, gt=0, le=1)
    max_participation: float = Field(0.15, gt=0, le=1)
    cap_window_s: float = Field(300.0, gt=0, description="trailing window of the cap")
    bucket_s: float = Field(60.0, gt=0, description="the plan's period")
    child_ttl_s: float = Field(30.0, gt=0, description="a resting child is refreshed after")
    cancel_allowance_s: float = Field(
        5.0, ge=0, description="time a cancel may take; the cap keeps volume for ttl + this"
    )
    ack_timeout_s: float = Field(5.0, gt=0, description="no answer by then: state unknown")
    final_push_s: float = Field(
        60.0, ge=0, description="before the end time: what is left goes out marketable"
    )
    drift_replan: float = Field(
        0.05, gt=0, le=1, description="re-plan when off plan by this fraction of the parent"
    )
    default_risk_aversion: float = Field(1e-6, ge=0)
    default_urgency: float = Field(
        0.5, ge=0, le=1, description="a parent's urgency when the OMS sends none (0.5: neutral)"
    )
    default_strategy: Literal["ac", "dp", "twap", "vwap", "pov", "adaptive"] = "adaptive"
    passive_fraction: float = Field(
        0.5, ge=0, le=1, description="share of each bucket worked passively (non-adaptive)"
    )
    collar_ticks: int = Field(5, ge=0)
    feasibility_margin: float = Field(
        1.0, gt=0, description="reject a parent needing more than margin x cap x forecast"
    )
    drain_timeout_s: float = Field(10.0, ge=0)
    finished_retention_s: float = Field(
        86_400.0,
        gt=0,
        description="a finished parent stays queryable (REST, status, duplicate ClOrdID) this long",
    )
    drain_action: Literal["cancel", "leave"] = "cancel"
    risk: RiskConfig = RiskConfig()

    @field_validator("symbols")
    @classmethod
    def _some(cls, v: dict[str, SymbolConfig]) -> dict[str, SymbolConfig]:
        if not v:
            raise ValueError("configure at least one symbol")
        return v

    @model_validator(mode="after")
    def _caps(self) -> EngineConfig:
        if self.default_participation > self.max_participation:
            raise ValueError("default_participation must not exceed max_participation")
        return self

    @property
    def symbol_participation(self) -> float:
        return self.risk.symbol_participation or self.max_participation


def load_config(path: Path) -> EngineConfig:
    """Read a JSON or TOML engine configuration (the ``engine`` table of a TOML file)."""
    import json
    import tomllib

    text = path.read_text()
    data = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    if path.suffix == ".toml" and "engine" in data:
        data = data["engine"]
    return EngineConfig.model_validate(data)
