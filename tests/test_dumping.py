"""``compile_dumper``: the same answer as the schema's own ``dump``, from the same fields."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from marshmallow import Schema, fields, post_dump

from audiotricks.schemas.base import BaseSchema
from audiotricks.schemas.dumping import compile_dumper
from audiotricks.schemas.history import HistoryItemDataSchema, HistoryListDataSchema

MOMENT = datetime(2026, 11, 25, 10, 30, 0, 123456, tzinfo=timezone(timedelta(hours=2)))


def _item(**changes: Any) -> dict[str, Any]:
    item = {
        "id": uuid.uuid4(),
        "client_id": "1732530000000",
        "title": "Weekly sync",
        "language": "en",
        "duration_seconds": 1834,  # an int where the schema says float
        "word_count": 4120,
        "source": {"file_name": "sync.m4a", "file_size_bytes": 18234112},
        "transcript": {
            "text": "Welcome.",
            "segments": [{"start": 0, "end": 4.2, "text": "Welcome."}],
        },
        "summary": {
            "text": "A sync.",
            "takeaways": ["Budget approved"],
            "key_moments": [{"timestamp": 65.0, "title": "Budget", "description": "",
                             "importance": "high"}],
        },
        "processing_options": {"model": "whisper-1", "nested": {"a": [1, 2]}},
        "has_audio": False,
        "created_at": MOMENT,
        "updated_at": MOMENT.astimezone(UTC),
    }
    item.update(changes)
    return item


@pytest.mark.parametrize(
    "item",
    [
        _item(),
        _item(summary=None, source=None, language=None, duration_seconds=None, client_id=None),
        _item(transcript={"text": "No segments.", "segments": []}),
    ],
)
def test_an_item_dumps_as_marshmallow_dumps_it(item: dict[str, Any]) -> None:
    data = {"item": item}
    assert compile_dumper(HistoryItemDataSchema)(data) == HistoryItemDataSchema().dump(data)


def test_a_list_page_dumps_as_marshmallow_dumps_it() -> None:
    entry = {
        "id": uuid.uuid4(), "title": "t", "language": None, "duration_seconds": 2.5,
        "word_count": 3, "has_summary": 1, "has_audio": 0, "snippet": None,
        "created_at": MOMENT, "updated_at": MOMENT,
    }
    for data in ({"items": [entry, {**entry, "snippet": "…"}], "next_cursor": "abc.def"},
                 {"items": [], "next_cursor": None}):
        assert compile_dumper(HistoryListDataSchema)(data) == HistoryListDataSchema().dump(data)


def test_missing_values_are_left_out_as_marshmallow_does() -> None:
    data = {"items": []}
    assert compile_dumper(HistoryListDataSchema)(data) == HistoryListDataSchema().dump(data)
    assert compile_dumper(HistoryListDataSchema)(data) == {"items": []}


class _Shouting(fields.String):
    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        return None if value is None else str(value).upper()


class _Custom(BaseSchema):
    loud_name = _Shouting()
    email = fields.Email()
    when = fields.DateTime(format="%Y")
    tags = fields.List(_Shouting())


def test_other_field_types_are_dumped_by_the_field_itself() -> None:
    data = {"loud_name": "abc", "email": "a@example.com", "when": MOMENT, "tags": ["x", None]}
    dumped = compile_dumper(_Custom)(data)
    assert dumped == _Custom().dump(data)
    assert dumped == {"loudName": "ABC", "email": "a@example.com", "when": "2026",
                      "tags": ["X", None]}


def test_a_schema_with_dump_hooks_is_refused() -> None:
    class Hooked(Schema):
        name = fields.String()

        @post_dump
        def _shout(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
            return data

    with pytest.raises(TypeError):
        compile_dumper(Hooked)


def test_objects_dump_as_marshmallow_dumps_them() -> None:
    """Attributes of plain objects and ORM rows, nested too, as ``/me`` dumps its user."""
    from types import SimpleNamespace

    from audiotricks.models import User, UserSettings
    from audiotricks.schemas.auth import CurrentUserDataSchema

    settings = {"preferred_language": "fr", "summary_quality": "high", "settings_json": {"a": 1}}
    values = {"id": uuid.uuid4(), "email": "a@example.com", "username": "A", "is_active": True,
              "email_verified": False, "created_at": MOMENT, "updated_at": MOMENT,
              "last_login_at": None}
    orm_user = User(**values, settings=UserSettings(**settings))
    for user in (SimpleNamespace(**values, settings=SimpleNamespace(**settings)),
                 SimpleNamespace(**values, settings=None), orm_user):
        data = {"user": user}
        dumped = compile_dumper(CurrentUserDataSchema)(data)
        assert dumped == CurrentUserDataSchema().dump(data)
        assert dumped["user"]["lastLoginAt"] is None
