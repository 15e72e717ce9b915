"""FIX wire values: versions, prices, quantities, timestamps, field access, decode errors.

Pure functions over strings and ``quickfix.Message`` objects; no sessions, no sockets, no clock.

Exactness
=========

Domain prices are integers in 1/10,000 of the currency (:data:`engine.events.PRICE_SCALE`). On
the wire they are decimal strings. :func:`price_to_fix` and :func:`price_from_fix` convert with
integer arithmetic only, so ``price_from_fix(price_to_fix(p)) == p`` for every integer ``p``;
a wire price finer than 1/10,000 is refused rather than rounded. Average prices (a float of
price units) go through :class:`decimal.Decimal` of the float's shortest repr, which also round
trips exactly.

Timestamps
==========

Domain timestamps are integer nanoseconds since the Unix epoch (UTC). FIX UTCTimestamp is
``YYYYMMDD-HH:MM:SS.fff...``. FIX 4.2 gets milliseconds, as its specification says; FIX 4.4
gets nanoseconds (nine fractional digits), which QuickFIX 1.15+ reads and validates and which
keeps accelerated simulated time exact. Parsing accepts 0 to 9 fractional digits.

Errors
======

``FixDecodeError(ValueError)`` is the one exception: a message that cannot become a domain
value. Its ``reason`` is written for the sender ("OrderQty (38) must be > 0, got -100") and is
what a venue puts in Text (58) of its reject.
"""

from __future__ import annotations

import calendar
import datetime
import enum
import re
import time
from decimal import Decimal, InvalidOperation

import quickfix as fix

from engine.events import PRICE_SCALE

__all__ = [
    "FixDecodeError",
    "FixVersion",
    "avg_price_from_fix",
    "avg_price_to_fix",
    "date_time_from_fix",
    "date_time_to_fix",
    "get_field",
    "header_field",
    "msg_type",
    "new_message",
    "price_from_fix",
    "price_to_fix",
    "qty_from_fix",
    "require_field",
    "set_field",
    "ts_from_fix",
    "ts_to_fix",
    "version_of",
]

_SCALE_DIGITS = 4  # PRICE_SCALE = 10**4
assert 10**_SCALE_DIGITS == PRICE_SCALE
_NS = 1_000_000_000
_DECIMAL = re.compile(r"^([+-]?)(\d*)(?:\.(\d*))?$")


class FixVersion(enum.StrEnum):
    """The FIX versions this codec speaks (the BeginString, tag 8)."""

    FIX42 = "FIX.4.2"
    FIX44 = "FIX.4.4"


class FixDecodeError(ValueError):
    """A FIX message that cannot become a domain value.

    ``reason`` tells the sender what to change; ``tag`` is the offending field when there is
    one; ``code`` is a reason code for the reject message the receiver sends back (its meaning
    depends on the message: OrdRejReason, CxlRejReason or BusinessRejectReason).
    """

    def __init__(self, reason: str, *, tag: int | None = None, code: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.tag = tag
        self.code = code


# --- messages and fields ---------------------------------------------------------------------


def new_message(version: FixVersion, msg_type: str) -> fix.Message:
    """Return an empty message with BeginString and MsgType set."""
    m = fix.Message()
    header = m.getHeader()
    header.setField(fix.BeginString(version.value))
    header.setField(fix.MsgType(msg_type))
    return m


def header_field(msg: fix.Message, tag: int) -> str | None:
    header = msg.getHeader()
    return header.getField(tag) if header.isSetField(tag) else None


def msg_type(msg: fix.Message) -> str:
    return msg.getHeader().getField(35)


def version_of(msg: fix.Message) -> FixVersion:
    """The message's FIX version; raises :class:`FixDecodeError` for any other BeginString."""
    begin = msg.getHeader().getField(8)
    try:
        return FixVersion(begin)
    except ValueError:
        raise FixDecodeError(f"unsupported BeginString {begin!r}", tag=8) from None


def get_field(fm: fix.FieldMap, tag: int) -> str | None:
    """The field's value, or ``None`` if it is absent (empty strings count as absent)."""
    if not fm.isSetField(tag):
        return None
    value = fm.getField(tag)
    return value if value != "" else None


def require_field(fm: fix.FieldMap, tag: int, name: str) -> str:
    value = get_field(fm, tag)
    if value is None:
        raise FixDecodeError(f"{name} ({tag}) is required", tag=tag)
    return value


def set_field(fm: fix.FieldMap, tag: int, value: str | int | None) -> None:
    """Set ``tag`` unless ``value`` is ``None``."""
    if value is not None:
        fm.setField(tag, str(value))


# --- prices and quantities -------------------------------------------------------------------


def price_to_fix(units: int) -> str:
    """Integer price units -> shortest exact decimal string (``1002500`` -> ``"100.25"``)."""
    sign = "-" if units < 0 else ""
    whole, frac = divmod(abs(units), PRICE_SCALE)
    text = f"{frac:0{_SCALE_DIGITS}d}".rstrip("0")
    return f"{sign}{whole}.{text}" if text else f"{sign}{whole}"


def price_from_fix(text: str, *, tag: int = 44, name: str = "Price") -> int:
    """Decimal string -> integer price units, exactly; finer than 1/10,000 is an error."""
    m = _DECIMAL.match(text.strip())
    if m is None or not (m.group(2) or m.group(3)):
        raise FixDecodeError(f"{name} ({tag}) is not a decimal number: {text!r}", tag=tag)
    sign, whole, frac = m.group(1), m.group(2) or "0", m.group(3) or ""
    if len(frac) > _SCALE_DIGITS:
        if frac[_SCALE_DIGITS:].strip("0"):
            raise FixDecodeError(
                f"{name} ({tag}) {text} is finer than the 1/{PRICE_SCALE} price unit", tag=tag
            )
        frac = frac[:_SCALE_DIGITS]
    units = int(whole) * PRICE_SCALE + int(frac.ljust(_SCALE_DIGITS, "0"))
    return -units if sign == "-" else units


def qty_from_fix(text: str, *, tag: int, name: str) -> int:
    """FIX Qty -> whole shares; ``"100"`` and ``"100.0"`` are 100, ``"100.5"`` is an error."""
    try:
        d = Decimal(text)
    except InvalidOperation:
        raise FixDecodeError(f"{name} ({tag}) is not a number: {text!r}", tag=tag) from None
    if not d.is_finite() or d != d.to_integral_value():
        raise FixDecodeError(f"{name} ({tag}) must be whole shares, got {text}", tag=tag)
    return int(d)


def avg_price_to_fix(avg_units: float) -> str:
    """Average price in (float) price units -> decimal string that round trips the float."""
    d = Decimal(repr(float(avg_units))) / PRICE_SCALE
    text = format(d.normalize(), "f")
    return "0" if text in ("-0", "0") else text


def avg_price_from_fix(text: str) -> float:
    try:
        return float(Decimal(text) * PRICE_SCALE)
    except InvalidOperation:
        raise FixDecodeError(f"AvgPx (6) is not a decimal number: {text!r}", tag=6) from None


# --- timestamps ------------------------------------------------------------------------------


def _digits(version: FixVersion) -> int:
    return 3 if version is FixVersion.FIX42 else 9


def _frac(ns: int, digits: int) -> str:
    return f"{ns:09d}"[:digits]


def ts_to_fix(ts_ns: int, version: FixVersion) -> str:
    """Epoch nanoseconds -> UTCTimestamp (ms for FIX 4.2, ns for FIX 4.4; truncated)."""
    secs, ns = divmod(ts_ns, _NS)
    return time.strftime("%Y%m%d-%H:%M:%S", time.gmtime(secs)) + "." + _frac(ns, _digits(version))


def date_time_to_fix(ts_ns: int, version: FixVersion) -> tuple[str, str]:
    """Epoch nanoseconds -> (UTCDate ``YYYYMMDD``, UTCTimeOnly ``HH:MM:SS.fff``)."""
    stamp = ts_to_fix(ts_ns, version)
    return stamp[:8], stamp[9:]


def _parse_time(hms: str, tag: int) -> tuple[int, int, int, int]:
    main, _, frac = hms.partition(".")
    parts = main.split(":")
    if len(parts) != 3 or not all(p.isdigit() and len(p) == 2 for p in parts):
        raise FixDecodeError(f"tag {tag}: bad time {hms!r}", tag=tag)
    if len(frac) > 9 or (frac and not frac.isdigit()):
        raise FixDecodeError(f"tag {tag}: bad fraction of a second in {hms!r}", tag=tag)
    h, mi, s = (int(p) for p in parts)
    if h > 23 or mi > 59 or s > 60:  # FIX allows a leap second (60)
        raise FixDecodeError(f"tag {tag}: time {hms!r} out of range", tag=tag)
    return h, mi, s, int(frac.ljust(9, "0")) if frac else 0


def ts_from_fix(text: str, *, tag: int = 60) -> int:
    """UTCTimestamp (0 to 9 fractional digits) -> epoch nanoseconds."""
    date, sep, hms = text.partition("-")
    if not sep:
        raise FixDecodeError(f"tag {tag}: expected YYYYMMDD-HH:MM:SS[.f], got {text!r}", tag=tag)
    return date_time_from_fix(date, hms, tag=tag)


def date_time_from_fix(date: str, hms: str, *, tag: int = 273) -> int:
    """(``YYYYMMDD``, ``HH:MM:SS[.f]``) -> epoch nanoseconds."""
    if len(date) != 8 or not date.isdigit():
        raise FixDecodeError(f"tag {tag}: bad date {date!r}", tag=tag)
    h, mi, s, ns = _parse_time(hms, tag)
    try:
        datetime.date(int(date[:4]), int(date[4:6]), int(date[6:]))
    except ValueError:
        raise FixDecodeError(f"tag {tag}: no such date {date!r}", tag=tag) from None
    secs = calendar.timegm((int(date[:4]), int(date[4:6]), int(date[6:]), h, mi, s, 0, 0, 0))
    return secs * _NS + ns
