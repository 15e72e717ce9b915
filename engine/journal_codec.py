"""The journal's encoding of the engine's values: one JSON object per record body, and back.

Every value the journal stores is an immutable domain value (a frozen dataclass or a
NamedTuple of :mod:`engine.events`, :mod:`engine.parent_events` or :mod:`risk.gate`). Its body
is a JSON object of its fields plus ``"t"``, the type's name; enums are stored by value, tuples
as arrays. Decoding rebuilds the same value (``decode(encode(v)) == v``), which is what replay
compares. A type not in :data:`TYPES` is an error at encoding time, never a silent ``str()``.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import operator
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any

from engine.events import (
    BookSnapshot,
    BookUpdate,
    CancelOrder,
    CancelReject,
    ExecutionReport,
    NewOrder,
    Quote,
    ReplaceOrder,
    StatusRequest,
    Trade,
    TradingStatus,
)
from engine.parent_events import ParentCancel, ParentOrder, ParentReplace, ParentStatusRequest
from risk.gate import Verdict

__all__ = ["TYPES", "JournalCodecError", "decode", "dumps", "encode", "plain_json"]

TYPES: dict[str, type] = {
    t.__name__: t
    for t in (
        Quote,
        Trade,
        BookSnapshot,
        BookUpdate,
        TradingStatus,
        NewOrder,
        CancelOrder,
        ReplaceOrder,
        StatusRequest,
        ExecutionReport,
        CancelReject,
        ParentOrder,
        ParentCancel,
        ParentReplace,
        ParentStatusRequest,
        Verdict,
    )
}


def _check_enums(cls: type) -> None:
    for hint in typing.get_type_hints(cls).values():
        for arg in (hint, *typing.get_args(hint)):
            if isinstance(arg, type) and issubclass(arg, enum.Enum) and not issubclass(arg, str):
                raise TypeError(f"{cls.__name__}: {arg.__name__} must be a StrEnum to be journaled")


for _cls in TYPES.values():
    _check_enums(_cls)


class JournalCodecError(ValueError):
    """A value the journal cannot store, or a body it cannot read back."""


def _fields(cls: type) -> tuple[str, ...]:
    if dataclasses.is_dataclass(cls):
        return tuple(f.name for f in dataclasses.fields(cls))
    return tuple(cls._fields)  # type: ignore[attr-defined]


def _converter(hint: Any) -> Callable[[Any], Any] | None:
    """How to rebuild a field from its JSON form (None: as it is)."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(hint) if a is not type(None)]
        conv = _converter(inner[0]) if len(inner) == 1 else None
        if conv is None:
            return None
        return lambda v: None if v is None else conv(v)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return hint
    if origin is tuple:
        args = typing.get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:
            conv = _converter(args[0])
            if conv is None:
                return tuple
            return lambda v: tuple(conv(x) for x in v)
        convs = [_converter(a) for a in args]
        return lambda v: tuple(c(x) if c else x for c, x in zip(convs, v, strict=True))
    return None


_SCHEMAS: dict[type, tuple[tuple[str, Callable[[Any], Any] | None], ...]] = {}


def _schema(cls: type) -> tuple[tuple[str, Callable[[Any], Any] | None], ...]:
    schema = _SCHEMAS.get(cls)
    if schema is None:
        hints = typing.get_type_hints(cls)
        schema = tuple((name, _converter(hints[name])) for name in _fields(cls))
        _SCHEMAS[cls] = schema
    return schema


_GETTERS: dict[type, tuple[tuple[str, ...], Callable[[Any], tuple[Any, ...]]]] = {
    cls: (_fields(cls), operator.attrgetter(*_fields(cls))) for cls in TYPES.values()
}


def encode(value: object, extra: Mapping[str, object] | None = None) -> str:
    """The JSON body of one journal value; ``extra`` goes beside it under ``"x"`` (the audit
    trail's context: why a child was sent), and :func:`decode` ignores it."""
    cls = type(value)
    spec = _GETTERS.get(cls)
    if spec is None:
        raise JournalCodecError(f"the journal does not store {cls.__name__} values")
    names, get = spec
    # One C-level getter and json's own encoder: every enum here is a StrEnum (stored as its
    # value) and tuples become arrays. This runs in the writer thread, for every record, and
    # holds the GIL the loop needs: a field-by-field encoder cost 5 us, this under 2.
    body: dict[str, Any] = {"t": cls.__name__}
    body.update(zip(names, get(value), strict=True))
    if extra:
        body["x"] = extra
    return dumps(body)


def plain_json(v: object) -> object:
    """``json.dumps``'s fallback for the values notes carry (enums, tuples, sets)."""
    if isinstance(v, enum.Enum):
        return v.value
    if isinstance(v, (tuple, set, frozenset)):
        return list(v)
    return str(v)


# One encoder for every body: json.dumps with options builds a new one per call (2 us).
dumps = json.JSONEncoder(separators=(",", ":"), default=plain_json).encode


def decode(text: str) -> object:
    """The value a body encodes (the inverse of :func:`encode`)."""
    try:
        body = json.loads(text)
        cls = TYPES[body.pop("t")]
        kwargs = {}
        for name, conv in _schema(cls):
            v = body[name]
            kwargs[name] = conv(v) if conv is not None and v is not None else v
    except (ValueError, KeyError, TypeError) as exc:
        raise JournalCodecError(f"unreadable journal body: {exc}") from exc
    return cls(**kwargs)
