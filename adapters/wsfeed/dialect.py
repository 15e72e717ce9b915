"""How one provider's WebSocket feed maps onto domain events: the :class:`FeedDialect` port.

A dialect is pure: it builds the text frames the client sends and turns each received text
frame into a :class:`Frame` (the provider's message type, its sequence number, domain
:data:`~engine.events.MarketEvent` values, or a refusal from the server). It raises
:class:`FrameError` for a frame it cannot read; the client counts and logs that and keeps the
connection. Adding a provider means writing one class like :class:`SimulatorDialect`
(docs/wsfeed.md has the checklist and a field mapping table).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Protocol

from adapters.fixsim.wsjson import event_from_json
from engine.events import MarketEvent

__all__ = ["FeedDialect", "Frame", "FrameError", "SimulatorDialect"]


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded text frame.

    ``kind`` is the provider's own message type (the counters are keyed by it); ``seq`` the
    provider's per-connection sequence number, or ``None`` if it has none; ``error`` the
    server's reason when it refused a request (the connection stays open).
    """

    kind: str
    seq: int | None = None
    events: tuple[MarketEvent, ...] = ()
    error: str | None = None


class FrameError(ValueError):
    """A frame that could not be decoded.

    ``kind`` and ``seq`` are set when they could still be read, so a malformed message still
    advances the sequence and is not mistaken for a gap.
    """

    def __init__(self, reason: str, *, kind: str | None = None, seq: int | None = None) -> None:
        super().__init__(reason)
        self.kind = kind
        self.seq = seq


class FeedDialect(Protocol):
    """One provider's feed protocol (see the module docstring).

    ``snapshot_on_subscribe``: the server answers each subscribe with a full book snapshot, so
    the client may hold back a sink's other events until that snapshot. ``first_seq``: the
    first sequence number on a new connection, or ``None`` to take the first one seen.
    Credentials, if the provider wants them, are given to the dialect's constructor.
    """

    @property
    def snapshot_on_subscribe(self) -> bool: ...

    @property
    def first_seq(self) -> int | None: ...

    def connect_messages(self) -> list[str]:
        """Frames to send first on every new connection (authentication, say), or none."""
        ...

    def subscribe_message(self, symbol: str) -> str: ...

    def unsubscribe_message(self, symbol: str) -> str: ...

    def decode(self, text: str, ts_init: int) -> Frame: ...


_CONTROL = frozenset({"subscribed", "unsubscribed"})


class SimulatorDialect:
    """The FIX simulator's JSON feed (``adapters.fixsim.ws``; schema in docs/fixsim.md)."""

    snapshot_on_subscribe = True
    first_seq = 1

    def connect_messages(self) -> list[str]:
        return []  # the simulator needs no login

    def subscribe_message(self, symbol: str) -> str:
        return json.dumps({"op": "subscribe", "symbol": symbol})

    def unsubscribe_message(self, symbol: str) -> str:
        return json.dumps({"op": "unsubscribe", "symbol": symbol})

    def decode(self, text: str, ts_init: int) -> Frame:
        """Decode one frame; ``ts_init`` (receipt time) goes into each event.

        Raises
        ------
        FrameError
            Not a JSON object, no integer ``seq``, no string ``type``, an unknown type, or a
            market event with a missing or ill-typed field.
        """
        try:
            obj: Any = json.loads(text)
        except ValueError as e:
            raise FrameError(f"not JSON: {e}") from None
        if not isinstance(obj, dict):
            raise FrameError(f"not a JSON object: {type(obj).__name__}")
        kind, seq = obj.get("type"), obj.get("seq")
        kind = kind if isinstance(kind, str) else None
        # bool is an int subclass; true is not a sequence number.
        seq = seq if isinstance(seq, int) and not isinstance(seq, bool) else None
        if kind is None or seq is None:
            raise FrameError("a message needs a string 'type' and an integer 'seq'", kind=kind)
        if kind in _CONTROL:
            return Frame(kind, seq)
        if kind == "error":
            return Frame(kind, seq, error=str(obj.get("reason", "")))
        try:
            event = event_from_json(obj, ts_init)
        except (KeyError, ValueError, TypeError) as e:
            raise FrameError(f"bad {kind!r} message: {e!r}", kind=kind, seq=seq) from None
        return Frame(kind, seq, (event,))
