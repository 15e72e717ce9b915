"""The post-trade analysis of one parent (:mod:`engine.tca`) from the engine's journal.

Everything comes from what the engine recorded as it worked:

- the parent's own reports to the OMS: the first (its acceptance) is the decision time, its
  fills are its Trade reports (the engine's count, duplicates and status-learned fills settled),
  the quantity is the last report's (a replace changes it), and the end is its final report
  (or the journal's last record if it is still working);
- its first child record: when trading began;
- the market records of its symbol, replayed into a book (:class:`SymbolMarket`, as the engine
  built it): the mid after every event and the prints on the tape.

Times are the engine's clock when it handled each record, so fills, mids and prints are on one
clock.
"""

from __future__ import annotations

from pathlib import Path

from engine.events import PRICE_SCALE, ExecType, ExecutionReport, OrdStatus, Trade
from engine.journal import Kind, read_records
from engine.market_state import SymbolMarket
from engine.tca import ParentTca, analyse

__all__ = ["ParentNotFound", "parent_tca"]

_FINAL = {OrdStatus.FILLED, OrdStatus.CANCELED, OrdStatus.DONE_FOR_DAY, OrdStatus.EXPIRED}


class ParentNotFound(ValueError):
    """The journal has no reports of such a parent."""


def parent_tca(path: Path, parent_id: str, *, fee_bps: float = 0.0) -> ParentTca:
    """The analysis of parent ``parent_id`` (the engine's id) from the journal at ``path``."""
    reports: list[tuple[int, ExecutionReport]] = []
    first_child: int | None = None
    for r in read_records(path, parent=parent_id):
        if r.kind is Kind.REPORT:
            value = r.value()
            if isinstance(value, ExecutionReport):
                reports.append((r.ts_ns, value))
        elif r.kind is Kind.CHILD and first_child is None:
            first_child = r.ts_ns
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
    mids: list[tuple[int, float]] = []
    tape: list[tuple[int, int, float]] = []
    last_ts = decision_ns
    for r in read_records(path):
        last_ts = r.ts_ns
        if r.kind is not Kind.MARKET:
            continue
        event = r.value()
        if getattr(event, "symbol", None) != symbol:
            continue
        market.on_event(event, r.ts_ns)  # type: ignore[arg-type]
        mid = market.mid
        if mid is not None and (not mids or mids[-1][1] != mid / PRICE_SCALE):
            mids.append((r.ts_ns, mid / PRICE_SCALE))
        if isinstance(event, Trade):
            tape.append((r.ts_ns, event.size, event.price / PRICE_SCALE))
    end_ns = final if final is not None else last_ts
    return analyse(
        side=side,
        qty=reports[-1][1].order_qty,
        fills=fills,
        mids=mids,
        tape=tape,
        decision_ns=decision_ns,
        start_ns=first_child if first_child is not None else decision_ns,
        end_ns=end_ns,
        fee_bps=fee_bps,
    )
