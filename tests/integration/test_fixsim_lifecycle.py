"""The simulator as a daemon: start, graceful stop, signals, the `unwind fixsim` command."""

from __future__ import annotations

import io
import os
import signal
import socket
from pathlib import Path

import pytest

from adapters.fix.wire import FixVersion
from adapters.fixsim.application import FixSimConfigError
from adapters.fixsim.command import run_fixsim
from adapters.fixsim.server import FixSimConfig, FixSimServer
from engine.cli import build_parser
from tests.kit.fix_client import (
    NS,
    FixClient,
    StaticMarket,
    free_port,
    new_comp_ids,
    write_acceptor_cfg,
    write_initiator_cfg,
)


def _threads() -> int:
    """OS threads of this process (QuickFIX's C++ threads included)."""
    return len(os.listdir("/proc/self/task"))


def _acceptor(tmp: Path, port: int) -> tuple[Path, Path]:
    ids = new_comp_ids()
    acc = write_acceptor_cfg(tmp / "acceptor.cfg", port=port, store=tmp / "sim", clients=ids)
    ini = write_initiator_cfg(tmp / "initiator.cfg", port=port, store=tmp / "cl", clients=ids)
    return acc, ini


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc")
@pytest.mark.asyncio
async def test_close_when_clients_logged_on_then_they_are_logged_out_and_no_thread_remains(
    tmp_path: Path,
) -> None:
    import asyncio

    before = _threads()
    acc, ini = _acceptor(tmp_path, free_port())
    server = FixSimServer(StaticMarket(), FixSimConfig(settings_path=acc, ws_port=0))
    await server.start()
    client = FixClient(ini, asyncio.get_running_loop())
    client.start()
    keys = [client.session_for(v) for v in FixVersion]
    try:
        await server.wait_logged_on(timeout=10)
        for key in keys:
            await client.wait_logon(key)
        await server.close()
        for key in keys:  # the server's Logout reached the client: a clean logout, not a drop
            await client.wait_logout(key, timeout=5)
            assert client.logout_texts[key] == ["fixsim shutting down"]
    finally:
        try:
            await client.stop()
        finally:
            await server.close()  # idempotent
    assert _threads() == before
    assert server.errors == []


@pytest.mark.asyncio
async def test_start_when_port_taken_then_config_error_says_so(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        acc, _ = _acceptor(tmp_path, busy.getsockname()[1])
        server = FixSimServer(StaticMarket(), FixSimConfig(settings_path=acc))
        with pytest.raises(FixSimConfigError, match="cannot start the FIX acceptor"):
            await server.start()
        await server.close()


def _args(cfg: Path, port: int, *extra: str) -> object:
    return build_parser().parse_args(
        ["fixsim", "--config", str(cfg), "--fix-port", str(port), "--ws-port", "0", *extra]
    )


def test_run_fixsim_when_until_end_then_listening_line_and_exit_zero_at_session_end(
    tmp_path: Path,
) -> None:
    port = free_port()
    acc, _ = _acceptor(tmp_path, 1)  # the port in the file is overridden by --fix-port
    market = StaticMarket(duration_ns=60 * NS)
    out, err = io.StringIO(), io.StringIO()
    args = _args(acc, port, "--speed", "3600", "--until-end", "--data-dir", str(tmp_path / "d"))
    code = run_fixsim(args, out=out, err=err, market_factory=lambda _: market)  # type: ignore[arg-type]
    assert (code, err.getvalue()) == (0, "")
    listening = out.getvalue().splitlines()[0]
    assert listening.startswith(f"fixsim listening: FIX port {port} (FIX.4.2:SIM->")
    assert "WebSocket ws://127.0.0.1:" in listening and "faults: none" in listening
    assert market.now_ns == market.end_ns  # real-time clock ran the session to its end
    assert (tmp_path / "d" / "store").is_dir()  # --data-dir moved the FileStore


def test_run_fixsim_when_sigint_then_graceful_stop_and_exit_zero(tmp_path: Path) -> None:
    sent: list[int] = []

    def interrupt(ts: int) -> None:
        if not sent:  # the first clock step: the daemon is up and serving
            sent.append(ts)
            os.kill(os.getpid(), signal.SIGINT)

    market = StaticMarket(on_advance=interrupt)
    acc, _ = _acceptor(tmp_path, 1)
    out, err = io.StringIO(), io.StringIO()
    args = _args(acc, free_port(), "--speed", "1", "--halt-every", "600")
    code = run_fixsim(args, out=out, err=err, market_factory=lambda _: market)  # type: ignore[arg-type]
    assert (code, err.getvalue()) == (0, "")
    assert sent and "fixsim stopped at simulated" in out.getvalue()
    assert "halt every ~600s for 60s" in out.getvalue()


def test_run_fixsim_when_config_missing_then_exit_2_naming_the_file(tmp_path: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    args = _args(tmp_path / "nope.cfg", free_port())
    assert run_fixsim(args, out=out, err=err, market_factory=lambda _: StaticMarket()) == 2  # type: ignore[arg-type]
    assert "nope.cfg does not exist" in err.getvalue()
