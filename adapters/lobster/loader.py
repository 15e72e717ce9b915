"""Read LOBSTER message and order-book files into columnar numpy arrays, and normalise them.

Format (LOBSTER_SampleFiles_ReadMe.txt beside the data): two headerless CSV files per symbol and
day, optionally gzip-compressed, with one row per event.

* message file, 6 columns: time (seconds after midnight, up to 9 decimals), type (1 new limit
  order, 2 partial cancel, 3 delete, 4 execution of a visible order, 5 execution of a hidden
  order, 7 trading halt), order id, size (shares), price (dollars x 10,000: exactly our integer
  price units, :data:`engine.events.PRICE_SCALE`), direction (-1 sell order, 1 buy order).
* order-book file, ``4 * levels`` columns: ask price, ask size, bid price, bid size per level,
  best first; row ``i`` is the book *after* message ``i``. Unoccupied levels carry the dummy
  prices ``-9999999999`` (bids) and ``9999999999`` (asks) with size 0; they are kept as given
  (they sort correctly, so ``ask > bid`` comparisons stay valid), and a level is empty exactly
  when its size is 0.

Units: prices in 1/10,000 dollar, sizes in shares, times as int64 nanoseconds after the
exchange-local midnight of the trading date. The decimal seconds are read digit by digit into
integers (:mod:`adapters.lobster._parse`), so every nanosecond is exact. :func:`session_origin_ns`
gives the epoch nanoseconds of that midnight, so ``origin + ts_ns`` is an absolute timestamp.

Executions name the resting order that was hit, so the aggressor is the opposite side: an
execution of a sell order (direction -1) is a buyer-initiated trade. Some cancels and executions
name orders submitted before the file starts (the book is already full at 09:30);
:func:`submission_rows` marks them with -1 and nothing here needs to know those orders. Hidden
executions carry order id 0.

Speed: the whole file is decompressed in one call and parsed by a GIL-free kernel, one block of
lines per thread; a 10-level GOOG day (147,916 events, 40 MB of text) loads at more than 10^6
events/s on two cores (``tests/bench/bench_lobster.py``).

Exception tree::

    UnwindError
     └── LobsterError (also ValueError)      anything wrong with LOBSTER input
          ├── LobsterFormatError             a malformed row, mismatched files, time going back
          └── LobsterFileNotFoundError       (also FileNotFoundError) file or folder missing
"""

from __future__ import annotations

import datetime as dt
import gzip
import itertools
import os
import re
import zlib
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
from numpy.typing import NDArray

from adapters.lobster._parse import ERROR_TEXT, P10, parse_block
from engine.events import MarketEvent, Quote, Side, Trade, TradingState, TradingStatus
from strategies.errors import UnwindError

__all__ = [
    "EMPTY_ASK_PRICE",
    "EMPTY_BID_PRICE",
    "ENV_VAR",
    "LobsterDay",
    "LobsterError",
    "LobsterFileName",
    "LobsterFileNotFoundError",
    "LobsterFormatError",
    "default_data_dir",
    "find_files",
    "halt_status",
    "load_day",
    "market_events",
    "parse_file_name",
    "session_origin_ns",
    "submission_rows",
]

ENV_VAR = "UNWIND_LOBSTER_DIR"
EMPTY_BID_PRICE = -9_999_999_999
EMPTY_ASK_PRICE = 9_999_999_999

NEW, CANCEL, DELETE, EXECUTE, EXECUTE_HIDDEN, HALT = 1, 2, 3, 4, 5, 7
_TYPES = np.array([NEW, CANCEL, DELETE, EXECUTE, EXECUTE_HIDDEN, HALT])
_NS_DIGITS = 9
# Blocks below this size are not worth a thread hand-off.
_MIN_BLOCK = 1 << 20

_NAME = re.compile(
    r"^(?P<symbol>[^_]+)_(?P<date>\d{4}-\d{2}-\d{2})_(?P<span>.+)_"
    r"(?P<kind>message|orderbook)_(?P<levels>\d+)\.csv(?P<gz>\.gz)?$"
)


class LobsterError(UnwindError, ValueError):
    """Something is wrong with LOBSTER input (see the module docstring for the tree)."""


class LobsterFormatError(LobsterError):
    """A file's content breaks the LOBSTER format; the message names the file and row."""


class LobsterFileNotFoundError(LobsterError, FileNotFoundError):
    """A LOBSTER file or folder is missing; the message says what is available."""


@dataclass(frozen=True, slots=True)
class LobsterFileName:
    """What a LOBSTER file name says: ``TICKER_YYYY-MM-DD_START_END_KIND_LEVELS.csv[.gz]``."""

    symbol: str
    date: dt.date
    span: str  # "34200000_57600000" (ms after midnight) or a fixture tag such as "first999"
    kind: str  # "message" or "orderbook"
    levels: int


_ARRAY_FIELDS = (
    "ts_ns",
    "event_type",
    "order_id",
    "size",
    "price",
    "direction",
    "ask_px",
    "ask_sz",
    "bid_px",
    "bid_sz",
)


@dataclass(frozen=True, slots=True)
class LobsterDay:
    """One symbol-day of LOBSTER data, column by column (row ``i`` = event ``i``).

    Message columns are 1-D arrays of length ``n``; the book is four ``(n, levels)`` arrays, row
    ``i`` being the book after event ``i``, level 0 the best. Empty levels have size 0 and the
    LOBSTER dummy price (:data:`EMPTY_BID_PRICE`, :data:`EMPTY_ASK_PRICE`).
    """

    symbol: str
    date: dt.date
    levels: int
    ts_ns: NDArray[np.int64]  # nanoseconds after exchange-local midnight, never decreasing
    event_type: NDArray[np.int8]  # 1, 2, 3, 4, 5 or 7
    order_id: NDArray[np.int64]
    size: NDArray[np.int64]
    price: NDArray[np.int64]  # 1/10,000 dollar; -1, 0 or 1 on halt rows
    direction: NDArray[np.int8]  # -1 sell order, 1 buy order
    ask_px: NDArray[np.int64]
    ask_sz: NDArray[np.int64]
    bid_px: NDArray[np.int64]
    bid_sz: NDArray[np.int64]
    message_path: Path
    orderbook_path: Path

    def __post_init__(self) -> None:
        # A frozen value should not change under its holder: lock the arrays too.
        for name in _ARRAY_FIELDS:
            getattr(self, name).flags.writeable = False

    def __len__(self) -> int:
        return int(self.ts_ns.shape[0])

    def mid_prices(self) -> NDArray[np.float64]:
        """Mid price per row in price units; NaN where either best level is empty."""
        both = (self.ask_sz[:, 0] > 0) & (self.bid_sz[:, 0] > 0)
        mid = 0.5 * (self.ask_px[:, 0] + self.bid_px[:, 0])
        return np.where(both, mid, np.nan)

    def epoch_ns(self, tz: str = "America/New_York") -> NDArray[np.int64]:
        """Absolute event times: :func:`session_origin_ns` of the date plus ``ts_ns``."""
        return self.ts_ns + session_origin_ns(self.date, tz)


# --- locating files ---------------------------------------------------------------------------


def default_data_dir(env: Mapping[str, str] | None = None) -> Path:
    """Return the LOBSTER folder: ``$UNWIND_LOBSTER_DIR`` if set, else the shared data folder.

    The shared folder is ``<project root>/../shared/data/lobster``, the project root being the
    folder holding pyproject.toml. ``env`` defaults to ``os.environ``.
    The folder is not checked for existence (callers decide whether absence is a skip or an
    error).
    """
    env = os.environ if env is None else env
    value = env.get(ENV_VAR, "")
    if value:
        return Path(value)
    return Path(__file__).resolve().parents[2].parent / "shared" / "data" / "lobster"


def parse_file_name(path: str | os.PathLike[str]) -> LobsterFileName:
    """Read symbol, date, span, kind and levels from a LOBSTER file name.

    Raises
    ------
    LobsterFormatError
        The name does not follow ``TICKER_YYYY-MM-DD_SPAN_{message,orderbook}_LEVELS.csv[.gz]``.
    """
    name = Path(path).name
    m = _NAME.match(name)
    if m is None:
        raise LobsterFormatError(
            f"{path}: not a LOBSTER file name "
            "(expected TICKER_YYYY-MM-DD_START_END_{message,orderbook}_LEVELS.csv[.gz])"
        )
    try:
        date = dt.date.fromisoformat(m["date"])
    except ValueError as e:
        raise LobsterFormatError(f"{path}: bad date {m['date']!r} in the file name") from e
    return LobsterFileName(m["symbol"], date, m["span"], m["kind"], int(m["levels"]))


def find_files(
    directory: str | os.PathLike[str],
    symbol: str,
    levels: int,
    *,
    date: dt.date | None = None,
) -> tuple[Path, Path]:
    """Return the ``(message, orderbook)`` pair for ``symbol`` at ``levels`` levels.

    Raises
    ------
    LobsterFileNotFoundError
        The folder is missing, or holds no complete pair for that symbol and level count (the
        message lists what it does hold).
    LobsterError
        Several pairs match (different dates or spans): pass ``date`` or name the files.
    """
    folder = Path(directory)
    if not folder.is_dir():
        raise LobsterFileNotFoundError(
            f"LOBSTER data folder {folder} not found; set {ENV_VAR} to where the files are"
        )
    pairs: dict[tuple[str, dt.date, str, int, bool], dict[str, Path]] = {}
    for p in sorted(folder.iterdir()):
        m = _NAME.match(p.name)
        if m is None:
            continue
        f = parse_file_name(p)
        key = (f.symbol, f.date, f.span, f.levels, m["gz"] is not None)
        pairs.setdefault(key, {})[f.kind] = p
    complete = {k: v for k, v in pairs.items() if len(v) == 2}
    hits = [
        k for k in complete if k[0] == symbol and k[3] == levels and (date is None or k[1] == date)
    ]
    if not hits:
        have = sorted({f"{k[0]} level {k[3]} ({k[1]})" for k in complete}) or ["nothing"]
        raise LobsterFileNotFoundError(
            f"no LOBSTER message/orderbook pair for {symbol} level {levels}"
            + ("" if date is None else f" on {date}")
            + f" in {folder}; available: {', '.join(have)}"
        )
    if len(hits) > 1:
        names = ", ".join(complete[k]["message"].name for k in hits)
        raise LobsterError(f"several LOBSTER pairs match {symbol} level {levels}: {names}")
    pair = complete[hits[0]]
    return pair["message"], pair["orderbook"]


# --- parsing ----------------------------------------------------------------------------------


def _read_bytes(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
    except FileNotFoundError as e:
        raise LobsterFileNotFoundError(f"LOBSTER file {path} not found") from e
    if path.suffix != ".gz":
        return raw
    if raw[:2] != b"\x1f\x8b":
        raise LobsterFormatError(f"{path}: not a readable gzip file (no gzip magic number)")
    try:
        # Fast path: the gzip trailer gives the decompressed size (mod 2**32); an output buffer of
        # exactly that size saves the growing-and-joining copies (a third of the time on 34 MB).
        # zlib.decompress reads one gzip member only, so a size mismatch (a multi-member file)
        # falls back to gzip.decompress, which reads them all. Deflate cannot expand more than
        # 1032:1, so a larger claimed size is a damaged trailer and is not trusted.
        size = int.from_bytes(raw[-4:], "little")
        if 0 < size <= 1032 * len(raw):
            text = zlib.decompress(raw, 31, size)
            if len(text) == size:
                return text
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as e:
        raise LobsterFormatError(f"{path}: not a readable gzip file ({e})") from e


def _line_text(data: bytes, block_start: int, row: int) -> str:
    # Only called on error: find the row's text so the message can show it.
    pos = block_start
    for _ in range(row):
        pos = data.index(b"\n", pos) + 1
    end = data.find(b"\n", pos)
    line = data[pos : end if end >= 0 else len(data)].decode("ascii", "replace").rstrip("\r")
    return line if len(line) <= 120 else line[:117] + "..."


def _blocks(data: bytes, n: int) -> list[tuple[int, int]]:
    """Split ``data`` (ending in a newline) into up to ``n`` runs of whole lines."""
    bounds = [0]
    for j in range(1, n):
        cut = data.find(b"\n", max(bounds[-1], len(data) * j // n)) + 1
        if 0 < cut < len(data):
            bounds.append(cut)
    bounds.append(len(data))
    return list(itertools.pairwise(bounds))


def _parse_table(
    pool: ThreadPoolExecutor | None,
    workers: int,
    data: bytes,
    path: Path,
    groups: int,
    decimal_col: int,
    exact: bool,
) -> NDArray[np.int64]:
    """Parse a whole file's text into ``(groups, rows, per)`` int64 (see :mod:`._parse`).

    The first row sets the width: ``groups`` columns when ``exact``, else a multiple of it.

    With a ``pool`` of ``workers`` threads, one block of lines per worker is parsed in parallel;
    without, everything runs in this thread.
    """
    if data.endswith(b"\n\n") or data.endswith(b"\r\n\r\n"):
        data = data.rstrip(b"\r\n") + b"\n"  # tolerate blank lines at the very end only
    elif data and not data.endswith(b"\n"):
        data += b"\n"
    if not data or data.isspace():
        raise LobsterFormatError(f"{path}: the file has no rows")
    ncols = data[: data.index(b"\n")].count(b",") + 1
    if ncols % groups or (exact and ncols != groups):
        want = f"{groups}" if exact else f"a multiple of {groups}"
        raise LobsterFormatError(
            f"{path}: row 1: {ncols} columns, expected {want}: {_line_text(data, 0, 0)!r}"
        )
    blocks = _blocks(data, 1 if pool is None else max(1, min(workers, len(data) // _MIN_BLOCK)))
    view = np.frombuffer(data, dtype=np.uint8)

    def count(block: tuple[int, int]) -> int:
        # numpy counts newlines faster than bytes.count, and releases the GIL while doing it.
        return int(np.count_nonzero(view[block[0] : block[1]] == 10))

    counts = list(map(count, blocks) if pool is None else pool.map(count, blocks))
    out = np.empty((groups, sum(counts), ncols // groups), dtype=np.int64)
    starts = np.cumsum([0, *counts[:-1]]).tolist()
    args = [
        (data, s, e, out, r0, decimal_col, _NS_DIGITS, P10)
        for (s, e), r0 in zip(blocks, starts, strict=True)
    ]
    results = (
        [parse_block(*a) for a in args]
        if pool is None
        else [f.result() for f in [pool.submit(parse_block, *a) for a in args]]
    )
    for (s, _), r0, (code, row, col) in zip(blocks, starts, results, strict=True):
        if code:
            raise LobsterFormatError(
                f"{path}: row {r0 + row + 1}, column {col + 1}: {ERROR_TEXT[code]}: "
                f"{_line_text(data, s, row)!r}"
            )
    return out


def _first_bad(mask: NDArray[np.bool_]) -> int:
    return int(np.flatnonzero(mask)[0])


def _validate(msg: NDArray[np.int64], mpath: Path) -> None:
    ts, typ, size = msg[0, :, 0], msg[1, :, 0], msg[3, :, 0]
    price, direction = msg[4, :, 0], msg[5, :, 0]
    checks = (
        (~np.isin(typ, _TYPES), "unknown event type {v} (expected 1, 2, 3, 4, 5 or 7)", typ),
        ((direction != 1) & (direction != -1), "direction {v} is neither 1 nor -1", direction),
        ((typ != HALT) & (size <= 0), "size {v} must be positive", size),
        ((typ != HALT) & (price <= 0), "price {v} must be positive", price),
        (ts < 0, "negative time {v} ns", ts),
    )
    for bad, text, col in checks:
        if bad.any():
            i = _first_bad(bad)
            raise LobsterFormatError(f"{mpath}: row {i + 1}: " + text.format(v=int(col[i])))
    back = np.diff(ts) < 0
    if back.any():
        i = _first_bad(back) + 1
        raise LobsterFormatError(
            f"{mpath}: row {i + 1}: time goes back from {int(ts[i - 1])} ns to {int(ts[i])} ns"
            " after midnight"
        )


def load_day(
    message_path: str | os.PathLike[str],
    orderbook_path: str | os.PathLike[str],
    *,
    symbol: str | None = None,
    date: dt.date | None = None,
    threads: int | None = None,
) -> LobsterDay:
    """Load a LOBSTER message file and its order-book file (``.csv`` or ``.csv.gz``).

    ``symbol`` and ``date`` default to what the message file's name says; ``threads`` (default:
    up to 4, one per core) bounds the decompression and parsing threads. The result does not
    depend on the thread count.

    Raises
    ------
    LobsterFileNotFoundError
        Either file is missing.
    LobsterFormatError
        A malformed row (the message names the file, the 1-based row and column, and shows the
        line), an empty file, an unknown event type or direction, a non-positive size or price
        (outside halt rows), time going back, a book row count that differs from the message
        row count, or an order-book width that is not ``4 * levels``.
    """
    mpath, opath = Path(message_path), Path(orderbook_path)
    for p in (mpath, opath):
        if not p.is_file():
            raise LobsterFileNotFoundError(f"LOBSTER file {p} not found")
    named = _NAME.match(mpath.name)
    if named is not None:
        info = parse_file_name(mpath)
        symbol = info.symbol if symbol is None else symbol
        date = info.date if date is None else date
    if symbol is None or date is None:
        raise LobsterError(
            f"{mpath}: the file name does not give symbol and date; pass symbol= and date="
        )
    workers = threads if threads is not None else max(1, min(4, os.cpu_count() or 1))
    if workers <= 1:
        msg = _parse_table(None, 1, _read_bytes(mpath), mpath, 6, decimal_col=0, exact=True)
        book = _parse_table(None, 1, _read_bytes(opath), opath, 4, decimal_col=-1, exact=False)
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            # The message file (small) is read and parsed whole on one worker while this thread
            # decompresses the order book (large); the book's blocks then go to every worker.
            # The message task never waits on the pool, so this cannot deadlock.
            fut_msg = pool.submit(
                lambda: _parse_table(
                    None, 1, _read_bytes(mpath), mpath, 6, decimal_col=0, exact=True
                )
            )
            book = _parse_table(
                pool, workers, _read_bytes(opath), opath, 4, decimal_col=-1, exact=False
            )
            msg = fut_msg.result()
    n, levels = msg.shape[1], book.shape[2]
    if book.shape[1] != n:
        raise LobsterFormatError(
            f"{opath}: {book.shape[1]} rows, but the message file {mpath.name} has {n}: "
            f"row {min(n, book.shape[1]) + 1} has no partner"
        )
    oname = _NAME.match(opath.name)
    if oname is not None and int(oname["levels"]) != levels:
        raise LobsterFormatError(
            f"{opath}: {4 * levels} columns ({levels} levels), but the name says "
            f"{oname['levels']} levels"
        )
    _validate(msg, mpath)
    return LobsterDay(
        symbol=symbol,
        date=date,
        levels=levels,
        ts_ns=msg[0, :, 0],
        event_type=msg[1, :, 0].astype(np.int8),
        order_id=msg[2, :, 0],
        size=msg[3, :, 0],
        price=msg[4, :, 0],
        direction=msg[5, :, 0].astype(np.int8),
        ask_px=book[0],
        ask_sz=book[1],
        bid_px=book[2],
        bid_sz=book[3],
        message_path=mpath,
        orderbook_path=opath,
    )


# --- derived columns and normalised events ----------------------------------------------------


def session_origin_ns(date: dt.date, tz: str = "America/New_York") -> int:
    """Epoch nanoseconds of exchange-local midnight of ``date``, so ``origin + ts_ns`` is absolute.

    The UTC offset is the one in force at local noon: LOBSTER times are wall-clock seconds after
    midnight and sessions run 04:00-20:00, after any daylight-saving switch (02:00), so one offset
    serves the whole file.
    """
    noon = dt.datetime.combine(date, dt.time(12), tzinfo=ZoneInfo(tz))
    offset = noon.utcoffset()
    assert offset is not None  # a ZoneInfo always has one
    days = (date - dt.date(1970, 1, 1)).days
    return (days * 86_400 - int(offset.total_seconds())) * 1_000_000_000


def submission_rows(day: LobsterDay) -> NDArray[np.int64]:
    """For each row, the row where its order was submitted (type 1) in this file, else -1.

    -1 marks orders that predate the file (cancels or executions of an order id never submitted
    earlier in the file), hidden executions (order id 0) and halts. A type-1 row maps to itself.
    """
    typ, oid = day.event_type, day.order_id
    rows = np.arange(len(day), dtype=np.int64)
    new_rows = np.flatnonzero(typ == NEW)
    out = np.full(len(day), -1, dtype=np.int64)
    if new_rows.size == 0:
        return out
    order = np.argsort(oid[new_rows], kind="stable")  # stable: a reused id maps to its first row
    ids, at = oid[new_rows][order], new_rows[order]
    pos = np.minimum(np.searchsorted(ids, oid), ids.size - 1)
    found = (ids[pos] == oid) & (at[pos] <= rows) & np.isin(typ, (NEW, CANCEL, DELETE, EXECUTE))
    out[found] = at[pos][found]
    return out


def _top_changed(day: LobsterDay) -> NDArray[np.bool_]:
    top = np.stack([day.bid_px[:, 0], day.bid_sz[:, 0], day.ask_px[:, 0], day.ask_sz[:, 0]])
    changed = np.ones(len(day), dtype=bool)
    changed[1:] = (top[:, 1:] != top[:, :-1]).any(axis=0)
    return changed


def market_events(
    day: LobsterDay,
    *,
    origin_ns: int = 0,
    ts_init: Callable[[int], int] | None = None,
    start: int = 0,
    stop: int | None = None,
) -> Iterator[MarketEvent]:
    """Yield the day as domain market events, rows ``start`` to ``stop`` (exclusive).

    Per row, in this order: a :class:`Trade` for an execution (types 4 and 5; the aggressor is
    the side opposite the executed order, ``trade_id`` = ``"{symbol}-{row}"``), a
    :class:`TradingStatus` for a halt row (price -1 halted, 0 quoting but still halted, 1
    trading), then a :class:`Quote` if the best bid or ask (price or size) changed; the first
    row always yields a Quote. ``ts_event = origin_ns + ts_ns``; ``ts_init`` is
    ``ts_init(ts_event)``, or ``ts_event`` when not given. An empty best level gives a ``None``
    price with size 0. Order ids play no part, so unknown ids cannot upset it.
    """
    stop = len(day) if stop is None else min(stop, len(day))
    changed = _top_changed(day)
    if start < stop:
        changed[start] = True
    wanted = changed | np.isin(day.event_type, (EXECUTE, EXECUTE_HIDDEN, HALT))
    typ, px, sz, direction = day.event_type, day.price, day.size, day.direction
    for i in np.flatnonzero(wanted[start:stop]) + start:
        r = int(i)
        t = origin_ns + int(day.ts_ns[r])
        t0 = t if ts_init is None else ts_init(t)
        kind = int(typ[r])
        if kind in (EXECUTE, EXECUTE_HIDDEN):
            aggressor = Side.BUY if direction[r] < 0 else Side.SELL
            yield Trade(day.symbol, int(px[r]), int(sz[r]), aggressor, f"{day.symbol}-{r}", t, t0)
        elif kind == HALT:
            yield halt_status(day.symbol, int(px[r]), t, t0)
        if changed[r]:
            yield _quote(day, r, t, t0)


def halt_status(symbol: str, code: int, t: int, t0: int) -> TradingStatus:
    """A halt row's TradingStatus; price code: -1 halted, 0 quoting (still halted), 1 trading."""
    if code == 1:
        return TradingStatus(symbol, TradingState.TRADING, "trading resumed", t, t0)
    reason = "quoting resumed, trading still halted" if code == 0 else "trading halt"
    return TradingStatus(symbol, TradingState.HALTED, reason, t, t0)


def _quote(day: LobsterDay, r: int, t: int, t0: int) -> Quote:
    bs, az = int(day.bid_sz[r, 0]), int(day.ask_sz[r, 0])
    return Quote(
        day.symbol,
        int(day.bid_px[r, 0]) if bs > 0 else None,
        bs,
        int(day.ask_px[r, 0]) if az > 0 else None,
        az,
        t,
        t0,
    )
