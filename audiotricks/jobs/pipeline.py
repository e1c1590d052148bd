"""The transcription pipeline a worker runs for a claimed job.

probe → cut into parts that fit one request → transcribe each part → summarise → save a history
item → delete the upload. Progress is written between steps; before each step (and between a
provider's retries) the run checks that it still holds the job, so a cancel stops it before its
next provider call. The user's key is decrypted here, in the worker, for this run only.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from audiotricks.audio import AudioPart, AudioUnreadable, probe, split_for_upload
from audiotricks.errors import NotFound, StoredKeyUndecryptable
from audiotricks.extensions import db
from audiotricks.jobs import service
from audiotricks.models import Job, User
from audiotricks.providers.openai import (
    Canceled,
    OpenAIClient,
    ProviderError,
    Segment,
    Transcription,
    join_transcriptions,
    transcript_with_times,
)
from audiotricks.runtime import current_config

log = logging.getLogger(__name__)

T = TypeVar("T")
DEFAULT_TITLE = "Untitled audio"
ITEM_GONE = "The history item was deleted before its summary was saved."
NOTHING_TO_SUMMARISE = "The history item has no transcript text to summarise."
TITLE_MAX = 200


class Stopped(Exception):
    """The run no longer holds its job (canceled, taken over, or the worker is stopping)."""


# A recording in which the provider heard nothing: the history rules want a transcript, and an
# empty item in the library would tell the user less than this.
NO_SPEECH = "No speech was found in the recording."


class JobFailed(Exception):
    """The job ends as failed with one of the contract's error codes (and, when the code's own
    sentence would mislead, a more precise one)."""

    def __init__(self, code: str, message: str | None = None):
        super().__init__(code)
        self.code = code
        self.message = message  # None: the code's own sentence


@dataclass
class Run:
    """One run of one job: the claim it holds and the signals that end it early."""

    job: Job
    token: str
    lease_lost: threading.Event
    stopping: threading.Event
    workdir: str | None = None
    # (provider, ciphertext) of the key this run decrypted: a rejection marks that key invalid.
    key_in_use: tuple[str, str] | None = None

    def should_continue(self) -> bool:
        """False once the job was canceled or taken over, or the worker is stopping."""
        if self.lease_lost.is_set() or self.stopping.is_set():
            return False
        return service.still_held(self.job.id, self.token)

    def check(self) -> None:
        if not self.should_continue():
            raise Stopped()

    def progress(self, stage: str, percent: int, detail: str | None = None) -> None:
        if not service.report_progress(self.job.id, self.token, stage, percent, detail):
            raise Stopped()


def run(job_run: Run) -> str:
    """Run the job to its end; return "succeeded" or "failed" (Stopped when it must stop)."""
    try:
        if job_run.job.kind == "speech":
            from audiotricks.jobs import speech

            return speech.run(job_run)
        if job_run.job.kind == "summary":
            return _summary(job_run)
        return _transcription(job_run)
    except JobFailed as failure:
        db.session.rollback()
        if failure.code == "provider_key_invalid" and job_run.key_in_use:
            from audiotricks.settings.checks import note_rejected_key

            note_rejected_key(job_run.job.user_id, *job_run.key_in_use)
        service.fail(job_run.job.id, job_run.token, failure.code, failure.message)
        log.info(
            "job failed",
            extra={"event": "job_failed", "job_id": str(job_run.job.id), "code": failure.code},
        )
        return "failed"


def cleanup(job_run: Run) -> None:
    """Remove the run's scratch files, and the upload once the job no longer needs it."""
    if job_run.workdir:
        shutil.rmtree(job_run.workdir, ignore_errors=True)
    job = db.session.get(Job, job_run.job.id, populate_existing=True)
    db.session.commit()
    if job is not None and job.is_finished:
        service.remove_upload(job.id, job.upload_path)


def _transcription(job_run: Run) -> str:
    config = current_config()
    job = job_run.job
    user = db.session.get(User, job.user_id)
    if user is None or not job.upload_path or not os.path.exists(job.upload_path):
        raise JobFailed("internal")
    job_run.progress("preparing", 2)
    try:
        info = probe(job.upload_path)
    except AudioUnreadable:
        raise JobFailed("audio_unreadable") from None
    if info.duration_seconds > config.audio_max_seconds:
        raise JobFailed("audio_too_long")
    job_run.check()
    job_run.workdir = tempfile.mkdtemp(prefix=f"job-{job.id}-", dir=os.path.dirname(job.upload_path))
    try:
        parts = split_for_upload(
            job.upload_path, max_bytes=config.transcribe_max_bytes, workdir=job_run.workdir
        )
    except AudioUnreadable:
        raise JobFailed("audio_unreadable") from None
    transcript = _transcribe(job_run, user, parts)
    if not transcript.text.strip():
        raise JobFailed("audio_unreadable", NO_SPEECH)
    summary = None
    if job.options.get("summarize", True):
        summary = _summarize(job_run, user, transcript)
    job_run.progress("saving", 95)
    _save(job_run, user, info.duration_seconds, transcript, summary)
    return "succeeded"


def _client(job_run: Run, user: User) -> OpenAIClient:
    """A client with the user's key, decrypted here and held only by the client."""
    from audiotricks.settings.service import read_api_key

    config = current_config()
    try:
        stored = read_api_key(user.id, "openai")
    except (NotFound, StoredKeyUndecryptable):
        raise JobFailed("provider_key_missing") from None
    job_run.key_in_use = ("openai", stored.ciphertext)
    return OpenAIClient(
        stored.api_key,
        base_url=config.openai_base_url,
        retry_seconds=config.provider_retry_seconds,
        should_continue=job_run.should_continue,
    )


def _transcribe(job_run: Run, user: User, parts: list[AudioPart]) -> Transcription:
    """Transcribe part after part; the segments are shifted to the whole recording's times."""
    config = current_config()
    language = job_run.job.options.get("language")
    pieces: list[tuple[float, Transcription]] = []
    with _client(job_run, user) as client:
        for index, part in enumerate(parts):
            job_run.progress(
                "transcribing", 5 + 75 * index // len(parts), f"part {index + 1} of {len(parts)}"
            )
            job_run.check()
            result = _call(
                functools.partial(
                    client.transcribe,
                    part.path,
                    model=config.openai_transcribe_model,
                    language=language,
                )
            )
            pieces.append((part.offset_seconds, result))
    joined = join_transcriptions(pieces)
    return Transcription(
        text=joined.text,
        language=language or joined.language,
        duration=joined.duration,
        segments=joined.segments,
    )


def _call(provider_call: Callable[[], T]) -> T:
    """One provider call, its errors turned into the job's."""
    try:
        return provider_call()
    except Canceled:
        raise Stopped() from None
    except ProviderError as error:
        raise JobFailed(error.code) from None


def _summarize(
    job_run: Run,
    user: User,
    transcript: Transcription,
    progress: int = 85,
    asked: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The summary in the ``language`` and ``summary_quality`` ``asked`` for (by default, or
    where they are None: the user's settings)."""
    from audiotricks.settings.service import user_settings

    config = current_config()
    settings = user_settings(user.id)
    job_run.progress("summarizing", progress)
    job_run.check()
    with _client(job_run, user) as client:
        summary = _call(
            lambda: client.summarize(
                # Timed lines: the key moments' timestamps come from them.
                transcript_with_times(transcript.segments) or transcript.text,
                language=(asked or {}).get("language") or settings.preferred_language,
                quality=(asked or {}).get("summary_quality") or settings.summary_quality,
                model=config.openai_summary_model,
            )
        )
    return {
        "text": summary.text,
        "takeaways": list(summary.takeaways),
        "key_moments": [
            {
                "timestamp": moment.timestamp,
                "title": moment.title,
                "description": moment.description,
                "importance": moment.importance,
            }
            for moment in summary.key_moments
        ],
    }


def _title(job: Job) -> str:
    title = job.options.get("title")
    if title:
        return str(title)[:TITLE_MAX]
    if job.upload_name:
        stem = os.path.splitext(job.upload_name)[0].strip()
        if stem:
            return stem[:TITLE_MAX]
    return DEFAULT_TITLE


def _save(
    job_run: Run,
    user: User,
    duration: float,
    transcript: Transcription,
    summary: dict[str, Any] | None,
) -> None:
    """Create the history item and mark the job succeeded; a job canceled meanwhile keeps
    nothing (the item is removed again)."""
    from audiotricks.history import service as history

    job = job_run.job
    body: dict[str, Any] = {
        # One item per job, whatever happens: a second run of the same job finds the first's.
        "client_id": f"job:{job.id}",
        "title": _title(job),
        "language": transcript.language,
        "duration_seconds": round(duration, 3),
        "source": {"file_name": job.upload_name or "audio", "file_size_bytes": job.upload_size},
        "transcript": {
            "text": transcript.text,
            "segments": [
                {"start": round(seg.start, 3), "end": round(seg.end, 3), "text": seg.text}
                for seg in transcript.segments
            ],
        },
        "summary": summary,
        "processing_options": {"summarize": summary is not None},
    }
    item, _ = history.create_item(user, body)
    if service.succeed(job.id, job_run.token, item.id):
        db.session.commit()
        return
    db.session.rollback()
    history.delete_item(user, str(item.id))
    raise Stopped()


def _summary(job_run: Run) -> str:
    """A new summary of an item's transcript, replacing the item's summary (a new revision, so
    its ETag changes). A job canceled meanwhile changes nothing; a deleted item fails it."""
    from audiotricks.history import service as history

    job = job_run.job
    user = db.session.get(User, job.user_id)
    item_id = job.options.get("history_id")
    if user is None or not item_id:
        raise JobFailed("internal")
    job_run.progress("preparing", 5)
    try:
        item = history.get_item(user, str(item_id))
    except history.HistoryItemNotFound:
        raise JobFailed("internal", ITEM_GONE) from None
    transcript = Transcription(
        text=item.transcript_text,
        language=item.language,
        duration=item.duration_seconds,
        segments=[
            Segment(start=float(seg["start"]), end=float(seg["end"]), text=str(seg["text"]))
            for seg in item.segments or []
        ],
    )
    db.session.commit()  # nothing is held open while the provider works
    if not transcript.text.strip():
        raise JobFailed("internal", NOTHING_TO_SUMMARISE)
    summary = _summarize(job_run, user, transcript, progress=20, asked=job.options)
    job_run.progress("saving", 95)
    if not history.replace_summary(user, item.id, summary):
        db.session.rollback()
        raise JobFailed("internal", ITEM_GONE)
    if service.succeed(job.id, job_run.token, item.id):
        db.session.commit()
        return "succeeded"
    db.session.rollback()  # canceled meanwhile: the item keeps its old summary
    raise Stopped()
