"""Jobs run by real worker processes on the real queue (SQLite file and Redis), end to end.

Each test starts ``flask worker`` (what ``make worker`` runs) as a subprocess, uploads real audio
through the API and follows the job from the outside; the provider is the stand-in OpenAI server.
"""

from __future__ import annotations

import signal
import time
import uuid

import pytest
from sqlalchemy import select

from audiotricks.extensions import db
from audiotricks.models import HistoryItem
from tests.jobs.helpers import (
    API,
    audio_bytes,
    jobs_rows,
    multipart,
    scratch_left,
    store_key,
    upload_files,
)
from tests.settings.helpers import remember

FINISHED = ("succeeded", "failed", "canceled")


@pytest.fixture
def user(auth, client, standin):
    token = auth.signup()
    store_key(client, token, remember(standin.key))
    return token


def start_job(client, token, audio, name="meeting.wav", **fields):
    body, content_type = multipart(fields, audio, name)
    response = client.post(
        f"{API}/jobs/transcriptions",
        data=body,
        headers={"Authorization": f"Bearer {token}"},
        content_type=content_type,
    )
    assert response.status_code == 202, response.get_json()
    return response.get_json()["data"]["job"]["id"]


def job_of(client, token, job_id):
    response = client.get(f"{API}/jobs/{job_id}", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    return response.get_json()["data"]["job"]


def wait_for(client, token, job_id, condition, workers, timeout=60.0):
    deadline = time.monotonic() + timeout
    while True:
        job = job_of(client, token, job_id)
        if condition(job):
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"job never got there: {job}\n{workers.logs()}")
        time.sleep(0.1)


def wait_finished(client, token, job_id, workers, timeout=60.0):
    return wait_for(client, token, job_id, lambda j: j["status"] in FINISHED, workers, timeout)


def settled(check, timeout=10.0):
    """``check()`` once it holds: the upload is removed and the last log line written just after
    the job's final state is."""
    deadline = time.monotonic() + timeout
    while not check() and time.monotonic() < deadline:
        time.sleep(0.05)
    return check()


def no_uploads(app):
    return settled(lambda: upload_files(app) == [])


def history_item(app, item_id):
    with app.app_context():
        item = db.session.scalar(select(HistoryItem).where(HistoryItem.id == uuid.UUID(item_id)))
        db.session.expunge_all()
        return item


@pytest.mark.parametrize("job_settings", [{"transcribe_max_bytes": 200_000}])
def test_a_job_is_cut_transcribed_summarised_and_saved(
    app, client, user, standin, workers, tmp_path
):
    """A 75 s recording over several parts: times shifted, summary made, item saved, upload gone."""
    standin.fail("transcriptions", "slow", times=5, seconds=1)  # long enough to see each part
    workers.start()
    job_id = start_job(client, user, audio_bytes(tmp_path, 75.0), title="Weekly sync")

    details = set()
    job = wait_for(
        client, user, job_id,
        lambda j: details.add(j["detail"]) or j["status"] in FINISHED, workers,
    )

    assert job["status"] == "succeeded", workers.logs()
    assert job["progress"] == 100 and job["stage"] == "done" and job["error"] is None
    assert job["startedAt"] and job["finishedAt"]
    transcriptions = standin.requests_to("transcriptions")
    assert len(transcriptions) >= 2
    assert all(request.auth_matched for request in standin.received)
    assert {f"part {n} of {len(transcriptions)}" for n in range(1, len(transcriptions) + 1)} <= details
    item = history_item(app, job["historyId"])
    assert item.title == "Weekly sync"
    assert item.source_file_name == "meeting.wav"
    assert abs(item.duration_seconds - 75.0) < 0.5
    starts = [segment["start"] for segment in item.segments]
    assert starts == sorted(starts) and starts[-1] > 60  # the last part's times are shifted
    assert item.summary is not None and item.summary["text"]
    assert len(standin.requests_to("chat")) >= 1
    assert no_uploads(app)  # the upload and the parts are gone
    # The list shows it, newest first.
    listed = client.get(f"{API}/jobs", headers={"Authorization": f"Bearer {user}"}).get_json()
    assert [entry["id"] for entry in listed["data"]["jobs"]] == [job_id]


def test_summarize_false_saves_the_transcript_only(app, client, user, standin, workers, tmp_path):
    workers.start()
    job_id = start_job(client, user, audio_bytes(tmp_path, 3.0, "mp3"), summarize="false")

    job = wait_finished(client, user, job_id, workers)

    assert job["status"] == "succeeded", workers.logs()
    assert history_item(app, job["historyId"]).summary is None
    assert standin.requests_to("chat") == []


@pytest.mark.parametrize(
    ("failure", "code"),
    [("401", "provider_key_invalid"), ("quota", "provider_quota"), ("500", "provider_unavailable")],
)
def test_provider_failures_fail_the_job_with_their_code(
    app, client, user, standin, workers, tmp_path, failure, code
):
    standin.fail("transcriptions", failure, times=50, seconds=0.2)
    workers.start()
    job_id = start_job(client, user, audio_bytes(tmp_path, 2.0))

    job = wait_finished(client, user, job_id, workers)

    assert job["status"] == "failed"
    assert job["error"]["code"] == code
    assert job["historyId"] is None
    assert no_uploads(app)
    if code != "provider_unavailable":
        assert len(standin.requests_to("transcriptions")) == 1  # no retry of a final answer


def test_unreadable_audio_fails_with_audio_unreadable(
    app, client, user, standin, workers, tmp_path
):
    """Recognised by its first bytes (a WAV header), but no audio can be read after it."""
    workers.start()
    job_id = start_job(client, user, audio_bytes(tmp_path, 2.0)[:60])

    job = wait_finished(client, user, job_id, workers)

    assert job["error"] == {"code": "audio_unreadable", "message": "The audio could not be read."}
    assert standin.requests_to("transcriptions") == []
    assert no_uploads(app)


def assert_nothing_saved(app, job, standin):
    """One transcription request was made, then nothing: no summary, no item, no upload."""
    assert job["historyId"] is None
    assert len(standin.requests_to("transcriptions")) == 1
    assert standin.requests_to("chat") == []
    with app.app_context():
        assert db.session.scalar(select(HistoryItem.id)) is None
    assert no_uploads(app)


def fails_with(client, user, workers, audio, code, message):
    """Run a job on ``audio`` to its end, which must be a failure with ``code`` and ``message``."""
    workers.start()
    job = wait_finished(client, user, start_job(client, user, audio), workers)
    assert job["error"] == {"code": code, "message": message}, workers.logs()
    return job


def test_a_recording_with_no_speech_fails_with_a_clear_message(
    app, client, user, standin, workers, tmp_path
):
    """The provider hears nothing: no empty item in the library, a failure saying why."""
    standin.no_speech = True

    job = fails_with(client, user, workers, audio_bytes(tmp_path, 3.0),
                     "audio_unreadable", "No speech was found in the recording.")

    assert_nothing_saved(app, job, standin)


@pytest.mark.parametrize("job_settings", [{"audio_max_seconds": 5}])
def test_audio_longer_than_allowed_fails_with_audio_too_long(
    app, client, user, standin, workers, tmp_path
):
    fails_with(client, user, workers, audio_bytes(tmp_path, 8.0),
               "audio_too_long", "The recording is longer than this service accepts.")

    assert standin.requests_to("transcriptions") == []
    assert no_uploads(app)


@pytest.mark.parametrize("job_settings", [{"transcribe_max_bytes": 200_000}])
def test_cancel_mid_job_stops_before_the_next_provider_call(
    app, client, user, standin, workers, tmp_path
):
    standin.fail("transcriptions", "slow", seconds=3)
    workers.start()
    job_id = start_job(client, user, audio_bytes(tmp_path, 75.0))
    wait_for(client, user, job_id, lambda j: len(standin.requests_to("transcriptions")) == 1,
             workers)

    response = client.delete(f"{API}/jobs/{job_id}", headers={"Authorization": f"Bearer {user}"})

    assert response.status_code == 200
    assert response.get_json()["data"]["job"]["status"] == "canceled"
    time.sleep(4.5)  # the slow call returns; a next part would be sent by now
    job = job_of(client, user, job_id)
    assert job["status"] == "canceled"
    assert job["error"]["code"] == "canceled"
    assert_nothing_saved(app, job, standin)
    again = client.delete(f"{API}/jobs/{job_id}", headers={"Authorization": f"Bearer {user}"})
    assert again.status_code == 409
    assert again.get_json() == {"error": "Job already finished"}


def kill_the_worker_mid_job_and_start_another(client, user, standin, workers, tmp_path):
    """A worker SIGKILLed while its job waits on the provider, then a fresh worker; the job's end."""
    standin.fail("transcriptions", "slow", seconds=30)
    first = workers.start()
    job_id = start_job(client, user, audio_bytes(tmp_path, 3.0))
    wait_for(client, user, job_id, lambda j: len(standin.requests_to("transcriptions")) == 1,
             workers)

    first.process.send_signal(signal.SIGKILL)
    first.process.wait(10)
    workers.start()
    return wait_finished(client, user, job_id, workers)


@pytest.mark.parametrize("job_settings", [{"jobs_lease_seconds": 6}])
def test_a_worker_killed_mid_job_leaves_it_to_another(app, client, user, standin, workers, tmp_path):
    job = kill_the_worker_mid_job_and_start_another(client, user, standin, workers, tmp_path)

    assert job["status"] == "succeeded", workers.logs()
    assert "job lease expired" in workers.logs()
    [row] = jobs_rows(app)
    # At least the killed run and the one that finished (a run whose lease lapsed under load
    # counts too: it is taken over, never run twice at once).
    assert row.attempts >= 2
    with app.app_context():
        items = db.session.scalars(select(HistoryItem.id)).all()
    assert [str(item) for item in items] == [job["historyId"]]
    # The killed run's scratch folder went with the sweep; the last run removed its own.
    assert scratch_left(app, row.id) == []


@pytest.mark.parametrize("job_settings", [{"jobs_max_attempts": 1}])
def test_a_job_whose_attempts_are_used_up_fails_with_internal(
    app, client, user, standin, workers, tmp_path
):
    job = kill_the_worker_mid_job_and_start_another(client, user, standin, workers, tmp_path)

    assert job["status"] == "failed"
    assert job["error"]["code"] == "internal"
    assert no_uploads(app)
    [row] = jobs_rows(app)
    assert scratch_left(app, row.id) == []


def test_ctrl_c_gives_running_jobs_back_to_the_queue(app, client, user, standin, workers, tmp_path):
    standin.fail("transcriptions", "slow", seconds=5)
    first = workers.start()
    job_id = start_job(client, user, audio_bytes(tmp_path, 3.0))
    wait_for(client, user, job_id, lambda j: len(standin.requests_to("transcriptions")) == 1,
             workers)

    first.stop(signal.SIGINT)

    assert first.process.returncode == 0, first.log()
    job = job_of(client, user, job_id)
    assert job["status"] == "queued"
    [row] = jobs_rows(app)
    assert row.attempts == 0  # a stop is not an attempt
    workers.start()
    assert wait_finished(client, user, job_id, workers)["status"] == "succeeded"


def test_lost_queue_messages_are_sent_again(
    app, client, user, standin, workers, tmp_path, queue_kind, queue_name, request
):
    """The queue's storage loses its messages (Redis restarted without persistence): none lost."""
    ids = [start_job(client, user, audio_bytes(tmp_path, 2.0)) for _ in range(3)]
    if queue_kind == "redis-queue":
        import redis

        connection = redis.Redis.from_url(request.getfixturevalue("redis_url"))
        assert connection.llen(f"huey.redis.{queue_name}") == 4  # and the verification mail
        connection.delete(f"huey.redis.{queue_name}")
        connection.close()
    else:
        import sqlite3

        path = app.extensions["audiotricks.config"].queue_url.removeprefix("sqlite:///")
        with sqlite3.connect(path) as connection:
            assert connection.execute("DELETE FROM task").rowcount == 4  # and the mail
        connection.close()

    workers.start()

    for job_id in ids:
        assert wait_finished(client, user, job_id, workers)["status"] == "succeeded"
    assert "queued jobs sent again" in workers.logs()


@pytest.mark.parametrize("job_settings", [{"sessions_prune_seconds": 1}])
def test_sessions_are_pruned_by_the_scheduler(app, client, auth, workers):
    from sqlalchemy import func

    from audiotricks.models import AuthSession
    from tests.helpers import scalar, session_id

    token = auth.signup("carol@example.com", "carol")
    assert client.post(f"{API}/auth/logout", headers=auth.headers(token)).status_code == 200
    revoked = session_id(token)
    assert scalar(app, select(func.count()).where(AuthSession.id == revoked)) == 1

    workers.start()
    deadline = time.monotonic() + 20
    while scalar(app, select(func.count()).where(AuthSession.id == revoked)):
        assert time.monotonic() < deadline, workers.logs()
        time.sleep(0.2)
    # The worker logs after its commit: the row may be gone a moment before the line is written.
    assert settled(lambda: "sessions pruned" in workers.logs()), workers.logs()


@pytest.mark.parametrize("job_settings", [{"sessions_prune_seconds": 2}])
def test_pruning_runs_once_per_interval_across_workers(workers):
    import json

    first, second = workers.start(), workers.start()
    time.sleep(9)

    slots = [
        record["slot"]
        for worker in (first, second)
        for line in worker.log().splitlines()
        if line.startswith("{") and "slot" in (record := json.loads(line))
        and record.get("event") == "sessions_pruned"
    ]
    assert len(slots) >= 3, workers.logs()  # about one every 2 s ...
    assert len(slots) == len(set(slots)), slots  # ... and never twice in one interval


def test_no_key_or_transcript_in_worker_logs(app, client, user, standin, workers, tmp_path):
    workers.start()
    job_id = start_job(client, user, audio_bytes(tmp_path, 12.0))
    assert wait_finished(client, user, job_id, workers)["status"] == "succeeded"

    assert settled(lambda: "job ended" in workers.logs())
    logs = workers.logs()
    assert standin.key not in logs
    assert standin.key[-12:] not in logs
    assert "segment 0.0-10.0" not in logs
    assert "job started" in logs and "job ended" in logs
