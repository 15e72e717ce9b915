"""Feed one symbol's market data and our own fills to its regime detector.

The detector (:mod:`strategies.regime`) is pure and takes plain numbers; this is the thin layer
that reads :data:`~engine.events.MarketEvent` values from any market-data port (simulator,
LOBSTER replay, FIX) and :class:`~engine.events.ExecutionReport` values from any venue port.

* ``Quote`` (and the top of a ``BookSnapshot``) -> ``on_quote`` once both sides are present;
* ``Trade`` -> ``on_trade`` with its aggressor side;
* a fill of ours (``ExecType.TRADE`` with ``last_qty > 0``) -> ``on_execution``. A report seen
  twice (same ``exec_id``, e.g. a FIX resend with PossDupFlag) is counted once;
* the top of a book built from level changes (a FIX or WebSocket feed sends no quotes) ->
  ``on_quote`` whenever it changes (:meth:`RegimeFeed.on_top_of_book`).
"""

from __future__ import annotations

from collections import deque

from engine.events import (
    PRICE_SCALE,
    BookSnapshot,
    ExecType,
    ExecutionReport,
    MarketEvent,
    Quote,
    Trade,
)
from strategies.regime import RegimeDetector

__all__ = ["RegimeFeed"]

# The engine hands over each fill once already (counted from CumQty); this only guards other
# callers, so a short memory will do: a long one is memory a busy symbol fills for an hour.
_REMEMBERED_EXEC_IDS = 256


class RegimeFeed:
    """Adapter from engine events to one symbol's :class:`RegimeDetector`."""

    def __init__(self, detector: RegimeDetector, symbol: str) -> None:
        self.detector = detector
        self.symbol = symbol
        self._seen: set[str] = set()
        self._order: deque[str] = deque()
        self._top: tuple[tuple[int, int] | None, tuple[int, int] | None] | None = None

    def on_market_event(self, event: MarketEvent) -> None:
        if event.symbol != self.symbol:
            return
        if isinstance(event, Quote):
            if event.bid_price is not None and event.ask_price is not None:
                self.detector.on_quote(
                    event.ts_event,
                    event.bid_price / PRICE_SCALE,
                    event.bid_size,
                    event.ask_price / PRICE_SCALE,
                    event.ask_size,
                )
        elif isinstance(event, Trade):
            self.detector.on_trade(event.ts_event, event.aggressor, event.size)
        elif isinstance(event, BookSnapshot) and event.bids and event.asks:
            (bid, bid_size), (ask, ask_size) = event.bids[0], event.asks[0]
            self.detector.on_quote(
                event.ts_event, bid / PRICE_SCALE, bid_size, ask / PRICE_SCALE, ask_size
            )

    def on_top_of_book(
        self, ts_ns: int, bid: tuple[int, int] | None, ask: tuple[int, int] | None
    ) -> None:
        """The book's best ``(price, size)`` each side after a level change: a quote for the
        detector when both sides are there and either differs from the last one given."""
        top = (bid, ask)
        if bid is None or ask is None or top == self._top:
            return
        self._top = top
        self.detector.on_quote(
            ts_ns, bid[0] / PRICE_SCALE, bid[1], ask[0] / PRICE_SCALE, ask[1]
        )

    def on_execution_report(self, report: ExecutionReport) -> None:
        if (
            report.symbol != self.symbol
            or report.exec_type is not ExecType.TRADE
            or report.last_qty <= 0
            or report.exec_id in self._seen
        ):
            return
        self._seen.add(report.exec_id)
        self._order.append(report.exec_id)
        if len(self._order) > _REMEMBERED_EXEC_IDS:
            self._seen.discard(self._order.popleft())
        self.detector.on_execution(report.ts_event, report.side, report.last_qty)
