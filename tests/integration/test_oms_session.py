"""The OMS side of FIX over real QuickFIX sessions: the engine's acceptor and the demo OMS.

One acceptor (``deploy/quickfix/engine-oms.cfg``) and one demo OMS client
(``deploy/quickfix/oms-client.cfg``), with a free port and a store in the module's temporary
directory, serve the module. A fake engine stands behind the acceptor's sink: it records the
commands and, when told to, raises. Every wait has a timeout; nothing sleeps.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from adapters.fix.codec import BusinessReject
from adapters.fix.mdcodec import MarketDataRequest, MDEntryType, SubscriptionType, encode_md_request
from adapters.fix.oms_acceptor import OmsAcceptor, OmsAcceptorConfig, OmsConfigError
from adapters.fix.oms_client import OmsClient, OmsClientConfig, OmsInbound, SessionReject
from adapters.fix.parent_codec import (
    encode_parent_cancel,
    encode_parent_order,
    encode_parent_status_request,
)
from adapters.fix.wire import FixVersion
from engine.clock import SimClock
from engine.events import CancelReject, ExecType, ExecutionReport, OrdStatus, Side
from engine.parent_events import (
    ParentCancel,
    ParentCommand,
    ParentOrder,
    ParentReplace,
    ParentStatusRequest,
    RejectReason,
)
from tests.kit.fix_client import free_port

pytestmark = pytest.mark.asyncio(loop_scope="module")

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "quickfix"
S = 1_000_000_000
T0 = 1_795_253_400 * S  # the acceptor's (simulated) clock: ts_init of every command


class FakeEngine:
    """The sink: records commands; raises instead while ``fail`` is set."""

    def __init__(self) -> None:
        self.commands: asyncio.Queue[ParentCommand] = asyncio.Queue()
        self.fail = False
        self.sessions: list[tuple[str, bool]] = []
        self._session_changed = asyncio.Event()

    def __call__(self, command: ParentCommand) -> None:
        if self.fail:
            raise RuntimeError("fake engine bug")
        self.commands.put_nowait(command)

    def on_session(self, session: str, on: bool) -> None:
        self.sessions.append((session, on))
        self._session_changed.set()

    async def wait_session(self, session: str, on: bool, timeout: float = 5.0) -> None:
        async with asyncio.timeout(timeout):
            while (session, on) not in self.sessions:
                self._session_changed.clear()
                await self._session_changed.wait()

    async def next(self, timeout: float = 5.0) -> ParentCommand:
        async with asyncio.timeout(timeout):
            return await self.commands.get()


@dataclasses.dataclass
class Oms:
    acceptor: OmsAcceptor
    client: OmsClient
    engine: FakeEngine
    session: str  # the acceptor's id of the client's session


def _configs(tmp: Path, suffix: str = "") -> tuple[Path, Path]:
    """The shipped configurations, with CompIDs made unique when ``suffix`` is given."""
    acc = (DEPLOY / "engine-oms.cfg").read_text()
    cli = (DEPLOY / "oms-client.cfg").read_text()
    if suffix:
        acc = acc.replace("SenderCompID=UNWIND", f"SenderCompID=UNWIND{suffix}")
        acc = acc.replace("TargetCompID=OMS", f"TargetCompID=OMS{suffix}")
        cli = cli.replace("TargetCompID=UNWIND", f"TargetCompID=UNWIND{suffix}")
        cli = cli.replace("SenderCompID=OMS", f"SenderCompID=OMS{suffix}")
    # The copies live in the test directory: point them at the shipped dictionary.
    acc = acc.replace(
        "DataDictionary=FIX44-unwind.xml", f"DataDictionary={DEPLOY}/FIX44-unwind.xml"
    )
    cli = cli.replace(
        "DataDictionary=FIX44-unwind.xml", f"DataDictionary={DEPLOY}/FIX44-unwind.xml"
    )
    (tmp / "engine-oms.cfg").write_text(acc)
    (tmp / "oms-client.cfg").write_text(cli)
    return tmp / "engine-oms.cfg", tmp / "oms-client.cfg"


async def _connect(tmp: Path, suffix: str = "") -> Oms:
    port = free_port()
    acc_cfg, cli_cfg = _configs(tmp, suffix)
    engine = FakeEngine()
    acceptor = OmsAcceptor(
        OmsAcceptorConfig(settings_path=acc_cfg, data_dir=tmp / "engine", port=port),
        SimClock(T0),
        sink=engine,
        on_session=engine.on_session,
    )
    await acceptor.start()
    client = OmsClient(
        OmsClientConfig(settings_path=cli_cfg, data_dir=tmp / "oms", port=port), clock=SimClock(T0)
    )
    try:
        await client.start()
        await client.wait_logon()
        session = await acceptor.wait_logged_on()
    except BaseException:
        await client.stop()
        await acceptor.stop()
        raise
    return Oms(acceptor, client, engine, session)


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def running(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Oms]:
    oms = await _connect(Path(tmp_path_factory.mktemp("oms")))
    yield oms
    await oms.client.stop()
    await oms.acceptor.stop()


@pytest_asyncio.fixture(loop_scope="module")
async def oms(running: Oms) -> AsyncIterator[Oms]:
    running.engine.fail = False
    yield running
    # Nothing unexpected may be left over for the next test.
    assert running.client.drain() == []
    assert running.engine.commands.empty()


def _parent(cl: str = "P-1", **kw: object) -> ParentOrder:
    base: dict[str, object] = {
        "cl_ord_id": cl,
        "symbol": "XYZ",
        "side": Side.SELL,
        "qty": 250_000,
        "strategy": "adaptive",
        "end_ns": T0 + 3_600 * S,
        "ts_init": T0 - 5 * S,
        "start_ns": T0 + 60 * S,
        "limit_price": 995_000,
        "risk_aversion": 1e-6,
        "participation_cap": 0.15,
        "urgency": 0.5,
    }
    base.update(kw)
    return ParentOrder(**base)  # type: ignore[arg-type]


def _report(cl: str, exec_type: ExecType, status: OrdStatus, **kw: object) -> ExecutionReport:
    base: dict[str, object] = {
        "exec_id": f"X-{cl}-{exec_type.value}",
        "cl_ord_id": cl,
        "orig_cl_ord_id": None,
        "venue_order_id": f"PARENT-{cl}",
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


async def _valid_order_still_works(oms: Oms, cl: str) -> None:
    assert oms.client.send_parent(_parent(cl))
    got = await oms.engine.next()
    assert isinstance(got, ParentOrder) and got.cl_ord_id == cl


async def _expect(oms: Oms, kind: type[OmsInbound]) -> OmsInbound:
    got = await oms.client.receive()
    assert isinstance(got, kind), got
    return got


# --- the happy path ------------------------------------------------------------------------------


async def test_parent_order_when_sent_then_sink_gets_every_field_and_the_957_group(
    oms: Oms,
) -> None:
    sent = _parent("P-ALL")
    assert oms.client.send_parent(sent)
    got = await oms.engine.next()
    assert got == dataclasses.replace(sent, ts_init=T0, session=oms.session)


async def test_reports_when_sent_back_then_client_decodes_them(oms: Oms) -> None:
    a, cl = oms.acceptor, "P-REP"
    reports = [
        _report(cl, ExecType.NEW, OrdStatus.NEW),
        _report(
            cl,
            ExecType.TRADE,
            OrdStatus.PARTIALLY_FILLED,
            last_qty=300,
            last_price=995_100,
            cum_qty=300,
            leaves_qty=249_700,
            avg_price=995_100.0,
        ),
        _report(cl, ExecType.DONE_FOR_DAY, OrdStatus.DONE_FOR_DAY, cum_qty=300, leaves_qty=0),
    ]
    for r in reports:
        assert a.send_report(oms.session, r)
    for r in reports:
        got = await oms.client.next_report()
        assert got.report == r and got.ord_rej_reason is None


async def test_engine_reject_when_reason_given_then_client_sees_code_and_text(oms: Oms) -> None:
    r = _report(
        "P-REJ",
        ExecType.REJECTED,
        OrdStatus.REJECTED,
        venue_order_id="NONE",
        leaves_qty=0,
        text="cannot finish 250000 shares by the end time under a 15% cap",
    )
    assert oms.acceptor.send_report(oms.session, r, RejectReason.INFEASIBLE)
    got = await oms.client.next_report()
    assert (got.ord_rej_reason, got.report.text) == (99, r.text)


async def test_cancel_and_replace_when_sent_then_sink_gets_them_and_cancel_reject_returns(
    oms: Oms,
) -> None:
    cancel = ParentCancel(
        cl_ord_id="P-C2", orig_cl_ord_id="P-C1", symbol="XYZ", side=Side.SELL, ts_init=0
    )
    replace = ParentReplace(
        cl_ord_id="P-R2",
        orig_cl_ord_id="P-R1",
        symbol="XYZ",
        side=Side.SELL,
        ts_init=0,
        qty=100_000,
        participation_cap=0.05,
    )
    assert oms.client.cancel(cancel) and oms.client.replace(replace)
    assert await oms.engine.next() == dataclasses.replace(cancel, ts_init=T0, session=oms.session)
    assert await oms.engine.next() == dataclasses.replace(replace, ts_init=T0, session=oms.session)
    rej = CancelReject("P-C2", "P-C1", None, None, "cancel", "unknown order P-C1", T0, T0)
    assert oms.acceptor.send_cancel_reject(oms.session, rej)
    got = await _expect(oms, CancelReject)
    assert got == rej


async def test_status_request_when_answered_then_ord_status_req_id_echoed(oms: Oms) -> None:
    req = ParentStatusRequest(cl_ord_id="P-ST", symbol="XYZ", side=Side.SELL, ts_init=0)
    assert oms.client.status(req, ord_status_req_id="Q-7")
    assert await oms.engine.next() == dataclasses.replace(req, ts_init=T0, session=oms.session)
    assert oms.acceptor.send_report(
        oms.session, _report("P-ST", ExecType.ORDER_STATUS, OrdStatus.NEW)
    )
    got = await oms.client.next_report()
    assert (got.report.exec_type, got.ord_status_req_id) == (ExecType.ORDER_STATUS, "Q-7")


# --- what malformed and refused messages get ---------------------------------------------------


async def test_order_when_required_field_missing_then_session_reject_and_session_stays_up(
    oms: Oms,
) -> None:
    m = encode_parent_order(_parent("P-NOSIDE"))
    m.removeField(54)
    assert oms.client.send_raw(m)
    got = await _expect(oms, SessionReject)
    assert (got.ref_tag, got.ref_msg_type, got.reason_code) == (54, "D", 1)
    await _valid_order_still_works(oms, "P-AFTER-MISSING")


async def test_order_when_unknown_tag_then_session_reject_and_session_stays_up(oms: Oms) -> None:
    m = encode_parent_order(_parent("P-UNKNOWN-TAG"))
    m.setField(9999, "x")
    assert oms.client.send_raw(m)
    got = await _expect(oms, SessionReject)
    assert got.ref_tag == 9999
    await _valid_order_still_works(oms, "P-AFTER-UNKNOWN")


@pytest.mark.parametrize(
    ("tag", "value", "words", "code"),
    [
        (38, "-5", "OrderQty (38) must be > 0, got -5", 13),
        (847, "7", "TargetStrategy (847) '7' is not supported", 11),
        (849, "15", "ParticipationRate (849) must be a fraction", 99),
    ],
)
async def test_order_when_business_invalid_then_rejected_report_names_the_field(
    oms: Oms, tag: int, value: str, words: str, code: int
) -> None:
    m = encode_parent_order(_parent(f"P-BAD-{tag}"))
    m.setField(tag, value)
    assert oms.client.send_raw(m)
    got = await oms.client.next_report()
    r = got.report
    assert (r.exec_type, r.ord_status, r.cl_ord_id, r.venue_order_id) == (
        ExecType.REJECTED,
        OrdStatus.REJECTED,
        f"P-BAD-{tag}",
        "NONE",
    )
    assert words in r.text and got.ord_rej_reason == code
    await _valid_order_still_works(oms, f"P-AFTER-BAD-{tag}")


async def test_cancel_and_status_when_undecodable_then_cancel_reject_and_business_reject(
    oms: Oms,
) -> None:
    cancel = ParentCancel(
        cl_ord_id="C-5", orig_cl_ord_id="P-1", symbol="XYZ", side=Side.BUY, ts_init=0
    )
    m = encode_parent_cancel(cancel)
    m.setField(54, "5")  # sell short: valid FIX, not offered
    assert oms.client.send_raw(m)
    rej = await _expect(oms, CancelReject)
    assert rej.response_to == "cancel" and "Side (54)" in rej.reason
    status = encode_parent_status_request(
        ParentStatusRequest(cl_ord_id="P-1", symbol="XYZ", side=Side.BUY, ts_init=0)
    )
    status.setField(54, "5")
    assert oms.client.send_raw(status)
    bmr = await _expect(oms, BusinessReject)
    assert (bmr.ref_msg_type, bmr.reason_code) == ("H", 0) and "Side (54)" in bmr.text


async def test_message_when_type_unsupported_then_business_reject_3(oms: Oms) -> None:
    req = MarketDataRequest("MD-1", SubscriptionType.SNAPSHOT, 1, (MDEntryType.BID,), ("XYZ",))
    assert oms.client.send_raw(encode_md_request(req, FixVersion.FIX44))
    bmr = await _expect(oms, BusinessReject)
    assert (bmr.ref_msg_type, bmr.reason_code) == ("V", 3)


async def test_sink_when_it_raises_then_internal_error_reject_and_session_stays_up(
    oms: Oms,
) -> None:
    oms.engine.fail = True
    assert oms.client.send_parent(_parent("P-BUG"))
    bmr = await _expect(oms, BusinessReject)
    assert (bmr.ref_msg_type, bmr.ref_id) == ("D", "P-BUG")
    assert bmr.text == "internal error: fake engine bug"
    oms.engine.fail = False
    assert oms.acceptor.logged_on(oms.session)
    await _valid_order_still_works(oms, "P-AFTER-BUG")


async def test_send_when_session_unknown_then_false(oms: Oms) -> None:
    r = _report("P-X", ExecType.NEW, OrdStatus.NEW)
    assert not oms.acceptor.send_report("FIX.4.4:NOBODY->HERE", r)
    assert not oms.acceptor.logged_on("FIX.4.4:NOBODY->HERE")
    assert (oms.session, True) in oms.engine.sessions


# --- lifecycle -----------------------------------------------------------------------------------


async def test_client_when_logged_out_then_hook_told_and_reports_not_sent_and_stop_is_clean(
    tmp_path: Path,
) -> None:
    oms = await _connect(tmp_path, suffix="LC")
    try:
        await oms.client.stop()
        await oms.engine.wait_session(oms.session, False)
        assert not oms.acceptor.logged_on(oms.session)
        r = _report("P-LATE", ExecType.NEW, OrdStatus.NEW)
        assert not oms.acceptor.send_report(oms.session, r)
    finally:
        await oms.client.stop()
        await oms.acceptor.stop()
    await oms.acceptor.stop()  # idempotent


async def test_acceptor_when_dictionary_lacks_the_group_then_config_error(tmp_path: Path) -> None:
    acc, _ = _configs(tmp_path, suffix="DD")
    acc.write_text(acc.read_text().replace("FIX44-unwind.xml", "FIX44.xml"))
    acceptor = OmsAcceptor(OmsAcceptorConfig(settings_path=acc), SimClock(T0))
    with pytest.raises(OmsConfigError, match="StrategyParameters"):
        await acceptor.start()


async def test_config_when_timeout_negative_then_value_error() -> None:
    with pytest.raises(ValueError, match="logout_timeout_s"):
        OmsAcceptorConfig(settings_path=Path("x"), logout_timeout_s=-1)
