"""The fault injector and schedule alone: determinism, rates, ordering, validation."""

from __future__ import annotations

from dataclasses import replace

import pytest

from adapters.fixsim.faults import (
    FaultAction,
    FaultConfig,
    FaultInjector,
    FaultSchedule,
    Outbound,
)
from engine.events import ExecType, ExecutionReport, OrdStatus, Side

NS = 1_000_000_000


def _er(
    i: int,
    exec_type: ExecType = ExecType.NEW,
    *,
    order: str = "O1",
    leaves: int = 100,
    orig: str | None = None,
) -> ExecutionReport:
    return ExecutionReport(
        exec_id=f"E{i}",
        cl_ord_id="c1",
        orig_cl_ord_id=orig,
        venue_order_id=order,
        exec_type=exec_type,
        ord_status=OrdStatus.PARTIALLY_FILLED if exec_type is ExecType.TRADE else OrdStatus.NEW,
        symbol="XYZ",
        side=Side.SELL,
        order_qty=300,
        price=1_000_000,
        last_qty=10 if exec_type is ExecType.TRADE else 0,
        last_price=1_000_000 if exec_type is ExecType.TRADE else None,
        cum_qty=300 - leaves,
        leaves_qty=leaves,
        avg_price=0.0,
        ts_event=i,
        ts_init=i,
    )


def _sent_ids(inj: FaultInjector, n: int, **kw: object) -> list[tuple[str, bool]]:
    out = []
    for i in range(n):
        for o in inj.route(Outbound("s", _er(i, order=f"O{i}", **kw)), i):  # type: ignore[arg-type]
            out.append((o.event.exec_id, o.possdup))  # type: ignore[union-attr]
    return out


def test_injector_when_same_seed_then_same_decisions_and_other_seed_differs() -> None:
    cfg = FaultConfig(seed=11, drop_reports=0.3, duplicate_reports=0.2)
    a = _sent_ids(FaultInjector(cfg), 500)
    assert a == _sent_ids(FaultInjector(cfg), 500)
    assert a != _sent_ids(FaultInjector(replace(cfg, seed=12)), 500)


def test_drop_when_rate_given_then_observed_fraction_close_and_counted() -> None:
    inj = FaultInjector(FaultConfig(seed=3, drop_reports=0.3))
    sent = _sent_ids(inj, 4000)
    assert 0.27 < 1 - len(sent) / 4000 < 0.33
    assert inj.stats.dropped == 4000 - len(sent)


def test_drop_when_duplicates_also_enabled_then_same_reports_dropped() -> None:
    alone = {e for e, _ in _sent_ids(FaultInjector(FaultConfig(seed=5, drop_reports=0.4)), 800)}
    both = FaultInjector(FaultConfig(seed=5, drop_reports=0.4, duplicate_reports=0.5))
    assert {e for e, _ in _sent_ids(both, 800)} == alone  # each fault has its own RNG


def test_drop_when_status_answer_then_never_dropped() -> None:
    inj = FaultInjector(FaultConfig(drop_reports=1.0))
    assert len(inj.route(Outbound("s", _er(1, ExecType.ORDER_STATUS)), 0)) == 1
    assert inj.route(Outbound("s", _er(2)), 0) == []


def test_duplicate_when_on_then_copy_follows_original_flagged_possdup() -> None:
    outs = FaultInjector(FaultConfig(duplicate_reports=1.0)).route(Outbound("s", _er(1)), 0)
    assert [(o.event.exec_id, o.possdup) for o in outs] == [("E1", False), ("E1", True)]


def test_delay_ack_when_order_fills_meanwhile_then_fill_waits_behind_ack_until_due() -> None:
    inj = FaultInjector(FaultConfig(delay_acks=1.0, ack_delay_ns=2 * NS))
    assert inj.route(Outbound("s", _er(1)), 0) == []
    assert inj.route(Outbound("s", _er(2, ExecType.TRADE, leaves=0)), NS) == []
    assert inj.next_deadline() == 2 * NS
    assert inj.due(2 * NS - 1) == []
    assert [o.event.exec_id for o in inj.due(2 * NS)] == ["E1", "E2"]
    assert inj.next_deadline() is None and inj.stats.delayed == 1


def test_held_fill_when_cancel_acked_then_ack_before_fill() -> None:
    inj = FaultInjector(FaultConfig(fill_after_cancel=1.0))
    assert inj.route(Outbound("s", _er(1, ExecType.TRADE, leaves=200)), 0) == []
    ack = _er(2, ExecType.CANCELED, leaves=0, orig="c0")
    assert [o.event.exec_id for o in inj.route(Outbound("s", ack), 1)] == ["E2", "E1"]


def test_held_fill_when_other_report_comes_first_then_fill_released_before_it() -> None:
    inj = FaultInjector(FaultConfig(fill_after_cancel=1.0))
    inj.route(Outbound("s", _er(1, ExecType.TRADE, leaves=200)), 0)
    # A replace ack is not what this fill waits for: order is kept.
    replaced = _er(2, ExecType.REPLACED, leaves=200, orig="c0")
    assert [o.event.exec_id for o in inj.route(Outbound("s", replaced), 1)] == ["E1", "E2"]


def test_held_fill_when_ioc_rest_canceled_then_not_an_ack_and_order_kept() -> None:
    inj = FaultInjector(FaultConfig(fill_after_cancel=1.0))
    inj.route(Outbound("s", _er(1, ExecType.TRADE, leaves=200)), 0)
    rest = _er(2, ExecType.CANCELED, leaves=0)  # no OrigClOrdID: not answering a cancel
    assert [o.event.exec_id for o in inj.route(Outbound("s", rest), 0)] == ["E1", "E2"]


def test_held_fill_when_window_passes_then_released_alone() -> None:
    inj = FaultInjector(FaultConfig(fill_races_replace=1.0, late_fill_window_ns=5 * NS))
    inj.route(Outbound("s", _er(1, ExecType.TRADE, leaves=200)), NS)
    assert inj.due(6 * NS - 1) == []
    assert [o.event.exec_id for o in inj.due(6 * NS)] == ["E1"]


def test_held_fill_when_fill_completes_order_then_never_held() -> None:
    inj = FaultInjector(FaultConfig(fill_after_cancel=1.0))
    assert len(inj.route(Outbound("s", _er(1, ExecType.TRADE, leaves=0)), 0)) == 1


def test_drain_when_reports_held_and_delayed_then_all_returned_once() -> None:
    inj = FaultInjector(FaultConfig(delay_acks=1.0, fill_after_cancel=1.0))
    inj.route(Outbound("s", _er(1, order="A")), 0)
    inj.route(Outbound("s", _er(2, ExecType.TRADE, order="B", leaves=50)), 0)
    assert sorted(o.event.exec_id for o in inj.drain()) == ["E1", "E2"]
    assert inj.drain() == [] and inj.next_deadline() is None


def test_reject_when_rate_one_then_reason_given_and_counted() -> None:
    inj = FaultInjector(FaultConfig(reject_orders=1.0))
    reason = inj.new_order_reject()
    assert reason is not None and "fault injection" in reason
    assert inj.stats.rejected == 1
    assert FaultInjector(FaultConfig()).new_order_reject() is None


def test_schedule_when_halts_on_then_each_halt_resumes_after_duration() -> None:
    cfg = FaultConfig(seed=2, halt_every_ns=30 * NS, halt_duration_ns=60 * NS)
    sched = FaultSchedule(cfg, ["XYZ", "ABC"], 0)
    actions = sched.pop_due(3600 * NS)
    for symbol in ("XYZ", "ABC"):
        mine = [a for a in actions if a.symbol == symbol]
        kinds = [a.kind for a in mine]
        assert kinds[:2] == [FaultAction.HALT, FaultAction.RESUME]
        assert all(k is not kinds[i + 1] for i, k in enumerate(kinds[:-1]))  # alternate
        for halt, resume in zip(mine[::2], mine[1::2], strict=False):
            assert resume.at_ns - halt.at_ns == 60 * NS
    assert [a.at_ns for a in actions] == sorted(a.at_ns for a in actions)


def test_schedule_when_disconnects_on_then_mean_gap_close_to_configured() -> None:
    sched = FaultSchedule(FaultConfig(seed=4, disconnect_every_ns=10 * NS), [], 0)
    times = [a.at_ns for a in sched.pop_due(20_000 * NS)]
    assert 1800 < len(times) < 2200  # ~2,000 events of mean gap 10 s
    assert FaultSchedule(FaultConfig(), ["XYZ"], 0).next_time() is None


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"drop_reports": 1.5}, "drop_reports must be a fraction"),
        ({"fill_after_cancel": 0.6, "fill_races_replace": 0.6}, "must not exceed 1"),
        ({"ack_delay_ns": -1}, "ack_delay_ns must be >= 0"),
        ({"halt_every_ns": NS, "halt_duration_ns": 0}, "needs a halt_duration_ns"),
    ],
)
def test_fault_config_when_invalid_then_value_error_says_which(kw: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        FaultConfig(**kw)


def test_describe_when_faults_on_then_named_and_none_when_off() -> None:
    assert FaultConfig().describe() == "none"
    text = FaultConfig(drop_reports=0.1, halt_every_ns=300 * NS).describe()
    assert "drop_reports=0.1" in text and "halt every ~300s for 60s" in text
