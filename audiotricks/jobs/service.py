"""Jobs: create, read and cancel them (the views), and claim, run and sweep them (the workers).

Every change of a job's state is one conditional ``UPDATE``; the row count says who won:

- a worker *claims* a job (queued, or running with an expired lease; fewer than
  JOBS_MAX_ATTEMPTS runs so far) and holds it under a token with a lease it renews while it runs;
- every later write of that run (progress, success, failure) requires the job to be still
  ``running`` under the same token, so a canceled job is never marked succeeded, and a run whose
  lease was taken over by another worker changes nothing any more;
- the sweep sends a job again when its lease ran out (the worker died) or when it was queued
  long ago and the queue holds fewer messages than there are queued jobs (a message was lost),
  and fails it with ``internal`` after its last attempt.
"""

from __future__ import annotations

import contextlib
import glob
import logging
import os
import shutil
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.engine import CursorResult

from audiotricks.errors import Conflict, NotFound, ValidationFailed
from audiotricks.extensions import db
from audiotricks.jobs.queue import Queue
from audiotricks.models import HistoryItem, Job, User, utcnow
from audiotricks.models.job import ACTIVE_STATUSES, FINISHED_STATUSES
from audiotricks.runtime import current_config

log = logging.getLogger(__name__)

LIST_LIMIT = 50

# The sentences a person reads for each error code (never a provider's own words).
ERROR_MESSAGES = {
    "provider_key_missing": "No OpenAI API key is stored; store one and try again.",
    "provider_key_invalid": "The OpenAI API key was rejected; store a valid key and try again.",
    "provider_quota": "The OpenAI account has no credit left.",
    "provider_unavailable": "OpenAI could not be reached or kept failing; try again later.",
    "audio_unreadable": "The audio could not be read.",
    "audio_too_long": "The recording is longer than this service accepts.",
    "canceled": "The job was canceled.",
    "internal": "The job failed because of a problem on our side; try again.",
}


class JobNotFound(NotFound):
    message = "Job not found"


class JobAlreadyFinished(Conflict):
    message = "Job already finished"


class NoOpenAIKey(Conflict):
    message = "No OpenAI API key stored"


class TooManyActiveJobs(Conflict):
    message = "Too many active jobs"


def _rowcount(result: Any) -> int:
    assert isinstance(result, CursorResult)  # noqa: S101 - DML returns a CursorResult
    return int(result.rowcount)


# --- the API side -------------------------------------------------------------------------


def active_count(user_id: uuid.UUID) -> int:
    return int(
        db.session.scalar(
            select(func.count())
            .select_from(Job)
            .where(Job.user_id == user_id, Job.status.in_(ACTIVE_STATUSES))
        )
        or 0
    )


def check_can_start(user: User) -> None:
    """Refuse before any upload is read: no OpenAI key stored, or already at the cap."""
    from audiotricks.settings.service import user_settings

    if user_settings(user.id).openai_key_encrypted is None:
        raise NoOpenAIKey()
    if active_count(user.id) >= current_config().jobs_max_active:
        raise TooManyActiveJobs()


@dataclass(frozen=True)
class StoredUpload:
    """An uploaded recording, already on disk under ``path``."""

    path: str
    name: str | None  # the client's file name, made safe for display
    size: int


def create_transcription(
    user: User, queue: Queue, job_id: uuid.UUID, upload: StoredUpload, options: dict[str, Any]
) -> Job:
    """Record the job, hold the per-user cap, and put its id on the queue.

    The cap is checked after the row is committed, counting every committed active job: a
    request keeps its job only if the count, its own job included, is within the cap. Two
    requests racing for the last slot may then both be refused, but no interleaving ever leaves
    a user above the cap.
    """
    now = utcnow()
    job = Job(
        id=job_id,
        user_id=user.id,
        kind="transcription",
        status="queued",
        stage="queued",
        progress=0,
        upload_path=upload.path,
        upload_name=upload.name,
        upload_size=upload.size,
        options=options,
        attempts=0,
        enqueued_at=now,
        created_at=now,
        updated_at=now,
    )
    return enqueue_new(user, queue, job)


def enqueue_new(user: User, queue: Queue, job: Job) -> Job:
    """Commit a new job's row, hold the per-user cap (see :func:`create_transcription`), and
    put its id on the queue; TooManyActiveJobs (the row deleted again) over the cap."""
    job_id = job.id
    db.session.add(job)
    db.session.commit()
    if active_count(user.id) > current_config().jobs_max_active:
        db.session.execute(delete(Job).where(Job.id == job_id))
        db.session.commit()
        raise TooManyActiveJobs()
    try:
        queue.send(job.id)
    except Exception as exc:  # the sweep sends it once the queue is back
        log.warning(
            "job queued in the database only: %s",
            type(exc).__name__,
            extra={"event": "job_enqueue_failed", "job_id": str(job.id)},
        )
    log.info(
        "job created",
        extra={"event": "job_created", "job_id": str(job.id), "user_id": str(user.id)},
    )
    return job


class NoTranscriptText(ValidationFailed):
    def __init__(self) -> None:
        super().__init__(
            errors=[{"field": "historyId", "message": "The item has no transcript text."}]
        )


def create_summary(user: User, queue: Queue, options: dict[str, Any]) -> Job:
    """Queue a new summary of one of the user's items (the web app's "reprocess").

    404 for an item that is not the user's, 409 without an OpenAI key or at the cap, 400 when the
    item has no transcript text (nothing to summarise). The item's id is kept in the job's
    options too: ``history_id`` goes NULL if the item is deleted meanwhile.
    """
    from audiotricks.history.service import HistoryItemNotFound

    history_id: uuid.UUID = options["history_id"]
    # The length only: a transcript may be a megabyte, and the web request needs none of it.
    row = db.session.execute(
        select(func.length(func.trim(HistoryItem.transcript_text))).where(
            HistoryItem.id == history_id, HistoryItem.user_id == user.id
        )
    ).first()
    if row is None:
        raise HistoryItemNotFound()
    if not row[0]:
        raise NoTranscriptText()
    check_can_start(user)
    now = utcnow()
    job = Job(
        user_id=user.id,
        kind="summary",
        status="queued",
        stage="queued",
        progress=0,
        history_id=history_id,
        options={
            "history_id": str(history_id),
            "summary_quality": options.get("summary_quality"),
            "language": options.get("language"),
        },
        attempts=0,
        enqueued_at=now,
        created_at=now,
        updated_at=now,
    )
    return enqueue_new(user, queue, job)


def list_jobs(user: User) -> list[Job]:
    return list(
        db.session.scalars(
            select(Job)
            .where(Job.user_id == user.id)
            .order_by(Job.created_at.desc(), Job.id.desc())
            .limit(LIST_LIMIT)
        )
    )


def get_job(user: User, job_id: uuid.UUID) -> Job:
    job = db.session.scalar(
        select(Job)
        .where(Job.id == job_id, Job.user_id == user.id)
        .execution_options(populate_existing=True)
    )
    if job is None:
        raise JobNotFound()
    return job


def cancel_job(user: User, job_id: uuid.UUID) -> Job:
    """Cancel a queued or running job; a running one stops before its next provider call."""
    now = utcnow()
    values = {
        "status": "canceled",
        "error_code": "canceled",
        "error_message": ERROR_MESSAGES["canceled"],
        "finished_at": now,
        "updated_at": now,
        "worker": None,
        "lease_expires_at": None,
    }
    mine = and_(Job.id == job_id, Job.user_id == user.id)
    # A queued job has no worker to clean up after it: its upload goes now.
    upload = db.session.scalar(select(Job.upload_path).where(mine, Job.status == "queued"))
    queued = _rowcount(
        db.session.execute(update(Job).where(mine, Job.status == "queued").values(values))
    )
    running = 0
    if not queued:
        running = _rowcount(
            db.session.execute(update(Job).where(mine, Job.status == "running").values(values))
        )
    db.session.commit()
    if queued:
        remove_upload(job_id, upload)
    job = get_job(user, job_id)
    if not (queued or running):
        raise JobAlreadyFinished()
    log.info("job canceled", extra={"event": "job_canceled", "job_id": str(job_id)})
    return job


def scratch_folders(job_id: uuid.UUID, upload_path: str | None) -> list[str]:
    """The scratch folders runs of the job made (``job-<id>-*``, beside its upload or its audio)."""
    from audiotricks.jobs.speech import audio_dir

    places = {audio_dir()} | ({os.path.dirname(upload_path)} if upload_path else set())
    return [
        path
        for place in places
        for path in glob.glob(os.path.join(glob.escape(place), f"job-{job_id}-*"))
        if os.path.isdir(path)
    ]


def remove_scratch(job_id: uuid.UUID, upload_path: str | None) -> None:
    """Delete what a run whose worker died (SIGKILL, a lost host) left in its scratch folders.

    A run removes its own folder when it ends; one killed cannot, and the sweep that takes the
    job from it removes the folder instead, once its lease has expired (no live run holds it).
    """
    for path in scratch_folders(job_id, upload_path):
        shutil.rmtree(path, ignore_errors=True)


def remove_upload(job_id: uuid.UUID, path: str | None) -> None:
    """Delete a job's uploaded audio (if still there) and forget its path."""
    if path:
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)
    db.session.execute(
        update(Job).where(Job.id == job_id, Job.upload_path.is_not(None)).values(upload_path=None)
    )
    db.session.commit()


# --- the worker side ----------------------------------------------------------------------


def new_token() -> str:
    """Names one run of one job: host, process and a random part (a retry gets a new one)."""
    return f"{socket.gethostname()[:80]}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


def _lease_until(now: datetime) -> datetime:
    return now + timedelta(seconds=current_config().jobs_lease_seconds)


def claim(job_id: uuid.UUID, token: str) -> Job | None:
    """Take the job for this run, or None when it is not to be run (taken, finished, used up)."""
    config = current_config()
    now = utcnow()
    claimable = or_(
        Job.status == "queued",
        and_(Job.status == "running", Job.lease_expires_at < now),
    )
    result = db.session.execute(
        update(Job)
        .where(Job.id == job_id, claimable, Job.attempts < config.jobs_max_attempts)
        .values(
            status="running",
            attempts=Job.attempts + 1,
            worker=token,
            lease_expires_at=_lease_until(now),
            started_at=func.coalesce(Job.started_at, now),
            stage="preparing",
            progress=0,
            detail=None,
            updated_at=now,
        )
    )
    db.session.commit()
    if _rowcount(result) != 1:
        return None
    return db.session.scalar(
        select(Job).where(Job.id == job_id).execution_options(populate_existing=True)
    )


def _held(job_id: uuid.UUID, token: str) -> Any:
    return and_(Job.id == job_id, Job.worker == token, Job.status == "running")


def renew_lease(job_id: uuid.UUID, token: str) -> bool:
    """Extend this run's lease; False when the run no longer holds the job."""
    now = utcnow()
    result = db.session.execute(
        update(Job).where(_held(job_id, token)).values(lease_expires_at=_lease_until(now))
    )
    db.session.commit()
    return _rowcount(result) == 1


def still_held(job_id: uuid.UUID, token: str) -> bool:
    """Whether this run may go on (not canceled, not taken over)."""
    held = db.session.scalar(select(func.count()).select_from(Job).where(_held(job_id, token)))
    db.session.commit()
    return bool(held)


def report_progress(
    job_id: uuid.UUID, token: str, stage: str, progress: int, detail: str | None = None
) -> bool:
    """Write the run's progress; False when the run no longer holds the job."""
    result = db.session.execute(
        update(Job)
        .where(_held(job_id, token))
        .values(stage=stage, progress=max(0, min(progress, 99)), detail=detail, updated_at=utcnow())
    )
    db.session.commit()
    return _rowcount(result) == 1


def succeed(job_id: uuid.UUID, token: str, history_id: uuid.UUID | None) -> bool:
    """Mark the run's job succeeded, unless it was canceled or taken over meanwhile.

    Does not commit: the caller commits it with whatever the job produced (the history item),
    or rolls both back when this returns False.
    """
    now = utcnow()
    result = db.session.execute(
        update(Job)
        .where(_held(job_id, token))
        .values(
            status="succeeded",
            stage="done",
            progress=100,
            detail=None,
            history_id=history_id,
            worker=None,
            lease_expires_at=None,
            finished_at=now,
            updated_at=now,
        )
    )
    return _rowcount(result) == 1


def fail(job_id: uuid.UUID, token: str, code: str, message: str | None = None) -> bool:
    """Mark the run's job failed with ``code`` (and the code's sentence unless ``message`` says
    better, e.g. naming another provider); False when the run no longer held it."""
    now = utcnow()
    result = db.session.execute(
        update(Job)
        .where(_held(job_id, token))
        .values(
            status="failed",
            error_code=code,
            error_message=message or ERROR_MESSAGES[code],
            detail=None,
            worker=None,
            lease_expires_at=None,
            finished_at=now,
            updated_at=now,
        )
    )
    db.session.commit()
    return _rowcount(result) == 1


def release(job_id: uuid.UUID, token: str, queue: Queue) -> bool:
    """Give the job back to the queue (the worker is stopping): this run does not count."""
    now = utcnow()
    result = db.session.execute(
        update(Job)
        .where(_held(job_id, token))
        .values(
            status="queued",
            stage="queued",
            progress=0,
            detail=None,
            attempts=Job.attempts - 1,
            worker=None,
            lease_expires_at=None,
            enqueued_at=now,
            updated_at=now,
        )
    )
    db.session.commit()
    released = _rowcount(result) == 1
    if released:
        queue.send(job_id)
    return released


@dataclass
class SweepResult:
    requeued: int = 0  # lease ran out: sent again
    failed: int = 0  # lease ran out on the last attempt: failed with internal
    resent: int = 0  # queued long ago while the queue lacked messages: sent again
    cleaned: int = 0  # uploads of finished jobs removed


def sweep(queue: Queue) -> SweepResult:
    """Find jobs that would otherwise never finish, and send them again or fail them."""
    config = current_config()
    now = utcnow()
    result = SweepResult()
    expired = db.session.execute(
        select(Job.id, Job.attempts, Job.upload_path).where(
            Job.status == "running", Job.lease_expires_at < now
        )
    ).all()
    db.session.commit()
    for job_id, attempts, upload in expired:
        lost = and_(Job.id == job_id, Job.status == "running", Job.lease_expires_at < now)
        if attempts >= config.jobs_max_attempts:
            values: dict[str, Any] = {
                "status": "failed",
                "error_code": "internal",
                "error_message": ERROR_MESSAGES["internal"],
                "worker": None,
                "lease_expires_at": None,
                "finished_at": now,
                "updated_at": now,
            }
        else:
            values = {
                "status": "queued",
                "stage": "queued",
                "progress": 0,
                "detail": None,
                "worker": None,
                "lease_expires_at": None,
                "enqueued_at": now,
                "updated_at": now,
            }
        changed = _rowcount(db.session.execute(update(Job).where(lost).values(values)))
        db.session.commit()
        if not changed:
            continue  # the worker renewed it, or another sweep got there first
        # Before the job is sent again: a later run's own folder is made only once it claims it.
        remove_scratch(job_id, upload)
        if values["status"] == "failed":
            result.failed += 1
            remove_upload(job_id, upload)
            log.warning(
                "job failed after its last attempt",
                extra={"event": "job_attempts_exhausted", "job_id": str(job_id)},
            )
        else:
            result.requeued += 1
            queue.send(job_id)
            log.warning(
                "job lease expired; sent again",
                extra={"event": "job_lease_expired", "job_id": str(job_id), "attempts": attempts},
            )
    result.resent = _resend_lost(queue, now)
    result.cleaned = _clean_finished_uploads()
    return result


def _resend_lost(queue: Queue, now: datetime) -> int:
    """Send again the queued jobs whose message may have been lost.

    The queue holding at least as many messages as there are queued jobs means none is missing
    (duplicates only delay this check until they are drained). Each stale job is re-sent by one
    sweep only: the guarded update of ``enqueued_at`` picks the winner.
    """
    queued = int(
        db.session.scalar(select(func.count()).select_from(Job).where(Job.status == "queued"))
        or 0
    )
    db.session.commit()
    if not queued or queue.pending() >= queued:
        return 0
    before = now - timedelta(seconds=current_config().jobs_requeue_seconds)
    stale = db.session.execute(
        select(Job.id, Job.enqueued_at).where(
            Job.status == "queued", or_(Job.enqueued_at < before, Job.enqueued_at.is_(None))
        )
    ).all()
    db.session.commit()
    resent = 0
    for job_id, enqueued_at in stale:
        same = (
            Job.enqueued_at.is_(None) if enqueued_at is None else Job.enqueued_at == enqueued_at
        )
        changed = _rowcount(
            db.session.execute(
                update(Job)
                .where(Job.id == job_id, Job.status == "queued", same)
                .values(enqueued_at=now)
            )
        )
        db.session.commit()
        if changed:
            queue.send(job_id)
            resent += 1
    if resent:
        log.warning("queued jobs sent again", extra={"event": "jobs_resent", "count": resent})
    return resent


def _clean_finished_uploads() -> int:
    rows = db.session.execute(
        select(Job.id, Job.upload_path).where(
            Job.status.in_(FINISHED_STATUSES), Job.upload_path.is_not(None)
        )
    ).all()
    db.session.commit()
    for job_id, path in rows:
        remove_upload(job_id, path)
    return len(rows)

