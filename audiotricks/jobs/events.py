"""``GET /jobs/<id>/events``: a job's progress as Server-Sent Events.

The stream sends an event ``job`` with the Job (the object ``GET /jobs/<id>`` has under
``data.job``) when it opens and whenever the job changes, a comment line every
``STREAMS_PING_SECONDS`` (15), and ends after the event that shows the job finished. Each event's
``id`` is the job's ETag: a client reconnecting with ``Last-Event-ID`` naming the current state is
not sent it again (events are whole states, so nothing is ever replayed; a finished job's stream
then closes at once). A stream whose session is revoked (logout, password change, deactivation)
sends an event ``error`` with ``{"error": "Invalid or expired session"}`` and closes, at the latest
one ping interval and one poll after the revocation.

Under gunicorn the streaming worker (:mod:`audiotricks.stream_worker`) runs each stream in a thread
of its own, so open streams never hold the sync workers that answer the rest of the API; the
watcher (:mod:`audiotricks.jobs.watch`) tells them what changed.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

from flask import Response, g, request

from audiotricks.auth.decorators import bearer_token, require_session
from audiotricks.errors import InvalidSession
from audiotricks.http import Download, responds
from audiotricks.jobs import bp, service
from audiotricks.jobs.views import _job_id
from audiotricks.jobs.watch import REVOKED, JobState, Stream, Watcher, current_watcher, job_state
from audiotricks.schemas.base import ErrorSchema

EVENT_STREAM = "text/event-stream"
# How long a client waits before reconnecting after the stream drops (the SSE "retry" field).
RECONNECT_MS = 3000
LAST_EVENT_ID_MAX = 64  # an ETag is 32 characters


def _event(state: JobState) -> bytes:
    data = json.dumps(state.body, separators=(",", ":"))
    return f"id: {state.etag}\nevent: job\ndata: {data}\n\n".encode()


def _revoked() -> bytes:
    data = json.dumps({"error": InvalidSession.message})
    return f"event: error\ndata: {data}\n\n".encode()


class EventStream:
    """The response body: an iterable whose ``close`` always lets the stream go, even when the
    server closes it before the first byte (a generator's ``finally`` would not run then)."""

    def __init__(
        self, watcher: Watcher, stream: Stream, first: JobState, last_event_id: str | None
    ):
        self.watcher, self.stream, self.first = watcher, stream, first
        self.last_event_id = last_event_id

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self._events()
        finally:
            self.close()

    def close(self) -> None:
        self.watcher.close(self.stream)

    def _events(self) -> Iterator[bytes]:
        ping = self.watcher.ping_seconds
        yield f"retry: {RECONNECT_MS}\n\n".encode()
        sent = self.first.etag
        if self.last_event_id != sent:
            yield _event(self.first)
        if self.first.finished:
            return
        pinged = time.monotonic()
        while True:
            item = self.stream.wait(max(0.0, pinged + ping - time.monotonic()))
            if time.monotonic() - pinged >= ping:
                yield b": keep-alive\n\n"
                pinged = time.monotonic()
            if item is None:
                continue
            if isinstance(item, str):  # the stream must end: say why when the client can act
                if item == REVOKED:
                    yield _revoked()
                return
            if item.etag != sent:
                yield _event(item)
                sent = item.etag
            if item.finished:
                return


@bp.get("/<job_id>/events")
@responds(
    200,
    Download((EVENT_STREAM,)),
    (429, ErrorSchema, "The user already has STREAMS_MAX_PER_USER streams open; Retry-After set"),
    request_headers=("Last-Event-ID",),
)
@require_session
def job_events(job_id: str) -> Response:
    """Follow a job as Server-Sent Events.

    An event `job` carries the Job (as `data.job` of `GET /jobs/<id>`) when the stream opens and
    whenever it changes; its `id` is the job's ETag, and a `Last-Event-ID` naming the current one
    skips the opening event. A comment line comes every STREAMS_PING_SECONDS (15). The stream ends
    after the event showing the job finished; a revoked session ends it with an event `error`.
    404 Job not found for an unknown id or another user's job; 429 when the user already has
    STREAMS_MAX_PER_USER (5) streams open.
    """
    wanted = _job_id(job_id)
    service.get_job(g.user, wanted)  # 404 before a lease is taken
    watcher = current_watcher()
    stream = watcher.open(g.user.id, wanted, bearer_token())
    try:
        # Read after following it: a change from now on reaches the stream too.
        first = job_state(service.get_job(g.user, wanted))
    except BaseException:
        watcher.close(stream)
        raise
    last_event_id = request.headers.get("Last-Event-ID", "")[:LAST_EVENT_ID_MAX] or None
    response = Response(
        EventStream(watcher, stream, first, last_event_id), mimetype=EVENT_STREAM
    )
    # No buffering by a proxy in front (nginx reads this), no caching anywhere.
    response.headers["X-Accel-Buffering"] = "no"
    return response
