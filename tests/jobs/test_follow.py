"""GET /jobs, GET /jobs/<id> (ETag, 304), DELETE /jobs/<id>, and 404s for what is not yours."""

from __future__ import annotations

import io
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import update

from audiotricks.models import Job, utcnow
from tests.helpers import execute, user_id
from tests.jobs.helpers import API, audio_bytes, jobs_rows, store_key, upload_files


@pytest.fixture
def config_overrides():
    return {"jobs_max_active": 100}


@pytest.fixture
def user(auth, client):
    token = auth.signup()
    store_key(client, token)
    return token


def headers(token, **extra):
    return {"Authorization": f"Bearer {token}", **extra}


def start(client, token, tmp_path):
    response = client.post(
        f"{API}/jobs/transcriptions",
        data={"file": (io.BytesIO(audio_bytes(tmp_path)), "a.wav")},
        headers=headers(token),
        content_type="multipart/form-data",
    )
    assert response.status_code == 202
    return response.get_json()["data"]["job"]["id"]


def test_list_is_the_callers_50_newest_first(app, client, auth, user, tmp_path):
    ids = [start(client, user, tmp_path) for _ in range(3)]
    # Spread the creation times, and add enough older jobs to pass the page size.
    now = utcnow()
    for index, job_id in enumerate(ids):
        execute(app, update(Job).where(Job.id == uuid.UUID(job_id))
                .values(created_at=now - timedelta(minutes=10 - index)))
    with app.app_context():
        from audiotricks.extensions import db

        for minutes in range(60):
            db.session.add(Job(user_id=user_id(user), kind="transcription", status="succeeded",
                               stage="done", progress=100, options={}, attempts=1,
                               created_at=now - timedelta(hours=1, minutes=minutes),
                               updated_at=now))
        db.session.commit()
    bob = auth.signup("bob@example.com", "bob")
    store_key(client, bob)
    bobs = start(client, bob, tmp_path)

    response = client.get(f"{API}/jobs", headers=headers(user))

    assert response.status_code == 200
    jobs = response.get_json()["data"]["jobs"]
    assert len(jobs) == 50
    assert [job["id"] for job in jobs[:3]] == list(reversed(ids))
    created = [job["createdAt"] for job in jobs]
    assert created == sorted(created, reverse=True)
    assert bobs not in [job["id"] for job in jobs]
    assert [job["id"] for job in client.get(f"{API}/jobs", headers=headers(bob))
            .get_json()["data"]["jobs"]] == [bobs]


def test_get_has_an_etag_and_if_none_match_gives_304(app, client, user, tmp_path):
    job_id = start(client, user, tmp_path)

    first = client.get(f"{API}/jobs/{job_id}", headers=headers(user))

    assert first.status_code == 200
    etag = first.headers["ETag"]
    assert etag.startswith('"') and etag.endswith('"')
    assert first.get_json()["data"]["job"]["id"] == job_id
    same = client.get(f"{API}/jobs/{job_id}", headers=headers(user, **{"If-None-Match": etag}))
    assert same.status_code == 304
    assert same.data == b""
    assert same.headers["ETag"] == etag
    weak = client.get(f"{API}/jobs/{job_id}", headers=headers(user, **{"If-None-Match": "W/" + etag}))
    assert weak.status_code == 304
    # Any change of the job changes its ETag.
    execute(app, update(Job).where(Job.id == uuid.UUID(job_id)).values(progress=40,
                                                                       status="running"))
    changed = client.get(f"{API}/jobs/{job_id}", headers=headers(user, **{"If-None-Match": etag}))
    assert changed.status_code == 200
    assert changed.headers["ETag"] != etag
    assert changed.get_json()["data"]["job"]["progress"] == 40


@pytest.mark.parametrize("method", ["get", "delete"])
def test_unknown_malformed_or_others_job_is_404(client, auth, user, tmp_path, method):
    bob = auth.signup("bob@example.com", "bob")
    store_key(client, bob)
    bobs = start(client, bob, tmp_path)

    for job_id in (str(uuid.uuid4()), "not-a-uuid", bobs):
        response = getattr(client, method)(f"{API}/jobs/{job_id}", headers=headers(user))
        assert response.status_code == 404
        assert response.get_json() == {"error": "Job not found"}
    # Bob's job is untouched.
    assert client.get(f"{API}/jobs/{bobs}", headers=headers(bob)).get_json()["data"]["job"][
        "status"] == "queued"


def test_cancel_a_queued_job_removes_its_upload(app, client, user, tmp_path):
    job_id = start(client, user, tmp_path)
    assert len(upload_files(app)) == 1

    response = client.delete(f"{API}/jobs/{job_id}", headers=headers(user))

    assert response.status_code == 200
    job = response.get_json()["data"]["job"]
    assert job["status"] == "canceled"
    assert job["error"] == {"code": "canceled", "message": "The job was canceled."}
    assert job["finishedAt"] is not None
    assert upload_files(app) == []
    [row] = jobs_rows(app)
    assert row.upload_path is None
    again = client.delete(f"{API}/jobs/{job_id}", headers=headers(user))
    assert again.status_code == 409
    assert again.get_json() == {"error": "Job already finished"}


@pytest.mark.parametrize("status", ["succeeded", "failed"])
def test_a_finished_job_cannot_be_canceled(app, client, user, tmp_path, status):
    job_id = start(client, user, tmp_path)
    execute(app, update(Job).where(Job.id == uuid.UUID(job_id)).values(status=status))

    response = client.delete(f"{API}/jobs/{job_id}", headers=headers(user))

    assert response.status_code == 409
    assert response.get_json() == {"error": "Job already finished"}
    assert jobs_rows(app)[0].status == status


def test_deleting_the_account_deletes_its_jobs(app, client, auth, user, tmp_path):
    from tests.conftest import PASSWORD

    start(client, user, tmp_path)
    response = client.delete(
        f"{API}/auth/me", json={"password": PASSWORD}, headers=headers(user)
    )
    assert response.status_code == 200
    assert jobs_rows(app) == []


def test_job_routes_need_a_session(client):
    for method, path in (("get", "/jobs"), ("get", f"/jobs/{uuid.uuid4()}"),
                         ("delete", f"/jobs/{uuid.uuid4()}")):
        response = getattr(client, method)(f"{API}{path}")
        assert response.status_code == 401


def test_openapi_documents_the_job_routes(client):
    spec = client.get(f"{API}/openapi.json").get_json()
    upload = spec["paths"]["/api/v1/jobs/transcriptions"]["post"]
    body = upload["requestBody"]["content"]["multipart/form-data"]["schema"]
    form = spec["components"]["schemas"][body["$ref"].rsplit("/", 1)[-1]]
    assert form["required"] == ["file"]
    assert form["properties"]["file"]["format"] == "binary"
    assert {"title", "language", "summarize"} <= set(form["properties"])
    assert {"202", "400", "409", "413", "415"} <= set(upload["responses"])
    assert {"200", "304", "404"} <= set(spec["paths"]["/api/v1/jobs/{job_id}"]["get"]["responses"])
    assert "409" in spec["paths"]["/api/v1/jobs/{job_id}"]["delete"]["responses"]
    assert "200" in spec["paths"]["/api/v1/jobs"]["get"]["responses"]
