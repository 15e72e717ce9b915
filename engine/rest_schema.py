"""The REST API's wire formats: the submit body, its conversion, and the OpenAPI document.

Decoding checks syntax and types only, as the FIX decoder does (:mod:`engine.parent_events`):
whether an order makes sense (a known symbol, a cap within the maximum, feasibility) is the
engine's decision. Times in the body are ISO-8601 strings with an explicit offset (``Z`` or
``+00:00``; a time without one is refused rather than guessed), converted to integer nanoseconds
since the Unix epoch, UTC: the engine's clock. Prices are currency, converted to integer units
of 1/10,000 (:func:`engine.events.price_from_float`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from engine.events import price_from_float
from engine.parent_events import PARENT_STRATEGIES, ParentOrder
from strategies.schedule import Side

__all__ = [
    "REST_SESSION",
    "Route",
    "SetTradingState",
    "SubmitParent",
    "describe_errors",
    "openapi_document",
    "time_to_ns",
    "to_parent_order",
]

# The OMS session name REST parents carry: their reports go to the OmsOut under this name,
# which no FIX session has, so the acceptor drops them (REST callers poll GET /parents/{id}).
REST_SESSION = "rest"

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_Strategy = Literal[PARENT_STRATEGIES]  # type: ignore[valid-type]


class SetTradingState(BaseModel):
    """The body of ``POST /trading-state``: the kill switch, REDUCING, or a reset, per scope."""

    model_config = ConfigDict(extra="forbid", strict=True, title="SetTradingState")

    scope: Literal["global", "symbol", "parent"]
    key: str = Field(
        "", max_length=64, description="the symbol or parent id; empty for the global scope"
    )
    state: Literal["active", "reducing", "halted"]
    reason: str = Field(min_length=1, max_length=200, description="recorded with the state")


class SubmitParent(BaseModel):
    """The body of ``POST /parents``: a new parent order."""

    # strict: "100" is not a quantity and 1.5 not an integer; the operator meant something.
    model_config = ConfigDict(extra="forbid", strict=True, title="SubmitParent")

    cl_ord_id: str = Field(min_length=1, max_length=64, description="the caller's order id")
    symbol: str = Field(min_length=1, max_length=32)
    side: Literal["buy", "sell"]
    qty: int = Field(gt=0, description="shares, a whole number of lots")
    strategy: _Strategy  # type: ignore[valid-type]
    end_time: AwareDatetime = Field(description="deadline, ISO-8601 with offset, e.g. ...Z")
    start_time: AwareDatetime | None = Field(None, description="omitted: start now")
    limit_price: float | None = Field(
        None, allow_inf_nan=False, description="currency; must be on the symbol's tick"
    )
    participation_cap: float | None = Field(
        None, allow_inf_nan=False, description="fraction of market volume; omitted: default"
    )
    risk_aversion: float | None = Field(None, allow_inf_nan=False, description="per currency")
    urgency: float | None = Field(
        None, ge=0, le=1, allow_inf_nan=False, description="0 patient, 0.5 neutral, 1 urgent"
    )


def time_to_ns(t: dt.datetime) -> int:
    """Convert an aware datetime to integer nanoseconds since the epoch, exactly."""
    delta = t - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000


def to_parent_order(body: SubmitParent, now_ns: int) -> ParentOrder:
    """Build the engine's command from a validated body (``now_ns`` is its ``ts_init``)."""
    return ParentOrder(
        cl_ord_id=body.cl_ord_id,
        symbol=body.symbol,
        side=Side(body.side),
        qty=body.qty,
        strategy=body.strategy,
        end_ns=time_to_ns(body.end_time),
        start_ns=None if body.start_time is None else time_to_ns(body.start_time),
        limit_price=None if body.limit_price is None else price_from_float(body.limit_price),
        participation_cap=body.participation_cap,
        risk_aversion=body.risk_aversion,
        urgency=body.urgency,
        ts_init=now_ns,
        session=REST_SESSION,
    )


def describe_errors(exc: ValidationError) -> tuple[str, list[str]]:
    """One readable line naming each bad field, and the field names (``body``: the whole)."""
    parts: list[str] = []
    fields: list[str] = []
    for err in exc.errors(include_url=False):
        where = ".".join(str(p) for p in err["loc"]) or "body"
        fields.append(where)
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts), fields


# --- OpenAPI ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Route:
    """One endpoint: the router and the OpenAPI document are both built from these."""

    method: Literal["GET", "POST"]
    path: str
    name: str
    summary: str
    responses: tuple[int, ...] = (200,)
    body: type[BaseModel] | None = None

    @property
    def mutating(self) -> bool:
        return self.method != "GET"


_STATUS_TEXT = {
    200: "OK",
    201: "created",
    400: "bad body: the message names the field",
    401: "no bearer token",
    403: "wrong token, or no token configured on the server",
    404: "unknown parent",
    409: "the parent (or the engine) is in a state that refuses this",
    422: "refused by the engine: {error, reason}",
    503: "not ready: {error, not_ready}",
}


def openapi_document(routes: Sequence[Route], *, title: str, version: str) -> dict[str, Any]:
    """An OpenAPI 3.1 document for ``routes`` (bodies from the pydantic models' schemas)."""
    schemas: dict[str, Any] = {
        "Error": {
            "type": "object",
            "properties": {"error": {"type": "string"}},
            "required": ["error"],
        }
    }
    paths: dict[str, dict[str, Any]] = {}
    for r in routes:
        op: dict[str, Any] = {"operationId": r.name, "summary": r.summary, "responses": {}}
        params = [p.strip("{}") for p in r.path.split("/") if p.startswith("{")]
        if params:
            op["parameters"] = [
                {"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
                for p in params
            ]
        if r.body is not None:
            schema = r.body.model_json_schema(ref_template="#/components/schemas/{model}")
            schemas.update(schema.pop("$defs", {}))
            schemas[r.body.__name__] = schema
            ref = {"$ref": f"#/components/schemas/{r.body.__name__}"}
            op["requestBody"] = {"required": True, "content": {"application/json": {"schema": ref}}}
        if r.mutating:
            op["security"] = [{"bearer": []}]
        codes = (*r.responses, 400, 401, 403) if r.mutating else r.responses
        for code in sorted(set(codes)):
            resp: dict[str, Any] = {"description": _STATUS_TEXT.get(code, "")}
            if code >= 400:
                resp["content"] = {
                    "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
                }
            op["responses"][str(code)] = resp
        paths.setdefault(r.path, {})[r.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
