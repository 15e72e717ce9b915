"""LOBSTER loader: facts of the real sample files, exact time conversion, and malformed input.

Real-data tests read the shared LOBSTER folder (``UNWIND_LOBSTER_DIR`` or ../shared/data/lobster)
and skip, saying where they looked, when it is absent. Synthetic files are written to tmp_path.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
from pathlib import Path

import numpy as np
import pytest

from adapters.lobster.loader import (
    ENV_VAR,
    LobsterDay,
    LobsterError,
    LobsterFileNotFoundError,
    LobsterFormatError,
    default_data_dir,
    find_files,
    load_day,
    market_events,
    parse_file_name,
    session_origin_ns,
    submission_rows,
)
from engine.events import Quote, Side, Trade, TradingState, TradingStatus

DATE = dt.date(2012, 6, 21)


def _data_dir() -> Path:
    path = default_data_dir()
    if not path.is_dir():
        pytest.skip(f"LOBSTER data not found at {path}; set {ENV_VAR}")
    return path


@pytest.fixture(scope="module")
def goog10() -> LobsterDay:
    return load_day(*find_files(_data_dir(), "GOOG", 10))


@pytest.fixture(scope="module")
def aapl999() -> LobsterDay:
    return load_day(*find_files(_data_dir(), "AAPL", 10))


def _exact_ns(text: str) -> int:
    """Seconds-after-midnight text to nanoseconds with integer arithmetic only (the reference)."""
    whole, _, frac = text.partition(".")
    return int(whole) * 1_000_000_000 + int((frac + "000000000")[:9])


def _write(
    folder: Path,
    messages: list[str],
    book: list[str],
    *,
    levels: int = 1,
    gz: bool = False,
    symbol: str = "TEST",
) -> tuple[Path, Path]:
    suffix = ".csv.gz" if gz else ".csv"
    stem = f"{symbol}_2012-06-21_34200000_57600000"
    paths = (
        folder / f"{stem}_message_{levels}{suffix}",
        folder / f"{stem}_orderbook_{levels}{suffix}",
    )
    for path, lines in zip(paths, (messages, book), strict=True):
        data = "".join(line + "\n" for line in lines).encode()
        path.write_bytes(gzip.compress(data) if gz else data)
    return paths


# A tiny consistent day: a bid and an ask, an execution of the ask, a cancel of an order that
# predates the file (id 7 was never submitted here), a hidden execution and a halt.
MESSAGES = [
    "34200.000000001,1,1,100,1000000,1",
    "34200.5,1,2,200,1000100,-1",
    "34200.5,4,2,50,1000100,-1",
    "34201.25,3,7,10,999900,1",
    "34202,5,0,5,1000050,1",
    "34203.123456789,7,0,0,-1,-1",
]
BOOK = [
    "9999999999,0,1000000,100",
    "1000100,200,1000000,100",
    "1000100,150,1000000,100",
    "1000100,150,1000000,100",
    "1000100,150,1000000,100",
    "1000100,150,1000000,100",
]


# --- facts of the real files ------------------------------------------------------------------


def test_load_when_goog_level10_then_147916_events_and_equal_row_counts(goog10):
    assert len(goog10) == 147_916
    assert goog10.levels == 10
    assert goog10.symbol == "GOOG" and goog10.date == DATE
    for arr in (goog10.event_type, goog10.order_id, goog10.size, goog10.price):
        assert arr.shape == (147_916,)
    for arr in (goog10.ask_px, goog10.ask_sz, goog10.bid_px, goog10.bid_sz):
        assert arr.shape == (147_916, 10)


def test_load_when_goog_level10_then_first_and_last_mids_match_the_file(goog10):
    # Derived once from the orderbook file with `zcat ... | head -1` / `tail -1`:
    # first row AskPrice1 5802300, BidPrice1 5794000; last row 5652200 and 5651200.
    mid = goog10.mid_prices()
    assert mid[0] == (5_802_300 + 5_794_000) / 2 == 5_798_150.0
    assert mid[-1] == (5_652_200 + 5_651_200) / 2 == 5_651_700.0


def test_load_when_goog_level10_then_times_exact_and_never_decreasing(goog10):
    # First and last message times read off the file: 34200.015105074 and 57599.871751084.
    assert goog10.ts_ns[0] == 34_200_015_105_074
    assert goog10.ts_ns[-1] == 57_599_871_751_084
    assert np.all(np.diff(goog10.ts_ns) >= 0)


def test_load_when_goog_level10_then_best_ask_above_best_bid_on_every_row(goog10):
    assert np.all(goog10.ask_px[:, 0] > goog10.bid_px[:, 0])
    assert np.all(goog10.ask_sz[:, 0] > 0) and np.all(goog10.bid_sz[:, 0] > 0)


def test_load_when_goog_level10_then_executed_volumes_match_the_file(goog10):
    # Summed with awk over the message file: type 4 sizes 492,509, type 5 sizes 213,616;
    # 7,765 visible and 3,913 hidden executions.
    visible, hidden = goog10.event_type == 4, goog10.event_type == 5
    assert int(goog10.size[visible].sum()) == 492_509
    assert int(goog10.size[hidden].sum()) == 213_616
    assert (int(visible.sum()), int(hidden.sum())) == (7_765, 3_913)
    assert np.all(goog10.order_id[hidden] == 0)


def test_submission_rows_when_goog_level10_then_3363_of_72745_ids_predate_the_file(goog10):
    sub = submission_rows(goog10)
    touching = np.isin(goog10.event_type, (2, 3, 4))
    assert int(touching.sum()) == 72_745
    assert int((sub[touching] < 0).sum()) == 3_363
    known = touching & (sub >= 0)
    assert np.all(goog10.order_id[sub[known]] == goog10.order_id[known])
    assert np.all(sub[known] < np.flatnonzero(known))


def test_load_when_aapl_first999_then_999_events_and_exact_times(aapl999):
    assert len(aapl999) == 999 and aapl999.levels == 10 and aapl999.symbol == "AAPL"
    # The fixture's last line has no newline; every time must still match the text exactly.
    with gzip.open(aapl999.message_path, "rt", newline="") as f:
        rows = list(csv.reader(f))
    assert len(rows) == 999
    assert aapl999.ts_ns.tolist() == [_exact_ns(r[0]) for r in rows]
    assert aapl999.price.tolist() == [int(r[4]) for r in rows]
    # Mids from the first and last orderbook rows: (5859400 + 5853300) / 2, (5857100 + 5853500) / 2.
    mid = aapl999.mid_prices()
    assert (mid[0], mid[-1]) == (5_856_350.0, 5_855_300.0)


def test_market_events_when_aapl_first999_then_one_trade_per_execution(aapl999):
    events = list(market_events(aapl999))
    trades = [e for e in events if isinstance(e, Trade)]
    assert len(trades) == 98 + 61  # types 4 and 5 counted with awk
    first = events[0]
    assert isinstance(first, Quote)
    assert (first.bid_price, first.bid_size, first.ask_price, first.ask_size) == (
        5_853_300,
        18,
        5_859_400,
        200,
    )
    for tr in trades:
        row = int(tr.trade_id.rsplit("-", 1)[1])
        expected = Side.BUY if aapl999.direction[row] == -1 else Side.SELL
        assert tr.aggressor is expected


def test_find_files_when_symbol_absent_then_error_lists_what_is_there():
    with pytest.raises(
        LobsterFileNotFoundError, match=r"MSFT level 10.*available: .*GOOG level 10"
    ):
        find_files(_data_dir(), "MSFT", 10)


# --- synthetic files --------------------------------------------------------------------------


@pytest.mark.parametrize("gz", [False, True])
def test_load_when_synthetic_day_then_columns_and_times_exact(tmp_path, gz):
    day = load_day(*_write(tmp_path, MESSAGES, BOOK, gz=gz))
    assert day.ts_ns.tolist() == [
        34_200_000_000_001,
        34_200_500_000_000,
        34_200_500_000_000,
        34_201_250_000_000,
        34_202_000_000_000,
        34_203_123_456_789,
    ]
    assert day.event_type.tolist() == [1, 1, 4, 3, 5, 7]
    assert day.direction.tolist() == [1, -1, -1, 1, 1, -1]
    assert day.price.tolist() == [1_000_000, 1_000_100, 1_000_100, 999_900, 1_000_050, -1]
    assert day.ask_px[:, 0].tolist()[:2] == [9_999_999_999, 1_000_100]
    assert day.ask_sz[:, 0].tolist() == [0, 200, 150, 150, 150, 150]
    assert day.event_type.dtype == np.int8 and day.ts_ns.dtype == np.int64


def test_load_when_gz_and_plain_hold_the_same_text_then_identical_days(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    plain = load_day(*_write(tmp_path / "a", MESSAGES, BOOK))
    packed = load_day(*_write(tmp_path / "b", MESSAGES, BOOK, gz=True))
    for name in ("ts_ns", "event_type", "order_id", "size", "price", "direction", "bid_sz"):
        np.testing.assert_array_equal(getattr(plain, name), getattr(packed, name))


def test_load_when_large_file_split_across_threads_then_same_as_one_thread(tmp_path):
    # ~2.5 MB of book text, so the parser cuts it into blocks; a row number error in the
    # block offsets would shift or scramble rows.
    n = 20_000
    msgs = [f"{34200 + i // 7}.{i:09d},1,{i + 1},{i % 97 + 1},{1_000_000 + i},1" for i in range(n)]
    book = [",".join(str(1_000_000 + i + k) for k in range(16)) for i in range(n)]
    paths = _write(tmp_path, msgs, book, levels=4)
    one = load_day(*paths, threads=1)
    many = load_day(*paths, threads=4)
    np.testing.assert_array_equal(one.ts_ns, many.ts_ns)
    np.testing.assert_array_equal(one.bid_sz, many.bid_sz)
    assert many.ask_px[12_345].tolist() == [1_012_345, 1_012_349, 1_012_353, 1_012_357]
    assert many.size[-1] == (n - 1) % 97 + 1


def test_load_when_bad_row_in_a_later_block_then_error_names_that_row(tmp_path):
    n = 20_000
    msgs = [f"34200.{i:09d},1,{i + 1},1,1000000,1" for i in range(n)]
    book = [",".join(str(1_000_000 + k) for k in range(16)) for i in range(n)]
    book[17_000] = book[17_000].replace("1000005", "10x0005")
    with pytest.raises(LobsterFormatError, match=r"orderbook_4\.csv: row 17001, column 6"):
        load_day(*_write(tmp_path, msgs, book, levels=4), threads=2)


def test_load_when_crlf_and_no_final_newline_then_read_normally(tmp_path):
    m, o = _write(tmp_path, MESSAGES, BOOK)
    m.write_bytes("\r\n".join(MESSAGES).encode())
    day = load_day(m, o)
    assert len(day) == 6 and day.ts_ns[-1] == 34_203_123_456_789


@pytest.mark.parametrize(
    "row,bad,match",
    [
        (2, "34200.5,1,2,2x0,1000100,-1", r"row 2, column 4: unexpected character"),
        (2, "34200.5,1,2,200,1000100", r"row 2, column 5: too few fields"),
        (2, "34200.5,1,2,200,1000100,-1,9", r"row 2, column 7: too many fields"),
        (3, "34200.5,4,,50,1000100,-1", r"row 3, column 3: empty field"),
        (3, "34200.5000000001,4,2,50,1000100,-1", r"row 3, column 1: more than 9 decimals"),
        (3, "34200.5,4,2,50.5,1000100,-1", r"row 3, column 4: decimal point"),
        (3, "34200.5,4,2,50,10000000000000000000,-1", r"row 3, column 5: number too large"),
        (3, "34200.5,6,2,50,1000100,-1", r"row 3: unknown event type 6"),
        (3, "34200.5,4,2,50,1000100,0", r"row 3: direction 0"),
        (3, "34200.5,4,2,0,1000100,-1", r"row 3: size 0 must be positive"),
        (3, "34200.5,4,2,50,-1000100,-1", r"row 3: price -1000100 must be positive"),
        (4, "34200.4,3,7,10,999900,1", r"row 4: time goes back"),
    ],
)
def test_load_when_message_row_malformed_then_error_names_file_and_row(tmp_path, row, bad, match):
    msgs = list(MESSAGES)
    msgs[row - 1] = bad
    with pytest.raises(LobsterFormatError, match=r"message_1\.csv: " + match):
        load_day(*_write(tmp_path, msgs, BOOK))


def test_load_when_row_counts_differ_then_error_names_both_files(tmp_path):
    with pytest.raises(LobsterFormatError, match=r"5 rows, but the message file .* has 6"):
        load_day(*_write(tmp_path, MESSAGES, BOOK[:5]))


def test_load_when_book_width_disagrees_with_name_then_error(tmp_path):
    book = [line + ",1000200,5,999900,5" for line in BOOK]
    with pytest.raises(LobsterFormatError, match=r"2 levels\), but the name says 1"):
        load_day(*_write(tmp_path, MESSAGES, book))


def test_load_when_file_missing_empty_or_not_gzip_then_clear_errors(tmp_path):
    m, o = _write(tmp_path, MESSAGES, BOOK)
    with pytest.raises(LobsterFileNotFoundError, match="nope_message"):
        load_day(tmp_path / "nope_message_1.csv", o)
    m.write_bytes(b"")
    with pytest.raises(LobsterFormatError, match="has no rows"):
        load_day(m, o)
    fake = tmp_path / "TEST_2012-06-21_x_message_1.csv.gz"
    fake.write_bytes(b"not gzip at all, not at all")
    with pytest.raises(LobsterFormatError, match="not a readable gzip file"):
        load_day(fake, o)
    assert issubclass(LobsterFormatError, ValueError)
    assert issubclass(LobsterFileNotFoundError, FileNotFoundError)


def test_load_when_name_gives_no_symbol_then_caller_must_say(tmp_path):
    m, o = _write(tmp_path, MESSAGES, BOOK)
    plain_m, plain_o = tmp_path / "msgs.csv", tmp_path / "book.csv"
    m.rename(plain_m)
    o.rename(plain_o)
    with pytest.raises(LobsterError, match="pass symbol= and date="):
        load_day(plain_m, plain_o)
    day = load_day(plain_m, plain_o, symbol="XYZ", date=DATE)
    assert day.symbol == "XYZ" and len(day) == 6


def test_submission_rows_when_ids_unknown_then_minus_one_and_events_still_flow(tmp_path):
    day = load_day(*_write(tmp_path, MESSAGES, BOOK))
    # Row 3 executes order 2 (submitted at row 2); row 4 deletes order 7, never submitted here.
    assert submission_rows(day).tolist() == [0, 1, 1, -1, -1, -1]
    events = list(market_events(day, origin_ns=10))
    kinds = [type(e).__name__ for e in events]
    assert kinds == ["Quote", "Quote", "Trade", "Quote", "Trade", "TradingStatus"]
    first = events[0]
    assert isinstance(first, Quote) and first.ask_price is None and first.ask_size == 0
    trade = events[2]
    assert isinstance(trade, Trade)
    assert (trade.price, trade.size, trade.aggressor) == (1_000_100, 50, Side.BUY)
    assert trade.ts_event == 10 + 34_200_500_000_000 == trade.ts_init
    hidden = events[4]
    assert isinstance(hidden, Trade) and hidden.aggressor is Side.SELL
    halt = events[5]
    assert isinstance(halt, TradingStatus) and halt.state is TradingState.HALTED


def test_market_events_when_ts_init_given_then_applied_to_every_event(tmp_path):
    day = load_day(*_write(tmp_path, MESSAGES, BOOK))
    events = list(market_events(day, ts_init=lambda t: t + 7))
    assert events and all(e.ts_init == e.ts_event + 7 for e in events)


def test_day_when_built_then_arrays_are_read_only(tmp_path):
    day = load_day(*_write(tmp_path, MESSAGES, BOOK))
    with pytest.raises(ValueError, match="read-only"):
        day.size[0] = 1


# --- names, folders and clocks ----------------------------------------------------------------


def test_default_data_dir_when_env_set_then_it_wins(tmp_path):
    assert default_data_dir({ENV_VAR: str(tmp_path)}) == tmp_path
    assert default_data_dir({ENV_VAR: ""}) == default_data_dir({})
    root = Path(__file__).resolve().parents[2]  # tests/unit/x.py -> the folder of pyproject.toml
    assert default_data_dir({}) == root.parent / "shared" / "data" / "lobster"


def test_parse_file_name_when_fixture_name_then_fields_read():
    f = parse_file_name("AAPL_2012-06-21_first999_orderbook_10.csv.gz")
    assert (f.symbol, f.date, f.span, f.kind, f.levels) == (
        "AAPL",
        DATE,
        "first999",
        "orderbook",
        10,
    )
    with pytest.raises(LobsterFormatError, match="not a LOBSTER file name"):
        parse_file_name("prices.csv")


def test_find_files_when_folder_missing_then_error_says_how_to_point_at_it(tmp_path):
    with pytest.raises(LobsterFileNotFoundError, match=ENV_VAR):
        find_files(tmp_path / "absent", "GOOG", 10)


def test_find_files_when_pair_complete_then_message_and_orderbook(tmp_path):
    m, o = _write(tmp_path, MESSAGES, BOOK, symbol="ABC")
    _write(tmp_path, MESSAGES, BOOK, symbol="XYZ", levels=1)
    assert find_files(tmp_path, "ABC", 1) == (m, o)
    with pytest.raises(LobsterFileNotFoundError, match="ABC level 5"):
        find_files(tmp_path, "ABC", 5)


def test_session_origin_when_summer_and_winter_then_eastern_midnight_in_utc():
    # 2012-06-21 00:00 EDT = 04:00 UTC = 1340251200 s; 2012-01-03 00:00 EST = 05:00 UTC.
    assert session_origin_ns(DATE) == 1_340_251_200 * 10**9
    assert session_origin_ns(dt.date(2012, 1, 3)) == 1_325_566_800 * 10**9


def test_epoch_ns_when_day_loaded_then_origin_plus_offset(tmp_path):
    day = load_day(*_write(tmp_path, MESSAGES, BOOK))
    assert day.epoch_ns()[0] == 1_340_251_200 * 10**9 + 34_200_000_000_001
