"""LOBSTER: real NASDAQ order-book data (lobsterdata.com) as arrays, events and a replay venue.

:mod:`adapters.lobster.loader` reads message and order-book files into a columnar
:class:`~adapters.lobster.loader.LobsterDay` and normalises them into domain market events;
:mod:`adapters.lobster.replay` is a venue where our child orders meet the historical book.
docs/replay.md writes down the replay's assumptions.
"""
