"""POST /jobs/summaries: a new summary of an existing item, run by a real worker against the
stand-in OpenAI server, on both engines and both queue storages."""

from __future__ import annotations

import time
import uuid

import pytest

from tests.jobs.helpers import API, store_key
from tests.jobs.test_worker import job_of, wait_finished, wait_for
from tests.settings.helpers import remember

OLD_SUMMARY = {"text": "The old summary.", "takeaways": ["Old"], "keyMoments": []}
TRANSCRIPT = {
    "text": "Welcome to the weekly sync. The budget review comes first.",
    "segments": [
        {"start": 0.0, "end": 4.2, "text": "Welcome to the weekly sync."},
        {"start": 65.0, "end": 70.0, "text": "The budget review comes first."},
    ],
}


def headers(token, **extra):
    return {"Authorization": f"Bearer {token}", **extra}


@pytest.fixture
def user(auth, client, standin):
    token = auth.signup()
    store_key(client, token, remember(standin.key))
    return token


def new_item(client, token, transcript=None):
    response = client.post(
        f"{API}/history",
        json={"title": "Weekly sync", "transcript": transcript or TRANSCRIPT,
              "summary": OLD_SUMMARY},
        headers=headers(token),
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()["data"]["item"]["id"], response.headers["ETag"]


def read_item(client, token, item_id):
    response = client.get(f"{API}/history/{item_id}", headers=headers(token))
    assert response.status_code == 200
    return response.get_json()["data"]["item"], response.headers["ETag"]


def start(client, token, **body):
    return client.post(f"{API}/jobs/summaries", json=body, headers=headers(token))


def test_a_new_summary_replaces_the_items_and_changes_its_etag(client, user, standin, workers):
    item_id, etag = new_item(client, user)
    workers.start()

    response = start(client, user, historyId=item_id, summaryQuality="detailed", language="de")

    assert response.status_code == 202, response.get_json()
    job = response.get_json()["data"]["job"]
    assert response.headers["Location"] == f"/api/v1/jobs/{job['id']}"
    assert (job["kind"], job["status"], job["historyId"]) == ("summary", "queued", item_id)
    job = wait_finished(client, user, job["id"], workers)
    assert job["status"] == "succeeded", workers.logs()
    assert job["historyId"] == item_id and job["progress"] == 100
    item, new_etag = read_item(client, user, item_id)
    assert item["summary"]["text"] == f"Summary in de of {len(sent_text(standin))} characters."
    assert item["summary"]["keyMoments"][1]["timestamp"] == 65.0  # read from the timed lines
    assert item["transcript"] == TRANSCRIPT  # only the summary changed
    assert new_etag != etag
    stale = client.put(f"{API}/history/{item_id}", json={"title": "Mine"},
                       headers=headers(user, **{"If-Match": etag}))
    assert stale.status_code == 412
    [chat] = standin.requests_to("chat")
    assert chat.auth_matched
    from audiotricks.providers.openai import QUALITY_GUIDANCE

    assert QUALITY_GUIDANCE["detailed"] in chat.json["messages"][0]["content"]
    assert standin.requests_to("transcriptions") == []


def sent_text(standin):
    [chat] = standin.requests_to("chat")
    return next(m["content"] for m in chat.json["messages"] if m["role"] == "user")


def test_the_users_settings_are_the_default(client, user, standin, workers):
    item_id, _ = new_item(client, user)
    assert client.put(f"{API}/settings", json={"preferredLanguage": "fr"},
                      headers=headers(user)).status_code == 200
    workers.start()

    job = wait_finished(client, user, start(client, user, historyId=item_id).get_json()
                        ["data"]["job"]["id"], workers)

    assert job["status"] == "succeeded", workers.logs()
    assert read_item(client, user, item_id)[0]["summary"]["text"].startswith("Summary in fr ")


def test_cancel_saves_nothing(client, user, standin, workers):
    item_id, etag = new_item(client, user)
    standin.fail("chat", "slow", seconds=3)
    workers.start()
    job_id = start(client, user, historyId=item_id).get_json()["data"]["job"]["id"]
    wait_for(client, user, job_id, lambda j: len(standin.requests_to("chat")) == 1, workers)

    assert client.delete(f"{API}/jobs/{job_id}", headers=headers(user)).status_code == 200
    time.sleep(4)  # the slow call has returned by now

    job = job_of(client, user, job_id)
    assert job["status"] == "canceled" and job["error"]["code"] == "canceled"
    item, same_etag = read_item(client, user, item_id)
    assert item["summary"] == OLD_SUMMARY and same_etag == etag


@pytest.mark.parametrize(
    ("failure", "code"), [("401", "provider_key_invalid"), ("quota", "provider_quota")]
)
def test_provider_failures_fail_the_job_and_keep_the_old_summary(
    client, user, standin, workers, failure, code
):
    item_id, etag = new_item(client, user)
    standin.fail("chat", failure, times=5)
    workers.start()

    job = wait_finished(client, user, start(client, user, historyId=item_id).get_json()
                        ["data"]["job"]["id"], workers)

    assert job["status"] == "failed" and job["error"]["code"] == code
    item, same_etag = read_item(client, user, item_id)
    assert item["summary"] == OLD_SUMMARY and same_etag == etag


def test_another_users_or_an_unknown_item_is_404(client, auth, user):
    item_id, _ = new_item(client, user)
    bob = auth.signup("bob@example.com", "bob")
    store_key(client, bob)

    for token, target in ((bob, item_id), (user, str(uuid.uuid4()))):
        response = start(client, token, historyId=target)
        assert response.status_code == 404
        assert response.get_json() == {"error": "History item not found"}


def test_no_key_is_409_and_nothing_is_queued(client, auth, app):
    from tests.jobs.helpers import jobs_rows

    token = auth.signup("bob@example.com", "bob")
    item_id, _ = new_item(client, token)

    response = start(client, token, historyId=item_id)

    assert response.status_code == 409
    assert response.get_json() == {"error": "No OpenAI API key stored"}
    assert jobs_rows(app) == []


def test_an_item_without_transcript_text_is_400(client, user, app):
    from tests.jobs.helpers import jobs_rows

    item_id, _ = new_item(client, user, {"text": "   ", "segments": []})

    response = start(client, user, historyId=item_id)

    assert response.status_code == 400
    assert response.get_json()["errors"] == [
        {"field": "historyId", "message": "The item has no transcript text."}
    ]
    assert jobs_rows(app) == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "historyId"),
        ({"historyId": "not-a-uuid"}, "historyId"),
        ({"historyId": str(uuid.uuid4()), "summaryQuality": "best"}, "summaryQuality"),
        ({"historyId": str(uuid.uuid4()), "language": "english"}, "language"),
        ({"historyId": str(uuid.uuid4()), "voice": "x"}, "voice"),
    ],
)
def test_bad_bodies_are_400_on_their_field(client, user, body, field):
    response = start(client, user, **body)

    assert response.status_code == 400
    assert field in [error["field"] for error in response.get_json()["errors"]]
