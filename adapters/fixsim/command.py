"""``unwind fixsim``: arguments, the market it serves, and the run until a signal or the end.

The CLI (:mod:`engine.cli`) only builds the subparser with :func:`add_fixsim_arguments` and
calls :func:`run_fixsim`. Argument types validate what they can (argparse exits 2 with a
message); :func:`run_fixsim` turns configuration errors into exit code 2 with a message too.
SIGINT and SIGTERM are handled on the loop: the server stops gracefully (held reports
delivered, sessions logged out) and the command returns 0.

:func:`build_market` is the one place that knows how the real market simulator is built.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from adapters.fixsim.faults import FaultConfig

if TYPE_CHECKING:  # the server imports quickfix: keep `unwind --help` and `unwind plan` light
    from adapters.fixsim.server import FixSimConfig
    from adapters.fixsim.venue import DrivenMarket

__all__ = ["add_fixsim_arguments", "build_market", "config_from_args", "run_fixsim"]

_NS = 1_000_000_000
DEFAULT_CONFIG = Path("deploy/quickfix/fixsim.cfg")


def _fraction(text: str) -> float:
    try:
        value = float(text[:-1]) / 100.0 if text.endswith("%") else float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a fraction such as 0.1 or 10%, got {text!r}"
        ) from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"a fraction must be within [0, 1], got {text}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"seconds must be >= 0, got {text}")
    return value


def _speed(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(
            f"--speed must be > 0 simulated seconds per wall second, got {text}"
        )
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a TCP port number, got {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"a TCP port is within 0-65535, got {text}")
    return value


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date YYYY-MM-DD, got {text!r}") from None


def add_fixsim_arguments(p: argparse.ArgumentParser) -> None:
    """Add the ``fixsim`` options to ``p``."""
    p.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="QuickFIX acceptor settings")
    p.add_argument("--data-dir", type=Path, help="FileStore and FileLog go under this directory")
    p.add_argument("--fix-port", type=_port, help="override SocketAcceptPort of every session")
    p.add_argument(
        "--speed", type=_speed, default=1.0, help="simulated seconds per wall second (60: 1 min/s)"
    )
    p.add_argument("--seed", type=int, default=1, help="market and fault seed")
    p.add_argument("--symbol", default="XYZ", help="the simulated symbol")
    p.add_argument("--date", type=_date, help="trade date for wire timestamps (default today UTC)")
    p.add_argument("--ws-host", default="127.0.0.1", help="WebSocket listen address")
    p.add_argument("--ws-port", type=_port, help="WebSocket feed port (none: no feed; 0: any)")
    p.add_argument("--metrics-host", default="127.0.0.1", help="Prometheus /metrics listen address")
    p.add_argument(
        "--metrics-port", type=_port, help="serve Prometheus GET /metrics here (none: off; 0: any)"
    )
    p.add_argument(
        "--clock",
        choices=("session", "wall"),
        default="session",
        help="session: the simulated day starts at 09:30 on --date; wall: it starts now, on the "
        "wall clock (needs --speed 1), so an engine on the wall clock (`unwind run`) agrees "
        "with the venue's timestamps",
    )
    p.add_argument("--until-end", action="store_true", help="exit when the simulated session ends")
    f = p.add_argument_group("fault injection (seeded by --seed, deterministic)")
    f.add_argument(
        "--drop-reports",
        type=_fraction,
        default=0.0,
        metavar="FRACTION",
        help="never send this fraction of ExecutionReports",
    )
    f.add_argument(
        "--duplicate-reports",
        type=_fraction,
        default=0.0,
        metavar="FRACTION",
        help="send this fraction twice, the copy with PossDupFlag=Y",
    )
    f.add_argument(
        "--delay-acks",
        type=_fraction,
        default=0.0,
        metavar="FRACTION",
        help="delay this fraction of NEW acks by --ack-delay",
    )
    f.add_argument(
        "--ack-delay",
        type=_seconds,
        default=2.0,
        metavar="SECONDS",
        help="simulated delay of a delayed ack (default 2)",
    )
    f.add_argument(
        "--fill-after-cancel",
        type=_fraction,
        default=0.0,
        metavar="FRACTION",
        help="hold this fraction of partial fills; send them after a cancel ack",
    )
    f.add_argument(
        "--fill-races-replace",
        type=_fraction,
        default=0.0,
        metavar="FRACTION",
        help="hold this fraction of partial fills; send them after a replace ack",
    )
    f.add_argument(
        "--late-fill-window",
        type=_seconds,
        default=5.0,
        metavar="SECONDS",
        help="the longest a held fill waits (simulated, default 5)",
    )
    f.add_argument(
        "--disconnect-every",
        type=_seconds,
        default=0.0,
        metavar="SECONDS",
        help="drop every session at random, this often on average (simulated)",
    )
    f.add_argument(
        "--halt-every",
        type=_seconds,
        default=0.0,
        metavar="SECONDS",
        help="halt trading at random, this often on average (simulated)",
    )
    f.add_argument(
        "--halt-duration",
        type=_seconds,
        default=60.0,
        metavar="SECONDS",
        help="how long each random halt lasts (simulated, default 60)",
    )
    f.add_argument(
        "--reject-orders",
        type=_fraction,
        default=0.0,
        metavar="FRACTION",
        help="reject this fraction of new orders with a reason",
    )


def config_from_args(args: argparse.Namespace) -> FixSimConfig:
    """Build the :class:`~.server.FixSimConfig` for parsed arguments (raises ValueError)."""
    from adapters.fixsim.server import FixSimConfig

    if args.clock == "wall" and args.speed != 1.0:
        raise ValueError("--clock wall needs --speed 1: the market runs on the wall clock")
    faults = FaultConfig(
        seed=args.seed,
        drop_reports=args.drop_reports,
        duplicate_reports=args.duplicate_reports,
        delay_acks=args.delay_acks,
        ack_delay_ns=round(args.ack_delay * _NS),
        fill_after_cancel=args.fill_after_cancel,
        fill_races_replace=args.fill_races_replace,
        late_fill_window_ns=round(args.late_fill_window * _NS),
        disconnect_every_ns=round(args.disconnect_every * _NS),
        halt_every_ns=round(args.halt_every * _NS),
        halt_duration_ns=round(args.halt_duration * _NS),
        reject_orders=args.reject_orders,
    )
    return FixSimConfig(
        settings_path=args.config,
        data_dir=args.data_dir,
        fix_port=args.fix_port,
        speed=args.speed,
        until_end=args.until_end,
        ws_host=args.ws_host,
        ws_port=args.ws_port,
        metrics_host=args.metrics_host,
        metrics_port=args.metrics_port,
        trade_date=args.date,
        faults=faults,
    )


def build_market(args: argparse.Namespace) -> DrivenMarket:
    """The market behind the acceptor: the seeded market simulator for ``--symbol``."""
    from adapters.sim.config import MarketConfig
    from adapters.sim.market import MarketSimulator

    if args.clock == "wall":
        # An epoch start: the wire timestamps are the market's own times (wire_origin_ns is 0).
        start = time.time_ns()
        return MarketSimulator(MarketConfig(symbol=args.symbol, seed=args.seed, start_ns=start))
    return MarketSimulator(MarketConfig(symbol=args.symbol, seed=args.seed))


def run_fixsim(
    args: argparse.Namespace,
    *,
    out: TextIO,
    err: TextIO,
    market_factory: Callable[[argparse.Namespace], DrivenMarket] = build_market,
) -> int:
    """Run the simulator until SIGINT/SIGTERM (or the session end with ``--until-end``)."""
    from adapters.fixsim.application import FixSimConfigError

    try:
        config = config_from_args(args)
    except ValueError as e:
        err.write(f"unwind fixsim: error: {e}\n")
        return 2
    try:
        market = market_factory(args)
    except ImportError as e:
        err.write(f"unwind fixsim: error: the market simulator is not available: {e}\n")
        return 1
    try:
        asyncio.run(_serve(market, config, out))
    except FixSimConfigError as e:
        err.write(f"unwind fixsim: error: {e}\n")
        return 2
    return 0


async def _serve(market: DrivenMarket, config: FixSimConfig, out: TextIO) -> None:
    from adapters.fixsim.server import FixSimServer

    server = FixSimServer(market, config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await server.start()
        sessions = ", ".join(sorted(server.sessions))
        ws = f", WebSocket ws://{config.ws_host}:{server.ws_port}/ws" if server.ws_port else ""
        if server.metrics_port:
            ws += f", metrics http://{config.metrics_host}:{server.metrics_port}/metrics"
        out.write(
            f"fixsim listening: FIX port {server.fix_port} ({sessions}){ws}; "
            f"speed {config.speed:g}x; faults: {config.faults.describe()}\n"
        )
        out.flush()
        await server.serve(stop)
    finally:
        await server.close()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        stats = server.stats
        out.write(f"fixsim stopped at simulated {server.market.now_ns} ns; faults fired: {stats}\n")
        out.flush()
