"""FIX at the edge: pure codecs between domain values and ``quickfix.Message`` (4.2 and 4.4).

* :mod:`adapters.fix.wire`: versions, exact prices, quantities, timestamps, decode errors;
* :mod:`adapters.fix.codec`: order entry (D, F, G, H -> 8, 9, j);
* :mod:`adapters.fix.mdcodec`: market data (V -> W, X, Y) and trading status (f).

No module here opens a socket or starts a QuickFIX engine: sessions belong to the acceptor
(:mod:`adapters.fixsim`) and to the engine's venue adapter, which call these functions.
"""
