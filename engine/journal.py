"""The journal: an append-only record of every input that affects a decision and every decision.

One SQLite database in WAL mode (docs/journal.md has the schema and the policy):

- ``meta``: ``schema_version``, the engine id and run tag, the configuration, when it was created.
- ``blocks``: one row per commit, holding that commit's records in order. A record has a
  sequence number (counting from 1 without gaps: the block's ``first_seq`` plus its place), the
  engine's clock time, the kind, the parent and child it is about, and the body (JSON:
  :mod:`engine.journal_codec` for domain values). ``chain`` is a CRC-32 over the previous
  block's chain and this block's text: a block changed, dropped or torn breaks the chain from
  there on, and :func:`verify` names the last good record (the end of the last good block).
- ``refs``: which blocks mention which parent and child, so one child's trail is found without
  reading the whole journal. The ``events`` view shows one row per record for people with SQL.

The loop never waits for the disk on its hot path. :meth:`Journal.record` puts the record on a
queue (a few hundred nanoseconds); a writer thread wakes once per ``flush_interval_s``, takes
everything queued, encodes it as one block in one call and commits it (a group commit). One
row per commit, not per record, keeps the writer's share of the GIL small. The durability
policy:

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
import sqlite3
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import orjson

from engine.journal_codec import (
    TYPES,
    JournalCodecError,
    check_value,
    decode,
    dumps,
    dumps_bytes,
    extra,
    field_lists,
    record_body,
)
from engine.stats import WRITE_BOUNDS, Histogram

VALUE_TYPES = frozenset(TYPES.values())

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

SCHEMA_VERSION = 2

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS blocks (
    first_seq INTEGER PRIMARY KEY,
    last_seq INTEGER NOT NULL,
    records TEXT NOT NULL,
    chain INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS refs (
    parent TEXT,
    child TEXT,
    block INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS refs_child ON refs (child) WHERE child IS NOT NULL;
CREATE INDEX IF NOT EXISTS refs_parent ON refs (parent) WHERE parent IS NOT NULL;
CREATE VIEW IF NOT EXISTS events (seq, ts_ns, kind, parent, child, value, data) AS
    SELECT b.first_seq + r.key, r.value->>0, r.value->>1, r.value->>2, r.value->>3,
           r.value->4, r.value->5
    FROM blocks AS b, json_each(b.records) AS r;
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


def _chain(prev: int, records: str) -> int:
    # The CRC continued from the previous block's: a block changed, dropped or reordered breaks
    # every chain value after it.
    return zlib.crc32(records.encode(), prev)


_STOP = object()
_NOW = object()  # commit what is queued without waiting for the interval
_MAX_BATCH = 5_000  # records per block at most: a commit's time stays short
_INSERT_REFS = """
INSERT INTO refs (parent, child, block) SELECT value->>0, value->>1, ? FROM json_each(?)
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
        last = db.execute(
            "SELECT last_seq, chain FROM blocks ORDER BY first_seq DESC LIMIT 1"
        ).fetchone()
        self._seq, self._chain = (0, 0) if last is None else (int(last[0]), int(last[1]))
        self._db = db
        # The loop appends, the writer takes (both atomic under the GIL); _wake ends the
        # writer's sleep early.
        self._pending: deque[object] = deque()
        self._wake = threading.Event()
        self._failed: Exception | None = None
        self._closed = False
        self.records = 0  # queued so far (this process)
        self._nudged = False
        self.ids_queued = 0  # of them, records that use up a ClOrdID (ID_KINDS)
        self.ids_committed = 0
        self.dropped = 0  # not recorded: after a failure or the close
        self.commits = 0
        # Each commit's wall time, for the metrics (cumulative buckets: bounded however long the
        # daemon runs; observed from the writer thread, hence the lock).
        self.write_seconds = Histogram(WRITE_BOUNDS, threadsafe=True)
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
        if value is not None and type(value) not in VALUE_TYPES:
            check_value(value)  # raises: a value the journal would only store as text
        self.records += 1
        if kind in ID_KINDS:
            self.ids_queued += 1
        # As the block stores it: the writer encodes the tuples as they are.
        self._pending.append((ts_ns, kind, parent, child, value, data))
        if sync:
            self.flush()
        elif not self.flush_interval_s:
            self._wake.set()

    def set_meta(self, items: Mapping[str, str]) -> None:
        """Write ``meta`` rows (the engine's configuration and run tag), committed on return."""
        self._pending.append(_Meta(dict(items)))
        self.flush()

    def commit_soon(self) -> None:
        """Ask the writer to commit what is queued now rather than at the interval, without
        waiting for it (once until that commit)."""
        if not self._nudged:
            self._nudged = True
            self._pending.append(_NOW)
            self._wake.set()

    def flush(self, timeout_s: float = 10.0) -> None:
        """Wait until everything queued so far is committed."""
        done = threading.Event()
        self._pending.append(done)
        self._wake.set()
        if not done.wait(timeout_s):
            raise JournalError(f"the journal did not commit within {timeout_s} s")
        if self._failed is not None:
            raise JournalError(f"the journal cannot be written: {self._failed}") from self._failed

    def close(self) -> None:
        """Commit what is queued, stop the writer, close the file."""
        if self._closed:
            return
        self._closed = True
        self._pending.append(_STOP)
        self._wake.set()
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

    def _take(self) -> list[object]:
        # Everything queued so far, in order: popleft is atomic, and only this thread pops.
        pending = self._pending
        return [pending.popleft() for _ in range(len(pending))]

    def _run(self) -> None:
        # The writer sleeps out the interval and then takes the whole queue at once. It is not
        # woken per record: a thread woken for every record takes the GIL from the loop for
        # every record (that cost the engine 15% of its throughput). Commands, flushes and
        # commit_soon() wake it early.
        last_commit = time.monotonic()
        stop = False
        while not stop:
            wait = last_commit + self.flush_interval_s - time.monotonic()
            if wait > 0:
                self._wake.wait(wait)
            elif not self._pending:
                self._wake.wait()  # no interval: the next record wakes it (record())
            self._wake.clear()
            items = self._take()
            waiters: list[threading.Event] = []
            batch: list[object] = []  # records and meta rows
            for item in items:
                if item is _STOP:
                    stop = True
                elif isinstance(item, threading.Event):
                    waiters.append(item)  # everything queued before it is in this batch
                elif item is not _NOW:
                    batch.append(item)
            for start in range(0, len(batch), _MAX_BATCH):
                if self._failed is not None:
                    break
                t0, c0 = time.perf_counter(), time.thread_time()
                try:
                    self._write(batch[start : start + _MAX_BATCH])
                except Exception as exc:  # reported once; every later write is refused
                    self._failed = exc
                    if self.on_error is not None:
                        self.on_error(exc)
                self.write_seconds.observe(time.perf_counter() - t0)
                self.write_cpu_s += time.thread_time() - c0
            self._nudged = False
            last_commit = time.monotonic()
            for w in waiters:
                w.set()

    def _write(self, items: list[object]) -> None:
        # Holds the GIL the loop needs, so no Python runs per record but what must: the
        # records go through orjson as the loop queued them (a value becomes its positional
        # body in the encoder's hook) and the block is one row.
        recs = [it for it in items if type(it) is tuple]
        meta = [kv for it in items if isinstance(it, _Meta) for kv in it.items.items()]
        ids = sum(1 for r in recs if r[1] in ID_KINDS)  # type: ignore[index]
        refs = {(r[2], r[3]) for r in recs}  # type: ignore[index]
        refs.discard((None, None))
        db = self._db
        first = self._seq + 1
        chain = self._chain
        db.execute("BEGIN")
        try:
            if recs:
                raw = dumps_bytes(recs)
                chain = zlib.crc32(raw, chain)  # as _chain(chain, text)
                db.execute(
                    "INSERT INTO blocks VALUES (?, ?, ?, ?)",
                    (first, first + len(recs) - 1, raw.decode(), chain),
                )
                if refs:
                    db.execute(_INSERT_REFS, (first, dumps_bytes(list(refs)).decode()))
            if meta:
                db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", meta)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        self._seq, self._chain = first + len(recs) - 1, chain
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


def _records_of(first: int, text: str) -> list[tuple[int, int, str, Any, Any, str]]:
    """A block's records as (seq, ts_ns, kind, parent, child, body text). Raises ValueError
    (a JSONDecodeError included) for a block that does not read as one."""
    out = []
    for i, rec in enumerate(orjson.loads(text)):
        if not isinstance(rec, list) or len(rec) != 6:
            raise ValueError(f"record {first + i} is not [ts_ns, kind, parent, child, value, data]")
        ts, kind, parent, child, value, data = rec
        # The text encode() gives the body: what replay compares with its own.
        out.append((first + i, ts, kind, parent, child, record_body(value, data)))
    return out


def read_records(
    path: Path, *, child: str | None = None, parent: str | None = None
) -> Iterator[Record]:
    """The records in sequence order (only one child's or parent's, if asked). Reads what the
    file holds; :func:`verify` says whether to trust it."""
    types = _own_types(path)
    db = _open_read(path)
    try:
        sql = "SELECT first_seq, records FROM blocks"
        args: tuple[str, ...] = ()
        if child is not None:
            sql += " WHERE first_seq IN (SELECT block FROM refs WHERE child = ?)"
            args = (child,)
        elif parent is not None:
            sql += " WHERE first_seq IN (SELECT block FROM refs WHERE parent = ?)"
            args = (parent,)
        for first, text in db.execute(sql + " ORDER BY first_seq", args):
            for seq, ts, kind, par, ch, body_text in _records_of(first, text):
                if (child is not None and ch != child) or (parent is not None and par != parent):
                    continue
                yield Record(seq, ts, Kind(kind), par, ch, body_text, types)
    finally:
        db.close()


def verify(path: Path) -> Verification:
    """Check the whole journal: the file's integrity, the schema version, blocks without gaps
    in their sequence numbers, the chain, and that every record reads back. Reports the last
    good record: the end of the last block that passed."""
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
            rows = db.execute("SELECT first_seq, last_seq, records, chain FROM blocks ORDER BY 1")
            for first, last, text, stored in rows:
                if first != last_seq + 1:
                    return Verification(
                        False, n, last_seq, last_ts, f"records {last_seq + 1}..{first - 1} missing"
                    )
                chain = _chain(chain, text)
                if chain != stored:
                    return Verification(
                        False,
                        n,
                        last_seq,
                        last_ts,
                        f"records {first}..{last} do not match the chain",
                    )
                try:
                    recs = _records_of(first, text)
                    if not recs or recs[-1][0] != last:
                        raise ValueError(f"block {first}..{last} holds {len(recs)} records")
                    for _, _, kind, _, _, body_text in recs:
                        Kind(kind)
                        if body_text.startswith("["):
                            decode(body_text, types)
                except (ValueError, JournalCodecError) as exc:
                    return Verification(False, n, last_seq, last_ts, f"records {first}..: {exc}")
                n, last_seq, last_ts = n + len(recs), last, recs[-1][1]
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
    after the last good record is ever dropped silently, and the copy keeps it for study. A
    block that ``seq`` ends inside is rewritten with its records up to ``seq``."""
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
            _truncate(src, seq)
    finally:
        src.close()
    return aside


def _truncate(db: sqlite3.Connection, seq: int) -> None:
    row = db.execute(
        "SELECT first_seq, records FROM blocks WHERE first_seq <= ? AND last_seq > ?", (seq, seq)
    ).fetchone()
    db.execute("DELETE FROM refs WHERE block > ?", (seq,))
    db.execute("DELETE FROM blocks WHERE first_seq > ?", (seq,))
    if row is None:
        return
    first, text = row
    prev = db.execute(
        "SELECT chain FROM blocks WHERE first_seq < ? ORDER BY first_seq DESC LIMIT 1", (first,)
    ).fetchone()
    prev_chain = 0 if prev is None else prev[0]
    stored = db.execute("SELECT chain FROM blocks WHERE first_seq = ?", (first,)).fetchone()[0]
    if _chain(prev_chain, text) != stored:
        # Rewriting it would give damaged records a good chain: only whole blocks go.
        raise ValueError(
            f"record {seq} is inside a damaged block that begins at {first}: cut after {first - 1}"
        )
    kept = json.loads(text)[: seq - first + 1]
    new = dumps(kept)
    db.execute(
        "UPDATE blocks SET last_seq = ?, records = ?, chain = ? WHERE first_seq = ?",
        (seq, new, _chain(prev_chain, new), first),
    )
    db.execute("DELETE FROM refs WHERE block = ?", (first,))
    refs = {(r[2], r[3]) for r in kept if r[2] is not None or r[3] is not None}
    if refs:
        db.execute(_INSERT_REFS, (first, dumps(list(refs))))
