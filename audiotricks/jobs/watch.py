"""One watcher per web process: it looks for changes of the jobs its open event streams follow.

Streams never query the database themselves. Every ``STREAMS_POLL_MS`` the watcher's thread reads
the followed jobs in one ``SELECT … WHERE id IN (…)`` and hands each stream the job's new state
when it changed; every ``STREAMS_PING_SECONDS`` it checks each stream's session again (a revoked
session, a changed password or a deactivated account ends the stream) and renews the streams'
leases of the per-user cap (:mod:`audiotricks.jobs.leases`). So a process with hundreds of open
streams makes a handful of small queries a second, whatever the number of streams.

Polling rather than PostgreSQL LISTEN or Redis pub/sub: it works the same on SQLite, needs no
change on the worker side, and costs one indexed query per process per interval.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask import Flask, current_app
from sqlalchemy import select

from audiotricks.config import Config
from audiotricks.errors import (
    AccountDeactivated,
    InvalidSession,
    ServiceUnavailable,
    TooManyRequests,
)
from audiotricks.extensions import db
from audiotricks.jobs.leases import Leases, leases_for
from audiotricks.models import Job

log = logging.getLogger(__name__)

WATCHER_KEY = "audiotricks.job_watcher"
# Why a stream ends other than with its job.
REVOKED = "revoked"  # its session is no longer valid
GONE = "gone"  # the job was deleted (with its account)
UNAVAILABLE = "unavailable"  # its lease could not be renewed before it ran out
SHUTDOWN = "shutdown"  # the process is stopping
# A stream's lease outlives several missed renewals (one every STREAMS_PING_SECONDS).
LEASE_MIN_SECONDS = 60
# Ids per query: well under every engine's limit on bound parameters.
QUERY_CHUNK = 500


class TooManyStreams(TooManyRequests):
    """The user already has STREAMS_MAX_PER_USER streams open (the contract's 429)."""


@dataclass(frozen=True)
class JobState:
    """A job as the API shows it, with the ETag of ``GET /jobs/<id>`` (the event's id)."""

    etag: str
    body: dict[str, Any]
    finished: bool


def job_state(job: Job) -> JobState:
    from audiotricks.jobs.views import describe, etag_of, job_data

    data = job_data.dump({"job": describe(job)})
    return JobState(etag=etag_of(data), body=data["job"], finished=job.is_finished)


@dataclass(eq=False)
class Stream:
    """One open stream: what it follows, and what the watcher has for it."""

    job_id: uuid.UUID
    user_id: uuid.UUID
    token: str = field(repr=False)  # the bearer token, to check its session again
    generation: int = 0
    stream_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    _changed: threading.Condition = field(default_factory=threading.Condition, repr=False)
    _latest: JobState | None = None
    _ended: str | None = None

    def offer(self, state: JobState) -> None:
        with self._changed:
            self._latest = state
            self._changed.notify_all()

    def end(self, reason: str) -> None:
        with self._changed:
            self._ended = self._ended or reason
            self._changed.notify_all()

    def wait(self, timeout: float) -> JobState | str | None:
        """The job's newest state, why the stream must end, or None after ``timeout`` seconds.

        An ending for the session or the process comes first; a job state that arrived with
        any other ending is still delivered.
        """
        with self._changed:
            if self._latest is None and self._ended is None:
                self._changed.wait(timeout)
            if self._ended in (REVOKED, SHUTDOWN):
                return self._ended
            latest, self._latest = self._latest, None
            return latest if latest is not None else self._ended


class Watcher:
    """The process's streams and the thread that feeds them (started with the first stream)."""

    def __init__(self, app: Flask, config: Config):
        self.app = app
        self.poll_seconds = config.streams_poll_ms / 1000
        self.ping_seconds = config.streams_ping_seconds
        self.max_per_user = config.streams_max_per_user
        self.lease_seconds = max(LEASE_MIN_SECONDS, 4 * config.streams_ping_seconds)
        self.leases: Leases = leases_for(
            config.ratelimit_storage_uri, config.ratelimit_key_prefix
        )
        self._lock = threading.Lock()
        self._streams: dict[uuid.UUID, set[Stream]] = {}
        # The updated_at each followed job had when the watcher last read it.
        self._stamps: dict[uuid.UUID, datetime] = {}
        self._generation = 0
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._stopped = threading.Event()

    # --- the request side -------------------------------------------------------------------

    def open(self, user_id: uuid.UUID, job_id: uuid.UUID, token: str) -> Stream:
        """Take a lease under the user's cap and follow the job; TooManyStreams over the cap,
        ServiceUnavailable (503) when the lease storage cannot be reached (it fails closed)."""
        stream = Stream(job_id=job_id, user_id=user_id, token=token)
        try:
            allowed = self.leases.acquire(
                str(user_id), stream.stream_id, self.max_per_user, self.lease_seconds
            )
        except Exception as exc:  # the cap cannot be counted: refuse rather than pass it
            log.warning("stream leases unreachable: %s", type(exc).__name__,
                        extra={"event": "stream_lease_storage_unavailable"})
            raise ServiceUnavailable() from None
        if not allowed:
            raise TooManyStreams(headers={"Retry-After": str(self.ping_seconds)})
        with self._lock:
            stream.generation = self._generation
            self._streams.setdefault(job_id, set()).add(stream)
            self._ensure_thread()
        return stream

    def close(self, stream: Stream) -> None:
        """Stop following for ``stream`` and give its lease back (safe to call twice)."""
        with self._lock:
            followers = self._streams.get(stream.job_id)
            if followers is None or stream not in followers:
                return
            followers.discard(stream)
            if not followers:
                del self._streams[stream.job_id]
                self._stamps.pop(stream.job_id, None)
        try:
            self.leases.release(str(stream.user_id), stream.stream_id)
        except Exception as exc:  # it runs out on its own
            log.warning("stream lease not released: %s", type(exc).__name__,
                        extra={"event": "stream_lease_release_failed"})

    def open_streams(self) -> list[Stream]:
        with self._lock:
            return [stream for followers in self._streams.values() for stream in followers]

    def end_all(self, reason: str) -> None:
        """End every open stream of this process (it is stopping)."""
        self._stopped.set()
        for stream in self.open_streams():
            stream.end(reason)

    # --- the watcher's thread ---------------------------------------------------------------

    def _ensure_thread(self) -> None:
        # After a fork (gunicorn's preloaded app) the parent's thread does not exist here.
        if self._thread is not None and self._pid == os.getpid() and self._thread.is_alive():
            return
        self._pid = os.getpid()
        self._thread = threading.Thread(target=self._run, name="job-watcher", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        last_ping = last_renewed = time.monotonic()
        while not self._stopped.wait(self.poll_seconds):
            if not self.open_streams():
                continue
            now = time.monotonic()
            ping_due = now - last_ping >= self.ping_seconds
            try:
                with self.app.app_context():
                    try:
                        self._poll()
                        if ping_due:
                            self._check_sessions()
                    finally:
                        db.session.remove()
            except Exception as exc:  # the database may be back at the next round
                log.warning("job watch failed: %s", type(exc).__name__,
                            extra={"event": "job_watch_failed"})
            if ping_due:
                last_ping = now
                if self._renew_leases():
                    last_renewed = now
                elif now - last_renewed >= self.lease_seconds:
                    # The leases ran out: the cap no longer counts these streams, so end them.
                    for stream in self.open_streams():
                        stream.end(UNAVAILABLE)

    def _poll(self) -> None:
        """Every change of a job's state sets its ``updated_at``: only the jobs whose stamp moved
        since the last round are read whole and turned into events."""
        with self._lock:
            self._generation += 1
            generation = self._generation
            job_ids = list(self._streams)
        stamps: dict[uuid.UUID, datetime] = {}
        for start in range(0, len(job_ids), QUERY_CHUNK):
            chunk = job_ids[start:start + QUERY_CHUNK]
            rows = db.session.execute(select(Job.id, Job.updated_at).where(Job.id.in_(chunk)))
            stamps.update(rows.all())
        changed = [job_id for job_id in job_ids
                   if job_id in stamps and self._stamps.get(job_id) != stamps[job_id]]
        states: dict[uuid.UUID, JobState] = {}
        for start in range(0, len(changed), QUERY_CHUNK):
            chunk = changed[start:start + QUERY_CHUNK]
            for job in db.session.scalars(select(Job).where(Job.id.in_(chunk))):
                states[job.id] = job_state(job)
        db.session.commit()
        with self._lock:
            for job_id in job_ids:
                followers = [
                    s for s in self._streams.get(job_id, ()) if s.generation < generation
                ]
                if job_id not in stamps:  # deleted (with its account)
                    for stream in followers:
                        stream.end(GONE)
                    continue
                state = states.get(job_id)
                if state is None:
                    continue
                if job_id in self._streams:
                    self._stamps[job_id] = stamps[job_id]
                for stream in followers:
                    stream.offer(state)

    def _check_sessions(self) -> None:
        """Each distinct session of the open streams, checked as a request would check it."""
        from audiotricks.auth.service import load_session

        by_token: dict[str, list[Stream]] = {}
        for stream in self.open_streams():
            by_token.setdefault(stream.token, []).append(stream)
        for token, streams in by_token.items():
            user_id: uuid.UUID | None
            try:
                user_id = load_session(token).user_id
            except (InvalidSession, AccountDeactivated):
                user_id = None
            finally:
                db.session.rollback()
            for stream in streams:
                if user_id != stream.user_id:
                    stream.end(REVOKED)

    def _renew_leases(self) -> bool:
        streams = self.open_streams()
        try:
            self.leases.renew(
                ((str(s.user_id), s.stream_id) for s in streams), self.lease_seconds
            )
        except Exception as exc:
            log.warning("stream leases not renewed: %s", type(exc).__name__,
                        extra={"event": "stream_lease_renewal_failed", "streams": len(streams)})
            return False
        return True


def current_watcher() -> Watcher:
    """This process's watcher (made on first use)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    watcher: Watcher | None = app.extensions.get(WATCHER_KEY)
    if watcher is None:
        watcher = app.extensions.setdefault(
            WATCHER_KEY, Watcher(app, app.extensions["audiotricks.config"])
        )
    return watcher


def end_streams(app: Flask, reason: str = SHUTDOWN) -> Iterable[Stream]:
    """End the open streams of ``app`` in this process; the ones that were open."""
    watcher: Watcher | None = app.extensions.get(WATCHER_KEY)
    if watcher is None:
        return []
    streams = watcher.open_streams()
    watcher.end_all(reason)
    return streams
