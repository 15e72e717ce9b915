"""FIX test kit: a real QuickFIX initiator with queues, config writers, a stand-in market.

Threading: QuickFIX calls :class:`FixClient`'s callbacks on its own threads. Each callback
copies the message into a thread-safe ``queue.Queue`` per session and pokes the asyncio loop
(``call_soon_threadsafe``) so a coroutine waiting in :meth:`FixClient.receive` wakes up; no one
polls or sleeps. Waiting for a message always has a timeout, so a missing message fails the
test with the list of what did arrive instead of hanging.

:class:`StaticMarket` is the stand-in for ``adapters.sim.market.MarketSimulator`` (the
:class:`~adapters.fixsim.venue.DrivenMarket` protocol): an Exchange with a manual clock and a
few resting levels; ``advance_to`` only moves the clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import queue
import socket
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import quickfix as fix

from adapters.fix.qfthread import in_thread
from adapters.fix.wire import FixVersion
from adapters.sim.exchange import Exchange, Instrument
from engine.events import Side

__all__ = [
    "DICTIONARIES",
    "FixClient",
    "StaticMarket",
    "free_port",
    "in_thread",
    "new_comp_ids",
    "write_acceptor_cfg",
    "write_initiator_cfg",
]

NS = 1_000_000_000
DICTIONARIES = Path(__file__).resolve().parents[2] / "deploy" / "quickfix"
_DICT = {FixVersion.FIX42: "FIX42.xml", FixVersion.FIX44: "FIX44.xml"}
_ids = itertools.count(1)
BIDS = ((999_900, 500), (999_800, 300), (999_700, 200))  # 99.99, 99.98, 99.97
ASKS = ((1_000_100, 400), (1_000_200, 300), (1_000_300, 200))  # 100.01, 100.02, 100.03


def free_port() -> int:
    """A TCP port that was free a moment ago on the loopback interface."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def new_comp_ids() -> dict[FixVersion, str]:
    """Client CompIDs unique in this process (QuickFIX keeps a process-wide session registry)."""
    n = next(_ids)
    return {FixVersion.FIX42: f"T{n}C42", FixVersion.FIX44: f"T{n}C44"}


def write_acceptor_cfg(
    path: Path, *, port: int, store: Path, clients: dict[FixVersion, str], sender: str = "SIM"
) -> Path:
    """A fixsim acceptor configuration: one session per client, FileStore under ``store``."""
    lines = [
        "[DEFAULT]",
        "ConnectionType=acceptor",
        f"SocketAcceptPort={port}",
        "SocketAcceptHost=127.0.0.1",
        "SocketReuseAddress=Y",
        f"SenderCompID={sender}",
        f"FileStorePath={store / 'store'}",
        f"FileLogPath={store / 'log'}",
        "StartTime=00:00:00",
        "EndTime=00:00:00",
        "UseDataDictionary=Y",
        "ResetOnLogon=N",
        "ResetOnLogout=N",
        "ResetOnDisconnect=N",
    ]
    for version, target in clients.items():
        lines += [
            "",
            "[SESSION]",
            f"BeginString={version.value}",
            f"TargetCompID={target}",
            f"DataDictionary={DICTIONARIES / _DICT[version]}",
        ]
    path.write_text("\n".join(lines) + "\n")
    return path


def write_initiator_cfg(
    path: Path, *, port: int, store: Path, clients: dict[FixVersion, str], target: str = "SIM"
) -> Path:
    """The matching initiator configuration (ReconnectInterval 1 s: the fastest QuickFIX has)."""
    lines = [
        "[DEFAULT]",
        "ConnectionType=initiator",
        f"SocketConnectPort={port}",
        "SocketConnectHost=127.0.0.1",
        f"TargetCompID={target}",
        f"FileStorePath={store / 'store'}",
        f"FileLogPath={store / 'log'}",
        "StartTime=00:00:00",
        "EndTime=00:00:00",
        "HeartBtInt=30",
        "ReconnectInterval=1",
        "UseDataDictionary=Y",
        "ResetOnLogon=N",
        "ResetOnLogout=N",
        "ResetOnDisconnect=N",
    ]
    for version, sender in clients.items():
        lines += [
            "",
            "[SESSION]",
            f"BeginString={version.value}",
            f"SenderCompID={sender}",
            f"DataDictionary={DICTIONARIES / _DICT[version]}",
        ]
    path.write_text("\n".join(lines) + "\n")
    return path


class StaticMarket:
    """A :class:`~adapters.fixsim.venue.DrivenMarket` for tests: manual clock, seeded book."""

    def __init__(
        self,
        symbols: Sequence[str] = ("XYZ",),
        *,
        start_ns: int = 34_200 * NS,
        duration_ns: int = 23_400 * NS,
        liquidity: bool = True,
        on_advance: Callable[[int], None] | None = None,
    ) -> None:
        self._now = start_ns
        self.start_ns = start_ns
        self.end_ns = start_ns + duration_ns
        self.exchange = Exchange([Instrument(s) for s in symbols], lambda: self._now)
        self._on_advance = on_advance
        if liquidity:
            for symbol in symbols:
                for price, size in BIDS:
                    self.exchange.add_order(symbol, Side.BUY, size, price=price)
                for price, size in ASKS:
                    self.exchange.add_order(symbol, Side.SELL, size, price=price)

    @property
    def now_ns(self) -> int:
        return self._now

    def advance_to(self, ts_ns: int) -> None:
        self._now = max(self._now, ts_ns)
        if self._on_advance is not None:
            self._on_advance(ts_ns)


class _App(fix.Application):
    def __init__(self, client: FixClient) -> None:
        super().__init__()
        self._c = client

    def onCreate(self, sessionID: fix.SessionID) -> None:
        pass

    def onLogon(self, sessionID: fix.SessionID) -> None:
        self._c._logon(sessionID.toString(), True)

    def onLogout(self, sessionID: fix.SessionID) -> None:
        self._c._logon(sessionID.toString(), False)

    def toAdmin(self, message: fix.Message, sessionID: fix.SessionID) -> None:
        pass

    def fromAdmin(self, message: fix.Message, sessionID: fix.SessionID) -> None:
        kind = message.getHeader().getField(35)
        if kind == "3":  # session-level Reject: tests want it
            self._c._received(sessionID.toString(), fix.Message(message))
        elif kind == "5":  # Logout: remember the counterparty's reason
            text = message.getField(58) if message.isSetField(58) else ""
            self._c.logout_texts[sessionID.toString()].append(text)

    def toApp(self, message: fix.Message, sessionID: fix.SessionID) -> None:
        pass

    def fromApp(self, message: fix.Message, sessionID: fix.SessionID) -> None:
        self._c._received(sessionID.toString(), fix.Message(message))


class FixClient:
    """A QuickFIX SocketInitiator whose received messages land on per-session queues.

    Keys are QuickFIX session ids as strings (``FIX.4.4:T1C44->SIM``); ``session_for``
    maps a version to its key.
    """

    def __init__(self, cfg: Path, loop: asyncio.AbstractEventLoop) -> None:
        self._settings = fix.SessionSettings(str(cfg))
        self._loop = loop
        self._sids = {sid.toString(): sid for sid in self._settings.getSessions()}
        self.queues: dict[str, queue.Queue[fix.Message]] = {k: queue.Queue() for k in self._sids}
        self._changed = {k: asyncio.Event() for k in self._sids}
        self._lock = threading.Lock()
        self._on = dict.fromkeys(self._sids, False)
        self.logons = dict.fromkeys(self._sids, 0)
        self.logout_texts: dict[str, list[str]] = {k: [] for k in self._sids}
        self._app = _App(self)
        self._store = fix.FileStoreFactory(self._settings)
        self._log = fix.FileLogFactory(self._settings)
        self._initiator: fix.SocketInitiator | None = fix.SocketInitiator(
            self._app, self._store, self._settings, self._log
        )

    def session_for(self, version: FixVersion) -> str:
        return next(k for k in self._sids if k.startswith(version.value + ":"))

    def session_id(self, key: str) -> fix.SessionID:
        return self._sids[key]

    def start(self) -> None:
        assert self._initiator is not None, "stopped clients do not restart"
        self._initiator.start()

    async def stop(self) -> None:
        """Log out (waiting up to 5 s for the answer), then stop the initiator. Always stops:
        a QuickFIX engine left running when Python frees it crashes the process."""
        if self._initiator is None:
            return
        try:
            for sid in self._sids.values():
                # Disables the session too, so one still logging on logs out right after.
                fix.Session.lookupSession(sid).logout("test over")
            for key in self._sids:
                with contextlib.suppress(AssertionError):
                    await self._until(key, lambda k=key: not self.logged_on(k), 5.0, "logout")
        finally:
            await in_thread(self._initiator.stop)
            # Destroy the C++ initiator first, while the factories and settings it uses live.
            self._initiator = None
            self._store = self._log = self._settings = None

    # --- state ---------------------------------------------------------------------------------

    def logged_on(self, key: str) -> bool:
        with self._lock:
            return self._on[key]

    async def wait_logon(self, key: str, *, count: int = 1, timeout: float = 10.0) -> None:
        """Wait until ``key`` is logged on for the ``count``-th time (or later)."""

        def ready() -> bool:
            with self._lock:
                return self._on[key] and self.logons[key] >= count

        await self._until(key, ready, timeout, f"logon #{count}")

    async def wait_logout(self, key: str, *, timeout: float = 10.0) -> None:
        await self._until(key, lambda: not self.logged_on(key), timeout, "logout")

    # --- messages -------------------------------------------------------------------------------

    def send(self, key: str, message: fix.Message) -> None:
        if not fix.Session.sendToTarget(message, self._sids[key]):
            raise AssertionError(f"QuickFIX refused to send on {key}")

    async def receive(self, key: str, *, timeout: float = 5.0) -> fix.Message:
        """The next application message (or session Reject) on ``key``."""
        q = self.queues[key]
        holder: list[fix.Message] = []

        def got() -> bool:
            try:
                holder.append(q.get_nowait())
            except queue.Empty:
                return False
            return True

        await self._until(key, got, timeout, "a message")
        return holder[0]

    async def expect(self, key: str, msg_type: str, *, timeout: float = 5.0) -> fix.Message:
        """The next message, which must be of ``msg_type``."""
        msg = await self.receive(key, timeout=timeout)
        got = msg.getHeader().getField(35)
        if got != msg_type:
            raise AssertionError(f"expected MsgType {msg_type}, got {_show(msg)}")
        return msg

    def drain(self, key: str) -> list[fix.Message]:
        out = []
        while True:
            try:
                out.append(self.queues[key].get_nowait())
            except queue.Empty:
                return out

    # --- QuickFIX threads ------------------------------------------------------------------------

    def _received(self, key: str, message: fix.Message) -> None:
        self.queues[key].put(message)
        self._poke(key)

    def _logon(self, key: str, on: bool) -> None:
        with self._lock:
            self._on[key] = on
            if on:
                self.logons[key] += 1
        self._poke(key)

    def _poke(self, key: str) -> None:
        # RuntimeError: the test's loop is gone, so nobody is waiting.
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._changed[key].set)

    async def _until(self, key: str, ready: Callable[[], bool], timeout: float, what: str) -> None:
        event = self._changed[key]
        deadline = self._loop.time() + timeout
        while not ready():
            event.clear()
            if ready():
                return
            remaining = deadline - self._loop.time()
            try:
                await asyncio.wait_for(event.wait(), max(remaining, 0.0))
            except TimeoutError:
                pending = [_show(m) for m in list(self.queues[key].queue)]
                raise AssertionError(
                    f"{key}: no {what} within {timeout}s; queued: {pending}"
                ) from None


def _show(msg: fix.Message) -> str:
    return msg.toString().replace("\x01", "|")


class FixSimHarness:
    """One running simulator (manual time) and one client with a FIX 4.2 and a 4.4 session.

    Tests share it within a module (starting and stopping QuickFIX costs about a second);
    :meth:`fresh` isolates each test: a new market and fault configuration behind the same
    sessions, and a barrier that consumes anything still in flight.
    """

    def __init__(self, server: Any, client: FixClient, tmp: Path) -> None:
        self.server = server
        self.client = client
        self.tmp = tmp
        self._barriers = itertools.count(1)
        self.last_sync_seq = 0  # MsgSeqNum of the last barrier answer

    @classmethod
    async def start(cls, tmp: Path, *, ws: bool = False, metrics: bool = False) -> FixSimHarness:
        from adapters.fixsim.server import FixSimConfig, FixSimServer

        port = free_port()
        clients = new_comp_ids()
        acceptor = write_acceptor_cfg(
            tmp / "acceptor.cfg", port=port, store=tmp / "sim", clients=clients
        )
        initiator = write_initiator_cfg(
            tmp / "initiator.cfg", port=port, store=tmp / "client", clients=clients
        )
        config = FixSimConfig(
            settings_path=acceptor,
            ws_port=0 if ws else None,
            metrics_port=0 if metrics else None,
            drain_timeout_s=3,
        )
        server = FixSimServer(StaticMarket(), config)
        await server.start()
        client = FixClient(initiator, asyncio.get_running_loop())
        try:
            client.start()
            await server.wait_logged_on()
            for version in FixVersion:
                await client.wait_logon(client.session_for(version))
        except BaseException:
            await client.stop()
            await server.close()
            raise
        return cls(server, client, tmp)

    async def close(self) -> None:
        await self.client.stop()
        await self.server.close()
        assert self.server.errors == [], self.server.errors

    @property
    def market(self) -> StaticMarket:
        return self.server.market  # type: ignore[no-any-return]

    @property
    def exchange(self) -> Exchange:
        return self.market.exchange

    def key(self, version: FixVersion) -> str:
        return self.client.session_for(version)

    def venue_key(self, version: FixVersion) -> str:
        """The acceptor's session id (the exchange session owner) for ``version``."""
        return next(k for k in self.server.sessions if k.startswith(version.value + ":"))

    async def fresh(self, faults: Any = None, market: StaticMarket | None = None) -> StaticMarket:
        """A new market (and faults) behind the running sessions; queues emptied."""
        market = market or StaticMarket()
        self.server.restart_market(market, faults)
        for version in FixVersion:
            key = self.key(version)
            await self.client.wait_logon(key)
            await self.sync(version)
        return market

    async def sync(self, version: FixVersion) -> list[fix.Message]:
        """Round trip a request the faults never touch; return what arrived before its answer."""
        from adapters.fix.mdcodec import (
            MarketDataRequest,
            MDEntryType,
            SubscriptionType,
            encode_md_request,
        )

        req_id = f"sync-{next(self._barriers)}"
        req = MarketDataRequest(
            req_id, SubscriptionType.SNAPSHOT, 1, (MDEntryType.BID,), (f"NOSUCH{req_id}",)
        )
        self.send(version, encode_md_request(req, version))
        before = []
        while True:
            msg = await self.client.receive(self.key(version))
            if msg.getHeader().getField(35) == "Y" and msg.getField(262) == req_id:
                self.last_sync_seq = int(msg.getHeader().getField(34))
                return before
            before.append(msg)

    def send(self, version: FixVersion, message: fix.Message) -> None:
        self.client.send(self.key(version), message)

    async def expect(self, version: FixVersion, msg_type: str, timeout: float = 5.0) -> fix.Message:
        return await self.client.expect(self.key(version), msg_type, timeout=timeout)

    async def expect_snapshot(self, version: FixVersion, timeout: float = 5.0) -> fix.Message:
        """A snapshot (W) of a trading symbol and the SecurityStatus (f) that states its state
        after it (326=17, ready to trade); returns the snapshot."""
        snapshot = await self.expect(version, "W", timeout)
        status = await self.expect(version, "f", timeout)
        assert (status.getField(326), status.getField(325)) == ("17", "N"), status
        return snapshot
