"""Reading, updating and deleting one item: ETags, If-Match, 404s, and the account's cascade."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from audiotricks.models import HistoryItem
from tests.conftest import PASSWORD
from tests.helpers import scalar
from tests.history.conftest import BODY, URL, assert_invalid, body, create, minimal

NOT_FOUND = {"error": "History item not found"}


def raw_item(app: Flask, item_id: str) -> HistoryItem | None:
    return scalar(app, select(HistoryItem).where(HistoryItem.id == uuid.UUID(item_id)))


def test_get_returns_the_item_and_its_etag(client: FlaskClient, headers: dict[str, str]) -> None:
    created = client.post(URL, json=BODY, headers=headers)
    item_id = created.get_json()["data"]["item"]["id"]

    response = client.get(f"{URL}/{item_id}", headers=headers)

    assert response.status_code == 200
    assert response.get_json()["data"]["item"] == created.get_json()["data"]["item"]
    assert response.headers["ETag"] == created.headers["ETag"]


def test_if_none_match_with_the_current_etag_is_304(
    client: FlaskClient, headers: dict[str, str]
) -> None:
    item = create(client, headers, BODY)
    etag = client.get(f"{URL}/{item['id']}", headers=headers).headers["ETag"]

    unchanged = client.get(f"{URL}/{item['id']}", headers={**headers, "If-None-Match": etag})
    assert unchanged.status_code == 304
    assert unchanged.data == b""
    assert unchanged.headers["ETag"] == etag

    other = client.get(f"{URL}/{item['id']}", headers={**headers, "If-None-Match": '"nope"'})
    assert other.status_code == 200


def _missing_ids(client: FlaskClient, other_headers: dict[str, str]) -> list[str]:
    theirs = create(client, other_headers, minimal())["id"]
    return [str(uuid.uuid4()), "not-a-uuid", "1", theirs]


@pytest.mark.parametrize("method", ["get", "put", "delete", "export"])
def test_unknown_malformed_or_anothers_id_is_404(
    app: Flask,
    client: FlaskClient,
    headers: dict[str, str],
    other_headers: dict[str, str],
    method: str,
) -> None:
    for item_id in _missing_ids(client, other_headers):
        if method == "export":
            response = client.get(f"{URL}/{item_id}/export?format=txt", headers=headers)
        elif method == "put":
            response = client.put(f"{URL}/{item_id}", json={"title": "Mine"}, headers=headers)
        else:
            response = getattr(client, method)(f"{URL}/{item_id}", headers=headers)
        assert response.status_code == 404, (item_id, response.get_json())
        assert response.get_json() == NOT_FOUND
    # The other user's item is untouched.
    [theirs] = client.get(URL, headers=other_headers).get_json()["data"]["items"]
    assert theirs["title"] == "Untitled audio"


def test_partial_update_changes_only_what_is_given(
    app: Flask, client: FlaskClient, headers: dict[str, str]
) -> None:
    created = client.post(URL, json=BODY, headers=headers)
    item = created.get_json()["data"]["item"]

    response = client.put(
        f"{URL}/{item['id']}",
        json={"title": "Renamed", "transcript": {"text": "just three words"}},
        headers=headers,
    )

    assert response.status_code == 200
    updated = response.get_json()["data"]["item"]
    assert updated["title"] == "Renamed"
    assert updated["transcript"] == {"text": "just three words", "segments": []}
    assert updated["wordCount"] == 3
    for name in ("summary", "language", "source", "processingOptions", "createdAt", "clientId"):
        assert updated[name] == item[name]
    assert updated["updatedAt"] >= item["updatedAt"]
    assert response.headers["ETag"] != created.headers["ETag"]
    assert response.headers["ETag"] == client.get(
        f"{URL}/{item['id']}", headers=headers
    ).headers["ETag"]


def test_summary_and_language_can_be_cleared(client: FlaskClient, headers: dict[str, str]) -> None:
    item = create(client, headers, BODY)
    response = client.put(
        f"{URL}/{item['id']}", json={"summary": None, "language": None}, headers=headers
    )
    assert response.status_code == 200
    assert response.get_json()["data"]["item"]["summary"] is None
    assert response.get_json()["data"]["item"]["language"] is None
    [entry] = client.get(URL, headers=headers).get_json()["data"]["items"]
    assert entry["hasSummary"] is False


def test_if_match_with_the_current_etag_updates(
    client: FlaskClient, headers: dict[str, str]
) -> None:
    created = client.post(URL, json=BODY, headers=headers)
    item_id = created.get_json()["data"]["item"]["id"]
    response = client.put(
        f"{URL}/{item_id}",
        json={"title": "Mine"},
        headers={**headers, "If-Match": created.headers["ETag"]},
    )
    assert response.status_code == 200


@pytest.mark.parametrize("if_match", ["stale", '"0000"', 'W/"{etag}"', "{bare}", ""])
def test_if_match_with_another_value_is_412_and_changes_nothing(
    app: Flask, client: FlaskClient, headers: dict[str, str], if_match: str
) -> None:
    created = client.post(URL, json=BODY, headers=headers)
    item_id = created.get_json()["data"]["item"]["id"]
    etag = created.headers["ETag"]
    stale = client.put(f"{URL}/{item_id}", json={"title": "First"}, headers=headers)
    assert stale.status_code == 200
    value = {"stale": etag}.get(if_match) or if_match.format(
        etag=stale.headers["ETag"].strip('"'), bare=stale.headers["ETag"].strip('"')
    )
    before = raw_item(app, item_id)

    response = client.put(
        f"{URL}/{item_id}", json={"title": "Second"}, headers={**headers, "If-Match": value}
    )

    assert response.status_code == 412
    assert response.get_json() == {"error": "Precondition failed"}
    after = raw_item(app, item_id)
    assert before is not None and after is not None
    assert (after.title, after.revision, after.updated_at) == (
        before.title, before.revision, before.updated_at,
    )


def test_if_match_star_matches_an_existing_item(
    client: FlaskClient, headers: dict[str, str]
) -> None:
    item = create(client, headers, BODY)
    response = client.put(
        f"{URL}/{item['id']}", json={"title": "Any"}, headers={**headers, "If-Match": "*"}
    )
    assert response.status_code == 200


UPDATE_PROBLEMS = [
    ({}, "body"),
    ({"title": ""}, "title"),
    ({"title": None}, "title"),
    ({"transcript": None}, "transcript"),
    ({"transcript": {"text": ""}}, "transcript.text"),
    ({"processingOptions": None}, "processingOptions"),
    ({"clientId": "new"}, "clientId"),
    ({"createdAt": "2024-01-01T00:00:00Z"}, "createdAt"),
    ({"durationSeconds": 3}, "durationSeconds"),
    ({"source": None}, "source"),
    ({"wordCount": 3}, "wordCount"),
    ({"summary": {"text": "s", "keyMoments": [{"timestamp": 1}]}}, "summary.keyMoments.0.title"),
]


@pytest.mark.parametrize(("payload", "field"), UPDATE_PROBLEMS)
def test_bad_updates_are_400_and_change_nothing(
    app: Flask, client: FlaskClient, headers: dict[str, str], payload: dict[str, Any], field: str
) -> None:
    item = create(client, headers, BODY)
    before = raw_item(app, item["id"])

    assert_invalid(client.put(f"{URL}/{item['id']}", json=payload, headers=headers), field)
    after = raw_item(app, item["id"])
    assert before is not None and after is not None
    assert after.revision == before.revision


def test_delete_removes_the_item(app: Flask, client: FlaskClient, headers: dict[str, str]) -> None:
    item = create(client, headers, BODY)

    response = client.delete(f"{URL}/{item['id']}", headers=headers)

    assert response.status_code == 200
    assert response.get_json()["data"] == {}
    assert raw_item(app, item["id"]) is None
    assert client.get(f"{URL}/{item['id']}", headers=headers).status_code == 404
    assert client.delete(f"{URL}/{item['id']}", headers=headers).status_code == 404
    # Its clientId is free again.
    assert client.post(URL, json=BODY, headers=headers).status_code == 201


def test_deleting_the_account_deletes_its_history(
    app: Flask, client: FlaskClient, headers: dict[str, str], other_headers: dict[str, str]
) -> None:
    create(client, headers, body(clientId="a"))
    create(client, headers, body(clientId="b"))
    create(client, other_headers, body(clientId="a"))

    response = client.delete("/api/v1/auth/me", json={"password": PASSWORD}, headers=headers)

    assert response.status_code == 200
    assert scalar(app, select(func.count()).select_from(HistoryItem)) == 1
    assert len(client.get(URL, headers=other_headers).get_json()["data"]["items"]) == 1
