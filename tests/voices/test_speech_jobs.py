"""Speech jobs end to end: POST /jobs/speech, a real worker process on the real queue (SQLite
file and Redis), the stand-in ElevenLabs server, the joined MP3 served with Range, and its removal
with the item or the account."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import pytest

from tests.conftest import PASSWORD
from tests.jobs.conftest import (  # noqa: F401  (fixtures: the queue on SQLite and on Redis)
    FAST_JOBS,
    Workers,
    queue_kind,
    queue_name,
    queue_url,
    worker_env,
)
from tests.jobs.helpers import audio_bytes, multipart
from tests.settings.helpers import elevenlabs_key, remember
from tests.voices.conftest import API, bearer, put_key

FINISHED = ("succeeded", "failed", "canceled")
VOICE = "21m00Tcm4TlvDq8ikWAM"
SENTENCE = "The budget review comes first, and it takes a while to get through. "


@pytest.fixture
def config_overrides(provider_settings, queue_url, queue_name, tmp_path):  # noqa: F811
    return {
        **provider_settings,
        "queue_url": queue_url,
        "queue_name": queue_name,
        "upload_dir": str(tmp_path / "uploads"),
        **FAST_JOBS,
    }


@pytest.fixture
def workers(app, tmp_path) -> Iterator[Workers]:
    config = app.extensions["audiotricks.config"]
    env = worker_env(config)
    env.update({
        "ELEVENLABS_BASE_URL": config.elevenlabs_base_url,
        "AUDIO_DIR": config.audio_dir,
        "API_KEY_REVEAL": "false",
    })
    pool = Workers(env, tmp_path)
    yield pool
    pool.stop_all()


@pytest.fixture
def token(auth, client, eleven):
    token = auth.signup()
    put_key(client, token, "elevenlabs", eleven.key)
    return token


def new_item(client, token, transcript=SENTENCE * 150, summary="A sync about the budget."):
    body: dict[str, Any] = {"title": "Weekly sync", "transcript": {"text": transcript}}
    if summary is not None:
        body["summary"] = {"text": summary}
    response = client.post(f"{API}/history", json=body, headers=bearer(token))
    assert response.status_code == 201, response.get_json()
    return response.get_json()["data"]["item"]["id"]


def start_speech(client, token, item_id, source="transcript", voice=VOICE, status=202):
    response = client.post(
        f"{API}/jobs/speech",
        json={"historyId": item_id, "voiceId": voice, "source": source},
        headers=bearer(token),
    )
    assert response.status_code == status, response.get_json()
    return response


def job_of(client, token, job_id):
    return client.get(f"{API}/jobs/{job_id}", headers=bearer(token)).get_json()["data"]["job"]


def wait_finished(client, token, job_id, workers, seen=None, timeout=60.0):
    deadline = time.monotonic() + timeout
    while True:
        job = job_of(client, token, job_id)
        if seen is not None:
            seen.add(job["detail"])
        if job["status"] in FINISHED:
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"job never finished: {job}\n{workers.logs()}")
        time.sleep(0.05)


def audio_files(app) -> list[str]:
    folder = app.extensions["audiotricks.config"].audio_dir
    return sorted(os.listdir(folder)) if os.path.isdir(folder) else []


def get_audio(client, token, item_id, **headers):
    response = client.get(f"{API}/history/{item_id}/audio", headers={**bearer(token), **headers})
    body = response.get_data()
    response.close()
    return response, body


# --- starting a job: the checks made before anything is queued --------------------------------


def test_no_elevenlabs_key_is_a_409(client, auth):
    token = auth.signup()
    item_id = new_item(client, token)
    response = start_speech(client, token, item_id, status=409)
    assert response.get_json() == {"error": "No ElevenLabs API key stored"}


def test_another_users_item_is_a_404(client, auth, token):
    item_id = new_item(client, token)
    other = auth.signup("bob@example.com", "bob")
    put_key(client, other, "elevenlabs", elevenlabs_key())
    response = start_speech(client, other, item_id, status=404)
    assert response.get_json() == {"error": "History item not found"}


def test_an_empty_source_text_is_a_400_on_source(client, token):
    item_id = new_item(client, token, summary=None)
    response = start_speech(client, token, item_id, source="summary", status=400)
    assert response.get_json()["errors"] == [
        {"field": "source", "message": "The item has no summary text to speak."}
    ]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"voiceId": VOICE, "source": "summary"}, "historyId"),
        ({"historyId": "not-a-uuid", "voiceId": VOICE, "source": "summary"}, "historyId"),
        ({"historyId": "00000000-0000-4000-8000-000000000000", "voiceId": "../../v1/user",
          "source": "summary"}, "voiceId"),
        ({"historyId": "00000000-0000-4000-8000-000000000000", "voiceId": VOICE,
          "source": "title"}, "source"),
    ],
)
def test_bad_bodies_are_400_on_their_field(client, token, body, field):
    response = client.post(f"{API}/jobs/speech", json=body, headers=bearer(token))
    assert response.status_code == 400
    assert [e["field"] for e in response.get_json()["errors"]] == [field]


def test_the_job_cap_is_shared_with_other_jobs(app, client, token):
    item_id = new_item(client, token)
    for _ in range(3):
        start_speech(client, token, item_id)
    response = start_speech(client, token, item_id, status=409)
    assert response.get_json() == {"error": "Too many active jobs"}


def test_no_audio_before_a_speech_job_succeeded(client, token, auth):
    item_id = new_item(client, token)
    response, _ = get_audio(client, token, item_id)
    assert response.status_code == 404
    assert response.get_json() == {"error": "No audio for this history item"}
    other = auth.signup("bob@example.com", "bob")
    response, _ = get_audio(client, other, item_id)
    assert response.get_json() == {"error": "History item not found"}


# --- running: a real worker -------------------------------------------------------------------


def test_speech_is_made_part_by_part_joined_and_served_with_range(
    app, client, token, eleven, workers
):
    eleven.fail("speech", "slow", times=4, seconds=0.5)  # long enough to see each part
    workers.start()
    item_id = new_item(client, token)  # 10,350 characters: three parts
    before = client.get(f"{API}/history/{item_id}", headers=bearer(token)).headers["ETag"]
    job_id = start_speech(client, token, item_id).get_json()["data"]["job"]["id"]
    seen: set[str] = set()

    job = wait_finished(client, token, job_id, workers, seen)

    assert job["status"] == "succeeded", workers.logs()
    assert job["kind"] == "speech" and job["historyId"] == item_id and job["progress"] == 100
    assert {"part 1 of 3", "part 2 of 3", "part 3 of 3"} <= seen
    sent = eleven.requests_to("speech")
    assert len(sent) == 3 and all(r.key_matched for r in sent)
    assert all(len(r.json["text"]) <= 5000 and r.json["model_id"] == "eleven_multilingual_v2"
               for r in sent)
    assert " ".join(r.json["text"] for r in sent).split() == (SENTENCE * 150).split()
    item = client.get(f"{API}/history/{item_id}", headers=bearer(token))
    assert item.get_json()["data"]["item"]["hasAudio"] is True
    assert item.headers["ETag"] != before

    whole, body = get_audio(client, token, item_id)
    assert whole.status_code == 200 and whole.mimetype == "audio/mpeg"
    assert whole.headers["Accept-Ranges"] == "bytes"
    path = Path(app.extensions["audiotricks.config"].audio_dir) / audio_files(app)[0]
    with av.open(str(path)) as container:  # one MP3 as long as the text asked for
        assert abs(container.duration / 1e6 - len(SENTENCE * 150) * 0.01) < 1.5
    size = len(body)
    first, head = get_audio(client, token, item_id, Range="bytes=0-99")
    assert first.status_code == 206 and head == body[:100]
    assert first.headers["Content-Range"] == f"bytes 0-99/{size}"
    rest, tail = get_audio(client, token, item_id, Range=f"bytes={size - 10}-")
    assert rest.status_code == 206 and tail == body[-10:]
    suffix, last = get_audio(client, token, item_id, Range="bytes=-20")
    assert suffix.status_code == 206 and last == body[-20:]
    beyond, _ = get_audio(client, token, item_id, Range=f"bytes={size + 5}-")
    assert beyond.status_code == 416
    assert beyond.headers["Content-Range"] == f"bytes */{size}"
    assert beyond.get_json() == {"error": "Requested Range Not Satisfiable"}
    assert eleven.key not in workers.logs()
    assert "budget review" not in workers.logs()


def test_a_new_speech_replaces_the_old_file(app, client, token, workers):
    workers.start()
    item_id = new_item(client, token)
    for source in ("summary", "summary"):
        job_id = start_speech(client, token, item_id, source).get_json()["data"]["job"]["id"]
        assert wait_finished(client, token, job_id, workers)["status"] == "succeeded"
    assert len(audio_files(app)) == 1


@pytest.mark.parametrize(
    ("failure", "code", "message"),
    [
        ("401", "provider_key_invalid",
         "The ElevenLabs API key was rejected; store a valid key and try again."),
        ("quota", "provider_quota", "The ElevenLabs account has no credit left."),
        ("500", "provider_unavailable",
         "ElevenLabs could not be reached or kept failing; try again later."),
    ],
)
def test_provider_failures_fail_the_job_and_save_nothing(
    app, client, token, eleven, workers, failure, code, message
):
    eleven.fail("speech", failure, times=50, seconds=0.2)
    workers.start()
    item_id = new_item(client, token)
    job_id = start_speech(client, token, item_id).get_json()["data"]["job"]["id"]

    job = wait_finished(client, token, job_id, workers)

    assert job["status"] == "failed" and job["error"] == {"code": code, "message": message}
    assert audio_files(app) == []
    assert get_audio(client, token, item_id)[0].status_code == 404
    valid = client.get(f"{API}/settings/api-keys", headers=bearer(token)).get_json()
    assert valid["data"]["apiKeys"]["elevenlabs"]["valid"] is (
        False if code == "provider_key_invalid" else None
    )
    if code != "provider_unavailable":
        assert len(eleven.requests_to("speech")) == 1


def test_an_unknown_voice_fails_the_job_saying_so(client, token, workers):
    workers.start()
    item_id = new_item(client, token)
    job_id = start_speech(client, token, item_id, voice="noSuchVoice").get_json()["data"]["job"]["id"]
    job = wait_finished(client, token, job_id, workers)
    assert job["error"]["code"] == "provider_unavailable"
    assert "does not know this voice" in job["error"]["message"]


def test_cancel_mid_job_makes_no_further_call_and_saves_nothing(
    app, client, token, eleven, workers
):
    eleven.fail("speech", "slow", times=1, seconds=2)
    workers.start()
    item_id = new_item(client, token)
    job_id = start_speech(client, token, item_id).get_json()["data"]["job"]["id"]
    deadline = time.monotonic() + 30
    while not eleven.requests_to("speech") and time.monotonic() < deadline:
        time.sleep(0.02)

    canceled = client.delete(f"{API}/jobs/{job_id}", headers=bearer(token))

    assert canceled.status_code == 200
    time.sleep(3)  # the slow part returns; no further part may be asked for
    assert len(eleven.requests_to("speech")) == 1
    assert job_of(client, token, job_id)["status"] == "canceled"
    assert get_audio(client, token, item_id)[0].status_code == 404
    deadline = time.monotonic() + 10
    while audio_files(app) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert audio_files(app) == []  # the run's scratch folder went with it


def test_deleting_the_item_or_the_account_deletes_the_audio(app, client, token, workers):
    workers.start()
    first, second = new_item(client, token), new_item(client, token)
    for item_id in (first, second):
        job_id = start_speech(client, token, item_id, "summary").get_json()["data"]["job"]["id"]
        assert wait_finished(client, token, job_id, workers)["status"] == "succeeded"
    assert len(audio_files(app)) == 2

    client.delete(f"{API}/history/{first}", headers=bearer(token))
    assert len(audio_files(app)) == 1

    response = client.delete(f"{API}/auth/me", json={"password": PASSWORD}, headers=bearer(token))
    assert response.status_code == 200, response.get_json()
    assert audio_files(app) == []


def test_a_transcription_job_rejected_by_openai_marks_the_key_invalid(
    client, token, openai_standin, workers, tmp_path
):
    put_key(client, token, "openai", remember("sk-" + "w" * 40))  # not the stand-in's key
    workers.start()
    body, content_type = multipart({}, audio_bytes(tmp_path, 2.0), "meeting.wav")
    response = client.post(
        f"{API}/jobs/transcriptions", data=body, content_type=content_type, headers=bearer(token)
    )
    job_id = response.get_json()["data"]["job"]["id"]

    job = wait_finished(client, token, job_id, workers)

    assert job["error"]["code"] == "provider_key_invalid"
    statuses = client.get(f"{API}/settings/api-keys", headers=bearer(token)).get_json()
    assert statuses["data"]["apiKeys"]["openai"]["valid"] is False
    assert statuses["data"]["apiKeys"]["openai"]["checkedAt"]
