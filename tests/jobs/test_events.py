"""GET /jobs/<id>/events on a real gunicorn (the streaming sync worker ``make run`` uses), with a
real worker process running the job, on both engines and both queue storages.

The cap's leases live in the rate-limit storage: an SQLite file with the SQLite queue, Redis with
the Redis queue, so both lease stores are exercised. Streams ping every second and the watcher
polls every 0.1 s, so the tests see keep-alives and changes quickly.
"""

from __future__ import annotations

import http.client
import json
import signal
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.jobs.conftest import worker_env
from tests.jobs.helpers import API, audio_bytes, store_key
from tests.jobs.test_worker import start_job
from tests.ops.client import call
from tests.ops.servers import Gunicorn, gunicorn
from tests.services import free_port
from tests.settings.helpers import remember

pytestmark = pytest.mark.slow

CAP = 3
ORIGIN = "http://localhost:5173"  # in the default CORS_ORIGINS


@pytest.fixture
def job_settings():
    return {"transcribe_max_bytes": 200_000, "jobs_max_active": 20}


def server_env(app: Any, queue_url: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    env = worker_env(app.extensions["audiotricks.config"])
    leases = queue_url if queue_url.startswith("redis") else f"sqlite:///{tmp_path}/limits.db"
    env.update({
        "WEB_CONCURRENCY": "2",
        "RATELIMIT_ENABLED": "false",
        "RATELIMIT_STORAGE_URI": leases,
        "RATELIMIT_KEY_PREFIX": f"test-{tmp_path.name}",
        "STREAMS_MAX_PER_USER": str(CAP),
        "STREAMS_PING_SECONDS": "1",
        "STREAMS_POLL_MS": "100",
        "JOBS_MAX_ACTIVE": "20",
        "LOG_LEVEL": "WARNING",
        **extra,
    })
    return env


@pytest.fixture
def server(app, queue_url, tmp_path) -> Iterator[Gunicorn]:
    with gunicorn(server_env(app, queue_url, tmp_path), tmp_path / "gunicorn.log") as started:
        yield started


@pytest.fixture
def user(auth, client, standin):
    token = auth.signup()
    store_key(client, token, remember(standin.key))
    return token


@dataclass
class Message:
    event: str | None = None
    data: str | None = None
    id: str | None = None
    retry: str | None = None
    comments: list[str] = field(default_factory=list)

    @property
    def job(self) -> dict[str, Any]:
        assert self.event == "job", self
        return json.loads(self.data or "")


class EventStream:
    """One open stream over a raw HTTP connection, read message by message."""

    def __init__(self, port: int, path: str, headers: dict[str, str], timeout: float = 20.0):
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        self.connection.request("GET", path, headers=headers)
        self.response = self.connection.getresponse()
        self.status = self.response.status
        self.headers = {k.lower(): v for k, v in self.response.getheaders()}

    def body(self) -> Any:
        return json.loads(self.response.read())

    def message(self) -> Message | None:
        """The next message (comment lines included), or None when the stream ended."""
        message = Message()
        while True:
            line = self.response.readline()
            if not line:
                return None
            text = line.decode().rstrip("\n")
            if not text:
                return message
            name, _, value = text.partition(":")
            value = value.removeprefix(" ")
            if name == "":
                message.comments.append(value)
            else:
                setattr(message, name, value)

    def messages(self, within: float = 90.0) -> Iterator[Message]:
        """Every message to the end of the stream, which must come ``within`` seconds (keep-alives
        would otherwise keep a stream that never ends open for ever)."""
        deadline = time.monotonic() + within
        while (message := self.message()) is not None:
            assert time.monotonic() < deadline, "the stream did not end"
            yield message

    def close(self) -> None:
        self.response.close()  # it holds the socket too
        self.connection.close()


def open_stream(server: Gunicorn, token: str, job_id: str, **headers: str) -> EventStream:
    return EventStream(server.port, f"{API}/jobs/{job_id}/events",
                       {"Authorization": f"Bearer {token}", **headers})


@contextmanager
def streams(server: Gunicorn, token: str, job_id: str, count: int) -> Iterator[list[EventStream]]:
    with ExitStack() as stack:
        opened = []
        for _ in range(count):
            stream = open_stream(server, token, job_id)
            stack.callback(stream.close)
            opened.append(stream)
        yield opened


def first_job_message(stream: EventStream) -> Message:
    for message in stream.messages():
        if message.event == "job":
            return message
    raise AssertionError("the stream ended before its first job event")


def test_a_stream_opens_with_the_job_follows_it_and_ends_after_it(
    app, client, user, standin, workers, server, tmp_path
):
    standin.fail("transcriptions", "slow", times=5, seconds=1.2)  # time to see each part
    job_id = start_job(client, user, audio_bytes(tmp_path, 75.0))  # several parts
    stream = open_stream(server, user, job_id, Origin=ORIGIN)

    assert stream.status == 200
    assert stream.headers["content-type"].startswith("text/event-stream")
    assert stream.headers["x-accel-buffering"] == "no"
    assert "no-cache" in stream.headers["cache-control"]
    assert stream.headers["access-control-allow-origin"] == ORIGIN
    first = first_job_message(stream)
    assert first.job["id"] == job_id and first.job["status"] == "queued"
    workers.start()
    messages = list(stream.messages())  # to the end: the server closes the stream

    jobs = [first.job] + [m.job for m in messages if m.event == "job"]
    assert jobs[-1]["status"] == "succeeded", workers.logs()
    assert {"running"} <= {job["status"] for job in jobs}
    parts = len(standin.requests_to("transcriptions"))
    assert parts >= 2
    assert {job["detail"] for job in jobs} >= {f"part {n} of {parts}" for n in range(1, parts + 1)}
    assert all(job["status"] != "succeeded" for job in jobs[:-1])
    assert any(comment == "keep-alive" for m in messages for comment in m.comments)
    # Each event's id is the job's ETag at that point: the last one is GET /jobs/<id>'s.
    reply = call(server.port, "GET", f"{API}/jobs/{job_id}",
                 headers={"Authorization": f"Bearer {user}"})
    last = [m for m in messages if m.event == "job"][-1]
    assert reply.headers["etag"] == f'"{last.id}"'
    assert json.loads(reply.text)["data"]["job"] == last.job


def test_an_idle_stream_gets_a_comment_every_ping(client, user, server, tmp_path):
    job_id = start_job(client, user, audio_bytes(tmp_path, 2.0))  # no worker: stays queued
    stream = open_stream(server, user, job_id)
    first_job_message(stream)

    started = time.monotonic()
    for _ in range(3):  # one a second (STREAMS_PING_SECONDS=1), nothing else meanwhile
        message = stream.message()
        assert message is not None and message.event is None
        assert message.comments == ["keep-alive"]
    assert time.monotonic() - started < 8
    stream.close()


def test_last_event_id_skips_the_state_the_client_has(client, user, server, tmp_path):
    job_id = start_job(client, user, audio_bytes(tmp_path, 2.0))
    stream = open_stream(server, user, job_id)
    current = first_job_message(stream).id
    stream.close()

    again = open_stream(server, user, job_id, **{"Last-Event-ID": current})
    retry = again.message()
    ping = again.message()

    assert retry.retry == "3000" and retry.event is None
    assert ping.event is None and ping.comments == ["keep-alive"]
    again.close()


def test_a_finished_jobs_stream_sends_it_and_closes(client, user, server, tmp_path):
    job_id = start_job(client, user, audio_bytes(tmp_path, 2.0))
    assert client.delete(f"{API}/jobs/{job_id}",
                         headers={"Authorization": f"Bearer {user}"}).status_code == 200

    stream = open_stream(server, user, job_id)
    jobs = [m.job for m in stream.messages() if m.event == "job"]
    assert [job["status"] for job in jobs] == ["canceled"]

    resumed = open_stream(server, user, job_id, **{"Last-Event-ID": stream_id_of(server, user, job_id)})
    assert [m.event for m in resumed.messages()] == [None]  # the retry field, then the end


def stream_id_of(server, token, job_id):
    reply = call(server.port, "GET", f"{API}/jobs/{job_id}",
                 headers={"Authorization": f"Bearer {token}"})
    return reply.headers["etag"].strip('"')


def test_a_revoked_session_ends_the_stream(client, auth, user, server, tmp_path):
    job_id = start_job(client, user, audio_bytes(tmp_path, 2.0))
    stream = open_stream(server, user, job_id)
    first_job_message(stream)

    assert client.post(f"{API}/auth/logout", headers=auth.headers(user)).status_code == 200
    started = time.monotonic()
    rest = list(stream.messages())

    assert time.monotonic() - started < 5
    assert rest[-1].event == "error"
    assert json.loads(rest[-1].data) == {"error": "Invalid or expired session"}


def test_another_users_or_an_unknown_job_is_404(client, auth, user, server, tmp_path):
    job_id = start_job(client, user, audio_bytes(tmp_path, 2.0))
    bob = auth.signup("bob@example.com", "bob")

    for token, target in ((bob, job_id), (user, "8f14e45f-ceea-467f-a0e6-f3c2d1f0a1b2"),
                          (user, "not-a-job")):
        stream = open_stream(server, token, target)
        assert stream.status == 404
        assert stream.body() == {"error": "Job not found"}
    unauthenticated = EventStream(server.port, f"{API}/jobs/{job_id}/events", {})
    assert unauthenticated.status == 401


def test_the_cap_holds_across_workers_and_instances(
    app, client, user, queue_url, server, tmp_path
):
    """Two instances of two workers each, one lease store: CAP streams in all, then 429."""
    job_id = start_job(client, user, audio_bytes(tmp_path, 2.0))
    other_log = tmp_path / "other.log"
    with gunicorn(server_env(app, queue_url, tmp_path), other_log) as other, ExitStack() as stack:
        opened = []
        for index in range(CAP):
            stream = open_stream(server if index % 2 else other, user, job_id)
            stack.callback(stream.close)
            assert stream.status == 200
            first_job_message(stream)
            opened.append(stream)

        for target in (server, other):
            refused = open_stream(target, user, job_id)
            assert refused.status == 429
            assert refused.headers["retry-after"] == "1"
            assert refused.body() == {"error": "Too many requests"}

        opened[0].close()  # its thread sees the closed connection at its next write
        deadline = time.monotonic() + 10
        while True:
            again = open_stream(server, user, job_id)
            if again.status == 200:
                break
            assert time.monotonic() < deadline, "a closed stream's lease was never given back"
            time.sleep(0.3)
        stack.callback(again.close)


def test_the_api_answers_while_more_streams_than_workers_are_open(
    app, client, auth, user, queue_url, tmp_path
):
    """Six open streams on two sync workers: /me still answers."""
    env = server_env(app, queue_url, tmp_path, STREAMS_MAX_PER_USER="10")
    job_id = start_job(client, user, audio_bytes(tmp_path, 2.0))
    with gunicorn(env, tmp_path / "busy.log") as server, streams(server, user, job_id, 6) as open_:
        for stream in open_:
            assert stream.status == 200
            first_job_message(stream)

        for _ in range(4):
            reply = call(server.port, "GET", f"{API}/auth/me", headers=auth.headers(user),
                         timeout=5)
            assert reply.status == 200


@pytest.mark.parametrize("job_settings", [{
    "ratelimit_enabled": False,
    "ratelimit_storage_uri": f"redis://127.0.0.1:{free_port()}/0",  # nothing listens there
}])
def test_a_stream_is_refused_when_its_cap_cannot_be_counted(client, user, tmp_path):
    job_id = start_job(client, user, audio_bytes(tmp_path, 2.0))

    response = client.get(f"{API}/jobs/{job_id}/events",
                          headers={"Authorization": f"Bearer {user}"})

    assert response.status_code == 503
    assert response.get_json() == {"error": "Service temporarily unavailable"}


def test_a_stopping_server_ends_its_streams_cleanly(client, user, server, tmp_path):
    """SIGTERM: the stream's last chunk is sent (a clean end, not a reset) and gunicorn exits
    at once instead of waiting out its graceful timeout for the open stream."""
    job_id = start_job(client, user, audio_bytes(tmp_path, 2.0))
    stream = open_stream(server, user, job_id)
    first_job_message(stream)

    started = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    rest = list(stream.messages(within=20))  # http.client raises on a stream cut short

    assert all(message.event is None for message in rest)
    assert server.process.wait(20) == 0
    assert time.monotonic() - started < 15


def test_a_worker_with_all_its_stream_threads_busy_answers_503(
    app, client, user, queue_url, tmp_path
):
    env = server_env(app, queue_url, tmp_path, WEB_CONCURRENCY="1", STREAMS_MAX_PER_WORKER="1")
    job_id = start_job(client, user, audio_bytes(tmp_path, 2.0))
    with gunicorn(env, tmp_path / "one.log") as server, streams(server, user, job_id, 1) as [held]:
        first_job_message(held)

        refused = open_stream(server, user, job_id)

        assert refused.status == 503
        assert refused.body() == {"error": "Service temporarily unavailable"}
        assert refused.headers["x-request-id"]
        reply = call(server.port, "GET", f"{API}/auth/me",
                     headers={"Authorization": f"Bearer {user}"}, timeout=5)
        assert reply.status == 200  # the rest of the API is served as ever
