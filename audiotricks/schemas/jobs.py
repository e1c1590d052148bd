"""Job schemas: the upload form of ``POST /jobs/transcriptions`` and the ``Job`` object."""

from __future__ import annotations

from marshmallow import fields, validate

from audiotricks.models.job import JOB_KINDS, JOB_STAGES, JOB_STATUSES
from audiotricks.models.settings import SUMMARY_QUALITIES
from audiotricks.schemas.base import BaseSchema, Timestamp, envelope_schema
from audiotricks.schemas.languages import ISO_639_1_CODES


class TranscriptionFormSchema(BaseSchema):
    """The text fields of the multipart upload (the ``file`` part is read separately)."""

    title = fields.String(validate=validate.Length(min=1, max=200))
    language = fields.String(
        validate=validate.OneOf(sorted(ISO_639_1_CODES), error="Must be an ISO 639-1 code."),
        metadata={"description": "ISO 639-1 code of the spoken language; absent: detected"},
    )
    summarize = fields.Boolean(
        truthy={"true"}, falsy={"false"}, metadata={"description": "true (default) or false"}
    )


class TranscriptionUploadSchema(TranscriptionFormSchema):
    """The whole multipart body as the OpenAPI document shows it."""

    file = fields.Raw(
        required=True,
        metadata={
            "type": "string",
            "format": "binary",
            "description": "The recording: MP3, MP4/M4A, WAV, WebM, OGG/Opus or FLAC",
        },
    )


class SummaryJobSchema(BaseSchema):
    """``POST /jobs/summaries``: summarise an item's transcript again."""

    history_id = fields.UUID(required=True, metadata={"description": "The item to summarise"})
    summary_quality = fields.String(
        validate=validate.OneOf(SUMMARY_QUALITIES, error="Must be one of concise, balanced, detailed."),
        metadata={"description": "Absent: the user's summaryQuality setting"},
    )
    language = fields.String(
        validate=validate.OneOf(sorted(ISO_639_1_CODES), error="Must be an ISO 639-1 code."),
        metadata={"description": "Language of the summary; absent: the user's preferredLanguage"},
    )


class JobErrorSchema(BaseSchema):
    code = fields.String(required=True)
    message = fields.String(required=True)


class JobSchema(BaseSchema):
    id = fields.UUID(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(JOB_KINDS))
    status = fields.String(required=True, validate=validate.OneOf(JOB_STATUSES))
    progress = fields.Integer(required=True, metadata={"minimum": 0, "maximum": 100})
    stage = fields.String(required=True, validate=validate.OneOf(JOB_STAGES))
    detail = fields.String(allow_none=True, metadata={"example": "part 2 of 5"})
    error = fields.Nested(JobErrorSchema, allow_none=True)
    history_id = fields.UUID(allow_none=True)
    created_at = Timestamp(required=True)
    started_at = Timestamp(allow_none=True)
    finished_at = Timestamp(allow_none=True)


class JobDataSchema(BaseSchema):
    job = fields.Nested(JobSchema, required=True)


class JobsDataSchema(BaseSchema):
    jobs = fields.List(fields.Nested(JobSchema), required=True)


JobEnvelope = envelope_schema(JobDataSchema, "JobEnvelope")
JobsEnvelope = envelope_schema(JobsDataSchema, "JobsEnvelope")
