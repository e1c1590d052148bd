"""The queue's tasks: run one job, sweep lost jobs, prune sessions. Each runs in an app context.

``run_job`` carries only a job's id. It claims the job (a duplicate message, a canceled or
finished job, or one another worker holds, ends here), keeps the claim's lease alive from a
heartbeat thread while the pipeline runs, and records how the run ended.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any

from flask import Flask
from huey.api import Huey

from audiotricks.config import Config
from audiotricks.extensions import db
from audiotricks.models import Job

if TYPE_CHECKING:
    from audiotricks.jobs.queue import Queue

log = logging.getLogger(__name__)


class Lease:
    """Renews a run's lease every third of its length until the run ends; notices a cancel."""

    def __init__(self, app: Flask, job_id: uuid.UUID, token: str, seconds: int):
        self.app, self.job_id, self.token = app, job_id, token
        self.interval = max(seconds / 3, 0.5)
        self.stopped = threading.Event()
        self.lost = threading.Event()  # canceled, or taken over after a missed renewal
        self.thread = threading.Thread(target=self._beat, name=f"lease-{job_id}", daemon=True)

    def __enter__(self) -> Lease:
        self.thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stopped.set()
        self.thread.join(10)

    def _beat(self) -> None:
        from audiotricks.jobs import service

        while not self.stopped.wait(self.interval):
            try:
                with self.app.app_context():
                    if not service.renew_lease(self.job_id, self.token):
                        self.lost.set()
                        return
            except Exception as exc:  # the database may be back at the next beat
                log.warning(
                    "lease renewal failed: %s",
                    type(exc).__name__,
                    extra={"event": "job_lease_renewal_failed", "job_id": str(self.job_id)},
                )


# Set by the worker command while it shuts down: running jobs stop at their next step and go
# back on the queue.
stopping = threading.Event()
# The runs of this process in progress (job id -> claim token), released if the process stops.
_held: dict[uuid.UUID, str] = {}
_held_lock = threading.Lock()


def release_held(app: Flask, queue: Queue) -> int:
    """Give every job this process still runs back to the queue; how many were released."""
    from audiotricks.jobs import service

    with _held_lock:
        held = list(_held.items())
    released = 0
    with app.app_context():
        for job_id, token in held:
            try:
                released += service.release(job_id, token, queue)
            except Exception as exc:  # its lease runs out and the sweep sends it again
                log.warning(
                    "job not released: %s",
                    type(exc).__name__,
                    extra={"event": "job_release_failed", "job_id": str(job_id)},
                )
        db.session.remove()
    return released


def run_job(app: Flask, job_id: uuid.UUID) -> None:
    """Claim the job and run its pipeline (the body of the ``run_job`` task)."""
    from audiotricks.jobs import service
    from audiotricks.jobs.queue import current_queue

    config: Config = app.extensions["audiotricks.config"]
    if stopping.is_set():  # taken off the queue as the worker stops: put it back
        current_queue().send(job_id)
        return
    token = service.new_token()
    job = service.claim(job_id, token)
    if job is None:
        log.info("job not claimed", extra={"event": "job_not_claimed", "job_id": str(job_id)})
        return
    log.info(
        "job started",
        extra={"event": "job_started", "job_id": str(job_id), "attempt": job.attempts},
    )
    with _held_lock:
        _held[job_id] = token
    try:
        outcome = _run_claimed(app, job, token, config)
    finally:
        with _held_lock:
            _held.pop(job_id, None)
    log.info(
        "job ended", extra={"event": "job_ended", "job_id": str(job_id), "outcome": outcome}
    )


def _run_claimed(app: Flask, job: Job, token: str, config: Config) -> str:
    from audiotricks.jobs import pipeline, service
    from audiotricks.jobs.queue import current_queue

    job_id = job.id
    with Lease(app, job_id, token, config.jobs_lease_seconds) as lease:
        run = pipeline.Run(job=job, token=token, lease_lost=lease.lost, stopping=stopping)
        try:
            outcome = pipeline.run(run)
        except pipeline.Stopped:
            db.session.rollback()
            if stopping.is_set() and service.release(job_id, token, current_queue()):
                outcome = "released"
            else:
                outcome = "stopped"  # canceled, or taken over after a lost lease
        except Exception as exc:
            db.session.rollback()
            # The type only: an exception's text may quote a provider's answer or a transcript.
            log.error(
                "job failed unexpectedly: %s",
                type(exc).__name__,
                extra={"event": "job_crashed", "job_id": str(job_id)},
            )
            service.fail(job_id, token, "internal")
            outcome = "failed"
        finally:
            pipeline.cleanup(run)
    return outcome


def sweep_jobs(app: Flask) -> None:
    """One sweep (see :func:`audiotricks.jobs.service.sweep`), logged when it found something."""
    from audiotricks.jobs import service
    from audiotricks.jobs.queue import current_queue

    with app.app_context():
        try:
            result = service.sweep(current_queue())
        finally:
            db.session.remove()
    if result.requeued or result.failed or result.resent:
        log.info(
            "jobs swept",
            extra={
                "event": "jobs_swept",
                "requeued": result.requeued,
                "failed": result.failed,
                "resent": result.resent,
            },
        )


def first_in_slot(huey: Huey, name: str, seconds: int) -> int | None:
    """The current ``seconds``-long slot's number when this worker is the first of all workers
    sharing the queue to claim it for ``name``, else None.

    Every worker's scheduler ticks ``name`` once per interval; the claim (one set-if-absent in
    the queue's storage: the SQLite file or Redis) lets one of them run it per slot. Slots are
    counted on the wall clock, so hosts whose clocks differ by a few seconds may both run it
    near a boundary: a rare repeat, harmless for idempotent work such as pruning.
    """
    slot = int(time.time() // seconds)
    if not huey.storage.put_if_empty(f"periodic.{name}.{slot}", b"1"):
        return None
    with contextlib.suppress(Exception):  # a leftover key is a few bytes
        huey.storage.delete_data(f"periodic.{name}.{slot - 1}")
    return slot


def register(app: Flask, huey: Huey, config: Config) -> Callable[[str], Any]:
    """Define the tasks on ``huey`` for ``app``; return the one views enqueue."""
    from audiotricks.jobs.queue import EveryInterval

    @huey.task(name="run_job")  # type: ignore[untyped-decorator]
    def run_job_task(job_id: str) -> None:
        with app.app_context():
            try:
                run_job(app, uuid.UUID(job_id))
            finally:
                db.session.remove()

    @huey.periodic_task(  # type: ignore[untyped-decorator]
        EveryInterval(config.sessions_prune_seconds), name="prune_sessions"
    )
    def prune_sessions() -> None:
        from audiotricks.auth.service import prune_sessions as prune

        slot = first_in_slot(huey, "prune_sessions", config.sessions_prune_seconds)
        if slot is None:
            return  # another worker already pruned in this interval
        with app.app_context():
            try:
                result = prune()
            finally:
                db.session.remove()
        log.info(
            "sessions pruned",
            extra={
                "event": "sessions_pruned",
                "expired": result.expired,
                "revoked": result.revoked,
                "slot": slot,
            },
        )

    return run_job_task  # type: ignore[no-any-return]
