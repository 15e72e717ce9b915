"""JSON messages of the simulator's WebSocket market-data feed: domain events <-> dicts.

Pure. One JSON object per event, with a ``"type"``; prices both as an exact decimal string in
currency (``"price": "100.25"``) and as integer units of 1/10,000 (``"price_units": 1002500``,
the authority when decoding); sizes in shares; ``"ts"`` in integer nanoseconds since the Unix
epoch (UTC). The server adds ``"seq"``, a per-connection counter from 1, so a client can see a
gap. docs/fixsim.md has the full schema with examples.
"""

from __future__ import annotations

from typing import Any

from adapters.fix.wire import price_to_fix
from engine.events import (
    BookSnapshot,
    BookUpdate,
    MarketEvent,
    Quote,
    Side,
    Trade,
    TradingState,
    TradingStatus,
)

__all__ = ["event_from_json", "event_to_json"]

Json = dict[str, Any]


def _opt_int(value: Any) -> int | None:
    # A price may be absent (an empty side) but never a string or a float on the wire.
    return None if value is None else int(value)


def _px(units: int | None) -> str | None:
    return None if units is None else price_to_fix(units)


def _levels(levels: tuple[tuple[int, int], ...]) -> list[Json]:
    return [{"price": price_to_fix(p), "price_units": p, "size": s} for p, s in levels]


def event_to_json(event: MarketEvent, *, origin_ns: int = 0) -> Json:
    """The feed's JSON object for ``event``; ``origin_ns`` is added to its timestamp."""
    ts = event.ts_event + origin_ns
    if isinstance(event, BookSnapshot):
        return {
            "type": "book_snapshot",
            "symbol": event.symbol,
            "bids": _levels(event.bids),
            "asks": _levels(event.asks),
            "ts": ts,
        }
    if isinstance(event, BookUpdate):
        return {
            "type": "book_update",
            "symbol": event.symbol,
            "side": event.side.value,
            "price": price_to_fix(event.price),
            "price_units": event.price,
            "size": event.size,
            "ts": ts,
        }
    if isinstance(event, Trade):
        return {
            "type": "trade",
            "symbol": event.symbol,
            "price": price_to_fix(event.price),
            "price_units": event.price,
            "size": event.size,
            "aggressor": None if event.aggressor is None else event.aggressor.value,
            "trade_id": event.trade_id,
            "ts": ts,
        }
    if isinstance(event, Quote):
        return {
            "type": "quote",
            "symbol": event.symbol,
            "bid_price": _px(event.bid_price),
            "bid_price_units": event.bid_price,
            "bid_size": event.bid_size,
            "ask_price": _px(event.ask_price),
            "ask_price_units": event.ask_price,
            "ask_size": event.ask_size,
            "ts": ts,
        }
    if isinstance(event, TradingStatus):
        return {
            "type": "trading_status",
            "symbol": event.symbol,
            "state": event.state.value,
            "reason": event.reason,
            "ts": ts,
        }
    raise TypeError(f"not a market event: {event!r}")


def _pairs(levels: list[Json]) -> tuple[tuple[int, int], ...]:
    return tuple((int(lvl["price_units"]), int(lvl["size"])) for lvl in levels)


def event_from_json(obj: Json, ts_init: int) -> MarketEvent:
    """Decode one feed object (not the control messages); raises ``ValueError`` if unknown."""
    kind = obj.get("type")
    ts = int(obj["ts"])
    sym = str(obj["symbol"])
    if kind == "book_snapshot":
        return BookSnapshot(sym, _pairs(obj["bids"]), _pairs(obj["asks"]), ts, ts_init)
    if kind == "book_update":
        side = Side(obj["side"])
        return BookUpdate(sym, side, int(obj["price_units"]), int(obj["size"]), ts, ts_init)
    if kind == "trade":
        aggressor = None if obj["aggressor"] is None else Side(obj["aggressor"])
        return Trade(
            sym,
            int(obj["price_units"]),
            int(obj["size"]),
            aggressor,
            str(obj["trade_id"]),
            ts,
            ts_init,
        )
    if kind == "quote":
        return Quote(
            sym,
            _opt_int(obj["bid_price_units"]),
            int(obj["bid_size"]),
            _opt_int(obj["ask_price_units"]),
            int(obj["ask_size"]),
            ts,
            ts_init,
        )
    if kind == "trading_status":
        return TradingStatus(sym, TradingState(obj["state"]), str(obj["reason"]), ts, ts_init)
    raise ValueError(f"not a market event message: type {kind!r}")
