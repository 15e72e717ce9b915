"""The byte-level CSV kernel behind :mod:`adapters.lobster.loader` (private).

LOBSTER files are headerless CSV of integers, except the message file's first column, seconds
after midnight with up to nine decimals. One pass over the bytes turns a block of whole lines
into an ``int64`` table; the decimal column is scaled to an integer count of ``10**-scale``
units while reading (digits are accumulated as an integer and padded with zeros), so no float
ever holds a timestamp and nanoseconds are exact.

The kernel is a numba function over ``bytes`` (indexing a ``bytes`` object gives an integer both
compiled and in plain Python, so the ``NUMBA_DISABLE_JIT=1`` reading computes the same thing).
It releases the GIL, so the loader runs one call per block of lines on a thread pool.

Output layout: field ``c`` of row ``r`` goes to ``out[c % groups, row0 + r, c // groups]``. A
message file uses ``groups = 6, per = 1`` (one contiguous array per column); an order-book file
uses ``groups = 4, per = levels`` (ask prices, ask sizes, bid prices, bid sizes, each a
contiguous ``(rows, levels)`` array), so no strided copy is needed afterwards.
"""

from __future__ import annotations

import numba
import numpy as np
from numpy.typing import NDArray

__all__ = ["ERROR_TEXT", "P10", "parse_block"]

P10 = np.array([10**k for k in range(19)], dtype=np.int64)

# Error codes returned by the kernel, and what the loader says about them.
ERROR_TEXT = {
    1: "unexpected character",
    2: "too few fields",
    3: "too many fields",
    4: "empty field",
    5: "more than 9 decimals (finer than a nanosecond)",
    6: "number too large",
    7: "decimal point in an integer column",
}

# 18 digits always fit in int64 (max 9.2e18), whatever they are.
_MAX_DIGITS = 18


@numba.njit(cache=True, nogil=True, boundscheck=False)
def parse_block(
    data: bytes,
    start: int,
    end: int,
    out: NDArray[np.int64],
    row0: int,
    decimal_col: int,
    scale: int,
    p10: NDArray[np.int64],
) -> tuple[int, int, int]:
    """Parse the whole lines in ``data[start:end]`` into ``out`` from row ``row0``.

    ``data[end - 1]`` must be a newline and ``out`` must have room for every line of the block
    (the caller counts them). Returns ``(code, row, col)``: ``code`` 0 on success (``row`` is
    then the number of rows parsed), else an :data:`ERROR_TEXT` key with the row (relative to
    the block) and the zero-based column where parsing stopped.
    """
    groups = out.shape[0]
    ncols = groups * out.shape[2]
    row = 0
    col = 0
    g = 0  # col % groups and col // groups, kept incrementally: a division per field is slow
    k = 0
    i = start
    # Every read of data[i] below is in bounds: the scan only moves past digits, a sign or a
    # decimal point, and the block's last byte is a newline.
    while i < end:
        c = data[i]
        neg = c == 45
        if neg:
            i += 1
            c = data[i]
        val = 0
        nd = 0
        while c >= 48 and c <= 57:
            val = val * 10 + (c - 48)
            nd += 1
            i += 1
            c = data[i]
        if nd == 0:
            empty = not neg and (c == 44 or c == 10 or c == 13)
            return (4, row, col) if empty else (1, row, col)
        if col == decimal_col:
            fd = 0
            if c == 46:
                i += 1
                c = data[i]
                while c >= 48 and c <= 57:
                    val = val * 10 + (c - 48)
                    fd += 1
                    i += 1
                    c = data[i]
            if fd > scale:
                return 5, row, col
            if nd > _MAX_DIGITS - scale:
                return 6, row, col
            val *= p10[scale - fd]
        elif c == 46:
            return 7, row, col
        elif nd > _MAX_DIGITS:
            return 6, row, col
        out[g, row0 + row, k] = -val if neg else val
        if c == 44:
            i += 1
            col += 1
            if col >= ncols:
                return 3, row, col
            g += 1
            if g == groups:
                g = 0
                k += 1
        elif c == 10 or (c == 13 and data[i + 1] == 10):
            i += 1 if c == 10 else 2
            if col != ncols - 1:
                return 2, row, col
            row += 1
            col = 0
            g = 0
            k = 0
        else:
            return 1, row, col
    return 0, row, 0
