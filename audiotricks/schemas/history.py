"""History schemas: what the history routes accept (bodies and query strings) and how items look.

Loaded data is snake_case and is stored as loaded (segments, summary), so the output schemas dump
the stored JSON as it is.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

from marshmallow import ValidationError, fields, validate, validates_schema

from audiotricks.schemas.base import BaseSchema, Timestamp, envelope_schema
from audiotricks.schemas.languages import ISO_639_1_CODES
from audiotricks.schemas.settings import (
    SETTINGS_JSON_MAX_BYTES,
    SETTINGS_JSON_MAX_DEPTH,
    check_settings_json,
)

TITLE_MAX = 200
DEFAULT_TITLE = "Untitled audio"
DURATION_MAX = 86_400
FILE_NAME_MAX = 255
TRANSCRIPT_MAX = 1_000_000
SEGMENTS_MAX = 20_000
SEGMENT_TEXT_MAX = 2_000
SUMMARY_TEXT_MAX = 100_000
TAKEAWAYS_MAX = 50
TAKEAWAY_MAX = 1_000
KEY_MOMENTS_MAX = 100
KEY_MOMENT_TITLE_MAX = 200
KEY_MOMENT_DESCRIPTION_MAX = 2_000
IMPORTANCE = ("high", "medium", "low")
CLIENT_ID_PATTERN = r"^[A-Za-z0-9._:-]{1,128}$"
# Clocks of phones and laptops drift: a createdAt this far ahead of the server's clock is accepted.
CLOCK_SKEW = timedelta(minutes=5)
LIST_LIMIT_DEFAULT = 20
LIST_LIMIT_MAX = 100
QUERY_MAX = 200
CURSOR_MAX = 512
IMPORT_MAX = 100
EXPORT_FORMATS = ("txt", "md", "json", "srt", "vtt")

_LANGUAGE = validate.OneOf(
    sorted(ISO_639_1_CODES), error="Must be an ISO 639-1 language code in lower case, such as en."
)


class Seconds(fields.Float):
    """A JSON number of seconds: strings and booleans are refused, so is anything not finite."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValidationError("Must be a number.")
        if not math.isfinite(value):  # 1e400 parses as infinity
            raise ValidationError("Must be a finite number.")
        return super()._deserialize(value, attr, data, **kwargs)


def _length(low: int, high: int) -> validate.Length:
    if low:
        return validate.Length(min=low, max=high, error=f"Must be {low}-{high} characters long.")
    return validate.Length(max=high, error=f"Must be at most {high} characters long.")


class SourceSchema(BaseSchema):
    """The uploaded file the item came from."""

    file_name = fields.String(required=True, validate=_length(1, FILE_NAME_MAX))
    file_size_bytes = fields.Integer(
        required=True, strict=True, validate=validate.Range(min=0, max=2**62)
    )


class SegmentSchema(BaseSchema):
    """One timed piece of the transcript."""

    start = Seconds(required=True, validate=validate.Range(min=0))
    end = Seconds(required=True, validate=validate.Range(min=0))
    text = fields.String(required=True, validate=_length(0, SEGMENT_TEXT_MAX))

    @validates_schema
    def _ends_after_start(self, data: dict[str, Any], **_: Any) -> None:
        if data["end"] < data["start"]:
            raise ValidationError("Must not be before start.", field_name="end")


def _check_segments(segments: list[dict[str, Any]]) -> None:
    for index in range(1, len(segments)):
        if segments[index]["start"] < segments[index - 1]["start"]:
            raise ValidationError({index: {"start": ["Segments must be ordered by start."]}})


class TranscriptSchema(BaseSchema):
    text = fields.String(required=True, validate=_length(1, TRANSCRIPT_MAX))
    segments = fields.List(
        fields.Nested(SegmentSchema),
        load_default=list,
        validate=[
            validate.Length(max=SEGMENTS_MAX, error=f"Must have at most {SEGMENTS_MAX} segments."),
            _check_segments,
        ],
        metadata={"description": "Ordered by start"},
    )


class KeyMomentSchema(BaseSchema):
    timestamp = Seconds(
        required=True, validate=validate.Range(min=0), metadata={"description": "Seconds"}
    )
    title = fields.String(required=True, validate=_length(1, KEY_MOMENT_TITLE_MAX))
    description = fields.String(
        load_default="", validate=_length(0, KEY_MOMENT_DESCRIPTION_MAX)
    )
    importance = fields.String(
        load_default="medium",
        validate=validate.OneOf(IMPORTANCE, error="Must be one of high, medium, low."),
    )


class SummaryInputSchema(BaseSchema):
    text = fields.String(required=True, validate=_length(0, SUMMARY_TEXT_MAX))
    takeaways = fields.List(
        fields.String(validate=_length(0, TAKEAWAY_MAX)),
        load_default=list,
        validate=validate.Length(max=TAKEAWAYS_MAX, error=f"At most {TAKEAWAYS_MAX} takeaways."),
    )
    key_moments = fields.List(
        fields.Nested(KeyMomentSchema),
        load_default=list,
        validate=validate.Length(
            max=KEY_MOMENTS_MAX, error=f"At most {KEY_MOMENTS_MAX} key moments."
        ),
    )


def _not_in_future(value: datetime) -> None:
    if value > datetime.now(UTC) + CLOCK_SKEW:
        raise ValidationError("Must not be in the future.")


PROCESSING_OPTIONS_DOC = (
    f"A JSON object; at most {SETTINGS_JSON_MAX_BYTES} bytes as compact UTF-8 JSON and "
    f"{SETTINGS_JSON_MAX_DEPTH} levels deep."
)


class UpdateHistorySchema(BaseSchema):
    """``PUT /history/<id>``: any non-empty subset; fields left out keep their value."""

    title = fields.String(validate=_length(1, TITLE_MAX))
    language = fields.String(allow_none=True, validate=_LANGUAGE)
    transcript = fields.Nested(TranscriptSchema)
    summary = fields.Nested(SummaryInputSchema, allow_none=True)
    processing_options = fields.Dict(
        validate=check_settings_json, metadata={"description": PROCESSING_OPTIONS_DOC}
    )

    @validates_schema
    def _not_empty(self, data: dict[str, Any], **_: Any) -> None:
        if not data:
            raise ValidationError(
                "Give at least one of title, language, transcript, summary or processingOptions."
            )


class CreateHistorySchema(BaseSchema):
    """``POST /history``: a processed recording. ``wordCount`` is computed by the server."""

    client_id = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Regexp(
            r"[A-Za-z0-9._:-]{1,128}\Z",
            error="Must be 1-128 characters of A-Z a-z 0-9 . _ : -",
        ),
        metadata={
            "pattern": CLIENT_ID_PATTERN,
            "description": "The client's own id; a second create with it returns the first item",
        },
    )
    title = fields.String(load_default=DEFAULT_TITLE, validate=_length(1, TITLE_MAX))
    language = fields.String(load_default=None, allow_none=True, validate=_LANGUAGE)
    duration_seconds = Seconds(
        load_default=None, allow_none=True, validate=validate.Range(min=0, max=DURATION_MAX)
    )
    source = fields.Nested(SourceSchema, load_default=None, allow_none=True)
    transcript = fields.Nested(TranscriptSchema, required=True)
    summary = fields.Nested(SummaryInputSchema, load_default=None, allow_none=True)
    processing_options = fields.Dict(
        load_default=dict,
        validate=check_settings_json,
        metadata={"description": PROCESSING_OPTIONS_DOC},
    )
    created_at = fields.AwareDateTime(
        validate=_not_in_future,
        metadata={"description": "RFC 3339; defaults to now; at most 5 minutes ahead of the server"},
    )


class ImportHistorySchema(BaseSchema):
    """``POST /history/import``: items in the web app's local-storage format (checked one by one)."""

    items = fields.List(
        fields.Raw(metadata={"type": "object"}),
        required=True,
        validate=validate.Length(
            min=1, max=IMPORT_MAX, error=f"Must hold 1-{IMPORT_MAX} items."
        ),
    )


# --- query strings ------------------------------------------------------------------------------


class ListHistoryQuery(BaseSchema):
    """``GET /history`` query string."""

    limit = fields.Integer(
        load_default=LIST_LIMIT_DEFAULT,
        validate=validate.Range(
            min=1, max=LIST_LIMIT_MAX, error=f"Must be between 1 and {LIST_LIMIT_MAX}."
        ),
    )
    cursor = fields.String(
        validate=_length(1, CURSOR_MAX),
        metadata={"description": "nextCursor of the previous page (opaque)"},
    )
    q = fields.String(
        validate=_length(1, QUERY_MAX),
        metadata={"description": "Words to search for; every word must match"},
    )


class ExportQuery(BaseSchema):
    """``GET /history/<id>/export`` query string."""

    format = fields.String(
        required=True,
        validate=validate.OneOf(EXPORT_FORMATS, error="Must be one of txt, md, json, srt, vtt."),
    )


# --- responses ----------------------------------------------------------------------------------


class SegmentOutSchema(BaseSchema):
    start = fields.Float(required=True)
    end = fields.Float(required=True)
    text = fields.String(required=True)


class TranscriptOutSchema(BaseSchema):
    text = fields.String(required=True)
    segments = fields.List(fields.Nested(SegmentOutSchema), required=True)


class KeyMomentOutSchema(BaseSchema):
    timestamp = fields.Float(required=True)
    title = fields.String(required=True)
    description = fields.String(required=True)
    importance = fields.String(required=True, metadata={"enum": list(IMPORTANCE)})


class SummaryOutSchema(BaseSchema):
    text = fields.String(required=True)
    takeaways = fields.List(fields.String(), required=True)
    key_moments = fields.List(fields.Nested(KeyMomentOutSchema), required=True)


class SourceOutSchema(BaseSchema):
    file_name = fields.String(required=True)
    file_size_bytes = fields.Integer(required=True)


class HistoryItemSchema(BaseSchema):
    """A whole item."""

    id = fields.UUID(required=True)
    client_id = fields.String(required=True, allow_none=True)
    title = fields.String(required=True)
    language = fields.String(required=True, allow_none=True)
    duration_seconds = fields.Float(required=True, allow_none=True)
    word_count = fields.Integer(required=True)
    source = fields.Nested(SourceOutSchema, required=True, allow_none=True)
    transcript = fields.Nested(TranscriptOutSchema, required=True)
    summary = fields.Nested(SummaryOutSchema, required=True, allow_none=True)
    processing_options = fields.Dict(required=True)
    has_audio = fields.Boolean(required=True)
    created_at = Timestamp(required=True)
    updated_at = Timestamp(required=True)


class HistoryEntrySchema(BaseSchema):
    """A list element: never the whole transcript."""

    id = fields.UUID(required=True)
    title = fields.String(required=True)
    language = fields.String(required=True, allow_none=True)
    duration_seconds = fields.Float(required=True, allow_none=True)
    word_count = fields.Integer(required=True)
    has_summary = fields.Boolean(required=True)
    has_audio = fields.Boolean(required=True)
    snippet = fields.String(
        required=True,
        allow_none=True,
        metadata={
            "description": "With q: a passage around the match; else the transcript's beginning"
        },
    )
    created_at = Timestamp(required=True)
    updated_at = Timestamp(required=True)


class HistoryItemDataSchema(BaseSchema):
    item = fields.Nested(HistoryItemSchema, required=True)


class HistoryListDataSchema(BaseSchema):
    items = fields.List(fields.Nested(HistoryEntrySchema), required=True)
    next_cursor = fields.String(required=True, allow_none=True)


class ImportResultDataSchema(BaseSchema):
    imported = fields.Integer(required=True)
    skipped = fields.Integer(required=True)
    items = fields.List(fields.Nested(HistoryEntrySchema), required=True)


HistoryItemEnvelope = envelope_schema(HistoryItemDataSchema, "HistoryItemEnvelope")
HistoryListEnvelope = envelope_schema(HistoryListDataSchema, "HistoryListEnvelope")
ImportResultEnvelope = envelope_schema(ImportResultDataSchema, "ImportResultEnvelope")
