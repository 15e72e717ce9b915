"""The journal: an append-only record of every input that affects a decision and every decision.

One SQLite database in WAL mode (docs/journal.md has the schema and the policy):

- ``meta``: ``schema_version``, the engine id and run tag, the configuration, when it was created.
- ``events``: one row per record, ``seq`` counting from 1 without gaps, the engine's clock time,
  the kind, the parent and child it is about, the body (JSON: :mod:`engine.journal_codec` for
  domain values), and ``chain``: a CRC-32 over the previous row's chain and this row's kind and
  body. A row changed, dropped or torn breaks the chain from there on; :func:`verify` names the
  last good row.

The loop never waits for the disk on its hot path. :meth:`Journal.record` puts the record on a
queue (a few hundred nanoseconds); a writer thread takes everything queued, inserts it and
commits, at most once per ``flush_interval_s`` (a group commit). The durability policy:

- **Commands** (a parent order, cancel or replace from the OMS; an operator's trading-state
  change) are recorded with ``sync=True``: the loop waits until they are committed before acting
  on them. They are rare, and a command acted on must survive a crash.
- **Everything else** (market data, venue reports, child orders, verdicts, parent reports) is
  group-committed. A crash loses at most the last ``flush_interval_s`` of it, and recovery does
  not need it: the venue is the truth of fills (status requests and the FIX resend restore
  them), and a child sent in the lost tail has the next ClOrdID in its parent's sequence, which
  recovery asks the venue about.

``synchronous="normal"`` (the default) makes a commit survive the process being killed;
``"full"`` also a power cut, at a cost per commit. A write that fails (disk full, the file
removed) is reported once to ``on_error`` from the writer thread; the daemon halts trading on it
(a journal that cannot record means decisions nobody could audit or recover). After that a
command (``sync=True``) raises :class:`JournalError`, so its caller refuses it; other records
are counted in ``dropped``.
"""

from __future__ import annotations

import enum
import json
import queue
import sqlite3
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from engine.journal_codec import JournalCodecError, decode, dumps, encode, extra, field_lists

__all__ = [
    "ID_KINDS",
    "SCHEMA_VERSION",
    "Journal",
    "JournalError",
    "Kind",
    "Record",
    "Verification",
    "cut_after",
    "read_meta",
    "read_records",
    "verify",
]

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY,
    ts_ns INTEGER NOT NULL,
    kind TEXT NOT NULL,
    parent TEXT,
    child TEXT,
    body TEXT NOT NULL,
    chain INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS events_child ON events (child) WHERE child IS NOT NULL;
CREATE INDEX IF NOT EXISTS events_parent ON events (parent) WHERE parent IS NOT NULL;
"""


class Kind(enum.StrEnum):
    """What a record is. Inputs are what replay feeds back; decisions are what it compares."""

    # Inputs.
    PARENT_COMMAND = "parent_command"  # ParentOrder / ParentCancel / ParentReplace / status
    MARKET = "market"  # a market-data event as the engine consumed it
    VENUE = "venue"  # an ExecutionReport or CancelReject from the venue
    VENUE_SESSION = "venue_session"  # {"up": bool}
    MARKET_STALE = "market_stale"  # {"symbol": str, "stale": bool}
    TRADING_STATE = "trading_state"  # {"scope", "key", "state", "reason", "by"}
    TIMER = "timer"  # {"id"}: the engine's timer of that number fired (engine/input_clock.py)
    # Decisions.
    PLAN = "plan"  # a plan put in force: strategy, why, start, bucket, cumulative targets
    CHILD = "child"  # a NewOrder sent, with why, the regime and its policy
    CANCEL = "cancel"  # a CancelOrder sent
    STATUS = "status"  # a StatusRequest sent
    VERDICTS = "verdicts"  # one gate run: asked, granted, the clips and denials
    REPORT = "report"  # a parent ExecutionReport to the OMS
    NOTE = "note"  # a plan, a regime change, an alert, a replace: the audit trail
    # Input: the engine was rebuilt from this journal and goes on. {"trailing": n}: the
    # rebuild decided n things the journal had lost (a crash's last group commit).
    RESTART = "restart"


# Records that use up a ClOrdID of a parent's sequence (a gate run only names the id its
# child would have): recovery asks the venue about the ids a crash may have lost, so their
# number in flight is bounded (engine.engine.IDS_IN_FLIGHT).
ID_KINDS = frozenset({Kind.CHILD, Kind.CANCEL})


class JournalError(RuntimeError):
    """The journal cannot be written or read as it must be."""


@dataclass(frozen=True, slots=True)
class Record:
    seq: int
    ts_ns: int
    kind: Kind
    parent: str | None
    child: str | None
    body: str
    # The journal's field lists (meta ``types``) when they differ from this engine's.
    types: Mapping[str, list[str]] | None = None

    def value(self) -> Any:
        """The domain value of a value record (a dict for the others)."""
        if self.body.startswith("["):
            return decode(self.body, self.types)
        return json.loads(self.body)

    def extra(self) -> dict[str, Any]:
        """The context beside a value (why a child was sent...); for the others, the body."""
        if self.body.startswith("["):
            return extra(self.body)
        return dict(json.loads(self.body))


def _chain(prev: int, kind: str, body: str) -> int:
    # The CRC continued from the previous row's: a row changed, dropped or reordered breaks
    # every chain value after it.
    return zlib.crc32(body.encode(), zlib.crc32(kind.encode(), prev))


_STOP = object()
_NOW = object()  # commit what is queued without waiting for the interval
_MAX_BATCH = 5_000  # records per commit at most: a commit's time stays short
_INSERT_BATCH = """
INSERT INTO events (seq, ts_ns, kind, parent, child, body, chain)
SELECT value->>0, value->>1, value->>2, value->>3, value->>4, value->>5, value->>6
FROM json_each(?)
"""


@dataclass(frozen=True, slots=True)
class _Meta:
    items: dict[str, str]


class Journal:
    """Appends records to the journal at ``path`` (created if absent, continued if not)."""

    def __init__(
        self,
        path: Path,
        *,
        meta: Mapping[str, str] | None = None,
        flush_interval_s: float = 0.05,
        synchronous: Literal["normal", "full"] = "normal",
        on_error: Callable[[Exception], None] | None = None,
    ) -> None:
        if flush_interval_s < 0:
            raise ValueError(f"flush_interval_s must be >= 0, got {flush_interval_s}")
        self.path = path
        self.flush_interval_s = flush_interval_s
        self.on_error = on_error
        path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA synchronous={synchronous.upper()}")
        db.executescript(_SCHEMA)
        version = db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        if version is not None and int(version[0]) != SCHEMA_VERSION:
            db.close()
            raise JournalError(
                f"{path} has journal schema {version[0]}; this engine reads {SCHEMA_VERSION}"
            )
        types = db.execute("SELECT value FROM meta WHERE key='types'").fetchone()
        if types is not None and json.loads(types[0]) != field_lists():
            # Its bodies are read by the field lists it began with: new ones in another order
            # would be misread. Recovery reads it; a new file takes the new records.
            db.close()
            raise JournalError(
                f"{path} was written with other value types than this engine's; "
                "continue in a new journal file"
            )
        with db:
            db.execute("BEGIN")
            rows = {"schema_version": str(SCHEMA_VERSION), **(meta or {})}
            if version is None:
                rows.setdefault("created_ns", str(time.time_ns()))
                # The bodies' field order, read back by these names whatever the code becomes.
                rows["types"] = json.dumps(field_lists())
            db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", list(rows.items()))
        last = db.execute("SELECT seq, chain FROM events ORDER BY seq DESC LIMIT 1").fetchone()
        self._seq, self._chain = (0, 0) if last is None else (int(last[0]), int(last[1]))
        self._db = db
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._failed: Exception | None = None
        self._closed = False
        self.records = 0  # queued so far (this process)
        self._nudged = False
        self.ids_queued = 0  # of them, records that use up a ClOrdID (ID_KINDS)
        self.ids_committed = 0
        self.dropped = 0  # not recorded: after a failure or the close
        self.commits = 0
        # The latest commits' wall times, for the metrics (issue 8): bounded, so a daemon that
        # runs for weeks without a scraper does not grow.
        self.write_seconds: deque[float] = deque(maxlen=4096)
        self.write_cpu_s = 0.0  # the writer thread's CPU: encoding, inserts, commits
        self._thread = threading.Thread(target=self._run, name="journal-writer", daemon=True)
        self._thread.start()

    # --- the loop's side -------------------------------------------------------------------------

    def record(
        self,
        kind: Kind,
        ts_ns: int,
        value: object = None,
        *,
        parent: str | None = None,
        child: str | None = None,
        data: Mapping[str, object] | None = None,
        sync: bool = False,
    ) -> None:
        """Queue one record: a domain ``value`` (encoded in the writer thread; ``data`` beside
        it) or ``data`` alone (a JSON object). ``sync``: return only once it is committed."""
        if self._failed is not None or self._closed:
            if sync:  # a command must not be acted on unrecorded: the caller refuses it
                why = "closed" if self._failed is None else f"cannot be written: {self._failed}"
                raise JournalError(f"the journal {why}")
            self.dropped += 1  # trading is halted by then (on_error); counted, not raised
            return
        self.records += 1
        if kind in ID_KINDS:
            self.ids_queued += 1
        self._queue.put((kind, ts_ns, parent, child, value, data))
        if sync:
            self.flush()

    def set_meta(self, items: Mapping[str, str]) -> None:
        """Write ``meta`` rows (the engine's configuration and run tag), committed on return."""
        self._queue.put(_Meta(dict(items)))
        self.flush()

    def commit_soon(self) -> None:
        """Ask the writer to commit what is queued now rather than at the interval, without
        waiting for it (once until that commit)."""
        if not self._nudged:
            self._nudged = True
            self._queue.put(_NOW)

    def flush(self, timeout_s: float = 10.0) -> None:
        """Wait until everything queued so far is committed."""
        done = threading.Event()
        self._queue.put(done)
        if not done.wait(timeout_s):
            raise JournalError(f"the journal did not commit within {timeout_s} s")
        if self._failed is not None:
            raise JournalError(f"the journal cannot be written: {self._failed}") from self._failed

    def close(self) -> None:
        """Commit what is queued, stop the writer, close the file."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(_STOP)
        self._thread.join(timeout=30)
        self._db.close()

    @property
    def ids_uncommitted(self) -> int:
        """ClOrdIDs used by records not yet committed: what a crash now could lose."""
        return self.ids_queued - self.ids_committed

    @property
    def last_seq(self) -> int:
        """The last committed sequence number."""
        return self._seq

    # --- the writer thread -----------------------------------------------------------------------

    def _run(self) -> None:
        last_commit = 0.0
        while True:
            item = self._queue.get()
            batch: list[tuple[object, ...]] = []
            waiters: list[threading.Event] = []
            stop = False
            # Group commit: gather until the interval since the last commit has passed, a
            # batch is full, or someone waits. Under a steady stream the queue is never empty,
            # so the interval must end a batch by itself, or commits would wait for a lull.
            deadline = last_commit + self.flush_interval_s
            while True:
                if item is _STOP:
                    stop = True
                    break
                if item is _NOW:
                    break
                if isinstance(item, threading.Event):
                    waiters.append(item)  # everything queued before it is in the batch
                    break
                batch.append(item)  # type: ignore[arg-type]
                if len(batch) >= _MAX_BATCH or time.monotonic() >= deadline:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    wait = deadline - time.monotonic()
                    if wait <= 0:
                        break
                    try:
                        item = self._queue.get(timeout=wait)
                    except queue.Empty:
                        break
            if batch and self._failed is None:
                t0, c0 = time.perf_counter(), time.thread_time()
                try:
                    self._write(batch)
                except Exception as exc:  # reported once; every later write is refused
                    self._failed = exc
                    if self.on_error is not None:
                        self.on_error(exc)
                self._nudged = False
                self.write_seconds.append(time.perf_counter() - t0)
                self.write_cpu_s += time.thread_time() - c0
                last_commit = time.monotonic()
            for w in waiters:
                w.set()
            if stop:
                return

    def _write(self, batch: list[tuple[object, ...]]) -> None:
        # Runs for every record and holds the GIL the loop needs: kept to the bone (the
        # chain inlined, the kinds are str already).
        rows = []
        add = rows.append
        crc32 = zlib.crc32
        seq, chain = self._seq, self._chain
        meta = []
        ids = 0
        for item in batch:
            if isinstance(item, _Meta):
                meta.extend(item.items.items())
                continue
            kind, ts_ns, parent, child, value, data = item
            if kind in ID_KINDS:
                ids += 1
            body = encode(value, data) if value is not None else dumps(data)
            seq += 1
            chain = crc32(body.encode(), crc32(kind.encode(), chain))  # type: ignore[attr-defined]
            add((seq, ts_ns, kind, parent, child, body, chain))
        db = self._db
        db.execute("BEGIN")
        try:
            # One statement for the whole batch: SQLite unpacks it (json_each) with the GIL
            # released once. executemany released and re-took the GIL for every row, and each
            # re-take waits out the loop's switch interval: under a busy loop a batch of
            # thousands took seconds and commits stopped.
            db.execute(_INSERT_BATCH, (json.dumps(rows, separators=(",", ":")),))
            if meta:
                db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", meta)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        self._seq, self._chain = seq, chain
        self.ids_committed += ids
        self.commits += 1


# --- reading ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Verification:
    """What :func:`verify` found: ``ok``, how many records are good, the last good one's
    sequence and time, and what is wrong after it (empty when ``ok``)."""

    ok: bool
    records: int
    last_good_seq: int
    last_good_ts_ns: int | None
    problem: str = ""


def _open_read(path: Path) -> sqlite3.Connection:
    if not path.exists():
        raise JournalError(f"no journal at {path}")
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True)


def read_meta(path: Path) -> dict[str, str]:
    db = _open_read(path)
    try:
        return dict(db.execute("SELECT key, value FROM meta").fetchall())
    finally:
        db.close()


def _own_types(path: Path) -> dict[str, list[str]] | None:
    """The journal's field lists if they differ from this engine's (None: read as ours)."""
    raw = read_meta(path).get("types")
    if raw is None:
        return None
    types = json.loads(raw)
    return None if types == field_lists() else types


def read_records(
    path: Path, *, child: str | None = None, parent: str | None = None
) -> Iterator[Record]:
    """The records in sequence order (only one child's or parent's, if asked). Reads what the
    file holds; :func:`verify` says whether to trust it."""
    types = _own_types(path)
    db = _open_read(path)
    try:
        sql = "SELECT seq, ts_ns, kind, parent, child, body FROM events"
        args: tuple[str, ...] = ()
        if child is not None:
            sql, args = sql + " WHERE child = ?", (child,)
        elif parent is not None:
            sql, args = sql + " WHERE parent = ?", (parent,)
        for seq, ts, kind, par, ch, body in db.execute(sql + " ORDER BY seq", args):
            yield Record(seq, ts, Kind(kind), par, ch, body, types)
    finally:
        db.close()


def verify(path: Path) -> Verification:
    """Check the whole journal: the file's integrity, the schema version, sequence numbers
    without gaps, the chain, and that every body reads back. Reports the last good record."""
    try:
        db = _open_read(path)
    except JournalError as exc:
        return Verification(False, 0, 0, None, str(exc))
    n, last_seq, last_ts = 0, 0, None
    try:
        try:
            check = db.execute("PRAGMA quick_check").fetchone()[0]
            version = db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        except sqlite3.DatabaseError as exc:
            return Verification(False, 0, 0, None, f"not a readable journal: {exc}")
        if version is None or int(version[0]) != SCHEMA_VERSION:
            found = None if version is None else version[0]
            return Verification(False, 0, 0, None, f"schema version {found}, not {SCHEMA_VERSION}")
        raw = db.execute("SELECT value FROM meta WHERE key='types'").fetchone()
        types = None if raw is None else json.loads(raw[0])
        chain = 0
        try:
            rows = db.execute("SELECT seq, ts_ns, kind, body, chain FROM events ORDER BY seq")
            for seq, ts, kind, body, stored in rows:
                if seq != last_seq + 1:
                    return Verification(
                        False, n, last_seq, last_ts, f"records {last_seq + 1}..{seq - 1} missing"
                    )
                chain = _chain(chain, kind, body)
                if chain != stored:
                    return Verification(
                        False, n, last_seq, last_ts, f"record {seq} does not match the chain"
                    )
                try:
                    Kind(kind)
                    if body.startswith("["):
                        decode(body, types)
                    else:
                        json.loads(body)
                except (ValueError, JournalCodecError) as exc:
                    return Verification(False, n, last_seq, last_ts, f"record {seq}: {exc}")
                n, last_seq, last_ts = n + 1, seq, ts
        except sqlite3.DatabaseError as exc:
            return Verification(False, n, last_seq, last_ts, f"unreadable after it: {exc}")
        if check != "ok":
            return Verification(False, n, last_seq, last_ts, f"integrity check: {check}")
        return Verification(True, n, last_seq, last_ts)
    finally:
        db.close()


def cut_after(path: Path, seq: int) -> Path:
    """Keep records 1..``seq`` of a damaged journal and drop the rest, after copying the whole
    file aside (returned: ``PATH.damaged-<unix ns>``). The operator's explicit step: nothing
    after the last good record is ever dropped silently, and the copy keeps it for study."""
    if seq < 0:
        raise ValueError(f"seq must be >= 0, got {seq}")
    src = sqlite3.connect(path)
    try:
        aside = path.with_name(f"{path.name}.damaged-{time.time_ns()}")
        dst = sqlite3.connect(aside)
        with dst:
            src.backup(dst)  # the file and its WAL as SQLite sees them
        dst.close()
        with src:
            src.execute("DELETE FROM events WHERE seq > ?", (seq,))
    finally:
        src.close()
    return aside
