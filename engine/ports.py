"""The two ports every market implements: where child orders go, and where market data comes from.

The market simulator, the LOBSTER replay venue and (with the engine issue) the live FIX venue
implement these, so the engine cannot tell them apart.

Venue port
==========

=====================================  =====================================================
method                                 contract
=====================================  =====================================================
``connect(sink)``                      register the callable that receives every
                                       :data:`~engine.events.VenueEvent`, in venue order
``submit(order: NewOrder)``            send a child order; returns at once
``cancel(request: CancelOrder)``       ask to cancel; the answer is an ExecutionReport
                                       (``CANCELED``) or a CancelReject
``replace(request: ReplaceOrder)``     ask to change quantity/price; answered by
                                       ``REPLACED`` or a CancelReject
``request_status(req: StatusRequest)`` ask for an ``ORDER_STATUS`` report (how an
                                       order in unknown state is resolved)
=====================================  =====================================================

Every method is non-blocking and never raises for a business reason: a refusal (unknown order,
bad price, halted symbol) arrives on the sink as a ``REJECTED`` report or a ``CancelReject``
with a reason. Only misuse (calling before ``connect``) raises.

Market-data port
================

=========================================  =================================================
method                                     contract
=========================================  =================================================
``subscribe(symbol, sink)``                start delivering :data:`~engine.events.MarketEvent`
                                           for ``symbol`` to ``sink``; the first event is a
                                           BookSnapshot of the current book
``unsubscribe(symbol, sink)``              stop delivering to ``sink``
=========================================  =================================================

Simulated markets are additionally driven in simulated time by ``advance_to(ts_ns)``, which
processes everything due up to ``ts_ns`` and delivers the resulting events before returning.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

from engine.events import (
    CancelOrder,
    MarketEvent,
    NewOrder,
    ReplaceOrder,
    StatusRequest,
    VenueEvent,
)

__all__ = ["MarketDataPort", "MarketEventSink", "SimulatedMarket", "VenueEventSink", "VenuePort"]

VenueEventSink = Callable[[VenueEvent], None]
MarketEventSink = Callable[[MarketEvent], None]


@runtime_checkable
class VenuePort(Protocol):
    """Where child orders go (see the module docstring for the contract)."""

    def connect(self, sink: VenueEventSink) -> None: ...

    def submit(self, order: NewOrder) -> None: ...

    def cancel(self, request: CancelOrder) -> None: ...

    def replace(self, request: ReplaceOrder) -> None: ...

    def request_status(self, request: StatusRequest) -> None: ...


@runtime_checkable
class MarketDataPort(Protocol):
    """Where market data comes from (see the module docstring)."""

    def subscribe(self, symbol: str, sink: MarketEventSink) -> None: ...

    def unsubscribe(self, symbol: str, sink: MarketEventSink) -> None: ...


@runtime_checkable
class SimulatedMarket(VenuePort, MarketDataPort, Protocol):
    """A venue and feed in simulated time, advanced by its driver."""

    def advance_to(self, ts_ns: int) -> None: ...

    @property
    def now_ns(self) -> int: ...
