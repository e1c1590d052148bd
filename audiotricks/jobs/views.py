"""Job endpoints: thin views over :mod:`audiotricks.jobs.service`."""

from __future__ import annotations

import hashlib
import json
import os
import unicodedata
import uuid
from typing import Any

from flask import Response, current_app, g, request
from marshmallow import ValidationError
from werkzeug.datastructures import FileStorage, MultiDict

from audiotricks.audio import SNIFF_BYTES, sniff_format
from audiotricks.auth.decorators import require_session, require_verified_email
from audiotricks.errors import UnsupportedMediaType, ValidationFailed, field_errors
from audiotricks.http import envelope, json_body, multipart_form, responds, unstorable
from audiotricks.jobs import bp, service
from audiotricks.jobs.queue import current_queue, upload_dir
from audiotricks.jobs.uploads import UploadFiles, parse_upload, path_of
from audiotricks.models import Job
from audiotricks.runtime import current_config
from audiotricks.schemas.base import ErrorSchema
from audiotricks.schemas.jobs import (
    JobDataSchema,
    JobEnvelope,
    JobsDataSchema,
    JobsEnvelope,
    SummaryJobSchema,
    TranscriptionFormSchema,
    TranscriptionUploadSchema,
)

job_data = JobDataSchema()
jobs_data = JobsDataSchema()
form_schema = TranscriptionFormSchema()

FILE_FIELD = "file"
NAME_MAX = 255


def describe(job: Job) -> dict[str, Any]:
    """The contract's Job object, in the shape ``JobSchema`` dumps."""
    error = None
    if job.error_code:
        error = {"code": job.error_code, "message": job.error_message or ""}
    return {
        "id": job.id,
        "kind": job.kind,
        "status": job.status,
        "progress": job.progress,
        "stage": job.stage,
        "detail": job.detail,
        "error": error,
        "history_id": job.history_id,
        "created_at": job.created_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
    }


def _problem(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(errors=[{"field": field, "message": message}])


def _file_name(storage: FileStorage) -> str | None:
    """The client's file name, reduced to a safe display name (no folders, no control chars)."""
    raw = (storage.filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in raw if unicodedata.category(ch)[0] != "C").strip()
    if not name or unstorable(name):
        return None
    return name[:NAME_MAX]


def _options(form: MultiDict[str, str]) -> dict[str, Any]:
    single: dict[str, str] = {}
    problems = []
    for name in form:
        values = form.getlist(name)
        if len(values) > 1:
            problems.append({"field": name, "message": "Must be given once."})
        elif unstorable(values[0]):
            problems.append({"field": name, "message": "Must not contain NUL characters."})
        else:
            single[name] = values[0]
    if FILE_FIELD in single:
        problems.append({"field": FILE_FIELD, "message": "Must be a file part."})
        del single[FILE_FIELD]
    try:
        options: dict[str, Any] = form_schema.load(single)
    except ValidationError as exc:
        problems += field_errors(exc.messages)
        options = {}
    if problems:
        raise ValidationFailed(errors=problems)
    return {
        "title": options.get("title"),
        "language": options.get("language"),
        "summarize": options.get("summarize", True),
    }


def _audio_part(uploaded: MultiDict[str, FileStorage]) -> FileStorage:
    others = [name for name in uploaded if name != FILE_FIELD]
    if others:
        raise ValidationFailed(
            errors=[{"field": name, "message": "Unknown field."} for name in others]
        )
    parts = uploaded.getlist(FILE_FIELD)
    if not parts:
        raise _problem(FILE_FIELD, "Missing data for required field.")
    if len(parts) > 1:
        raise _problem(FILE_FIELD, "Must be given once.")
    return parts[0]


@bp.post("/transcriptions")
@responds(
    202,
    JobEnvelope,
    400,
    413,
    415,
    (409, ErrorSchema, "No OpenAI API key stored, or too many active jobs"),
)
@multipart_form(TranscriptionUploadSchema)
@require_session
@require_verified_email
def start_transcription() -> tuple[Response, int]:
    """Upload audio to transcribe (and summarise) in the background.

    multipart/form-data: `file` (the audio: MP3, MP4/M4A, WAV, WebM, OGG/Opus or FLAC, recognised
    by its content), and optional `title`, `language` (ISO 639-1; absent: detected) and
    `summarize` (`true`/`false`, default `true`). The body may be up to UPLOAD_MAX_BYTES; the
    upload is streamed to storage. 409 when no OpenAI key is stored or the user already has
    JOBS_MAX_ACTIVE jobs queued or running; nothing is kept then, nor after any other error.
    """
    if request.mimetype != "multipart/form-data":
        raise UnsupportedMediaType("Request body must be multipart/form-data")
    config = current_config()
    # This route's own limit: Werkzeug refuses a larger Content-Length before reading anything,
    # and stops a streamed body once it passes the limit.
    request.max_content_length = config.upload_max_bytes
    service.check_can_start(g.user)
    job_id = uuid.uuid4()
    with UploadFiles(upload_dir(config, current_app.instance_path)) as files:
        try:
            form, uploaded = parse_upload(request, files)
        except ValueError:
            raise _problem("body", "Malformed multipart body.") from None
        options = _options(form)
        part = _audio_part(uploaded)
        path = path_of(part)
        with open(path, "rb") as audio:
            head = audio.read(SNIFF_BYTES)
        if sniff_format(head) is None:
            raise _problem(
                FILE_FIELD, "Must be MP3, MP4/M4A, WAV, WebM, OGG/Opus or FLAC audio."
            )
        upload = service.StoredUpload(path, _file_name(part), os.path.getsize(path))
        job = service.create_transcription(g.user, current_queue(), job_id, upload, options)
        files.keep(path)
    return _queued(job)


def _queued(job: Job) -> tuple[Response, int]:
    """``202 Job queued`` with the job and its ``Location``."""
    response, status = envelope("Job queued", job_data.dump({"job": describe(job)}), 202)
    response.headers["Location"] = f"/api/v1/jobs/{job.id}"
    return response, status


@bp.post("/summaries")
@responds(
    202,
    JobEnvelope,
    (404, ErrorSchema, "History item not found (unknown or another user's)"),
    (409, ErrorSchema, "No OpenAI API key stored, or too many active jobs"),
)
@require_session
@require_verified_email
@json_body(SummaryJobSchema)
def start_summary(body: dict[str, Any]) -> tuple[Response, int]:
    """Summarise an item's transcript again (the web app's "reprocess").

    `summaryQuality` and `language` default to the user's settings. On success the item's
    summary is replaced as a new revision (its ETag changes); a canceled or failed job changes
    nothing. 400 on `historyId` when the item has no transcript text.
    """
    return _queued(service.create_summary(g.user, current_queue(), body))


@bp.get("")
@responds(200, JobsEnvelope)
@require_session
def list_jobs() -> tuple[Response, int]:
    """The caller's 50 most recent jobs, newest first."""
    jobs = [describe(job) for job in service.list_jobs(g.user)]
    return envelope("Jobs", jobs_data.dump({"jobs": jobs}))


def etag_of(body: dict[str, Any]) -> str:
    """The ETag of ``GET /jobs/<id>`` (and the id of a job event) for the dumped ``data``."""
    digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
    return digest[:32]


def _job_id(text: str) -> uuid.UUID:
    """A malformed id names no job of the caller's: the same 404 as an unknown one."""
    try:
        return uuid.UUID(text)
    except ValueError:
        raise service.JobNotFound() from None


@bp.get("/<job_id>")
@responds(
    200,
    JobEnvelope,
    (304, None, "Not modified: If-None-Match names the current ETag"),
    request_headers=("If-None-Match",),
)
@require_session
def get_job(job_id: str) -> Response | tuple[Response, int]:
    """One of the caller's jobs, with an ETag; If-None-Match with it answers 304.

    404 Job not found for an unknown id or another user's job.
    """
    data = job_data.dump({"job": describe(service.get_job(g.user, _job_id(job_id)))})
    etag = etag_of(data)
    if request.if_none_match.contains_weak(etag):  # weak comparison, as If-None-Match wants
        response = Response(status=304)
        response.set_etag(etag)
        return response
    response, status = envelope("Job", data)
    response.set_etag(etag)
    return response, status


@bp.delete("/<job_id>")
@responds(200, JobEnvelope, (409, ErrorSchema, "Job already finished"))
@require_session
def cancel_job(job_id: str) -> tuple[Response, int]:
    """Cancel a queued or running job: nothing is saved, and a running job makes no further
    provider call once the current one returns. 409 when the job already finished."""
    job = service.cancel_job(g.user, _job_id(job_id))
    return envelope("Job canceled", job_data.dump({"job": describe(job)}))
