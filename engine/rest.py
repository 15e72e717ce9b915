"""The operators' REST API (aiohttp): look at parents and regimes, submit, cancel, halt, resume.

A thin shell over :class:`~engine.engine.Engine`: handlers run on the loop thread, the engine's
own, so they call it directly, and every decision (is this order acceptable, what does a halt
do) stays in the engine. Wire formats are in :mod:`engine.rest_schema` and
:mod:`engine.rest_views`, metrics in :mod:`engine.metrics`; ``docs/rest.md`` is the guide.

Security: every POST needs ``Authorization: Bearer <token>``; missing -> 401, wrong -> 403. With
no token configured, POSTs are refused with 403 (fail closed: an unauthenticated way to submit
orders is never the default). GETs are open: bind to loopback (the default) or put the port
behind something that authenticates.

Every error is ``{"error": "..."}`` JSON; an unexpected exception is logged and answered 500
without details, and the server goes on serving.
"""

from __future__ import annotations

import hmac
import json
import math
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import structlog
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import CollectorRegistry
from pydantic import ValidationError

from engine.engine import Engine, ParentRejected
from engine.executor import ParentExecutor
from engine.metrics import DEFAULT_FINISHED_TTL_S, engine_registry
from engine.rest_schema import (
    Route,
    SetTradingState,
    SubmitParent,
    describe_errors,
    openapi_document,
    to_parent_order,
)
from engine.rest_views import parent_detail, parent_summary, regimes, trading_states
from risk.states import Scope, TradingState

__all__ = ["ROUTES", "ReadyCheck", "RestServer", "build_app"]

log = structlog.get_logger("unwind.rest")

# A readiness check returns True/False, or {check: ok} so a 503 can say what is not ready.
ReadyCheck = Callable[[], bool | Mapping[str, bool]]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_MAX_BODY = 64 * 1024  # a parent order is a few hundred bytes

ROUTES: tuple[Route, ...] = (
    Route("GET", "/parents", "list_parents", "Every parent today, newest last"),
    Route("GET", "/parents/{id}", "get_parent", "One parent: plan vs actual, children", (200, 404)),
    Route("POST", "/parents", "submit_parent", "Submit a parent order", (201, 422), SubmitParent),
    Route("POST", "/parents/{id}/cancel", "cancel_parent", "Cancel a parent", (200, 404, 409)),
    Route(
        "POST", "/parents/{id}/halt", "halt_parent", "Stop sending for one parent", (200, 404, 409)
    ),
    Route("POST", "/parents/{id}/resume", "resume_parent", "Resume one parent", (200, 404, 409)),
    Route("POST", "/halt", "halt_all", "Halt every parent and refuse new ones"),
    Route("POST", "/resume", "resume_all", "Resume after a global halt"),
    Route("GET", "/trading-state", "get_trading_state", "Every scope's trading state"),
    Route(
        "POST",
        "/trading-state",
        "set_trading_state",
        "Set a scope's state: halted (kill switch), reducing, or active (reset)",
        (200, 404),
        SetTradingState,
    ),
    Route(
        "GET", "/regimes", "get_regimes", "Each symbol's regime detector state and data freshness"
    ),
    Route("GET", "/healthz", "healthz", "The process is alive"),
    Route("GET", "/readyz", "readyz", "Sessions up: ready to trade", (200, 503)),
    Route("GET", "/metrics", "metrics", "Prometheus exposition"),
    Route("GET", "/openapi.json", "openapi", "This document"),
)


class _NotFound(Exception):
    """An unknown parent: answered 404 by the error middleware."""


def _finite(value: Any) -> Any:
    # NaN and Infinity are not JSON (json.dumps would still write them): send null instead.
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def _json(data: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.json_response(
        data, status=status, headers=headers, dumps=lambda d: json.dumps(_finite(d))
    )


def _error(status: int, text: str, **extra: Any) -> web.Response:
    return _json({"error": text, **extra}, status=status)


class _Api:
    """The handlers, bound to one engine (names match :data:`ROUTES`)."""

    def __init__(
        self, engine: Engine, token: str | None, ready: ReadyCheck, registry: CollectorRegistry
    ) -> None:
        self.engine = engine
        self.token = token.encode() if token else None
        self.ready = ready
        self.registry = registry
        self.openapi_doc = openapi_document(ROUTES, title="Unwind operators' API", version="1")

    # --- middlewares ---------------------------------------------------------------------------

    @web.middleware
    async def errors(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except _NotFound as exc:
            return _error(404, str(exc))
        except web.HTTPException as exc:  # aiohttp's own: unknown route, bad method, too large
            if exc.status < 400:
                raise
            resp = _error(exc.status, exc.reason)
            if "Allow" in exc.headers:
                resp.headers["Allow"] = exc.headers["Allow"]
            return resp
        except Exception:
            log.exception("rest handler failed", method=request.method, path=request.path)
            return _error(500, "internal error; see the engine's log")

    @web.middleware
    async def auth(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        # By method, not by route: a POST added later is protected without anyone remembering.
        if request.method in ("GET", "HEAD", "OPTIONS"):
            return await handler(request)
        if self.token is None:
            return _error(403, "mutating calls are disabled: configure a REST token")
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not given.strip():
            resp = _error(401, "missing bearer token")
            resp.headers["WWW-Authenticate"] = "Bearer"
            return resp
        if not hmac.compare_digest(given.strip().encode(), self.token):
            return _error(403, "wrong token")
        return await handler(request)

    # --- parents -------------------------------------------------------------------------------

    def _parent(self, request: web.Request) -> ParentExecutor:
        key = request.match_info["id"]
        # The engine's id first; an OMS ClOrdID (current or earlier) finds it too.
        parent = self.engine.parents.get(key) or self.engine.parent_by_clordid(key)
        if parent is None:
            raise _NotFound(f"unknown parent {key!r}")
        return parent

    async def list_parents(self, request: web.Request) -> web.Response:
        return _json([parent_summary(p) for p in self.engine.parents.values()])

    async def get_parent(self, request: web.Request) -> web.Response:
        return _json(parent_detail(self.engine, self._parent(request)))

    async def submit_parent(self, request: web.Request) -> web.Response:
        raw = await request.read()
        try:
            body = SubmitParent.model_validate_json(raw)
        except ValidationError as exc:
            text, fields = describe_errors(exc)
            return _error(400, text, fields=fields)
        order = to_parent_order(body, self.engine.clock.now_ns())
        try:
            parent = self.engine.submit(order)
        except ParentRejected as rej:
            log.info("rest parent rejected", cl_ord_id=order.cl_ord_id, reason=rej.reason.value)
            return _error(422, rej.text, reason=rej.reason.value)
        log.info("rest parent accepted", parent=parent.id, cl_ord_id=order.cl_ord_id)
        return _json(
            {"id": parent.id, "state": parent.state.value},
            status=201,
            headers={"Location": f"/parents/{parent.id}"},
        )

    async def cancel_parent(self, request: web.Request) -> web.Response:
        parent = self._parent(request)
        if parent.state.final:
            return _error(409, f"parent is already {parent.state.value}")
        log.info("rest cancel", parent=parent.id)
        self.engine.cancel_parent(parent)
        return _json(parent_summary(parent))

    async def halt_parent(self, request: web.Request) -> web.Response:
        parent = self._parent(request)
        if parent.state.final:
            return _error(409, f"parent is already {parent.state.value}")
        log.info("rest halt", parent=parent.id)
        self.engine.halt(parent.id)
        return _json(parent_summary(parent))

    async def resume_parent(self, request: web.Request) -> web.Response:
        parent = self._parent(request)
        if parent.state.final:
            return _error(409, f"parent is already {parent.state.value}")
        if self.engine.halted:  # the engine would silently keep it halted
            return _error(409, "the engine is halted: POST /resume first")
        log.info("rest resume", parent=parent.id)
        self.engine.resume(parent.id)
        return _json(parent_summary(parent))

    async def halt_all(self, request: web.Request) -> web.Response:
        log.warning("rest global halt")
        self.engine.halt()
        return _json({"halted": self.engine.halted})

    async def resume_all(self, request: web.Request) -> web.Response:
        log.warning("rest global resume")
        self.engine.resume()
        return _json({"halted": self.engine.halted})

    async def get_trading_state(self, request: web.Request) -> web.Response:
        return _json(trading_states(self.engine))

    async def set_trading_state(self, request: web.Request) -> web.Response:
        try:
            body = SetTradingState.model_validate_json(await request.read())
        except ValidationError as exc:
            text, fields = describe_errors(exc)
            return _error(400, text, fields=fields)
        scope = Scope(body.scope)
        key = body.key
        if scope is Scope.GLOBAL:
            key = ""
        elif scope is Scope.SYMBOL and key not in self.engine.symbols:
            raise _NotFound(f"unknown symbol {key!r}")
        elif scope is Scope.PARENT:
            parent = self.engine.parents.get(key) or self.engine.parent_by_clordid(key)
            if parent is None:
                raise _NotFound(f"unknown parent {key!r}")
            key = parent.id
        state = TradingState[body.state.upper()]
        log.warning(
            "rest trading state", scope=scope.value, key=key, state=state.label, reason=body.reason
        )
        self.engine.set_trading_state(scope, key, state, reason=body.reason)
        return _json(trading_states(self.engine))

    # --- state and health ------------------------------------------------------------------------

    async def get_regimes(self, request: web.Request) -> web.Response:
        return _json(regimes(self.engine))

    async def healthz(self, request: web.Request) -> web.Response:
        return _json({"status": "alive"})

    async def readyz(self, request: web.Request) -> web.Response:
        result = self.ready()
        checks = result if isinstance(result, Mapping) else {"ready": bool(result)}
        not_ready = sorted(name for name, ok in checks.items() if not ok)
        if not_ready:
            return _error(503, f"not ready: {', '.join(not_ready)}", not_ready=not_ready)
        return _json({"status": "ready"})

    async def metrics(self, request: web.Request) -> web.Response:
        body = generate_latest(self.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def openapi(self, request: web.Request) -> web.Response:
        return _json(self.openapi_doc)


def build_app(
    engine: Engine,
    *,
    token: str | None,
    metrics_registry: CollectorRegistry | None = None,
    ready: ReadyCheck | None = None,
    finished_ttl_s: float = DEFAULT_FINISHED_TTL_S,
    feed: str = "sim",
) -> web.Application:
    """Build the REST application for ``engine``.

    Parameters
    ----------
    token
        The bearer token every POST must carry; ``None`` or empty refuses every POST (403).
    metrics_registry
        Where the engine's collector is registered and what ``/metrics`` exposes; ``None``:
        a registry of its own (never prometheus_client's global one).
    ready
        The readiness check behind ``/readyz``; ``None``: the engine's venue session is up.
    finished_ttl_s
        How long a finished parent's per-parent series stay in ``/metrics``.
    feed
        The market-data feed's label in ``/metrics`` (fix, ws, sim).

    Raises
    ------
    ValueError
        If ``metrics_registry`` already holds the engine's metric names.
    """
    registry = engine_registry(engine, metrics_registry, finished_ttl_s=finished_ttl_s, feed=feed)
    check = ready if ready is not None else (lambda: {"venue": engine.venue_up})
    api = _Api(engine, token, check, registry)
    app = web.Application(middlewares=[api.errors, api.auth], client_max_size=_MAX_BODY)
    for r in ROUTES:
        handler = getattr(api, r.name)
        if r.method == "GET":
            app.router.add_get(r.path, handler, name=r.name)
        else:
            app.router.add_post(r.path, handler, name=r.name)
    return app


class RestServer:
    """Serve ``app`` on ``host:port`` (port 0: a free one, then read :attr:`port`)."""

    def __init__(self, app: web.Application, *, host: str = "127.0.0.1", port: int) -> None:
        self.app = app
        self.host = host
        self._requested_port = port
        self._runner: web.AppRunner | None = None
        self._port: int | None = None

    @property
    def port(self) -> int:
        """The bound port.

        Raises
        ------
        RuntimeError
            Before :meth:`start`.
        """
        if self._port is None:
            raise RuntimeError("RestServer not started")
        return self._port

    async def start(self) -> None:
        """Bind and start serving; returns once the socket listens."""
        runner = web.AppRunner(self.app, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self._requested_port)
        await site.start()
        self._runner = runner
        self._port = int(runner.addresses[0][1])
        log.info("rest listening", host=self.host, port=self._port)

    async def stop(self) -> None:
        """Stop accepting, finish in-flight requests, close."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
            self._port = None
