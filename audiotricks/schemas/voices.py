"""Voice schemas: ``GET /voices`` and the body of ``POST /jobs/speech``."""

from __future__ import annotations

from marshmallow import fields, validate

from audiotricks.schemas.base import BaseSchema, envelope_schema

# ElevenLabs voice ids are 20 letters and digits; a compatible server may use - and _ too. Nothing
# else, so an id is always safe in the request path it goes into.
VOICE_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
SPEECH_SOURCES = ("summary", "transcript")


class VoiceSchema(BaseSchema):
    voice_id = fields.String(required=True)
    name = fields.String(required=True)
    category = fields.String(
        required=True, allow_none=True, metadata={"example": "premade"}
    )
    preview_url = fields.String(
        required=True, allow_none=True, metadata={"description": "An https:// link to a sample"}
    )


class VoicesDataSchema(BaseSchema):
    voices = fields.List(fields.Nested(VoiceSchema), required=True)


class SpeechJobSchema(BaseSchema):
    """``POST /jobs/speech``: which item, which of its texts, which voice."""

    history_id = fields.UUID(required=True)
    voice_id = fields.String(
        required=True,
        validate=validate.Regexp(
            r"[A-Za-z0-9_-]{1,64}\Z", error="Must be 1-64 letters, digits, '-' or '_'."
        ),
        metadata={"pattern": VOICE_ID_PATTERN, "description": "A voiceId from GET /voices"},
    )
    source = fields.String(
        required=True,
        validate=validate.OneOf(SPEECH_SOURCES, error="Must be summary or transcript."),
    )


VoicesEnvelope = envelope_schema(VoicesDataSchema, "VoicesEnvelope")
