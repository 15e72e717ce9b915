"""The daemon: the engine wired to a FIX venue, a market-data feed and FIX OMS sessions.

Threads: QuickFIX runs its own; every adapter hands what it receives to this asyncio loop,
where the engine runs. The REST API (when configured) runs on the same loop.

Market data comes from the venue's FIX session (``[market_data] source = "venue"``, the
default) or from a WebSocket feed (``source = "ws"``, :mod:`adapters.wsfeed`). Either source
tells the engine when a symbol's data turns stale and fresh again (the FIX session dropped or
resynced; the WebSocket feed silent for ``stale_after_s``); a stale symbol's parents pull their
resting children and send nothing until it is fresh.

Shutdown (SIGTERM, SIGINT, or :meth:`Daemon.stop`): new parents are refused; by the configured
``drain_action`` working children are cancelled (``cancel``) or left at the venue (``leave``);
the daemon waits up to ``drain_timeout_s`` for the venue to confirm, then logs the sessions out
and stops. A child whose cancel is unconfirmed at the timeout is reported in the log.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import threading
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import structlog
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from adapters.fix.oms_acceptor import OmsAcceptor, OmsAcceptorConfig
from adapters.fix.venue_client import FixVenueClient, FixVenueConfig
from adapters.wsfeed.client import WsFeedClient
from adapters.wsfeed.config import WsFeedConfig
from engine.clock import AcceleratedClock, Clock, LiveClock
from engine.config import EngineConfig
from engine.engine import Engine
from engine.gctune import tune_gc_for_latency
from engine.journal import Journal, JournalError, verify
from engine.looplag import LoopLagMonitor
from engine.oms_outbox import OmsOutbox
from engine.recovery import Recovery, recover
from risk.states import Scope, TradingState
from strategies.planner import warm_up

__all__ = ["ClockSettings", "Daemon", "DaemonConfig", "load_daemon_config", "serve"]

log = structlog.get_logger("unwind.daemon")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class VenueSettings(_Strict):
    settings: Path = Field(description="QuickFIX initiator settings of the venue session")
    session: str | None = None
    data_dir: Path | None = None
    host: str | None = None
    port: int | None = Field(None, gt=0, le=65535)


class OmsSettings(_Strict):
    settings: Path = Field(description="QuickFIX acceptor settings of the OMS sessions")
    data_dir: Path | None = None
    port: int | None = Field(None, ge=0, le=65535)


class MarketDataSettings(_Strict):
    source: Literal["venue", "ws"] = Field(
        "venue", description="the venue's FIX session, or a WebSocket feed at url"
    )
    url: str | None = Field(None, pattern=r"^wss?://", description="the feed (source ws)")
    heartbeat_s: float | None = Field(5.0, gt=0)
    stale_after_s: float = Field(5.0, gt=0, description="no event for this long: stale")
    connect_timeout_s: float = Field(5.0, gt=0)
    backoff_base_s: float = Field(0.25, gt=0)
    backoff_cap_s: float = Field(30.0, gt=0)

    @model_validator(mode="after")
    def _complete(self) -> MarketDataSettings:
        if self.source == "ws" and self.url is None:
            raise ValueError("source ws needs url (ws://host:port/path)")
        if self.backoff_cap_s < self.backoff_base_s:
            raise ValueError("backoff_cap_s must be >= backoff_base_s")
        return self

    def ws_config(self) -> WsFeedConfig:
        assert self.url is not None
        return WsFeedConfig(
            url=self.url,
            heartbeat_s=self.heartbeat_s,
            connect_timeout_s=self.connect_timeout_s,
            backoff_base_s=self.backoff_base_s,
            backoff_cap_s=self.backoff_cap_s,
            stale_after_s=self.stale_after_s,
        )


class JournalSettings(_Strict):
    path: Path | None = Field(
        None, description="the SQLite journal (docs/journal.md); unset: no journal (logged)"
    )
    flush_interval_s: float = Field(
        0.05, ge=0, le=5, description="group commit: at most this long between commits"
    )
    synchronous: Literal["normal", "full"] = Field(
        "normal", description="normal: a commit survives the process dying; full: a power cut"
    )


class RestSettings(_Strict):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    # A finished parent's series leave /metrics this long after it finished.
    finished_series_ttl_s: float = Field(900.0, ge=0)
    token: str | None = Field(None, min_length=16, description="bearer token for mutating calls")


class ClockSettings(_Strict):
    """The daemon's time: the wall clock (``live``, the default: a real venue), or simulated
    time (``accelerated``) shared with a FIX simulator running on its own clock: ``speed``
    simulated seconds per wall second, ``origin_ns`` (simulated Unix ns) at the wall-clock
    instant ``anchor_unix_ns`` (``time.time_ns()``). Any process reading the same three numbers
    tells the same simulated time, so a daemon restarted on this configuration goes on where
    the one before left off (engine/clock.py ``AcceleratedClock``)."""

    mode: Literal["live", "accelerated"] = Field(
        "live", description="live: the wall clock; accelerated: speed, origin_ns, anchor_unix_ns"
    )
    speed: float | None = Field(
        None, gt=0, allow_inf_nan=False, description="simulated seconds per wall second"
    )
    origin_ns: int | None = Field(None, ge=0, description="simulated time (Unix ns) at the anchor")
    anchor_unix_ns: int | None = Field(
        None, gt=0, description="the wall-clock instant (Unix ns) simulated time is origin_ns"
    )

    @model_validator(mode="after")
    def _complete(self) -> ClockSettings:
        given = [
            k for k in ("speed", "origin_ns", "anchor_unix_ns") if getattr(self, k) is not None
        ]
        if self.mode == "live" and given:
            raise ValueError(f"mode live takes no {', '.join(given)} (they are for accelerated)")
        if self.mode == "accelerated" and len(given) < 3:
            missing = [k for k in ("speed", "origin_ns", "anchor_unix_ns") if k not in given]
            raise ValueError(f"mode accelerated needs {', '.join(missing)}")
        return self

    def build(self) -> Clock:
        """The clock these settings describe."""
        if self.mode == "live":
            return LiveClock()
        assert self.speed is not None and self.origin_ns is not None
        return AcceleratedClock(self.origin_ns, self.speed, anchor_unix_ns=self.anchor_unix_ns)


class DaemonConfig(_Strict):
    engine: EngineConfig
    venue: VenueSettings
    oms: OmsSettings
    market_data: MarketDataSettings = MarketDataSettings()
    journal: JournalSettings = JournalSettings()
    rest: RestSettings | None = None
    clock: ClockSettings = ClockSettings()


def load_daemon_config(path: Path) -> DaemonConfig:
    """Read and validate a TOML daemon configuration; relative paths are taken from the file's
    directory. Raises ``ValueError`` naming the bad field."""
    try:
        raw: dict[str, Any] = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise ValueError(f"cannot read {path}: {e}") from None
    base = path.resolve().parent
    for section in ("venue", "oms", "journal"):
        sec = raw.get(section)
        if isinstance(sec, dict):
            for key in ("settings", "data_dir", "path"):
                if isinstance(sec.get(key), str) and not Path(sec[key]).is_absolute():
                    sec[key] = str(base / sec[key])
    try:
        return DaemonConfig.model_validate(raw)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ValueError(f"{path}: {where}: {first['msg']}") from None


class Daemon:
    """The engine and its FIX edges on one loop (see the module docstring)."""

    def __init__(self, cfg: DaemonConfig, clock: Clock | None = None) -> None:
        self.cfg = cfg
        # A test running the daemon in-process passes the clock it shares with the simulator.
        self.clock = clock or cfg.clock.build()
        v = cfg.venue
        self.venue = FixVenueClient(
            FixVenueConfig(
                settings_path=v.settings,
                session=v.session,
                data_dir=v.data_dir,
                host=v.host,
                port=v.port,
            ),
            clock=self.clock,
        )
        self.oms = OmsAcceptor(
            OmsAcceptorConfig(
                settings_path=cfg.oms.settings, data_dir=cfg.oms.data_dir, port=cfg.oms.port
            ),
            self.clock,
            on_session=lambda session, up: self.outbox.session_changed(session, up),
        )
        # Reports for an OMS session that is down wait for its next logon (engine/oms_outbox.py).
        self.outbox = OmsOutbox(self.oms)
        self._loop: asyncio.AbstractEventLoop | None = None  # set by start()
        self.journal: Journal | None = None
        if cfg.journal.path is not None:
            j = cfg.journal
            if j.path.exists():
                # Nothing after a damaged record is trusted: the operator cuts it explicitly.
                v = verify(j.path)
                if not v.ok:
                    raise JournalError(
                        f"journal {j.path} is damaged after record {v.last_good_seq}: "
                        f"{v.problem}; keep the good records with `unwind journal cut "
                        f"{j.path} --after {v.last_good_seq}` (the file is copied aside first)"
                    )
            self.journal = Journal(
                j.path,
                meta={"engine_id": cfg.engine.engine_id, "config": cfg.model_dump_json()},
                flush_interval_s=j.flush_interval_s,
                synchronous=j.synchronous,
                on_error=self._on_journal_error,
            )
            # Output commit: a parent report leaves once the journal holds it.
            self.outbox.journal = self.journal
        self.recovery: Recovery | None = None
        if self.journal is not None and self.journal.last_seq > 0:
            # Restart = recovery: the engine as the journal left it, reconciled with the venue
            # at its logon (engine/recovery.py).
            self.recovery = recover(
                self.journal, cfg.engine, clock=self.clock, venue=self.venue, oms=self.outbox
            )
            self.engine = self.recovery.engine
        else:
            self.engine = Engine(
                cfg.engine, self.clock, self.venue, self.outbox, journal=self.journal
            )
        self.oms.connect(self.engine.on_parent_command)
        self.venue.on_session(self.engine.on_venue_session)
        md = cfg.market_data
        self.ws: WsFeedClient | None = None
        self._stale_hooks: list[Callable[[str, bool], None]] = []
        if md.source == "ws":
            self.ws = WsFeedClient(md.ws_config(), self.clock, on_stale=self._on_stale)
            self.market_data: FixVenueClient | WsFeedClient = self.ws
        else:
            self.venue.on_stale(self._on_stale)
            self.market_data = self.venue
        for symbol in cfg.engine.symbols:
            self.market_data.subscribe(symbol, self.engine.on_market_event)
        self._stop = asyncio.Event()
        self.rest: Any = None
        self.loop_lag = LoopLagMonitor()  # warns in the log when the loop runs 100 ms late

    def _on_journal_error(self, exc: Exception) -> None:
        # From the journal's writer thread: the halt is applied on the loop.
        log.critical("journal write failed: trading halted", error=str(exc))

        def halt() -> None:
            self.engine.set_trading_state(
                Scope.GLOBAL,
                "",
                TradingState.HALTED,
                reason=f"journal write failed: {exc}",
                by="journal",
            )

        if self._loop is not None:
            self._loop.call_soon_threadsafe(halt)

    def on_market_stale(self, hook: Callable[[str, bool], None]) -> None:
        """Call ``hook(symbol, stale)`` after the engine has heard of a freshness change."""
        self._stale_hooks.append(hook)

    def _on_stale(self, symbol: str, stale: bool) -> None:
        self.engine.on_market_stale(symbol, stale)
        for hook in tuple(self._stale_hooks):
            hook(symbol, stale)

    def ready(self) -> dict[str, bool]:
        # An operator halt is deliberate: it does not make the daemon unready.
        ready = {"venue": self.venue.logged_on}
        if self.ws is not None:
            ready["market_data"] = self.ws.connected
        return ready

    async def start(self) -> None:
        # Before any session: the compiled kernels loaded (a first parent would otherwise stall
        # the loop for ~0.5 s), then what start-up allocated frozen out of the collector's way.
        self._loop = asyncio.get_running_loop()
        if self.journal is None:
            log.warning("journal off: no [journal] path; nothing can be recovered or replayed")
        warm_up()
        tune_gc_for_latency()
        self.loop_lag.start()
        await self.oms.start()
        if self.recovery is not None:
            # Every report again, held for the OMS's logon (engine/recovery.py).
            self.recovery.resend(self.outbox)
        await self.venue.start()
        if self.ws is not None:
            await self.ws.start()
        if self.cfg.rest is not None:
            from prometheus_client.registry import CollectorRegistry

            from engine.daemon_metrics import DaemonCollector
            from engine.rest import RestServer, build_app

            r = self.cfg.rest
            registry = CollectorRegistry()
            registry.register(DaemonCollector(self))
            app = build_app(
                self.engine,
                token=r.token,
                ready=self.ready,
                metrics_registry=registry,
                finished_ttl_s=r.finished_series_ttl_s,
                feed="ws" if self.ws is not None else "fix",
            )
            self.rest = RestServer(app, host=r.host, port=r.port)
            await self.rest.start()
        log.info("started", venue=self.venue.session_id, oms=self.oms.sessions)

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        """Start, serve until SIGTERM/SIGINT or :meth:`stop`, drain, shut down."""
        loop = asyncio.get_running_loop()
        # Signal handlers need a Unix loop in the main thread; elsewhere (a test running the
        # daemon in a thread) the caller stops it with stop().
        if sys.platform != "win32" and threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, self._stop.set)
        await self.start()
        try:
            await self._stop.wait()
        finally:
            await self.shutdown()

    async def drain(self) -> int:
        """Refuse new parents, cancel (or leave) working children, wait for the venue.
        Returns the number of children still not confirmed final."""
        cfg = self.cfg.engine
        # HALTED everywhere: no new parents, no new children; "leave" keeps them working.
        self.engine.set_trading_state(
            Scope.GLOBAL,
            "",
            TradingState.HALTED,
            reason="shutting down",
            by="shutdown",
            cancel_working=cfg.drain_action == "cancel",
        )
        deadline = asyncio.get_running_loop().time() + cfg.drain_timeout_s

        def open_children() -> int:
            return sum(len(p.live_children) for p in self.engine.parents.values())

        while cfg.drain_action == "cancel" and open_children():
            if asyncio.get_running_loop().time() >= deadline:
                break
            await asyncio.sleep(0.05)  # wall time: waiting on the venue's answers, not a market
        left = open_children() if cfg.drain_action == "cancel" else 0
        if left:
            log.warning(
                "drain timed out",
                unconfirmed_children=left,
                children={
                    p.id: [c.cl_ord_id for c in p.live_children]
                    for p in self.engine.parents.values()
                    if p.live_children
                },
            )
        return left

    async def shutdown(self) -> None:
        with contextlib.suppress(Exception):
            await self.drain()
        if self.rest is not None:
            await self.rest.stop()
        if self.ws is not None:
            try:
                await self.ws.stop()
            except Exception:  # a sink that raised ended the feed; the sessions must still stop
                log.exception("market data feed failed")
        await self.venue.stop()
        await self.outbox.settle()  # reports waiting for the journal go while the OMS is up
        await self.oms.stop()
        self.loop_lag.stop()
        if self.journal is not None:
            # In a thread: the last group commit can take a moment.
            await asyncio.to_thread(self.journal.close)
        log.info("stopped")


async def serve(cfg: DaemonConfig) -> None:
    """Build the daemon and run it until SIGTERM/SIGINT (what ``unwind run`` does).

    Built on the running loop: a restart's recovery hands the journal's pending timers to the
    live clock, whose timers are the loop's.

    Raises
    ------
    JournalError
        The journal is damaged (or cannot be opened).
    RecoveryError
        The journal cannot be recovered from under this configuration or version.
    """
    await Daemon(cfg).run()
