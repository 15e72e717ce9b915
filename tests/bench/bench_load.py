"""Benchmark: 1,000 working parents on 100 symbols, fed 10,000 market events a second.

Targets (issue 5): event-loop lag p99 under 10 ms over 60 s, and flat memory. Run with
``make bench`` or ``.venv/bin/python tests/bench/bench_load.py``.

The engine runs as in the daemon: one asyncio loop, timers on a wall-paced clock
(:class:`~engine.clock.AcceleratedClock` at speed 1, its origin at 10:00 so the volume
forecast does not depend on the hour the benchmark runs), logging on at ``info`` (JSON lines
to a file), the loop's lag sampled every 10 ms by :class:`~engine.looplag.LoopLagMonitor`.

Around it, in the same process and deliberately light so the figures are the engine's:

* **the feed**: per symbol a five-level book moving by ticks, with level changes (80%), trades
  (15%) and shifts of the touch; 10,000 events a second in all, paced on the loop every 2 ms
  (a late loop gets the overdue events in one batch, as from a socket);
* **the venue**: acknowledges every child, fills a marketable one against the touch and a
  resting one when the tape trades through its price, answers cancels and status requests;
  its reports arrive on the loop after the call that caused them, as from the FIX adapter.
  Neither keeps history, so memory growth is the engine's.

Parents: ten per symbol, strategies in turn, 10-20 s horizons at a 1.5% cap each (ten together
stay within 15% of the symbol's volume); each one that finishes is replaced at once, so 1,000
work at every moment and about 4,000 pass through the measured minute. Finished parents are
forgotten after ``finished_retention_s`` (5 s here): memory holds what is working and what
finished recently. The cap's trailing window is 10 s (the parents are short), so the tape the
engine keeps is 20 s. After a 70 s warm-up, by which every bounded structure has filled (the
tape, a generation of parents finished and forgotten, the regime detectors' 60-s markouts of
our fills), the measured 60 s begin: loop lag
percentiles, and the resident memory at the start and the end with the slope of a line fitted
to one sample a second.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import platform
import random
import sys
import tempfile
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np

from engine.clock import NS, AcceleratedClock
from engine.config import EngineConfig, RiskConfig, SymbolConfig
from engine.engine import Engine
from engine.events import (
    BookSnapshot,
    BookUpdate,
    CancelOrder,
    CancelReject,
    ExecType,
    ExecutionReport,
    MarketEvent,
    NewOrder,
    OrdStatus,
    ReplaceOrder,
    Side,
    StatusRequest,
    TimeInForce,
    Trade,
    VenueEvent,
    order_report,
    unknown_order_status,
)
from engine.gctune import tune_gc_for_latency
from engine.logs import configure_logging
from engine.looplag import LoopLagMonitor
from engine.parent_events import PARENT_STRATEGIES, ParentOrder
from strategies.planner import warm_up

N_SYMBOLS = 100
PARENTS_PER_SYMBOL = 10
EVENTS_PER_S = 10_000
WARMUP_S = float(os.environ.get("BENCH_LOAD_WARMUP_S", 70.0))  # shorter for a quick look
MEASURE_S = float(os.environ.get("BENCH_LOAD_MEASURE_S", 60.0))
LAG_P99_TARGET_MS = 10.0
MEMORY_GROWTH_TARGET = 0.05  # of the resident memory at the start of the measured minute
SEED = 20261121

TICK = 100  # 0.01 in price units
LOT = 100
LEVELS = 5
P_TRADE = 0.15
P_SHIFT = 0.05
CAP = 0.015
# Trades per symbol per second x mean size, the rate the volume forecast should expect: the
# U-shaped profile puts 10:00 at ~1.4x the day's average rate.
SHARES_PER_S = EVENTS_PER_S / N_SYMBOLS * P_TRADE * 3 * LOT
DAILY_VOLUME = SHARES_PER_S * 23_400 / 1.4
ORIGIN_NS = 1_781_085_600 * NS  # 2026-06-10 10:00:00 UTC
_DONE_KEPT = 5_000  # final orders the venue still answers status requests for


# --- the venue: orders as the engine's FIX counterparty would know them ------------------------


@dataclass(slots=True)
class _Order:
    cl_ord_id: str
    venue_order_id: str
    side: Side
    order_qty: int
    price: int | None
    symbol: str
    status: OrdStatus = OrdStatus.NEW
    cum_qty: int = 0
    notional: float = 0.0

    @property
    def leaves(self) -> int:
        final = self.status in (OrdStatus.FILLED, OrdStatus.CANCELED, OrdStatus.EXPIRED)
        return 0 if final else self.order_qty - self.cum_qty

    @property
    def avg_price(self) -> float:
        return self.notional / self.cum_qty if self.cum_qty else 0.0


class _Book:
    """One symbol: five levels a side around a moving touch."""

    def __init__(self, symbol: str, rng: random.Random) -> None:
        self.symbol = symbol
        self.rng = rng
        self.bid = 500_000 + rng.randrange(-100, 100) * TICK  # ~50.00
        self.bids = [rng.randint(2, 20) * LOT for _ in range(LEVELS)]  # best first
        self.asks = [rng.randint(2, 20) * LOT for _ in range(LEVELS)]
        self.resting: dict[str, _Order] = {}  # our resting children

    @property
    def ask(self) -> int:
        return self.bid + TICK

    def snapshot(self, now: int) -> BookSnapshot:
        bids = tuple((self.bid - k * TICK, s) for k, s in enumerate(self.bids))
        asks = tuple((self.ask + k * TICK, s) for k, s in enumerate(self.asks))
        return BookSnapshot(self.symbol, bids, asks, now, now)


class SyntheticMarket:
    """Feed and venue for every symbol (see the module docstring)."""

    def __init__(self, symbols: list[str], clock: AcceleratedClock) -> None:
        rng = random.Random(SEED)
        self.clock = clock
        self.books = {s: _Book(s, random.Random(rng.random())) for s in symbols}
        self.order = list(self.books.values())
        self._next = itertools.cycle(self.order)
        self._md: dict[str, Callable[[MarketEvent], None]] = {}
        self._sink: Callable[[VenueEvent], None] | None = None
        self._ids = itertools.count(1)
        self._orders: dict[str, _Order] = {}  # live ones
        self._done: OrderedDict[str, _Order] = OrderedDict()  # the latest final ones
        self.events = 0
        self.children = 0
        self.fills = 0

    # market-data port
    def subscribe(self, symbol: str, sink: Callable[[MarketEvent], None]) -> None:
        self._md[symbol] = sink
        sink(self.books[symbol].snapshot(self.clock.now_ns()))

    def unsubscribe(self, symbol: str, sink: Callable[[MarketEvent], None]) -> None:
        self._md.pop(symbol, None)

    def emit_until(self, total: int) -> None:
        """Emit events until ``total`` have been emitted since the start."""
        now = self.clock.now_ns()
        while self.events < total:
            book = next(self._next)
            sink = self._md[book.symbol]
            for event in self._step(book, now):
                self.events += 1
                sink(event)

    def _step(self, b: _Book, now: int) -> list[MarketEvent]:
        r = b.rng.random()
        sym = b.symbol
        if r < P_TRADE:
            buy = b.rng.random() < 0.5  # aggressor
            size = b.rng.randint(1, 5) * LOT
            price = b.ask if buy else b.bid
            out: list[MarketEvent] = [
                Trade(sym, price, size, Side.BUY if buy else Side.SELL, "", now, now)
            ]
            self._trade_through(b, Side.BUY if buy else Side.SELL, price, size, now)
            levels = b.asks if buy else b.bids
            levels[0] = max(levels[0] - size, LOT)
            out.append(BookUpdate(sym, Side.SELL if buy else Side.BUY, price, levels[0], now, now))
            return out
        if r < P_TRADE + P_SHIFT:  # the touch moves a tick
            up = b.rng.random() < 0.5
            out = []
            if up:
                out.append(BookUpdate(sym, Side.SELL, b.ask, 0, now, now))
                out.append(BookUpdate(sym, Side.BUY, b.bid - (LEVELS - 1) * TICK, 0, now, now))
                b.bid += TICK
                b.asks = [*b.asks[1:], b.rng.randint(2, 20) * LOT]
                b.bids = [b.rng.randint(2, 20) * LOT, *b.bids[:-1]]
                out.append(BookUpdate(sym, Side.BUY, b.bid, b.bids[0], now, now))
                far = b.ask + (LEVELS - 1) * TICK
                out.append(BookUpdate(sym, Side.SELL, far, b.asks[-1], now, now))
            else:
                out.append(BookUpdate(sym, Side.BUY, b.bid, 0, now, now))
                out.append(BookUpdate(sym, Side.SELL, b.ask + (LEVELS - 1) * TICK, 0, now, now))
                b.bid -= TICK
                b.bids = [*b.bids[1:], b.rng.randint(2, 20) * LOT]
                b.asks = [b.rng.randint(2, 20) * LOT, *b.asks[:-1]]
                out.append(BookUpdate(sym, Side.SELL, b.ask, b.asks[0], now, now))
                far = b.bid - (LEVELS - 1) * TICK
                out.append(BookUpdate(sym, Side.BUY, far, b.bids[-1], now, now))
            return out
        buy = b.rng.random() < 0.5
        k = min(int(b.rng.expovariate(0.7)), LEVELS - 1)
        levels = b.bids if buy else b.asks
        levels[k] = b.rng.randint(2, 20) * LOT
        price = b.bid - k * TICK if buy else b.ask + k * TICK
        return [BookUpdate(sym, Side.BUY if buy else Side.SELL, price, levels[k], now, now)]

    def _trade_through(self, b: _Book, aggressor: Side, price: int, size: int, now: int) -> None:
        """Our resting children on the other side at or better than the print fill from it."""
        for o in list(b.resting.values()):
            if size <= 0:
                break
            crosses = o.side is not aggressor and o.price is not None
            if crosses and (o.price <= price if o.side is Side.SELL else o.price >= price):
                size -= self._fill(o, min(size, o.leaves), o.price or price, now)
                if o.leaves == 0:
                    del b.resting[o.cl_ord_id]

    # venue port
    def connect(self, sink: Callable[[VenueEvent], None]) -> None:
        self._sink = sink

    def _send(self, event: VenueEvent) -> None:
        assert self._sink is not None
        asyncio.get_running_loop().call_soon(self._sink, event)

    def _report(
        self, o: _Order, exec_type: ExecType, now: int, qty: int = 0, price: int | None = None
    ) -> None:
        exec_id = f"X{next(self._ids)}"
        self._send(
            order_report(
                o,
                exec_type,
                exec_id=exec_id,
                symbol=o.symbol,
                ts=now,
                last_qty=qty,
                last_price=price,
            )
        )

    def _fill(self, o: _Order, qty: int, price: int, now: int) -> int:
        o.cum_qty += qty
        o.notional += qty * price
        o.status = OrdStatus.FILLED if o.cum_qty >= o.order_qty else OrdStatus.PARTIALLY_FILLED
        self.fills += 1
        self._report(o, ExecType.TRADE, now, qty, price)
        if o.status is OrdStatus.FILLED:
            self._retire(o)
        return qty

    def _retire(self, o: _Order) -> None:
        self._orders.pop(o.cl_ord_id, None)
        self._done[o.cl_ord_id] = o
        if len(self._done) > _DONE_KEPT:
            self._done.popitem(last=False)

    def submit(self, order: NewOrder) -> None:
        now = self.clock.now_ns()
        self.children += 1
        b = self.books[order.symbol]
        o = _Order(
            order.cl_ord_id, f"V{next(self._ids)}", order.side, order.qty, order.price, b.symbol
        )
        self._orders[o.cl_ord_id] = o
        self._report(o, ExecType.NEW, now)
        buy = order.side is Side.BUY
        touch, avail = (b.ask, b.asks[0]) if buy else (b.bid, b.bids[0])
        price = order.price if order.price is not None else touch
        marketable = price >= touch if buy else price <= touch
        if marketable:
            self._fill(o, min(o.leaves, avail), touch, now)
        if order.tif is TimeInForce.IOC:
            if o.leaves:
                o.status = OrdStatus.CANCELED
                self._report(o, ExecType.CANCELED, now)
                self._retire(o)
        elif o.leaves:
            b.resting[o.cl_ord_id] = o

    def cancel(self, request: CancelOrder) -> None:
        now = self.clock.now_ns()
        o = self._orders.get(request.orig_cl_ord_id)
        if o is None:
            self._send(
                CancelReject(
                    request.cl_ord_id,
                    request.orig_cl_ord_id,
                    None,
                    None,
                    "cancel",
                    "too late to cancel",
                    now,
                    now,
                )
            )
            return
        self.books[o.symbol].resting.pop(o.cl_ord_id, None)
        o.status = OrdStatus.CANCELED
        self._report(o, ExecType.CANCELED, now)
        self._retire(o)

    def replace(self, request: ReplaceOrder) -> None:
        raise NotImplementedError("the engine does not replace children")

    def request_status(self, request: StatusRequest) -> None:
        now = self.clock.now_ns()
        o = self._orders.get(request.cl_ord_id) or self._done.get(request.cl_ord_id)
        if o is None:
            self._send(unknown_order_status(request, exec_id=f"X{next(self._ids)}", ts=now))
        else:
            self._report(o, ExecType.ORDER_STATUS, now)


class _NullOms:
    def __init__(self) -> None:
        self.reports = 0

    def send_report(
        self, session: str, report: ExecutionReport, reject_reason: object = None
    ) -> bool:
        self.reports += 1
        return True

    def send_cancel_reject(self, session: str, reject: CancelReject) -> bool:
        return True


# --- the run -----------------------------------------------------------------------------------


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class _Parents:
    """Keeps ``PARENTS_PER_SYMBOL`` working on every symbol, replacing each that finishes."""

    def __init__(self, engine: Engine, symbols: list[str]) -> None:
        self.engine = engine
        self.rng = random.Random(SEED + 1)
        self.slots = [s for s in symbols for _ in range(PARENTS_PER_SYMBOL)]
        self.working: list[object | None] = [None] * len(self.slots)
        self.ids = itertools.count(1)
        self.started = 0

    def top_up(self) -> None:
        now = self.engine.clock.now_ns()
        for i, symbol in enumerate(self.slots):
            p = self.working[i]
            if p is not None and not p.state.final:  # type: ignore[attr-defined]
                continue
            horizon = self.rng.uniform(10.0, 20.0)
            qty = max(1, int(0.4 * CAP * SHARES_PER_S * horizon / LOT)) * LOT
            n = next(self.ids)
            self.working[i] = self.engine.submit(
                ParentOrder(
                    cl_ord_id=f"L{n}",
                    symbol=symbol,
                    side=Side.SELL if self.rng.random() < 0.5 else Side.BUY,
                    qty=qty,
                    strategy=PARENT_STRATEGIES[n % len(PARENT_STRATEGIES)],
                    end_ns=now + round(horizon * NS),
                    ts_init=now,
                    participation_cap=CAP,
                )
            )
            self.started += 1


async def _run() -> dict[str, object]:
    symbols = [f"S{i:03d}" for i in range(N_SYMBOLS)]
    cfg = EngineConfig(
        symbols={s: SymbolConfig(daily_volume=DAILY_VOLUME) for s in symbols},
        seed=SEED,
        bucket_s=5.0,
        child_ttl_s=3.0,
        cancel_allowance_s=1.0,
        ack_timeout_s=1.0,
        final_push_s=3.0,
        cap_window_s=10.0,
        finished_retention_s=5.0,
        # Some 300 children a second to one venue: a desk running 1,000 parents has a venue
        # limit to match (the default, 100/s, would hold most of them back).
        risk=RiskConfig(orders_per_s=2_000.0, orders_burst=4_000.0),
    )
    clock = AcceleratedClock(ORIGIN_NS, 1.0)
    market = SyntheticMarket(symbols, clock)
    oms = _NullOms()
    engine = Engine(cfg, clock, market, oms)
    for s in symbols:
        market.subscribe(s, engine.on_market_event)
    parents = _Parents(engine, symbols)
    warm_up()  # as the daemon does at start-up: compiled kernels loaded, then the GC tuned
    tune_gc_for_latency()
    lag = LoopLagMonitor(0.01, warn_s=None)
    loop = asyncio.get_running_loop()
    lag.start()

    t0 = loop.time()
    measure_from = t0 + WARMUP_S
    end = measure_from + MEASURE_S
    rss: list[tuple[float, int]] = []
    lag_from = 0
    events_from = children_from = parents_from = 0
    cpu_from = 0.0
    next_top_up = next_rss = t0
    while (now := loop.time()) < end:
        market.emit_until(int((now - t0) * EVENTS_PER_S))
        if now >= next_top_up:
            parents.top_up()
            next_top_up = now + 0.01
        if now >= measure_from and not lag_from:
            lag_from = lag.count
            cpu_from = time.process_time()
            events_from, children_from = market.events, market.children
            parents_from = parents.started
        if now >= measure_from and now >= next_rss:
            rss.append((now - measure_from, _rss_bytes()))
            next_rss = now + 1.0
        await asyncio.sleep(0.002)
    lag.stop()
    cpu = (time.process_time() - cpu_from) / MEASURE_S
    samples = np.asarray(list(lag.samples)[-(lag.count - lag_from) :]) * 1000.0
    return {
        "lag_ms": samples,
        "rss": rss,
        "events": market.events - events_from,
        "children": market.children - children_from,
        "parents": parents.started - parents_from,
        "fills": market.fills,
        "working": sum(1 for p in engine.parents.values() if not p.state.final),
        "kept": len(engine.parents),
        "cpu": cpu,
    }


def main() -> int:
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
        f"Python {platform.python_version()}"
    )
    with tempfile.TemporaryDirectory() as tmp, open(Path(tmp) / "engine.log", "w") as log_file:
        configure_logging("info", stream=log_file)
        t = time.perf_counter()
        r = asyncio.run(_run())
        wall = time.perf_counter() - t
    lag_ms: np.ndarray = r["lag_ms"]  # type: ignore[assignment]
    rss: list[tuple[float, int]] = r["rss"]  # type: ignore[assignment]
    p50, p99, p999 = np.percentile(lag_ms, [50, 99, 99.9])
    xs = np.array([x for x, _ in rss])
    ys = np.array([y for _, y in rss]) / 2**20
    slope = float(np.polyfit(xs, ys, 1)[0]) * 60.0  # MiB per minute
    growth = (ys[-1] - ys[0]) / ys[0]
    lag_ok = p99 < LAG_P99_TARGET_MS
    mem_ok = growth < MEMORY_GROWTH_TARGET
    print(
        f"  {N_SYMBOLS} symbols, {N_SYMBOLS * PARENTS_PER_SYMBOL:,} parents working throughout; "
        f"measured {MEASURE_S:.0f} s after a {WARMUP_S:.0f} s warm-up ({wall:.0f} s in all)"
    )
    print(
        f"  market events {r['events']:,} ({r['events'] / MEASURE_S:,.0f}/s); parents started "
        f"{r['parents']:,}; children {r['children']:,} ({r['children'] / MEASURE_S:,.0f}/s); "
        f"at the end {r['working']:,} working, {r['kept']:,} kept in memory; the process "
        f"used {r['cpu']:.0%} of a core"
    )
    print(
        f"  event-loop lag  p50 {p50:.2f} ms  p99 {p99:.2f} ms  p99.9 {p999:.2f} ms  "
        f"max {lag_ms.max():.1f} ms  ({len(lag_ms):,} samples)   target p99 < "
        f"{LAG_P99_TARGET_MS:.0f} ms  {'PASS' if lag_ok else 'FAIL'}"
    )
    print(
        f"  resident memory {ys[0]:.1f} -> {ys[-1]:.1f} MiB ({growth:+.1%}); fitted slope "
        f"{slope:+.2f} MiB/min   target growth < {MEMORY_GROWTH_TARGET:.0%}  "
        f"{'PASS' if mem_ok else 'FAIL'}"
    )
    return 0 if lag_ok and mem_ok else 1


if __name__ == "__main__":
    sys.exit(main())
