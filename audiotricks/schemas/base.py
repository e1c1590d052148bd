"""The project-wide schema base: camelCase on the wire, unknown fields refused."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from marshmallow import RAISE, Schema, fields


def to_camel(name: str) -> str:
    """``last_login_at`` -> ``lastLoginAt``."""
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


class BaseSchema(Schema):
    class Meta:
        # In Meta rather than per call, so nested schemas refuse unknown fields too.
        unknown = RAISE

    def on_bind_field(self, field_name: str, field_obj: fields.Field[Any]) -> None:
        field_obj.data_key = to_camel(field_obj.data_key or field_name)


class Timestamp(fields.AwareDateTime):
    """RFC 3339 in UTC with a ``Z`` suffix, as the contract shows."""

    def _serialize(self, value: datetime | None, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        if value is None:
            return None
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


class ErrorDetailSchema(BaseSchema):
    field = fields.String(required=True, metadata={"description": "Dotted path of the field"})
    message = fields.String(required=True)


class ErrorSchema(BaseSchema):
    """The contract's error body."""

    error = fields.String(required=True)
    errors = fields.List(fields.Nested(ErrorDetailSchema))


class EmptySchema(BaseSchema):
    pass


def envelope_schema(data_schema: type[Schema] | None, name: str) -> type[Schema]:
    """The documented success envelope ``{"message", "data"}`` around ``data_schema``."""
    data = fields.Nested(data_schema or EmptySchema, required=True)
    return BaseSchema.from_dict({"message": fields.String(required=True), "data": data}, name=name)
