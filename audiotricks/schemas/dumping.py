"""A cheaper ``dump`` for output-only schemas: the same fields and keys, built once per schema.

The history routes answer pages of up to 100 entries and items with thousands of transcript
segments; marshmallow's ``dump`` walks every value through several calls (value lookup, defaults,
``_serialize``), the largest Python cost of those routes. :func:`compile_dumper` reads a schema's
declared fields once (attribute, data key, type) and returns a function that converts a mapping
(or an object's attributes, as marshmallow reads them) with one small function per field. The
schema stays the one description of the answer: the OpenAPI document is generated from it, and the
answer's keys come from it (a test compares both dumps). A field type not known here is dumped by
the field itself.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from marshmallow import Schema, fields

from audiotricks.schemas.base import Timestamp

Dumper = Callable[[Any], dict[str, Any]]
_Convert = Callable[[Any], Any]
_MISSING = object()


def _optional(convert: _Convert) -> _Convert:
    def converted(value: Any) -> Any:
        return None if value is None else convert(value)

    return converted


def _timestamp(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _identity(value: Any) -> Any:
    return value


# Exact types only: a subclass may serialize differently.
_SCALARS: dict[type[fields.Field[Any]], _Convert] = {
    fields.UUID: str,
    fields.String: str,
    fields.Integer: int,
    fields.Float: float,
    fields.Boolean: bool,
    Timestamp: _timestamp,
}


def _converter(field: fields.Field[Any], attr: str) -> tuple[_Convert, bool]:
    """How to convert a value of ``field``, and whether None stays None without converting (as
    with every field type known here; a field of another type is given None itself)."""
    kind = type(field)
    if kind in _SCALARS and not getattr(field, "as_string", False):
        return _SCALARS[kind], True
    if (isinstance(field, fields.Dict) and kind is fields.Dict
            and field.key_field is None and field.value_field is None):
        return _identity, True  # marshmallow returns a copy; the JSON is the same
    if isinstance(field, fields.Nested) and kind is fields.Nested:
        inner = compile_dumper(field.schema)
        if field.many:
            return (lambda values: [inner(value) for value in values]), True
        return inner, True
    if isinstance(field, fields.List) and kind is fields.List:
        each, plain = _converter(field.inner, attr)
        item = _optional(each) if plain else each
        return (lambda values: [item(value) for value in values]), True
    return (lambda value: field._serialize(value, attr, None)), False


def compile_dumper(schema: Schema | type[Schema]) -> Dumper:
    """``schema.dump`` for mappings and objects, as a plain function (schemas without dump hooks
    only)."""
    instance = schema() if isinstance(schema, type) else schema
    if instance._hooks.get("pre_dump") or instance._hooks.get("post_dump"):
        raise TypeError(f"{type(instance).__name__} has dump hooks: dump it with marshmallow")
    plan = [
        (field.data_key or name, field.attribute or name,
         *_converter(field, field.attribute or name))
        for name, field in instance.dump_fields.items()
    ]

    def dump(obj: Any) -> dict[str, Any]:
        get = obj.get if isinstance(obj, Mapping) else functools.partial(getattr, obj)
        out = {}
        for key, attr, convert, plain in plan:
            value = get(attr, _MISSING)
            if value is _MISSING:  # marshmallow leaves a missing value out too
                continue
            out[key] = None if value is None and plain else convert(value)
        return out

    return dump
