"""The journal's encoding of the engine's values (JSON, written with orjson), and back.

Every value the journal stores is an immutable domain value (a frozen dataclass or a
NamedTuple of :mod:`engine.events`, :mod:`engine.parent_events` or :mod:`risk.gate`). Its body
is a JSON array: the type's name, then its fields in order (:func:`field_lists`, kept in the
journal's meta), then optionally an object of context; enums are stored by value, tuples as
arrays. Decoding rebuilds the same value (``decode(encode(v)) == v``), which is what replay
compares. A type not in :data:`TYPES` is refused where it is recorded (:func:`check_value`),
never stored as its ``str()``. Other records' bodies are JSON objects. The writer encodes a
whole block of records in one orjson call (:func:`dumps_bytes`), values turned positional in
the encoder's hook; :func:`record_body` gives a record's body the text :func:`encode` would.
"""

from __future__ import annotations

import dataclasses
import enum
import operator
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any

import orjson

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

__all__ = [
    "TYPES",
    "JournalCodecError",
    "body",
    "check_value",
    "decode",
    "dumps",
    "dumps_bytes",
    "encode",
    "extra",
    "field_lists",
    "named",
    "plain_json",
    "record_body",
]

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


def body(value: object, extra: Mapping[str, object] | None = None) -> list[Any]:
    """The JSON-ready body of one journal value: ``[type, field, field, ...]`` in the order of
    :func:`field_lists`, then ``extra`` (the audit trail's context: why a child was sent) as a
    last object if given. The journal's writer encodes a whole batch of these in one call."""
    cls = type(value)
    spec = _GETTERS.get(cls)
    if spec is None:
        raise JournalCodecError(f"the journal does not store {cls.__name__} values")
    # One C-level getter; json's own encoder does the rest (every enum here is a StrEnum,
    # stored as its value, and tuples become arrays).
    out = [cls.__name__, *spec[1](value)]
    if extra:
        out.append(extra)
    return out


def encode(value: object, extra: Mapping[str, object] | None = None) -> str:
    """:func:`body` as JSON text; :func:`decode` gives the value back and :func:`extra` the
    context."""
    return dumps(body(value, extra))


def field_lists() -> dict[str, list[str]]:
    """Each journaled type's fields in body order; a journal keeps the lists it was written
    with (``meta.types``), so a body is read by its own journal's names."""
    return {name: list(_fields(cls)) for name, cls in TYPES.items()}


def plain_json(v: object) -> object:
    """The encoder's fallback for the values notes carry (sets, and anything else as text)."""
    if isinstance(v, enum.Enum):
        return v.value
    if isinstance(v, (tuple, set, frozenset)):
        return list(v)
    return str(v)


def _positional(v: object) -> object:
    # orjson's hook for what it does not encode itself: a journaled value (every dataclass
    # comes here, OPT_PASSTHROUGH_DATACLASS) becomes its positional body, anything else as
    # plain_json says. The writer passes whole records through orjson in one call, so this is
    # the only Python that runs per value.
    spec = _POSITIONAL.get(type(v))
    if spec is None:
        return plain_json(v)
    return [spec[0], *spec[1](v)]


_POSITIONAL = {cls: (cls.__name__, spec[1]) for cls, spec in _GETTERS.items()}
# orjson, not json: the writer encodes every record while holding the GIL the loop needs, and
# orjson does it in a sixth of the time. Its text is compact JSON; non-string keys become
# strings and NaN becomes null, as every reader and the replay's own encoding see alike.
_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATACLASS


def dumps_bytes(value: object) -> bytes:
    """``value`` as compact UTF-8 JSON (the journal's one encoding; a journaled value inside
    becomes its positional body)."""
    return orjson.dumps(value, default=_positional, option=_OPTIONS)


def dumps(value: object) -> str:
    """``value`` as compact JSON text: what the journal stores and what its readers and the
    replay compare."""
    return orjson.dumps(value, default=_positional, option=_OPTIONS).decode()


def check_value(value: object) -> None:
    """Raise :class:`JournalCodecError` unless the journal stores values of this type."""
    if type(value) not in _POSITIONAL:
        raise JournalCodecError(f"the journal does not store {type(value).__name__} values")


def record_body(value: list[Any] | None, data: Any) -> str:
    """The body text of a record as a block holds it (a value's positional list or null, and
    its data): the same text :func:`encode` gives for the value and data."""
    if value is None:
        return dumps(data)
    return dumps([*value, data] if data else value)


def decode(text: str, fields: Mapping[str, list[str]] | None = None) -> object:
    """The value a body encodes (the inverse of :func:`encode`). ``fields``: the journal's own
    field lists (``meta.types``), when it was written by an engine whose types differ."""
    try:
        body = orjson.loads(text)
        cls = TYPES[body[0]]
        schema = _schema(cls)
        names = [n for n, _ in schema] if fields is None else fields[body[0]]
        values = dict(zip(names, body[1 : 1 + len(names)], strict=True))
        kwargs = {}
        for name, conv in schema:
            v = values[name]
            kwargs[name] = conv(v) if conv is not None and v is not None else v
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        raise JournalCodecError(f"unreadable journal body: {exc!r}") from exc
    return cls(**kwargs)


def extra(text: str) -> dict[str, Any]:
    """The context a value's body carries beside it (empty if none)."""
    body = orjson.loads(text)
    last = body[-1] if isinstance(body, list) and len(body) > 1 else None
    return last if isinstance(last, dict) else {}


def named(text: str) -> str:
    """A body for people: a value's fields by name (``{"t": type, field: value, ..., "x":
    context}``), a JSON object as it is."""
    if not text.startswith("["):
        return text
    body = orjson.loads(text)
    names = _fields(TYPES[body[0]])
    out: dict[str, Any] = {"t": body[0], **dict(zip(names, body[1:], strict=False))}
    if len(body) > len(names) + 1:
        out["x"] = body[-1]
    return dumps(out)
