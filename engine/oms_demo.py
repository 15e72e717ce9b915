"""``unwind oms-demo``: a standalone demo OMS that keeps the engine busy, for the compose stack.

The same FIX 4.4 client as ``unwind paper`` (:class:`adapters.fix.oms_client.OmsClient`), as a
process of its own: it logs on to the engine's OMS acceptor (QuickFIX retries until the engine
is up), sends one parent order, waits for it to end (filled, done for day, canceled or
rejected), prints one line per final report, and sends the next one, alternating sides so the
demo position stays flat, until ``--count`` parents (0: until SIGTERM/SIGINT). Nothing here
decides anything: it is a stand-in for a desk's OMS, so the dashboards have something to show.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from adapters.fix.oms_client import OmsClient, OmsClientConfig
from adapters.fix.parent_codec import ParentReport
from engine.clock import NS, Clock, LiveClock
from engine.events import ExecType, OrdStatus, Side
from engine.parent_events import ParentOrder

__all__ = ["OmsDemoOptions", "run_oms_demo"]

_FINAL = {OrdStatus.FILLED, OrdStatus.CANCELED, OrdStatus.REJECTED, OrdStatus.DONE_FOR_DAY}


@dataclass(frozen=True, slots=True, kw_only=True)
class OmsDemoOptions:
    settings: Path  # QuickFIX initiator settings of the OMS session (oms-client.cfg)
    data_dir: Path | None = None  # its FileStore and FileLog (None: as the settings say)
    port: int | None = None  # override SocketConnectPort
    symbol: str = "XYZ"
    qty: int = 20_000
    minutes: float = 30.0  # each parent's horizon
    strategy: str = "adaptive"
    cap: float = 0.10
    count: int = 0  # parents to send; 0: until stopped
    logon_timeout_s: float = 300.0  # the engine may start later than this process


def _is_final(r: ParentReport, cl_ord_id: str) -> bool:
    e = r.report
    return (
        e.cl_ord_id == cl_ord_id
        and e.ord_status in _FINAL
        and e.exec_type is not ExecType.ORDER_STATUS
    )


async def run_oms_demo(
    opts: OmsDemoOptions,
    *,
    out: TextIO = sys.stdout,
    clock: Clock | None = None,
    stop: asyncio.Event | None = None,
    on_sent: Callable[[ParentOrder], None] | None = None,
) -> int:
    """Send parents one after another (module docstring); 0 when done or stopped, 1 if the
    engine never answered the logon within ``logon_timeout_s``."""
    clock = clock or LiveClock()
    stop = stop or asyncio.Event()
    client = OmsClient(
        OmsClientConfig(settings_path=opts.settings, data_dir=opts.data_dir, port=opts.port),
        clock=clock,
    )
    await client.start()
    try:
        try:
            await client.wait_logon(timeout=opts.logon_timeout_s)
        except TimeoutError:
            out.write(f"oms-demo: no logon to the engine within {opts.logon_timeout_s:g} s\n")
            return 1
        n = 0
        while not stop.is_set() and (opts.count == 0 or n < opts.count):
            n += 1
            now = clock.now_ns()
            order = ParentOrder(
                cl_ord_id=f"DEMO-{now // NS}-{n}",
                symbol=opts.symbol,
                side=Side.SELL if n % 2 else Side.BUY,
                qty=opts.qty,
                strategy=opts.strategy,
                end_ns=now + round(opts.minutes * 60 * NS),
                ts_init=now,
                participation_cap=opts.cap,
            )
            while not client.send_parent(order):  # the session is down: wait for the next logon
                await client.wait_logon(count=client.logons + 1, timeout=opts.logon_timeout_s)
            if on_sent is not None:
                on_sent(order)
            out.write(
                f"oms-demo: sent {order.cl_ord_id} {order.side.value} {order.qty:,} "
                f"{order.symbol} {order.strategy} over {opts.minutes:g} min, cap {opts.cap:.0%}\n"
            )
            out.flush()
            await _until_final(client, order.cl_ord_id, stop, out)
    finally:
        await client.stop()
    return 0


async def _until_final(client: OmsClient, cl_ord_id: str, stop: asyncio.Event, out: TextIO) -> None:
    while not stop.is_set():
        # A bounded wait, so a stop request is seen within a second.
        with contextlib.suppress(TimeoutError):
            got = await client.receive(timeout=1.0)
            if isinstance(got, ParentReport) and _is_final(got, cl_ord_id):
                e = got.report
                text = f" ({e.text})" if e.text else ""
                out.write(
                    f"oms-demo: {cl_ord_id} {e.ord_status.name.lower()} "
                    f"{e.cum_qty:,}/{e.order_qty:,}{text}\n"
                )
                out.flush()
                return


def main_oms_demo(opts: OmsDemoOptions) -> int:
    """Run until done or SIGTERM/SIGINT (the CLI's entry point)."""

    async def run() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        return await run_oms_demo(opts, stop=stop)

    return asyncio.run(run())
