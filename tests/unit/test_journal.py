"""The journal: what it records, that it reads back the same, and that damage is found."""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from pathlib import Path

import pytest
import structlog

from adapters.sim.config import MarketConfig
from engine.clock import NS
from engine.config import EngineConfig, SymbolConfig
from engine.events import NewOrder, OrderType, TimeInForce, Trade
from engine.journal import (
    SCHEMA_VERSION,
    Journal,
    JournalError,
    Kind,
    cut_after,
    read_records,
    verify,
)
from engine.parent_events import ParentOrder
from engine.simrun import SimSession, check_invariants
from risk.states import Scope
from strategies.schedule import Side

structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))


def _trade(i: int) -> Trade:
    return Trade("XYZ", 500_000 + i, 100 * (i + 1), Side.BUY if i % 2 else None, f"T{i}", i, i)


def _tamper(path: Path, statement: str) -> None:
    """Change the file behind the journal's back, as damage would."""
    db = sqlite3.connect(path)
    with db:
        db.execute(statement)
    db.close()


def _write(path: Path, n: int) -> None:
    # One commit per pair: the blocks hold records 1..2, 3..4, ... (tampering targets them).
    j = Journal(path, flush_interval_s=60)
    for i in range(n):
        j.record(Kind.MARKET, i, _trade(i))
        j.record(Kind.NOTE, i, parent="P", data={"event": "plan", "i": i})
        j.flush()
    j.close()


def test_records_read_back_as_the_same_values_in_order(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    _write(path, 50)
    recs = list(read_records(path))
    assert [r.seq for r in recs] == list(range(1, 101))
    assert [r.value() for r in recs if r.kind is Kind.MARKET] == [_trade(i) for i in range(50)]
    assert recs[1].value() == {"event": "plan", "i": 0} and recs[1].parent == "P"
    assert verify(path).ok and verify(path).last_good_seq == 100


def test_a_reopened_journal_continues_its_sequence_and_chain(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    _write(path, 5)
    _write(path, 5)
    v = verify(path)
    assert v.ok and v.records == 20


def test_a_synced_record_is_committed_when_record_returns(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    j = Journal(path, flush_interval_s=60)  # the group commit would wait a minute
    order = ParentOrder(
        cl_ord_id="P1", symbol="XYZ", side=Side.SELL, qty=100, strategy="ac", end_ns=9, ts_init=1
    )
    j.record(Kind.MARKET, 1, _trade(1))
    j.record(Kind.PARENT_COMMAND, 2, order, sync=True)
    other = sqlite3.connect(path)  # another reader sees it: it is in the file
    kinds = [k for (k,) in other.execute("SELECT kind FROM events ORDER BY seq")]
    other.close()
    assert kinds == ["market", "parent_command"]
    j.close()


def test_a_changed_record_is_found_and_the_last_good_one_named(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    _write(path, 20)
    # Record 15 (trade 7) is in the block of records 15..16.
    _tamper(path, "UPDATE blocks SET records = replace(records, '500007', '500008')")
    v = verify(path)
    assert not v.ok and v.last_good_seq == 14 and "records 15..16" in v.problem


def test_missing_records_are_found(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    _write(path, 20)
    _tamper(path, "DELETE FROM blocks WHERE first_seq = 7")
    v = verify(path)
    assert not v.ok and v.last_good_seq == 6 and "7..8 missing" in v.problem


def test_a_truncated_file_is_reported_not_trusted(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    _write(path, 2_000)  # closed: the WAL is checkpointed into the file
    size = path.stat().st_size
    with path.open("r+b") as f:
        f.truncate(size * 2 // 3)
    v = verify(path)
    assert not v.ok and v.problem
    assert v.last_good_seq < 4_000


def test_a_journal_begun_with_other_value_types_is_not_appended_to(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    _write(path, 1)
    _tamper(path, """UPDATE meta SET value = '{"Trade": ["price"]}' WHERE key = 'types'""")
    with pytest.raises(JournalError, match="other value types"):
        Journal(path)


def test_a_journal_of_another_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    _write(path, 1)
    _tamper(path, "UPDATE meta SET value = '999' WHERE key = 'schema_version'")
    with pytest.raises(JournalError, match=f"schema 999; this engine reads {SCHEMA_VERSION}"):
        Journal(path)
    assert "schema version 999" in verify(path).problem


def test_a_failed_write_is_reported_once_and_every_later_record_refused(tmp_path: Path) -> None:
    errors: list[Exception] = []
    called = threading.Event()

    def on_error(exc: Exception) -> None:
        errors.append(exc)
        called.set()

    j = Journal(tmp_path / "j.sqlite", flush_interval_s=0, on_error=on_error)
    j.record(Kind.NOTE, 1, data={"n": 1 << 70})  # JSON the journal cannot encode
    assert called.wait(10)
    j.record(Kind.MARKET, 2, _trade(2))  # counted, not raised: trading halts on the error
    with pytest.raises(JournalError, match="cannot be written"):
        j.record(Kind.PARENT_COMMAND, 3, _trade(3), sync=True)  # a command is refused
    assert len(errors) == 1 and j.dropped == 1
    j.close()


def test_a_session_journals_every_input_and_decision(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    journal = Journal(path, flush_interval_s=0)
    cfg = EngineConfig(symbols={"XYZ": SymbolConfig(daily_volume=6_000_000)}, seed=3)
    s = SimSession(MarketConfig(seed=3), cfg, journal=journal)
    market: list[object] = []
    s.market.subscribe("XYZ", market.append)
    s.run_for(300)
    now = s.clock.now_ns()
    p = s.engine.submit(
        ParentOrder(
            cl_ord_id="P1",
            symbol="XYZ",
            side=Side.SELL,
            qty=20_000,
            strategy="adaptive",
            end_ns=now + 1200 * NS,
            ts_init=now,
        )
    )
    s.run_for(1300)
    journal.close()
    assert p.state.final and check_invariants(s, cap_window_s=cfg.cap_window_s) == []
    assert verify(path).ok
    by_kind: dict[Kind, list[object]] = {}
    for r in read_records(path):
        by_kind.setdefault(r.kind, []).append(r.value())
    assert by_kind[Kind.MARKET] == market  # every event, as consumed, in order
    assert by_kind[Kind.PARENT_COMMAND] == [p.order]
    sent = [o for _, o in s.venue.sent]
    assert by_kind[Kind.CHILD] == sent and len(sent) == len(p.children)
    assert len(by_kind[Kind.CANCEL]) == len(s.venue.cancels)
    assert len(by_kind[Kind.VENUE]) == len(s.venue.reports)
    runs = sum(s.engine.gate_outcomes.values())
    assert len(by_kind[Kind.VERDICTS]) == runs > len(sent)  # denials too, not only children
    assert by_kind[Kind.REPORT] == s.engine.reports[p.id]
    # A child's trail: the gate's run on it, then the order with why it was sent and the
    # regime, then what the venue said.
    # (Denied runs before it named the same id: a denial uses none up.)
    trail = list(read_records(path, child=sent[0].cl_ord_id))
    i = next(k for k, r in enumerate(trail) if r.kind is Kind.CHILD)
    assert i >= 1 and {r.kind for r in trail[:i]} == {Kind.VERDICTS}
    assert trail[i - 1].value()["granted"] == sent[0].qty
    assert trail[i + 1].kind is Kind.VENUE
    assert '"why":' in trail[i].body and '"regime":' in trail[i].body


def test_the_journal_stores_only_the_values_it_can_read_back() -> None:
    from engine.journal_codec import JournalCodecError, decode, encode

    order = NewOrder("C1", "XYZ", Side.BUY, 100, OrderType.LIMIT, 500_100, TimeInForce.IOC, 7)
    assert decode(encode(order, {"why": "behind plan"})) == order
    with pytest.raises(JournalCodecError, match="does not store dict"):
        encode({"a": 1})
    with pytest.raises(JournalCodecError, match="unreadable"):
        decode('{"t":"NewOrder","cl_ord_id":"C1"}')


def test_the_journal_command_verifies_and_shows_a_childs_trail(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from engine.cli import main

    path = tmp_path / "j.sqlite"
    j = Journal(path, flush_interval_s=0)
    order = NewOrder("C1", "XYZ", Side.BUY, 100, OrderType.LIMIT, 500_100, TimeInForce.IOC, 7)
    j.record(Kind.VERDICTS, 7, parent="P", child="C1", data={"asked": 300, "granted": 100})
    j.record(Kind.CHILD, 7, order, parent="P", child="C1", data={"why": "behind plan"})
    j.record(Kind.MARKET, 8, _trade(8))
    j.close()
    assert main(["journal", "verify", str(path)]) == 0
    assert "3 records, last good #3" in capsys.readouterr().out
    assert main(["journal", "show", str(path), "--child", "C1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [ln.split("\t")[2] for ln in lines] == ["verdicts", "child"]
    assert '"why":"behind plan"' in lines[1]
    _tamper(path, "UPDATE blocks SET records = replace(records, 'behind plan', 'ahead')")
    assert main(["journal", "verify", str(path)]) == 1
    out, err = capsys.readouterr()
    assert "do not match the chain" in err
    assert "last good #0" in out or "last good #1" in out  # the block holding record 2 goes


def _break(j: Journal) -> None:
    j.record(Kind.NOTE, 0, data={"n": 1 << 70})  # cannot be encoded: the writer fails
    with pytest.raises(JournalError):
        j.flush()


def test_with_the_journal_failed_new_parents_are_refused_and_a_halt_still_works(
    tmp_path: Path,
) -> None:
    from engine.engine import ParentRejected
    from engine.parent_events import RejectReason

    cfg = EngineConfig(symbols={"XYZ": SymbolConfig(daily_volume=6_000_000)}, seed=3)
    journal = Journal(tmp_path / "j.sqlite", flush_interval_s=0)
    s = SimSession(MarketConfig(seed=3), cfg, journal=journal)
    s.run_for(60)
    _break(journal)
    now = s.clock.now_ns()
    order = ParentOrder(
        cl_ord_id="P1",
        symbol="XYZ",
        side=Side.SELL,
        qty=1_000,
        strategy="twap",
        end_ns=now + 600 * NS,
        ts_init=now,
    )
    with pytest.raises(ParentRejected) as rej:
        s.engine.submit(order)
    assert rej.value.reason is RejectReason.EXCHANGE_CLOSED and "journal" in rej.value.text
    s.engine.halt(reason="operator halt")
    assert s.engine.halted


@pytest.mark.asyncio
async def test_the_daemon_halts_trading_when_the_journal_fails(tmp_path: Path) -> None:
    import asyncio

    from engine.daemon import Daemon, DaemonConfig, JournalSettings, OmsSettings, VenueSettings
    from engine.paper import QUICKFIX

    cfg = DaemonConfig(
        engine=EngineConfig(symbols={"XYZ": SymbolConfig(daily_volume=6_000_000)}),
        venue=VenueSettings(settings=QUICKFIX / "engine-venue.cfg", data_dir=tmp_path / "v"),
        oms=OmsSettings(settings=QUICKFIX / "engine-oms.cfg", data_dir=tmp_path / "o"),
        journal=JournalSettings(path=tmp_path / "j.sqlite", flush_interval_s=0),
    )
    daemon = Daemon(cfg)
    daemon._loop = asyncio.get_running_loop()  # what start() sets; no sessions needed here
    assert daemon.journal is not None
    reported = threading.Event()
    on_error = daemon.journal.on_error
    assert on_error is not None

    def report(exc: Exception) -> None:
        on_error(exc)  # the daemon's: it posts the halt to the loop
        reported.set()

    daemon.journal.on_error = report
    daemon.journal.record(Kind.NOTE, 0, data={"n": 1 << 70})  # the writer thread fails on it
    assert await asyncio.to_thread(reported.wait, 10)
    # The halt was posted before to_thread's own completion, so it has run by now.
    assert daemon.engine.halted
    state = daemon.engine.trading.get(Scope.GLOBAL)
    assert state.reason.startswith("journal write failed") and state.by == "journal"
    daemon.journal.close()


def test_cutting_a_damaged_journal_keeps_the_good_records_and_the_whole_file_aside(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from engine.cli import main

    path = tmp_path / "j.sqlite"
    _write(path, 20)
    _tamper(path, "UPDATE blocks SET records = '[]' WHERE first_seq = 31")
    assert main(["journal", "cut", str(path), "--after", "30"]) == 0
    out = capsys.readouterr().out
    assert "kept records 1..30" in out and "OK" in out
    v = verify(path)
    assert v.ok and v.last_good_seq == 30
    aside = list(tmp_path.glob("j.sqlite.damaged-*"))
    assert len(aside) == 1 and verify(aside[0]).last_good_seq == 30  # the whole file, as it was
    kept = sqlite3.connect(aside[0])
    assert kept.execute("SELECT max(last_seq) FROM blocks").fetchone()[0] == 40
    kept.close()
    # Appending continues the chain from the last good record.
    j = Journal(path, flush_interval_s=0)
    j.record(Kind.MARKET, 99, _trade(99))
    j.close()
    assert verify(path).ok and verify(path).records == 31


def test_the_daemon_refuses_a_damaged_journal_and_names_the_cut(tmp_path: Path) -> None:
    from engine.cli import main
    from engine.daemon import Daemon, DaemonConfig, JournalSettings, OmsSettings, VenueSettings
    from engine.paper import QUICKFIX

    path = tmp_path / "j.sqlite"
    _write(path, 10)
    _tamper(path, "DELETE FROM blocks WHERE first_seq = 5")
    cfg = DaemonConfig(
        engine=EngineConfig(symbols={"XYZ": SymbolConfig(daily_volume=6_000_000)}),
        venue=VenueSettings(settings=QUICKFIX / "engine-venue.cfg", data_dir=tmp_path / "v"),
        oms=OmsSettings(settings=QUICKFIX / "engine-oms.cfg", data_dir=tmp_path / "o"),
        journal=JournalSettings(path=path),
    )
    with pytest.raises(JournalError, match=r"damaged after record 4: .*journal cut .* --after 4"):
        Daemon(cfg)
    toml = tmp_path / "engine.toml"
    toml.write_text(
        f"""
[engine.symbols.XYZ]
daily_volume = 6000000
[venue]
settings = "{QUICKFIX / "engine-venue.cfg"}"
[oms]
settings = "{QUICKFIX / "engine-oms.cfg"}"
[journal]
path = "{path}"
"""
    )
    assert main(["run", "--config", str(toml), "--check"]) == 1


def test_a_body_is_read_by_its_own_journals_field_names() -> None:
    from engine.journal_codec import decode, encode, extra, field_lists, named

    t = _trade(3)
    body = encode(t, {"why": "test"})
    assert extra(body) == {"why": "test"} and decode(body) == t
    assert '"price":500003' in named(body) and '"x":{"why":"test"}' in named(body)
    # A journal written when Trade's fields came in another order reads by its own list.
    names = field_lists()["Trade"]
    theirs = list(reversed(names))
    values = dict(zip(names, json.loads(body)[1:8], strict=True))
    old = json.dumps(["Trade", *[values[n] for n in theirs]])
    assert decode(old, {"Trade": theirs}) == t


def test_a_steady_stream_is_still_committed_every_interval(tmp_path: Path) -> None:
    # Before, the writer gathered until the queue was empty: under a stream that never lets
    # up it committed nothing, and a crash would have lost far more than the interval.
    import time

    j = Journal(tmp_path / "j.sqlite", flush_interval_s=0.05)
    end = time.monotonic() + 1.0
    i = 0
    while time.monotonic() < end:  # the loop's side, never pausing
        j.record(Kind.MARKET, i, _trade(i % 100))
        i += 1
    commits = j.commits
    j.close()
    assert commits >= 3, f"{commits} commits in a second of stream ({i} records)"


def test_a_cut_inside_a_good_block_keeps_its_head_and_a_damaged_block_goes_whole(
    tmp_path: Path,
) -> None:
    path = tmp_path / "j.sqlite"
    _write(path, 20)  # blocks 1..2, 3..4, ...: odd records trades, even ones notes of P
    cut_after(path, 31)
    v = verify(path)
    assert v.ok and v.last_good_seq == 31
    assert [r.seq for r in read_records(path, parent="P")][-1] == 30  # 32 went with the cut
    assert [r.kind for r in read_records(path)][-1] is Kind.MARKET
    # A block that fails its chain is never rewritten: that would bless what it holds.
    _tamper(path, "UPDATE blocks SET records = replace(records, '500005', '500006')")
    assert verify(path).last_good_seq == 10
    with pytest.raises(ValueError, match="inside a damaged block that begins at 11: cut after 10"):
        cut_after(path, 11)
    cut_after(path, 10)
    assert verify(path).ok and verify(path).records == 10


def test_the_events_view_shows_one_row_per_record_for_people(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    _write(path, 3)
    db = sqlite3.connect(path)
    rows = db.execute(
        "SELECT seq, kind, parent, data->>'i', value->>0 FROM events ORDER BY seq"
    ).fetchall()
    db.close()
    assert rows == [
        (1, "market", None, None, "Trade"),
        (2, "note", "P", 0, None),
        (3, "market", None, None, "Trade"),
        (4, "note", "P", 1, None),
        (5, "market", None, None, "Trade"),
        (6, "note", "P", 2, None),
    ]


def test_a_value_the_journal_does_not_store_is_refused_where_it_is_recorded(
    tmp_path: Path,
) -> None:
    from engine.journal_codec import JournalCodecError

    j = Journal(tmp_path / "j.sqlite")
    with pytest.raises(JournalCodecError, match="does not store object values"):
        j.record(Kind.MARKET, 0, object())  # never stored as its str()
    j.record(Kind.MARKET, 1, _trade(1))
    j.close()
    assert [r.value() for r in read_records(tmp_path / "j.sqlite")] == [_trade(1)]
