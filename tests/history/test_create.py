"""``POST /history``: the item as stored and returned, idempotency by clientId, every field rule."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from audiotricks.models import HistoryItem
from tests.helpers import scalar
from tests.history.conftest import BODY, URL, assert_invalid, body, create, minimal

RFC3339_Z = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")
ETAG = re.compile(r'"[0-9a-f]{32}"')


def item_count(app: Flask) -> int:
    return int(scalar(app, select(func.count()).select_from(HistoryItem)))


def test_create_returns_the_whole_item(client: FlaskClient, headers: dict[str, str]) -> None:
    response = client.post(URL, json=BODY, headers=headers)

    assert response.status_code == 201
    assert ETAG.fullmatch(response.headers["ETag"])
    item = response.get_json()["data"]["item"]
    assert set(item) == {
        "id", "clientId", "title", "language", "durationSeconds", "wordCount", "source",
        "transcript", "summary", "processingOptions", "hasAudio", "createdAt", "updatedAt",
    }
    assert item["clientId"] == BODY["clientId"]
    assert item["title"] == "Weekly sync"
    assert item["source"] == BODY["source"]
    assert item["transcript"] == BODY["transcript"]
    assert item["summary"] == BODY["summary"]
    assert item["processingOptions"] == {"model": "whisper-1"}
    assert item["wordCount"] == 10
    assert item["hasAudio"] is False
    assert RFC3339_Z.fullmatch(item["createdAt"]) and RFC3339_Z.fullmatch(item["updatedAt"])
    assert response.headers["Cache-Control"] == "no-store"


def test_minimal_body_gets_the_defaults(client: FlaskClient, headers: dict[str, str]) -> None:
    item = create(client, headers, minimal("one  two\nthree"))

    assert item["title"] == "Untitled audio"
    assert item["clientId"] is None
    assert item["language"] is None
    assert item["durationSeconds"] is None
    assert item["source"] is None
    assert item["summary"] is None
    assert item["transcript"]["segments"] == []
    assert item["processingOptions"] == {}
    assert item["wordCount"] == 3


def test_saving_history_leaves_the_account_untouched(
    client: FlaskClient, headers: dict[str, str]
) -> None:
    before = client.get("/api/v1/auth/me", headers=headers).get_json()["data"]["user"]
    create(client, headers, minimal())
    after = client.get("/api/v1/auth/me", headers=headers).get_json()["data"]["user"]
    assert after["updatedAt"] == before["updatedAt"]


def test_word_count_is_the_servers_own(client: FlaskClient, headers: dict[str, str]) -> None:
    response = client.post(URL, json={**minimal("a b c"), "wordCount": 99}, headers=headers)
    assert_invalid(response, "wordCount")


def test_given_created_at_is_kept(client: FlaskClient, headers: dict[str, str]) -> None:
    item = create(client, headers, minimal(createdAt="2024-02-29T23:59:59.123+02:00"))
    assert item["createdAt"] == "2024-02-29T21:59:59.123000Z"


def test_created_at_within_the_clock_skew_is_accepted(
    client: FlaskClient, headers: dict[str, str]
) -> None:
    soon = (datetime.now(UTC) + timedelta(minutes=4)).isoformat()
    create(client, headers, minimal(createdAt=soon))


def test_same_client_id_returns_the_existing_item_with_200(
    app: Flask, client: FlaskClient, headers: dict[str, str]
) -> None:
    first = create(client, headers, BODY)
    again = client.post(URL, json=body(title="Changed on retry"), headers=headers)

    assert again.status_code == 200
    assert again.get_json()["data"]["item"] == first
    assert item_count(app) == 1


def test_client_ids_are_per_user(
    app: Flask, client: FlaskClient, headers: dict[str, str], other_headers: dict[str, str]
) -> None:
    mine = create(client, headers, BODY)
    theirs = create(client, other_headers, BODY)
    assert mine["id"] != theirs["id"]
    assert item_count(app) == 2


def test_items_without_client_id_are_all_created(
    app: Flask, client: FlaskClient, headers: dict[str, str]
) -> None:
    create(client, headers, minimal())
    create(client, headers, minimal(clientId=None))
    assert item_count(app) == 2


LONG = "x" * 1000
SEGMENT = {"start": 0, "end": 1, "text": "a"}
MOMENT = {"timestamp": 1, "title": "t", "description": "", "importance": "low"}


def _transcript(**changes: Any) -> dict[str, Any]:
    return {"text": "Some words", "segments": [SEGMENT], **changes}


def _summary(**changes: Any) -> dict[str, Any]:
    return {"text": "s", "takeaways": [], "keyMoments": [MOMENT], **changes}


def _nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


BAD_FIELDS = [
    ({"title": ""}, "title"),
    ({"title": "t" * 201}, "title"),
    ({"title": None}, "title"),
    ({"title": 5}, "title"),
    ({"title": "a\x00b"}, "title"),
    ({"language": "english"}, "language"),
    ({"language": "EN"}, "language"),
    ({"language": 1}, "language"),
    ({"durationSeconds": -1}, "durationSeconds"),
    ({"durationSeconds": 86_400.5}, "durationSeconds"),
    ({"durationSeconds": "10"}, "durationSeconds"),
    ({"durationSeconds": True}, "durationSeconds"),
    ({"source": {"fileName": "", "fileSizeBytes": 1}}, "source.fileName"),
    ({"source": {"fileName": "f" * 256, "fileSizeBytes": 1}}, "source.fileName"),
    ({"source": {"fileName": "a.mp3", "fileSizeBytes": -1}}, "source.fileSizeBytes"),
    ({"source": {"fileName": "a.mp3", "fileSizeBytes": 1.5}}, "source.fileSizeBytes"),
    ({"source": {"fileName": "a.mp3", "fileSizeBytes": "1"}}, "source.fileSizeBytes"),
    ({"source": {"fileName": "a.mp3"}}, "source.fileSizeBytes"),
    ({"source": {"fileName": "a.mp3", "fileSizeBytes": 1, "path": "/x"}}, "source.path"),
    ({"source": "a.mp3"}, "source"),
    ({"transcript": None}, "transcript"),
    ({"transcript": "text"}, "transcript"),
    ({"transcript": {"segments": []}}, "transcript.text"),
    ({"transcript": _transcript(text="")}, "transcript.text"),
    ({"transcript": _transcript(text=None)}, "transcript.text"),
    ({"transcript": _transcript(text="x" * 1_000_001)}, "transcript.text"),
    ({"transcript": _transcript(text="a\x00")}, "transcript.text"),
    ({"transcript": _transcript(segments=None)}, "transcript.segments"),
    ({"transcript": _transcript(segments={})}, "transcript.segments"),
    ({"transcript": _transcript(segments=[SEGMENT] * 20_001)}, "transcript.segments"),
    ({"transcript": _transcript(segments=[{"start": -1, "end": 1, "text": ""}])},
     "transcript.segments.0.start"),
    ({"transcript": _transcript(segments=[{"start": 2, "end": 1, "text": ""}])},
     "transcript.segments.0.end"),
    ({"transcript": _transcript(segments=[{"start": 0, "end": 1, "text": "x" * 2001}])},
     "transcript.segments.0.text"),
    ({"transcript": _transcript(segments=[{"start": 0, "end": 1}])},
     "transcript.segments.0.text"),
    ({"transcript": _transcript(segments=[{"start": "0", "end": 1, "text": ""}])},
     "transcript.segments.0.start"),
    ({"transcript": _transcript(segments=[{**SEGMENT, "tokens": [1]}])},
     "transcript.segments.0.tokens"),
    ({"transcript": _transcript(segments=[{"start": 5, "end": 6, "text": "b"}, SEGMENT])},
     "transcript.segments.1.start"),
    ({"transcript": _transcript(words=[])}, "transcript.words"),
    ({"summary": "text"}, "summary"),
    ({"summary": _summary(text="x" * 100_001)}, "summary.text"),
    ({"summary": _summary(text=None)}, "summary.text"),
    ({"summary": _summary(takeaways=["t"] * 51)}, "summary.takeaways"),
    ({"summary": _summary(takeaways=["t" * 1001])}, "summary.takeaways.0"),
    ({"summary": _summary(takeaways=[1])}, "summary.takeaways.0"),
    ({"summary": _summary(keyMoments=[MOMENT] * 101)}, "summary.keyMoments"),
    ({"summary": _summary(keyMoments=[{**MOMENT, "timestamp": -1}])},
     "summary.keyMoments.0.timestamp"),
    ({"summary": _summary(keyMoments=[{**MOMENT, "timestamp": "01:05"}])},
     "summary.keyMoments.0.timestamp"),
    ({"summary": _summary(keyMoments=[{**MOMENT, "title": ""}])}, "summary.keyMoments.0.title"),
    ({"summary": _summary(keyMoments=[{**MOMENT, "title": "t" * 201}])},
     "summary.keyMoments.0.title"),
    ({"summary": _summary(keyMoments=[{**MOMENT, "description": "d" * 2001}])},
     "summary.keyMoments.0.description"),
    ({"summary": _summary(keyMoments=[{**MOMENT, "importance": "urgent"}])},
     "summary.keyMoments.0.importance"),
    ({"summary": _summary(key_moments=[])}, "summary.key_moments"),
    ({"processingOptions": []}, "processingOptions"),
    ({"processingOptions": None}, "processingOptions"),
    ({"processingOptions": _nested(11)}, "processingOptions"),
    ({"processingOptions": {"p": "x" * 16_400}}, "processingOptions"),
    ({"clientId": ""}, "clientId"),
    ({"clientId": "c" * 129}, "clientId"),
    ({"clientId": "has space"}, "clientId"),
    ({"clientId": "slash/"}, "clientId"),
    ({"clientId": "line\n"}, "clientId"),
    ({"clientId": 1732530000000}, "clientId"),
    ({"createdAt": "yesterday"}, "createdAt"),
    ({"createdAt": "2024-01-01T00:00:00"}, "createdAt"),
    ({"createdAt": "2999-01-01T00:00:00Z"}, "createdAt"),
    ({"createdAt": None}, "createdAt"),
    ({"id": "00000000-0000-0000-0000-000000000000"}, "id"),
    ({"hasAudio": True}, "hasAudio"),
    ({"userId": "someone"}, "userId"),
]


@pytest.mark.parametrize(("changes", "field"), BAD_FIELDS)
def test_every_field_rule_is_a_400_on_the_field_and_stores_nothing(
    app: Flask, client: FlaskClient, headers: dict[str, str], changes: dict[str, Any], field: str
) -> None:
    response = client.post(URL, json={**body(), **changes}, headers=headers)

    assert_invalid(response, field)
    assert item_count(app) == 0


def test_errors_never_echo_the_submitted_value(
    client: FlaskClient, headers: dict[str, str]
) -> None:
    secret = "sk-never-echo-this-value-0123456789"
    response = client.post(
        URL, json=body(title=secret * 10, clientId=secret + " ", language=secret), headers=headers
    )
    assert response.status_code == 400
    assert secret not in response.get_data(as_text=True)


def test_future_created_at_beyond_the_skew_is_refused(
    client: FlaskClient, headers: dict[str, str]
) -> None:
    later = (datetime.now(UTC) + timedelta(minutes=6)).isoformat()
    assert_invalid(client.post(URL, json=minimal(createdAt=later), headers=headers), "createdAt")


@pytest.mark.parametrize("raw", ["[]", '"x"', "null", "5"])
def test_body_must_be_an_object(client: FlaskClient, headers: dict[str, str], raw: str) -> None:
    response = client.post(
        URL, data=raw, headers={**headers, "Content-Type": "application/json"}
    )
    assert_invalid(response, "body")


def test_not_json_is_415(client: FlaskClient, headers: dict[str, str]) -> None:
    response = client.post(URL, data="title=x", headers=headers)
    assert response.status_code == 415


def test_duplicate_keys_are_refused(client: FlaskClient, headers: dict[str, str]) -> None:
    raw = '{"transcript": {"text": "a"}, "title": "a", "title": "b"}'
    response = client.post(
        URL, data=raw, headers={**headers, "Content-Type": "application/json"}
    )
    assert_invalid(response, "body")


def test_a_number_too_large_for_a_float_is_refused(
    client: FlaskClient, headers: dict[str, str]
) -> None:
    raw = '{"transcript": {"text": "a"}, "durationSeconds": 1e400}'
    response = client.post(
        URL, data=raw, headers={**headers, "Content-Type": "application/json"}
    )
    assert_invalid(response, "durationSeconds")


def test_requires_authentication(client: FlaskClient) -> None:
    response = client.post(URL, json=minimal())
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_a_large_transcript_with_segments_fits(
    app: Flask, client: FlaskClient, headers: dict[str, str]
) -> None:
    """About 1.3 MB of JSON: over MAX_CONTENT_LENGTH, under HISTORY_MAX_BYTES."""
    segments = [
        {"start": float(i), "end": i + 0.5, "text": f"words of part {i}"}
        for i in range(20_000)
    ]
    text = " ".join(segment["text"] for segment in segments)
    payload = minimal(text)
    payload["transcript"]["segments"] = segments
    assert 1_000_000 < len(json.dumps(payload)) < 2 * 1024 * 1024

    item = create(client, headers, payload)
    assert len(item["transcript"]["segments"]) == 20_000
    assert item["wordCount"] == 80_000
