"""The FIX codec: every message round trips in both versions, through the wire and the dictionary.

``_wire`` serialises a message, parses it back with the official QuickFIX data dictionary and
validates it there: an encoder that emits a field the version does not define, or misses a
required one, fails here rather than in a live session.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import quickfix as fix
from hypothesis import given
from hypothesis import strategies as st

from adapters.fix.codec import (
    BusinessReject,
    decode_business_reject,
    decode_cancel,
    decode_cancel_reject,
    decode_execution_report,
    decode_new_order,
    decode_replace,
    decode_status_request,
    encode_business_reject,
    encode_cancel,
    encode_cancel_reject,
    encode_execution_report,
    encode_new_order,
    encode_replace,
    encode_status_request,
    reject_order_message,
)
from adapters.fix.mdcodec import (
    LevelChange,
    MarketDataReject,
    MarketDataRequest,
    MDEntryType,
    SubscriptionType,
    UpdateAction,
    decode_incremental,
    decode_md_reject,
    decode_md_request,
    decode_security_status,
    decode_snapshot,
    encode_incremental,
    encode_md_reject,
    encode_md_request,
    encode_security_status,
    encode_snapshot,
)
from adapters.fix.wire import (
    FixDecodeError,
    FixVersion,
    avg_price_from_fix,
    avg_price_to_fix,
    price_from_fix,
    price_to_fix,
    qty_from_fix,
    ts_from_fix,
    ts_to_fix,
)
from engine.events import (
    BookSnapshot,
    BookUpdate,
    CancelOrder,
    CancelReject,
    ExecType,
    ExecutionReport,
    Liquidity,
    NewOrder,
    OrderType,
    OrdStatus,
    ReplaceOrder,
    Side,
    StatusRequest,
    TimeInForce,
    Trade,
    TradingState,
    TradingStatus,
)

DICTS = Path(__file__).resolve().parents[2] / "deploy" / "quickfix"
_DD = {
    FixVersion.FIX42: fix.DataDictionary(str(DICTS / "FIX42.xml")),
    FixVersion.FIX44: fix.DataDictionary(str(DICTS / "FIX44.xml")),
}
VERSIONS = [FixVersion.FIX42, FixVersion.FIX44]
T0 = 1_767_260_000_123_456_789  # 2026-01-01 09:33:20.123456789 UTC
RECV = T0 + 5_000


def _wire(msg: fix.Message) -> fix.Message:
    """Serialise, parse with the version's dictionary and validate, as a session would."""
    header = msg.getHeader()
    header.setField(49, "A")
    header.setField(56, "B")
    header.setField(34, "7")
    header.setField(52, "20260101-09:33:20.123")
    dd = _DD[FixVersion(header.getField(8))]
    parsed = fix.Message(msg.toString(), dd, True)
    dd.validate(parsed)
    return parsed


def _ms(ts: int) -> int:
    return ts - ts % 1_000_000


def _ts(version: FixVersion, ts: int) -> int:
    """What survives the wire: milliseconds in FIX 4.2, nanoseconds in FIX 4.4."""
    return _ms(ts) if version is FixVersion.FIX42 else ts


# --- wire values -----------------------------------------------------------------------------


@given(st.integers(min_value=-(10**15), max_value=10**15))
def test_price_when_round_tripped_then_exact_integer_units(units: int) -> None:
    assert price_from_fix(price_to_fix(units)) == units


@pytest.mark.parametrize(
    ("units", "text"),
    [(1_002_500, "100.25"), (1_000_000, "100"), (1, "0.0001"), (123_456_789, "12345.6789")],
)
def test_price_to_fix_when_units_given_then_shortest_decimal(units: int, text: str) -> None:
    assert price_to_fix(units) == text


def test_price_from_fix_when_trailing_zeros_beyond_unit_then_accepted() -> None:
    assert price_from_fix("100.250000") == 1_002_500


def test_price_from_fix_when_finer_than_unit_then_refused_with_reason() -> None:
    with pytest.raises(FixDecodeError, match="finer than"):
        price_from_fix("100.25001")


def test_price_from_fix_when_float_drift_prone_value_then_exact() -> None:
    # 0.1 + 0.2 style values must not drift: 0.3 is exactly 3,000 units.
    assert price_from_fix("0.3") == 3_000
    assert price_from_fix("1.1") + price_from_fix("2.2") == price_from_fix("3.3")


@given(st.floats(min_value=0, max_value=1e12, allow_nan=False, allow_infinity=False))
def test_avg_price_when_round_tripped_then_same_float(avg: float) -> None:
    assert avg_price_from_fix(avg_price_to_fix(avg)) == avg


def test_qty_from_fix_when_fractional_then_refused_and_whole_decimal_accepted() -> None:
    assert qty_from_fix("100.0", tag=38, name="OrderQty") == 100
    with pytest.raises(FixDecodeError, match="whole shares"):
        qty_from_fix("100.5", tag=38, name="OrderQty")


@given(st.integers(min_value=0, max_value=4_102_444_800 * 10**9))
def test_timestamp_when_round_tripped_then_ns_in_44_and_ms_in_42(ts: int) -> None:
    assert ts_from_fix(ts_to_fix(ts, FixVersion.FIX44)) == ts
    assert ts_from_fix(ts_to_fix(ts, FixVersion.FIX42)) == _ms(ts)


def test_ts_to_fix_when_known_instant_then_utc_text() -> None:
    assert ts_to_fix(T0, FixVersion.FIX44) == "20260101-09:33:20.123456789"
    assert ts_to_fix(T0, FixVersion.FIX42) == "20260101-09:33:20.123"
    assert ts_from_fix("20260101-09:33:20") == T0 - 123_456_789


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("20260101-25:00:00", "out of range"),
        ("20260101-09:60:00", "out of range"),
        ("20260101-09:00:61", "out of range"),
        ("20260230-09:00:00", "no such date"),
        ("20261301-09:00:00", "no such date"),
    ],
)
def test_ts_from_fix_when_time_or_date_impossible_then_decode_error(text: str, words: str) -> None:
    with pytest.raises(FixDecodeError, match=words):
        ts_from_fix(text)
    assert ts_from_fix("20261231-23:59:60") == ts_from_fix("20270101-00:00:00")  # leap second


# --- order entry -----------------------------------------------------------------------------

ORDERS = [
    NewOrder("c1", "XYZ", Side.SELL, 300, OrderType.LIMIT, 1_002_500, TimeInForce.DAY, T0),
    NewOrder("c2", "XYZ", Side.BUY, 100, OrderType.MARKET, None, TimeInForce.IOC, T0),
    NewOrder("c3", "XYZ", Side.BUY, 900, OrderType.LIMIT, 999_900, TimeInForce.DAY, T0, 100),
    NewOrder("c4", "XYZ", Side.SELL, 500, OrderType.LIMIT, 1_000_100, TimeInForce.IOC, T0, 0),
]


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("order", ORDERS, ids=lambda o: o.cl_ord_id)
def test_new_order_when_round_tripped_then_equal(version: FixVersion, order: NewOrder) -> None:
    assert decode_new_order(_wire(encode_new_order(order, version)), T0) == order


@pytest.mark.parametrize("version", VERSIONS)
def test_cancel_status_replace_when_round_tripped_then_equal(version: FixVersion) -> None:
    cancel = CancelOrder("c2", "c1", "XYZ", Side.SELL, RECV)
    status = StatusRequest("c1", "XYZ", Side.SELL, RECV)
    moved = ReplaceOrder("c3", "c1", "XYZ", Side.SELL, 200, 1_002_600, RECV)
    kept = ReplaceOrder("c4", "c3", "XYZ", Side.SELL, 150, None, RECV)
    assert decode_cancel(_wire(encode_cancel(cancel, version)), RECV) == cancel
    assert decode_status_request(_wire(encode_status_request(status, version)), RECV) == status
    assert decode_replace(_wire(encode_replace(moved, version)), RECV) == moved
    assert decode_replace(_wire(encode_replace(kept, version)), RECV) == kept


def _d(version: FixVersion, **fields: str) -> fix.Message:
    base = {
        "11": "c9",
        "21": "1",
        "55": "XYZ",
        "54": "1",
        "60": "20260101-09:30:00",
        "38": "100",
        "40": "2",
        "44": "100.25",
    }
    base.update(fields)
    m = fix.Message()
    m.getHeader().setField(8, version.value)
    m.getHeader().setField(35, "D")
    for tag, value in base.items():
        if value != "":
            m.setField(int(tag), value)
    return m


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"38": "-100"}, r"OrderQty \(38\) must be > 0, got -100"),
        ({"38": ""}, r"OrderQty \(38\) is required"),
        ({"44": ""}, r"needs Price \(44\)"),
        ({"54": "5"}, r"Side \(54\) '5' is not supported here; use 1 \(buy\) or 2 \(sell\)"),
        ({"40": "3"}, r"OrdType \(40\) '3' is not supported"),
        ({"59": "1"}, r"TimeInForce \(59\) '1' is not supported"),
        ({"44": "100.123456"}, r"finer than"),
        ({"111": "-5"}, r"MaxFloor \(111\) must be >= 0"),
        ({"40": "1"}, r"market order \(40=1\) must not carry Price"),
    ],
)
def test_decode_new_order_when_invalid_then_reason_names_the_field(
    fields: dict[str, str], match: str
) -> None:
    with pytest.raises(FixDecodeError, match=match):
        decode_new_order(_d(FixVersion.FIX44, **fields), T0)


@pytest.mark.parametrize("version", VERSIONS)
def test_reject_order_message_when_built_from_bad_order_then_valid_and_carries_reason(
    version: FixVersion,
) -> None:
    msg = _wire(
        reject_order_message(
            _d(version, **{"38": "-100"}),
            version,
            exec_id="R1",
            reason="OrderQty (38) must be > 0, got -100",
            ts_ns=T0,
            code=13,
        )
    )
    report = decode_execution_report(msg, RECV)
    assert (report.exec_type, report.ord_status) == (ExecType.REJECTED, OrdStatus.REJECTED)
    assert (report.cl_ord_id, report.venue_order_id, report.exec_id) == ("c9", "NONE", "R1")
    assert report.text == "OrderQty (38) must be > 0, got -100"
    assert msg.getField(103) == ("13" if version is FixVersion.FIX44 else "0")


def _report(exec_type: ExecType, status: OrdStatus, **kw: object) -> ExecutionReport:
    base: dict[str, object] = dict(
        exec_id="SIM-E1",
        cl_ord_id="c1",
        orig_cl_ord_id=None,
        venue_order_id="XYZ-1",
        exec_type=exec_type,
        ord_status=status,
        symbol="XYZ",
        side=Side.SELL,
        order_qty=300,
        price=1_002_500,
        last_qty=0,
        last_price=None,
        cum_qty=0,
        leaves_qty=300,
        avg_price=0.0,
        ts_event=T0,
        ts_init=RECV,
    )
    base.update(kw)
    return ExecutionReport(**base)  # type: ignore[arg-type]


REPORTS = {
    "new": _report(ExecType.NEW, OrdStatus.NEW),
    "partial": _report(
        ExecType.TRADE,
        OrdStatus.PARTIALLY_FILLED,
        last_qty=100,
        last_price=1_002_600,
        cum_qty=100,
        leaves_qty=200,
        avg_price=1_002_600.0,
        liquidity=Liquidity.ADDED,
    ),
    "fill": _report(
        ExecType.TRADE,
        OrdStatus.FILLED,
        last_qty=200,
        last_price=1_002_500,
        cum_qty=300,
        leaves_qty=0,
        avg_price=(100 * 1_002_600 + 200 * 1_002_500) / 300,
        liquidity=Liquidity.REMOVED,
    ),
    "canceled": _report(
        ExecType.CANCELED, OrdStatus.CANCELED, cl_ord_id="c2", orig_cl_ord_id="c1", leaves_qty=0
    ),
    "replaced": _report(
        ExecType.REPLACED, OrdStatus.NEW, cl_ord_id="c2", orig_cl_ord_id="c1", order_qty=250
    ),
    "replaced_partial": _report(
        ExecType.REPLACED,
        OrdStatus.PARTIALLY_FILLED,
        cl_ord_id="c2",
        orig_cl_ord_id="c1",
        cum_qty=50,
        leaves_qty=200,
        avg_price=1_002_500.0,
    ),
    "rejected": _report(
        ExecType.REJECTED,
        OrdStatus.REJECTED,
        venue_order_id="NONE",
        leaves_qty=0,
        text="trading halted",
    ),
    "status": _report(
        ExecType.ORDER_STATUS,
        OrdStatus.PARTIALLY_FILLED,
        cum_qty=100,
        leaves_qty=200,
        avg_price=1_002_600.0,
    ),
    "unknown": _report(
        ExecType.ORDER_STATUS,
        OrdStatus.REJECTED,
        venue_order_id="NONE",
        order_qty=0,
        price=None,
        leaves_qty=0,
        text="unknown order",
    ),
    "dup": _report(ExecType.NEW, OrdStatus.NEW, possible_duplicate=True),
}


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("name", list(REPORTS))
def test_execution_report_when_round_tripped_then_equal(version: FixVersion, name: str) -> None:
    report = REPORTS[name]
    msg = encode_execution_report(report, version)
    if report.possible_duplicate:
        msg.getHeader().setField(43, "Y")
        msg.getHeader().setField(122, "20260101-09:33:20.000")
    expected = report
    if version is FixVersion.FIX42:
        # 4.2: millisecond timestamps and no LastLiquidityInd.
        expected = _replace(report, ts_event=_ms(report.ts_event), liquidity=None)
    assert decode_execution_report(_wire(msg), RECV) == expected


def _replace(report: ExecutionReport, **kw: object) -> ExecutionReport:
    from dataclasses import replace

    return replace(report, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("name", "fix42", "fix44"),
    [
        ("new", ("0", "0", "0"), ("0", "0", None)),
        ("partial", ("1", "1", "0"), ("F", "1", None)),
        ("fill", ("2", "2", "0"), ("F", "2", None)),
        ("replaced", ("5", "5", "0"), ("5", "0", None)),
        ("replaced_partial", ("5", "1", "0"), ("5", "1", None)),
        ("status", ("1", "1", "3"), ("I", "1", None)),
        ("unknown", ("8", "8", "3"), ("I", "8", None)),
    ],
)
def test_execution_report_when_encoded_then_each_version_uses_its_dialect(
    name: str, fix42: tuple[str, str, str | None], fix44: tuple[str, str, str | None]
) -> None:
    for version, (exec_type, status, trans) in (
        (FixVersion.FIX42, fix42),
        (FixVersion.FIX44, fix44),
    ):
        msg = _wire(encode_execution_report(REPORTS[name], version))
        assert msg.getField(150) == exec_type, version
        assert msg.getField(39) == status, version
        assert (msg.getField(20) if msg.isSetField(20) else None) == trans, version


def test_execution_report_when_44_fill_then_last_liquidity_and_last_qty_tags() -> None:
    msg = _wire(encode_execution_report(REPORTS["partial"], FixVersion.FIX44))
    assert (msg.getField(32), msg.getField(31), msg.getField(851)) == ("100", "100.26", "1")
    assert msg.getField(6) == "100.26"


def test_execution_report_when_status_answer_44_then_ord_status_req_id_echoed() -> None:
    msg = encode_execution_report(REPORTS["status"], FixVersion.FIX44, ord_status_req_id="q7")
    assert _wire(msg).getField(790) == "q7"


def test_execution_report_when_rejected_halted_then_ord_rej_reason_exchange_closed() -> None:
    for version in VERSIONS:
        assert _wire(encode_execution_report(REPORTS["rejected"], version)).getField(103) == "2"


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(
    ("rej", "code44", "code42"),
    [
        (CancelReject("c2", "c1", None, None, "cancel", "unknown order", T0, RECV), "1", "1"),
        (
            CancelReject(
                "c3",
                "c1",
                "XYZ-1",
                OrdStatus.FILLED,
                "cancel",
                "too late to cancel: filled",
                T0,
                RECV,
            ),
            "0",
            "0",
        ),
        (
            CancelReject(
                "c4",
                "c1",
                "XYZ-1",
                OrdStatus.PARTIALLY_FILLED,
                "replace",
                "new quantity 50 is not above the 100 already filled",
                T0,
                RECV,
            ),
            "99",
            "2",
        ),
    ],
)
def test_cancel_reject_when_round_tripped_then_equal_with_reason_code(
    version: FixVersion, rej: CancelReject, code44: str, code42: str
) -> None:
    msg = _wire(encode_cancel_reject(rej, version))
    expected = rej if version is FixVersion.FIX44 else _replace_rej(rej, _ms(rej.ts_event))
    assert decode_cancel_reject(msg, RECV) == expected
    assert msg.getField(102) == (code44 if version is FixVersion.FIX44 else code42)
    assert msg.getField(434) == ("1" if rej.response_to == "cancel" else "2")


def _replace_rej(rej: CancelReject, ts: int) -> CancelReject:
    from dataclasses import replace

    return replace(rej, ts_event=ts)


@pytest.mark.parametrize("version", VERSIONS)
def test_business_reject_when_round_tripped_then_equal(version: FixVersion) -> None:
    rej = BusinessReject("H", 12, "c1", 0, "Side (54) '5' is not supported here")
    assert decode_business_reject(_wire(encode_business_reject(rej, version))) == rej


# --- market data -----------------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("kind", list(SubscriptionType))
def test_md_request_when_round_tripped_then_equal(
    version: FixVersion, kind: SubscriptionType
) -> None:
    req = MarketDataRequest(
        "md1", kind, 5, (MDEntryType.BID, MDEntryType.OFFER, MDEntryType.TRADE), ("XYZ", "ABC")
    )
    assert decode_md_request(_wire(encode_md_request(req, version))) == req


def test_md_request_when_unsupported_entry_type_then_reason_code_8() -> None:
    req = MarketDataRequest("md1", SubscriptionType.SUBSCRIBE, 1, (MDEntryType.BID,), ("XYZ",))
    msg = encode_md_request(req, FixVersion.FIX44)
    g = fix.Group(267, 269)
    g.setField(269, "4")  # opening price: a valid FIX value we do not publish
    msg.addGroup(g)
    with pytest.raises(FixDecodeError) as info:
        decode_md_request(_wire(msg))
    assert info.value.code == 8
    assert "MDEntryType (269) '4'" in info.value.reason


@pytest.mark.parametrize("version", VERSIONS)
def test_snapshot_when_round_tripped_then_levels_exact_and_best_first(version: FixVersion) -> None:
    snap = BookSnapshot(
        "XYZ", ((999_900, 500), (999_800, 300)), ((1_000_100, 400), (1_000_300, 100)), T0, RECV
    )
    msg = _wire(encode_snapshot(snap, version, md_req_id="md1"))
    assert decode_snapshot(msg, RECV) == _replace_snap(snap, _ts(version, T0))
    assert msg.getField(262) == "md1"


def _replace_snap(snap: BookSnapshot, ts: int) -> BookSnapshot:
    from dataclasses import replace

    return replace(snap, ts_event=ts)


@pytest.mark.parametrize("version", VERSIONS)
def test_snapshot_when_book_empty_then_valid_with_no_entries(version: FixVersion) -> None:
    snap = BookSnapshot("XYZ", (), (), T0, RECV)
    decoded = decode_snapshot(_wire(encode_snapshot(snap, version, md_req_id="md1")), RECV)
    assert (decoded.bids, decoded.asks, decoded.ts_event) == ((), (), RECV)


@pytest.mark.parametrize("version", VERSIONS)
def test_incremental_when_round_tripped_then_levels_and_trades_in_order(
    version: FixVersion,
) -> None:
    ts = _ts(version, T0)
    items = [
        Trade("XYZ", 1_000_100, 200, None, "SIM-T9", T0, RECV),
        LevelChange(UpdateAction.CHANGE, BookUpdate("XYZ", Side.SELL, 1_000_100, 200, T0, RECV)),
        LevelChange(UpdateAction.DELETE, BookUpdate("XYZ", Side.BUY, 999_900, 0, T0, RECV)),
        LevelChange(UpdateAction.NEW, BookUpdate("XYZ", Side.BUY, 999_700, 800, T0, RECV)),
    ]
    decoded = decode_incremental(_wire(encode_incremental(items, version, md_req_id="m")), RECV)
    assert decoded == (
        Trade("XYZ", 1_000_100, 200, None, "SIM-T9", ts, RECV),
        BookUpdate("XYZ", Side.SELL, 1_000_100, 200, ts, RECV),
        BookUpdate("XYZ", Side.BUY, 999_900, 0, ts, RECV),
        BookUpdate("XYZ", Side.BUY, 999_700, 800, ts, RECV),
    )


@pytest.mark.parametrize("version", VERSIONS)
def test_md_reject_when_round_tripped_then_equal(version: FixVersion) -> None:
    rej = MarketDataReject("md9", "0", "unknown symbol 'ABC'; this venue lists ['XYZ']")
    assert decode_md_reject(_wire(encode_md_reject(rej, version))) == rej


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("state", list(TradingState))
def test_security_status_when_round_tripped_then_state_and_time_kept(
    version: FixVersion, state: TradingState
) -> None:
    status = TradingStatus("XYZ", state, "volatility pause", T0, RECV)
    msg = _wire(encode_security_status(status, version))
    decoded = decode_security_status(msg, RECV)
    reason = "volatility pause" if version is FixVersion.FIX44 else ""  # 4.2 has no Text in f
    assert decoded == TradingStatus("XYZ", state, reason, _ts(version, T0), RECV)
    assert msg.getField(326) == ("2" if state is TradingState.HALTED else "3")
