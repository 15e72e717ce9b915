"""The post-trade analysis of one parent (:mod:`engine.tca`) from the engine's journal.

:func:`parent_trace` reads a :class:`~engine.tca_trace.ParentTrace` from what the engine
recorded as it worked; :func:`parent_tca` analyses it.

- the parent's own reports to the OMS: the first (its acceptance) is the decision time, its
  fills are its Trade reports (the engine's count, duplicates and status-learned fills settled),
  the quantity is the last report's (a replace changes it), and the end is its final report
  (or the journal's last record if it is still working);
- its first child record: when trading began; its ``plan`` records: every plan put in force;
  its ``accepted`` note: the strategy and the cap; the OMS's order (``parent_command``): the
  window it gave; the journal's engine configuration: the cap's window;
- the market records of its symbol, replayed into a book (:class:`SymbolMarket`, as the engine
  built it): the mid after every event and the prints on the tape;
- the regime timeline: a :class:`~strategies.regime.RegimeDetector` fed what the engine's was
  fed (its symbol's market records and our fills on it, :class:`~engine.regime_feed.RegimeFeed`),
  so it calls the same regime at every bar (checked against the regime each child record names,
  tests/integration/test_tca_child.py).

Times are the engine's clock when it handled each record, so fills, mids and prints are on one
clock.
"""

from __future__ import annotations

import json
from pathlib import Path

from engine.clock import NS
from engine.config import EngineConfig
from engine.events import PRICE_SCALE, BookUpdate, ExecType, ExecutionReport, OrdStatus, Trade
from engine.journal import Kind, read_meta, read_records
from engine.market_state import SymbolMarket
from engine.parent_events import ParentOrder
from engine.regime_feed import RegimeFeed
from engine.tca import ParentTca
from engine.tca_trace import ParentTrace, PlanLine
from strategies.regime import RegimeDetector
from strategies.schedule import Side

__all__ = ["ParentNotFound", "parent_tca", "parent_trace"]

_FINAL = {OrdStatus.FILLED, OrdStatus.CANCELED, OrdStatus.DONE_FOR_DAY, OrdStatus.EXPIRED}


class ParentNotFound(ValueError):
    """The journal has no reports of such a parent."""


def parent_tca(path: Path, parent_id: str, *, fee_bps: float = 0.0) -> ParentTca:
    """The analysis of parent ``parent_id`` (the engine's id) from the journal at ``path``."""
    return parent_trace(path, parent_id).tca(fee_bps=fee_bps)


def _cap_window_ns(path: Path) -> int:
    # The raw JSON, not the validated config: an older journal's configuration may not
    # validate under this version, and only one key is needed.
    raw = read_meta(path).get("engine_config")
    default = EngineConfig.model_fields["cap_window_s"].default
    window = json.loads(raw).get("cap_window_s", default) if raw else default
    return round(float(window) * NS)


def parent_trace(path: Path, parent_id: str) -> ParentTrace:
    """The trace of parent ``parent_id`` (the engine's id) from the journal at ``path``.

    Raises
    ------
    ParentNotFound
        If the journal has no reports of it, or it was rejected.
    engine.journal.JournalError
        If the journal cannot be read.
    """
    reports: list[tuple[int, ExecutionReport]] = []
    first_child: int | None = None
    plans: list[PlanLine] = []
    accepted: dict[str, object] = {}
    for r in read_records(path, parent=parent_id):
        if r.kind is Kind.REPORT:
            value = r.value()
            if isinstance(value, ExecutionReport):
                reports.append((r.ts_ns, value))
        elif r.kind is Kind.CHILD and first_child is None:
            first_child = r.ts_ns
        elif r.kind is Kind.PLAN:
            p = r.value()
            plans.append(
                PlanLine(
                    start_ns=p["start_ns"],
                    bucket_ns=p["bucket_ns"],
                    cum_targets=tuple(p["cum_targets"]),
                    filled_at_start=p["filled_at_start"],
                    strategy=p["strategy"],
                    reason=p["reason"],
                )
            )
        elif r.kind is Kind.NOTE and not accepted:
            note = r.value()
            if note.get("event") == "accepted":
                accepted = note
    if not reports:
        raise ParentNotFound(f"{path} has no reports of a parent {parent_id}")
    decision_ns, first = reports[0]
    symbol, side = first.symbol, first.side
    if first.exec_type is ExecType.REJECTED:
        raise ParentNotFound(f"parent {parent_id} was rejected: nothing was traded")
    fills = [
        (ts, rep.last_qty, rep.last_price / PRICE_SCALE)
        for ts, rep in reports
        if rep.exec_type is ExecType.TRADE and rep.last_qty > 0 and rep.last_price is not None
    ]
    final = next((ts for ts, rep in reports if rep.ord_status in _FINAL), None)
    market = SymbolMarket(symbol, 1)
    feed = RegimeFeed(RegimeDetector(), symbol)  # every bar kept: history_limit None
    order: ParentOrder | None = None
    mids: list[tuple[int, float]] = []
    tape: list[tuple[int, int, float]] = []
    last_ts = decision_ns
    for r in read_records(path):
        last_ts = r.ts_ns
        if r.kind is Kind.VENUE:
            # The engine gives the detector its fills on the symbol (any parent's); the feed
            # skips other symbols, non-fills and a report seen before.
            value = r.value()
            if isinstance(value, ExecutionReport):
                feed.on_execution_report(value)
            continue
        if r.kind is Kind.PARENT_COMMAND and order is None:
            value = r.value()
            if isinstance(value, ParentOrder) and value.cl_ord_id == first.cl_ord_id:
                order = value
            continue
        if r.kind is not Kind.MARKET:
            continue
        event = r.value()
        if getattr(event, "symbol", None) != symbol:
            continue
        # As Engine.on_market_event: the book, then the detector (events, then the top of a
        # book built from level changes).
        market.on_event(event, r.ts_ns)  # type: ignore[arg-type]
        feed.on_market_event(event)
        if isinstance(event, BookUpdate):
            feed.on_top_of_book(event.ts_event, market.best(Side.BUY), market.best(Side.SELL))
        mid = market.mid
        if mid is not None and (not mids or mids[-1][1] != mid / PRICE_SCALE):
            mids.append((r.ts_ns, mid / PRICE_SCALE))
        if isinstance(event, Trade):
            tape.append((r.ts_ns, event.size, event.price / PRICE_SCALE))
    end_ns = final if final is not None else last_ts
    default = EngineConfig.model_fields["default_participation"].default
    cap = accepted.get("cap") or (order and order.participation_cap) or default
    return ParentTrace(
        parent_id=parent_id,
        symbol=symbol,
        side=side,
        qty=reports[-1][1].order_qty,
        strategy=str(accepted.get("strategy") or (order.strategy if order else "")),
        cap=float(cap),  # type: ignore[arg-type]
        cap_window_ns=_cap_window_ns(path),
        order_start_ns=(order.start_ns if order and order.start_ns else decision_ns),
        order_end_ns=(order.end_ns if order and order.end_ns else end_ns),
        decision_ns=decision_ns,
        start_ns=first_child if first_child is not None else decision_ns,
        end_ns=end_ns,
        mids=mids,
        tape=tape,
        fills=fills,
        plans=plans,
        regimes=[(s.ts_ns, str(s.regime)) for s in feed.detector.history],
    )
