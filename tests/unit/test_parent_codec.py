"""Parent-order FIX codec: round trips through the wire and the data dictionary, errors by tag."""

from __future__ import annotations

from pathlib import Path

import pytest
import quickfix as fix

from adapters.fix.parent_codec import (
    REJECT_REASON_TO_FIX,
    STRATEGY_FROM_FIX,
    STRATEGY_TO_FIX,
    decode_parent_cancel,
    decode_parent_command,
    decode_parent_order,
    decode_parent_replace,
    decode_parent_report,
    decode_parent_status_request,
    encode_parent_cancel,
    encode_parent_order,
    encode_parent_replace,
    encode_parent_report,
    encode_parent_status_request,
)
from adapters.fix.wire import FixDecodeError
from engine.events import ExecType, ExecutionReport, OrdStatus, Side
from engine.parent_events import (
    PARENT_STRATEGIES,
    ParentCancel,
    ParentOrder,
    ParentReplace,
    ParentStatusRequest,
    RejectReason,
)

DICT = Path(__file__).resolve().parents[2] / "deploy" / "quickfix" / "FIX44-unwind.xml"
T0 = 1_795_253_400_123_456_789  # an epoch time with nanoseconds
S = 1_000_000_000


@pytest.fixture(scope="module")
def dd() -> fix.DataDictionary:
    return fix.DataDictionary(str(DICT))


def wire(msg: fix.Message, dd: fix.DataDictionary) -> fix.Message:
    """Through the wire as the acceptor sees it: serialised, parsed and validated."""
    header = msg.getHeader()
    header.setField(49, "OMS")
    header.setField(56, "UNWIND")
    header.setField(34, "7")
    header.setField(52, "20261117-14:30:00.000")
    parsed = fix.Message(msg.toString(), dd, False)
    dd.validate(parsed)
    return parsed


def order(**kw: object) -> ParentOrder:
    base: dict[str, object] = {
        "cl_ord_id": "P-1",
        "symbol": "XYZ",
        "side": Side.SELL,
        "qty": 250_000,
        "strategy": "adaptive",
        "end_ns": T0 + 3_600 * S,
        "ts_init": T0,
        "start_ns": T0 + 60 * S,
        "limit_price": 995_000,
        "risk_aversion": 1e-6,
        "participation_cap": 0.15,
        "urgency": 0.5,
    }
    base.update(kw)
    return ParentOrder(**base)  # type: ignore[arg-type]


def add_param(msg: fix.Message, name: str, value: str, kind: str | None = "6") -> None:
    g = fix.Group(957, 958)
    g.setField(958, name)
    if kind is not None:
        g.setField(959, kind)
    g.setField(960, value)
    msg.addGroup(g)


def bare_order(**fields: str) -> fix.Message:
    """A minimal D (market, 847 vwap) with ``fields`` set on top (``""`` removes a field)."""
    m = encode_parent_order(order(limit_price=None, risk_aversion=None, urgency=None))
    for tag in (849, 168):
        m.removeField(tag)
    for tag, value in fields.items():
        n = int(tag.lstrip("f"))
        if value == "":
            m.removeField(n)
        else:
            m.setField(n, value)
    return m


# --- round trips ---------------------------------------------------------------------------------


@pytest.mark.parametrize("strategy", PARENT_STRATEGIES)
def test_parent_order_when_encoded_and_parsed_with_dictionary_then_round_trips(
    dd: fix.DataDictionary, strategy: str
) -> None:
    o = order(strategy=strategy)
    assert decode_parent_order(wire(encode_parent_order(o), dd), T0, session="S") == (
        ParentOrder(**{**_fields(o), "session": "S"})  # type: ignore[arg-type]
    )


def test_market_parent_without_optional_fields_when_round_tripped_then_nones_kept(
    dd: fix.DataDictionary,
) -> None:
    o = order(
        limit_price=None,
        start_ns=None,
        end_ns=None,
        risk_aversion=None,
        participation_cap=None,
        urgency=None,
    )
    m = wire(encode_parent_order(o), dd)
    assert m.getField(40) == "1" and not m.isSetField(44) and m.groupCount(957) == 0
    assert decode_parent_order(m, T0) == o


def test_parameters_when_tiny_floats_then_wire_has_no_exponent(dd: fix.DataDictionary) -> None:
    m = wire(encode_parent_order(order(risk_aversion=2.5e-7, participation_cap=0.05)), dd)
    assert m.getField(849) == "0.05"
    g = fix.Group(957, 958)
    m.getGroup(1, g)
    assert (g.getField(958), g.getField(959), g.getField(960)) == (
        "RiskAversion",
        "6",
        "0.00000025",
    )
    assert decode_parent_order(m, T0).risk_aversion == 2.5e-7


def test_strategy_parameters_group_when_several_then_all_parsed(dd: fix.DataDictionary) -> None:
    m = bare_order(f847="")
    add_param(m, "Strategy", "dp", "14")
    add_param(m, "RiskAversion", "3")
    add_param(m, "Urgency", "2", "1")
    add_param(m, "ParticipationRate", "0.2", "11")
    got = decode_parent_order(wire(m, dd), T0)
    assert (got.strategy, got.risk_aversion, got.urgency, got.participation_cap) == (
        "dp",
        3.0,
        2.0,
        0.2,
    )


def test_strategy_when_847_and_parameter_agree_then_accepted(dd: fix.DataDictionary) -> None:
    m = bare_order(f847="1002")
    add_param(m, "Strategy", "dp", None)
    assert decode_parent_order(wire(m, dd), T0).strategy == "dp"


def test_strategy_table_when_read_then_fix_values_documented() -> None:
    assert STRATEGY_TO_FIX == {
        "vwap": 1,
        "pov": 2,
        "twap": 1000,
        "ac": 1001,
        "dp": 1002,
        "adaptive": 1003,
    }
    assert STRATEGY_FROM_FIX["2"] == "pov"


def test_cancel_replace_status_when_round_tripped_then_equal(dd: fix.DataDictionary) -> None:
    c = ParentCancel(
        cl_ord_id="P-2", orig_cl_ord_id="P-1", symbol="XYZ", side=Side.SELL, ts_init=T0
    )
    assert decode_parent_cancel(wire(encode_parent_cancel(c), dd), T0) == c
    r = ParentReplace(
        cl_ord_id="P-3",
        orig_cl_ord_id="P-2",
        symbol="XYZ",
        side=Side.SELL,
        ts_init=T0,
        qty=200_000,
        end_ns=T0 + 7_200 * S,
        participation_cap=0.1,
        limit_price=990_000,
    )
    assert decode_parent_replace(wire(encode_parent_replace(r), dd), T0) == r
    keep = ParentReplace(
        cl_ord_id="P-4", orig_cl_ord_id="P-3", symbol="XYZ", side=Side.SELL, ts_init=T0
    )
    assert decode_parent_replace(wire(encode_parent_replace(keep), dd), T0) == keep
    h = ParentStatusRequest(cl_ord_id="P-1", symbol="XYZ", side=Side.SELL, ts_init=T0)
    m = wire(encode_parent_status_request(h, ord_status_req_id="Q1"), dd)
    assert m.getField(790) == "Q1"
    assert decode_parent_status_request(m, T0) == h
    assert decode_parent_command(m, T0, session="K") == ParentStatusRequest(
        cl_ord_id="P-1", symbol="XYZ", side=Side.SELL, ts_init=T0, session="K"
    )


def test_replace_when_group_restates_fixed_parameters_then_ignored_but_rate_taken(
    dd: fix.DataDictionary,
) -> None:
    r = ParentReplace(
        cl_ord_id="P-3", orig_cl_ord_id="P-2", symbol="XYZ", side=Side.SELL, ts_init=T0
    )
    m = encode_parent_replace(r)
    m.setField(847, "1003")
    add_param(m, "RiskAversion", "1")
    add_param(m, "ParticipationRate", "0.3")
    assert decode_parent_replace(wire(m, dd), T0).participation_cap == 0.3


# --- reports -------------------------------------------------------------------------------------


def report(exec_type: ExecType, status: OrdStatus, **kw: object) -> ExecutionReport:
    base: dict[str, object] = {
        "exec_id": "E1",
        "cl_ord_id": "P-1",
        "orig_cl_ord_id": None,
        "venue_order_id": "PARENT-1",
        "exec_type": exec_type,
        "ord_status": status,
        "symbol": "XYZ",
        "side": Side.SELL,
        "order_qty": 250_000,
        "price": 995_000,
        "last_qty": 0,
        "last_price": None,
        "cum_qty": 0,
        "leaves_qty": 250_000,
        "avg_price": 0.0,
        "ts_event": T0,
        "ts_init": T0,
    }
    base.update(kw)
    return ExecutionReport(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("rep", "codes"),
    [
        (report(ExecType.NEW, OrdStatus.NEW), ("0", "0")),
        (
            report(
                ExecType.TRADE,
                OrdStatus.PARTIALLY_FILLED,
                last_qty=300,
                last_price=1_000_100,
                cum_qty=1_300,
                leaves_qty=248_700,
                avg_price=1_000_023.076923077,
            ),
            ("F", "1"),
        ),
        (report(ExecType.CANCELED, OrdStatus.CANCELED, leaves_qty=0), ("4", "4")),
        (
            report(ExecType.REPLACED, OrdStatus.NEW, cl_ord_id="P-2", orig_cl_ord_id="P-1"),
            ("5", "0"),
        ),
        (report(ExecType.DONE_FOR_DAY, OrdStatus.DONE_FOR_DAY, leaves_qty=0), ("3", "3")),
        (report(ExecType.PENDING_CANCEL, OrdStatus.PENDING_CANCEL), ("6", "6")),
        (report(ExecType.PENDING_REPLACE, OrdStatus.PENDING_REPLACE), ("E", "E")),
        (report(ExecType.ORDER_STATUS, OrdStatus.NEW), ("I", "0")),
        (report(ExecType.SUSPENDED, OrdStatus.SUSPENDED, text="halted: VaR"), ("9", "9")),
        (report(ExecType.RESTATED, OrdStatus.PARTIALLY_FILLED), ("D", "1")),
    ],
)
def test_parent_report_when_encoded_then_fix44_codes_and_round_trip(
    dd: fix.DataDictionary, rep: ExecutionReport, codes: tuple[str, str]
) -> None:
    m = wire(encode_parent_report(rep, ord_status_req_id="Q9"), dd)
    assert (m.getField(150), m.getField(39)) == codes
    got = decode_parent_report(m, T0)
    assert got.report == rep
    assert got.ord_status_req_id == ("Q9" if rep.exec_type is ExecType.ORDER_STATUS else None)
    if rep.exec_type is ExecType.TRADE:
        assert [m.getField(t) for t in (32, 31, 14, 151)] == ["300", "100.01", "1300", "248700"]


@pytest.mark.parametrize("reason", list(RejectReason))
def test_rejected_report_when_reason_given_then_explicit_ord_rej_reason(
    dd: fix.DataDictionary, reason: RejectReason
) -> None:
    rep = report(
        ExecType.REJECTED, OrdStatus.REJECTED, leaves_qty=0, text=f"refused: {reason.value}"
    )
    got = decode_parent_report(wire(encode_parent_report(rep, reject_reason=reason), dd), T0)
    assert got.ord_rej_reason == REJECT_REASON_TO_FIX[reason]
    assert got.report.text == f"refused: {reason.value}"


def test_reject_codes_when_listed_then_match_fix44() -> None:
    assert [REJECT_REASON_TO_FIX[r] for r in RejectReason] == [1, 2, 3, 4, 5, 6, 13, 11, 99, 99]


# --- decode errors name the tag -----------------------------------------------------------------


def _fields(o: ParentOrder) -> dict[str, object]:
    return {f: getattr(o, f) for f in o.__slots__}  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("fields", "tag", "words"),
    [
        ({"f38": "-5"}, 38, "OrderQty (38) must be > 0, got -5"),
        ({"f38": "10.5"}, 38, "whole shares"),
        ({"f38": ""}, 38, "OrderQty (38) is required"),
        ({"f11": ""}, 11, "ClOrdID (11)"),
        ({"f55": ""}, 55, "Symbol (55)"),
        ({"f54": "5"}, 54, "Side (54)"),
        ({"f40": "3"}, 40, "OrdType (40)"),
        ({"f40": "2"}, 44, "needs Price (44)"),
        ({"f44": "10.5"}, 44, "market order (40=1) must not carry Price (44)"),
        ({"f40": "2", "f44": "-1"}, 44, "Price (44) must be > 0"),
        ({"f40": "2", "f44": "10.00001"}, 44, "finer than"),
        ({"f847": "7"}, 847, "TargetStrategy (847) '7' is not supported; use 1 (vwap)"),
        ({"f847": "3"}, 847, "TargetStrategy (847)"),
        ({"f847": ""}, 847, "TargetStrategy (847) is required"),
        ({"f849": "15"}, 849, "ParticipationRate (849) must be a fraction"),
        ({"f849": "0"}, 849, "ParticipationRate (849)"),
        ({"f126": "20261117-12:30"}, 126, "tag 126"),
        ({"f168": "2026"}, 168, "tag 168"),
    ],
)
def test_decode_order_when_field_bad_then_error_names_the_tag(
    fields: dict[str, str], tag: int, words: str
) -> None:
    with pytest.raises(FixDecodeError) as e:
        decode_parent_order(bare_order(**fields), T0)
    assert e.value.tag == tag
    assert words in e.value.reason
    assert f"({tag})" in e.value.reason or f"tag {tag}" in e.value.reason


@pytest.mark.parametrize(
    ("params", "tag", "words"),
    [
        ([("Aggression", "1", "6")], 958, "'Aggression' is not supported"),
        ([("Urgency", "1", "6"), ("Urgency", "2", "6")], 958, "given twice"),
        ([("Urgency", "high", "6")], 960, "Urgency (960) is not a number"),
        ([("RiskAversion", "nan", "6")], 960, "finite"),
        ([("Urgency", "1", "14")], 959, "StrategyParameterType (959) of Urgency"),
        ([("Strategy", "momentum", "14")], 960, "'momentum' is not supported"),
        ([("Strategy", "twap", "14")], 847, "disagrees"),
        ([("ParticipationRate", "0.5", "11")], 849, "disagrees"),
        ([("ParticipationRate", "1.5", "11")], 960, "fraction"),
    ],
)
def test_decode_order_when_parameter_bad_then_error_names_the_tag(
    dd: fix.DataDictionary, params: list[tuple[str, str, str]], tag: int, words: str
) -> None:
    m = bare_order(f849="0.1")
    for name, value, kind in params:
        add_param(m, name, value, kind)
    with pytest.raises(FixDecodeError) as e:
        decode_parent_order(wire(m, dd), T0)
    assert (e.value.tag, words in e.value.reason) == (tag, True), e.value.reason
    assert f"({tag})" in e.value.reason


def test_decode_when_group_arrives_flat_then_error_names_957() -> None:
    m = bare_order()
    m.setField(958, "Urgency")  # no dictionary parsed it into a group
    with pytest.raises(FixDecodeError) as e:
        decode_parent_order(m, T0)
    assert e.value.tag == 957


def test_decode_cancel_replace_when_fields_missing_then_error_names_the_tag() -> None:
    c = encode_parent_cancel(
        ParentCancel(cl_ord_id="C", orig_cl_ord_id="P", symbol="XYZ", side=Side.BUY, ts_init=T0)
    )
    c.removeField(41)
    with pytest.raises(FixDecodeError, match=r"OrigClOrdID \(41\)"):
        decode_parent_cancel(c, T0)
    r = encode_parent_replace(
        ParentReplace(cl_ord_id="R", orig_cl_ord_id="P", symbol="XYZ", side=Side.BUY, ts_init=T0)
    )
    r.setField(38, "0")
    with pytest.raises(FixDecodeError, match=r"OrderQty \(38\) must be > 0"):
        decode_parent_replace(r, T0)
    r.setField(38, "10")
    r.setField(849, "2")
    with pytest.raises(FixDecodeError, match=r"ParticipationRate \(849\)"):
        decode_parent_replace(r, T0)


def test_decode_command_when_other_msg_type_then_error_names_35() -> None:
    m = fix.Message()
    m.getHeader().setField(35, "V")
    with pytest.raises(FixDecodeError) as e:
        decode_parent_command(m, T0)
    assert e.value.tag == 35


def test_encode_order_when_strategy_unknown_then_value_error() -> None:
    with pytest.raises(ValueError, match="aggressive"):
        encode_parent_order(order(strategy="aggressive"))
