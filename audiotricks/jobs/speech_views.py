"""``POST /jobs/speech``: a thin view over :mod:`audiotricks.jobs.speech`."""

from __future__ import annotations

from typing import Any

from flask import Response, g

from audiotricks.auth.decorators import require_session, require_verified_email
from audiotricks.http import envelope, json_body, responds
from audiotricks.jobs import bp, speech
from audiotricks.jobs.queue import current_queue
from audiotricks.jobs.views import describe, job_data
from audiotricks.schemas.base import ErrorSchema
from audiotricks.schemas.jobs import JobEnvelope
from audiotricks.schemas.voices import SpeechJobSchema


@bp.post("/speech")
@responds(
    202,
    JobEnvelope,
    (404, ErrorSchema, "History item not found (unknown, or another user's)"),
    (409, ErrorSchema, "No ElevenLabs API key stored, or too many active jobs"),
)
@require_session
@require_verified_email
@json_body(SpeechJobSchema)
def start_speech(body: dict[str, Any]) -> tuple[Response, int]:
    """Speak an item's summary or transcript with an ElevenLabs voice, in the background.

    The text is cut at sentence ends into parts of at most 5,000 characters, each spoken with the
    stored ElevenLabs key (model ELEVENLABS_TTS_MODEL), and the parts are joined into one MP3
    kept with the item (hasAudio; GET /history/{id}/audio), replacing any earlier one. The
    summary source speaks the summary's text (not its takeaways). 404 for an item that is not
    the caller's; 400 on source when that text is empty; 409 when no ElevenLabs key is stored or
    the caller already has JOBS_MAX_ACTIVE jobs. A voice ElevenLabs does not know fails the job
    with provider_unavailable.
    """
    job = speech.create_speech(g.user, current_queue(), body)
    response, status = envelope("Job queued", job_data.dump({"job": describe(job)}), 202)
    response.headers["Location"] = f"/api/v1/jobs/{job.id}"
    return response, status
