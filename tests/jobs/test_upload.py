"""POST /jobs/transcriptions: real multipart uploads of real audio, and every refusal."""

from __future__ import annotations

import io
import threading

import pytest

from audiotricks.extensions import db
from audiotricks.jobs.queue import current_queue
from tests.helpers import user_id
from tests.jobs.helpers import API, audio_bytes, jobs_rows, multipart, store_key, upload_files

URL = f"{API}/jobs/transcriptions"


@pytest.fixture
def config_overrides():
    return {"upload_max_bytes": 1024 * 1024, "jobs_max_active": 3}


@pytest.fixture
def user(auth, client):
    token = auth.signup()
    store_key(client, token)
    return token


def post(client, token, data, **kwargs):
    return client.post(
        URL,
        data=data,
        headers={"Authorization": f"Bearer {token}"},
        content_type=kwargs.pop("content_type", "multipart/form-data"),
        **kwargs,
    )


def audio_part(tmp_path, fmt="wav", name="meeting.wav", seconds=2.0):
    return (io.BytesIO(audio_bytes(tmp_path, seconds, fmt)), name)


@pytest.mark.parametrize("fmt", ["wav", "mp3", "m4a", "ogg", "webm", "flac"])
def test_upload_queues_a_job_for_each_format(app, client, user, tmp_path, fmt):
    response = post(
        client,
        user,
        {"file": audio_part(tmp_path, fmt, f"sync.{fmt}"), "title": "Weekly sync",
         "language": "en", "summarize": "false"},
    )

    assert response.status_code == 202, response.get_json()
    body = response.get_json()
    job = body["data"]["job"]
    assert body["message"] == "Job queued"
    assert response.headers["Location"] == f"{API}/jobs/{job['id']}"
    assert job["kind"] == "transcription"
    assert job["status"] == "queued"
    assert job["stage"] == "queued"
    assert job["progress"] == 0
    assert job["error"] is None
    assert job["historyId"] is None
    assert job["createdAt"].endswith("Z")
    assert job["startedAt"] is None and job["finishedAt"] is None
    [row] = jobs_rows(app)
    assert str(row.id) == job["id"]
    assert row.options == {"title": "Weekly sync", "language": "en", "summarize": False}
    assert row.upload_name == f"sync.{fmt}"
    # The upload is on disk, byte for byte, under a name of ours.
    [stored] = upload_files(app)
    assert stored == row.upload_path
    assert not stored.endswith(f".{fmt}")
    with open(stored, "rb") as handle:
        assert handle.read() == audio_bytes(tmp_path, 2.0, fmt)
    assert row.upload_size == len(audio_bytes(tmp_path, 2.0, fmt))
    # The queue holds exactly one message for it.
    with app.app_context():
        assert current_queue().pending() == 1


def test_defaults_when_only_the_file_is_sent(app, client, user, tmp_path):
    response = post(client, user, {"file": audio_part(tmp_path)})

    assert response.status_code == 202
    [row] = jobs_rows(app)
    assert row.options == {"title": None, "language": None, "summarize": True}


def test_format_is_recognised_by_content_not_by_name(app, client, user, tmp_path):
    text_named_wav = (io.BytesIO(b"just some text, not audio at all\n" * 100), "talk.wav")
    response = post(client, user, {"file": text_named_wav})

    assert response.status_code == 400
    assert response.get_json()["errors"][0]["field"] == "file"
    assert jobs_rows(app) == []
    assert upload_files(app) == []
    # Real audio under a misleading name is accepted.
    response = post(client, user, {"file": audio_part(tmp_path, "flac", "notes.txt")})
    assert response.status_code == 202


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"title": ""}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"language": "english"}, "language"),
        ({"language": "EN"}, "language"),
        ({"summarize": "yes"}, "summarize"),
        ({"colour": "blue"}, "colour"),
        ({"title": "a\x00b"}, "title"),
    ],
)
def test_bad_fields_are_400_and_keep_nothing(app, client, user, tmp_path, fields, field):
    response = post(client, user, {"file": audio_part(tmp_path), **fields})

    assert response.status_code == 400
    body = response.get_json()
    assert body["error"] == "Validation failed"
    assert field in [error["field"] for error in body["errors"]]
    assert jobs_rows(app) == []
    assert upload_files(app) == []


def test_a_field_given_twice_is_400(app, client, user, tmp_path):
    response = post(
        client, user, {"file": audio_part(tmp_path), "title": ["One", "Two"]}
    )
    assert response.status_code == 400
    assert response.get_json()["errors"][0]["field"] == "title"
    assert upload_files(app) == []


def test_missing_file_part_is_400(app, client, user):
    response = post(client, user, {"title": "No audio"})

    assert response.status_code == 400
    assert response.get_json()["errors"] == [
        {"field": "file", "message": "Missing data for required field."}
    ]
    assert jobs_rows(app) == []


def test_file_as_text_field_or_twice_or_extra_file_is_400(app, client, user, tmp_path):
    assert post(client, user, {"file": "not a file part"}).status_code == 400
    twice = post(client, user, {"file": [audio_part(tmp_path), audio_part(tmp_path)]})
    assert twice.status_code == 400
    extra = post(client, user, {"file": audio_part(tmp_path), "cover": audio_part(tmp_path)})
    assert extra.status_code == 400
    assert extra.get_json()["errors"][0]["field"] == "cover"
    assert jobs_rows(app) == []
    assert upload_files(app) == []


def test_not_multipart_is_415(client, user):
    response = client.post(
        URL, json={"file": "x"}, headers={"Authorization": f"Bearer {user}"}
    )
    assert response.status_code == 415
    assert "multipart/form-data" in response.get_json()["error"]


def test_malformed_multipart_is_400(app, client, user):
    response = client.post(
        URL,
        data=b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\n\r\nRIFF",
        headers={"Authorization": f"Bearer {user}", "Content-Type": "multipart/form-data; boundary=b"},
    )
    assert response.status_code == 400
    assert response.get_json()["errors"][0]["field"] in ("body", "file")
    assert upload_files(app) == []
    missing_boundary = client.post(
        URL,
        data=b"whatever",
        headers={"Authorization": f"Bearer {user}", "Content-Type": "multipart/form-data"},
    )
    assert missing_boundary.status_code == 400


def test_larger_than_upload_max_is_413_and_nothing_is_kept(app, client, user, tmp_path):
    big = audio_bytes(tmp_path, 40.0)  # 40 s of 16 kHz 16-bit WAV: 1.28 MB > 1 MiB
    assert len(big) > 1024 * 1024

    body, content_type = multipart({}, big, "long.wav")
    # Bytes, not a file: the test client then keeps no temporary file the early 413 leaves open.
    response = post(client, user, body, content_type=content_type)

    assert response.status_code == 413
    assert response.get_json() == {"error": "Request body too large"}
    assert jobs_rows(app) == []
    assert upload_files(app) == []


def test_streamed_body_past_the_limit_is_413_and_the_partial_file_is_removed(
    app, client, user, tmp_path
):
    """No Content-Length (a chunked upload): the limit stops the body mid-file."""
    body, content_type = multipart({}, audio_bytes(tmp_path, 40.0), "a.wav")

    response = client.post(
        URL,
        input_stream=io.BytesIO(body),
        headers={
            "Authorization": f"Bearer {user}",
            "Content-Type": content_type,
            "Transfer-Encoding": "chunked",
        },
        environ_overrides={"wsgi.input_terminated": True},
    )

    assert response.status_code == 413
    assert jobs_rows(app) == []
    assert upload_files(app) == []


def test_upload_max_is_this_routes_limit_not_max_content_length(app, client, user, tmp_path):
    """MAX_CONTENT_LENGTH (64 KiB) still bounds JSON routes; uploads get UPLOAD_MAX_BYTES."""
    clip = audio_bytes(tmp_path, 10.0)
    assert 65536 < len(clip) < 1024 * 1024
    assert post(client, user, {"file": (io.BytesIO(clip), "ten.wav")}).status_code == 202
    big_json = client.put(
        f"{API}/settings",
        json={"settingsJson": {"x": "y" * 70000}},
        headers={"Authorization": f"Bearer {user}"},
    )
    assert big_json.status_code == 413


def test_no_openai_key_is_409_and_nothing_is_kept(app, client, auth, tmp_path):
    token = auth.signup()

    response = post(client, token, {"file": audio_part(tmp_path)})

    assert response.status_code == 409
    assert response.get_json() == {"error": "No OpenAI API key stored"}
    assert jobs_rows(app) == []
    assert upload_files(app) == []
    with app.app_context():
        assert current_queue().pending() == 0


def test_active_job_cap_is_409(app, client, user, tmp_path):
    for _ in range(3):
        assert post(client, user, {"file": audio_part(tmp_path)}).status_code == 202

    response = post(client, user, {"file": audio_part(tmp_path)})

    assert response.status_code == 409
    assert response.get_json() == {"error": "Too many active jobs"}
    assert len(jobs_rows(app)) == 3
    assert len(upload_files(app)) == 3
    # A canceled job frees its slot.
    first = jobs_rows(app)[0]
    headers = {"Authorization": f"Bearer {user}"}
    assert client.delete(f"{API}/jobs/{first.id}", headers=headers).status_code == 200
    assert post(client, user, {"file": audio_part(tmp_path)}).status_code == 202


def test_cap_holds_under_concurrent_uploads(app, user, tmp_path):
    """Eight uploads at once for a cap of 3: never more than 3 jobs kept, files only for those."""
    clip = audio_bytes(tmp_path, 2.0)
    results = []

    def one():
        with app.test_client() as own:
            results.append(post(own, user, {"file": (io.BytesIO(clip), "a.wav")}).status_code)

    threads = [threading.Thread(target=one) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert set(results) <= {202, 409}
    kept = jobs_rows(app)
    assert 1 <= len(kept) <= 3
    assert results.count(202) == len(kept)
    assert sorted(upload_files(app)) == sorted(job.upload_path for job in kept)


def test_other_users_jobs_do_not_count_towards_the_cap(app, client, auth, user, tmp_path):
    for _ in range(3):
        assert post(client, user, {"file": audio_part(tmp_path)}).status_code == 202
    bob = auth.signup("bob@example.com", "bob")
    store_key(client, bob)
    assert post(client, bob, {"file": audio_part(tmp_path)}).status_code == 202
    with app.app_context():
        db.session.remove()
    assert len(jobs_rows(app, user_id(bob))) == 1


def test_authentication_is_required(client, tmp_path):
    response = client.post(URL, data={"file": audio_part(tmp_path)})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
