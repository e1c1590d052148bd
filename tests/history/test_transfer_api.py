"""Import of the web app's local storage and export as files, through HTTP on both engines."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import unquote

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from audiotricks.models import HistoryItem
from tests.helpers import scalar
from tests.history.conftest import BODY, URL, assert_invalid, body, create, minimal

IMPORT = f"{URL}/import"


def whisper_segment(index: int, start: float, end: float, text: str) -> dict[str, Any]:
    return {
        "id": index, "seek": 0, "start": start, "end": end, "text": text,
        "tokens": [50364, 1012], "temperature": 0.0, "avg_logprob": -0.2,
        "compression_ratio": 1.3, "no_speech_prob": 0.01,
    }


def local_item(item_id: str = "1732530000000", **overrides: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": item_id,
        "timestamp": "2024-11-25T10:20:00.123Z",
        "title": "Weekly sync",
        "duration": 7384.25,
        "wordCount": 5,
        "language": "en",
        "results": {
            "transcript": {
                "text": "Hello everyone. Let's start. Bye.",
                "language": "english",
                "duration": 7384.25,
                "segments": [
                    whisper_segment(0, 0.0, 2.5, "Hello everyone."),
                    whisper_segment(1, 2.5, 6.0, "Let's start."),
                    whisper_segment(2, 7380.0, 7384.25, "Bye."),
                ],
            },
            "summary": {
                "summary": "A short sync.",
                "takeaways": ["Ship on Friday"],
                "key_moments": [
                    {"timestamp": "01:05", "title": "Opening", "description": "Hello.",
                     "importance": "high"},
                    {"timestamp": "2:03:00", "title": "Closing", "description": "Bye.",
                     "importance": "low"},
                ],
                "model": "gpt-4o-mini",
            },
            "extra": {"ignored": True},
        },
        "settings": {"anything": "the web app kept"},
    }
    item.update(overrides)
    return item


def count(app: Flask) -> int:
    return int(scalar(app, select(func.count()).select_from(HistoryItem)))


def test_import_converts_the_local_format(
    app: Flask, client: FlaskClient, headers: dict[str, str]
) -> None:
    response = client.post(IMPORT, json={"items": [local_item()]}, headers=headers)

    assert response.status_code == 200, response.get_json()
    data = response.get_json()["data"]
    assert (data["imported"], data["skipped"]) == (1, 0)
    [entry] = data["items"]
    assert entry["title"] == "Weekly sync"
    assert entry["createdAt"] == "2024-11-25T10:20:00.123000Z"
    assert entry["hasSummary"] is True

    item = client.get(f"{URL}/{entry['id']}", headers=headers).get_json()["data"]["item"]
    assert item["clientId"] == "1732530000000"
    assert item["language"] == "en"
    assert item["durationSeconds"] == 7384.25
    assert item["wordCount"] == 5  # the server's count
    assert item["transcript"]["segments"] == [
        {"start": 0.0, "end": 2.5, "text": "Hello everyone."},
        {"start": 2.5, "end": 6.0, "text": "Let's start."},
        {"start": 7380.0, "end": 7384.25, "text": "Bye."},
    ]
    assert item["summary"]["text"] == "A short sync."
    assert [m["timestamp"] for m in item["summary"]["keyMoments"]] == [65.0, 7380.0]


def test_a_key_moment_without_importance_imports_as_medium(
    client: FlaskClient, headers: dict[str, str]
) -> None:
    item = local_item()
    del item["results"]["summary"]["key_moments"][0]["importance"]
    item["results"]["summary"]["key_moments"][1]["importance"] = None

    response = client.post(IMPORT, json={"items": [item]}, headers=headers)

    assert response.status_code == 200, response.get_json()
    [entry] = response.get_json()["data"]["items"]
    item = client.get(f"{URL}/{entry['id']}", headers=headers).get_json()["data"]["item"]
    assert [m["importance"] for m in item["summary"]["keyMoments"]] == ["medium", "medium"]


def test_reimport_skips_what_is_there(
    app: Flask, client: FlaskClient, headers: dict[str, str]
) -> None:
    first = client.post(IMPORT, json={"items": [local_item("a")]}, headers=headers)
    assert first.status_code == 200

    again = client.post(
        IMPORT, json={"items": [local_item("a"), local_item("b"), local_item("b")]},
        headers=headers,
    )

    assert again.status_code == 200
    data = again.get_json()["data"]
    assert (data["imported"], data["skipped"]) == (1, 2)
    assert count(app) == 2


def _bad_segment_order(item: dict[str, Any]) -> None:
    item["results"]["transcript"]["segments"].reverse()


def _no_text(item: dict[str, Any]) -> None:
    del item["results"]["transcript"]["text"]


def _bad_moment(item: dict[str, Any]) -> None:
    item["results"]["summary"]["key_moments"][1]["timestamp"] = "1:75"


def _long_title(item: dict[str, Any]) -> None:
    item["results"]["summary"]["key_moments"][0]["title"] = "t" * 201


@pytest.mark.parametrize(
    ("spoil", "field"),
    [
        (_no_text, "items.1.results.transcript.text"),
        (_bad_segment_order, "items.1.results.transcript.segments.1.start"),
        (_bad_moment, "items.1.results.summary.key_moments.1.timestamp"),
        (_long_title, "items.1.results.summary.key_moments.0.title"),
    ],
)
def test_one_bad_item_imports_nothing(
    app: Flask, client: FlaskClient, headers: dict[str, str], spoil: Any, field: str
) -> None:
    bad = local_item("bad")
    spoil(bad)

    response = client.post(
        IMPORT, json={"items": [local_item("good"), bad, local_item("fine")]}, headers=headers
    )

    assert_invalid(response, field)
    assert all(p["field"].startswith("items.1.") for p in response.get_json()["errors"])
    assert count(app) == 0


def test_every_bad_item_is_named(client: FlaskClient, headers: dict[str, str]) -> None:
    response = client.post(
        IMPORT,
        json={"items": [local_item("a", timestamp="2999-01-01T00:00:00Z"), "x", local_item("c")]},
        headers=headers,
    )
    fields = [p["field"] for p in response.get_json()["errors"]]
    assert response.status_code == 400
    assert "items.0.timestamp" in fields
    assert any(f == "items.1" or f.startswith("items.1.") for f in fields)
    assert not any(f.startswith("items.2") for f in fields)


@pytest.mark.parametrize("items", [[], None, "x", {"0": {}}, [local_item()] * 101])
def test_items_must_be_a_list_of_1_to_100(
    client: FlaskClient, headers: dict[str, str], items: Any
) -> None:
    assert_invalid(client.post(IMPORT, json={"items": items}, headers=headers), "items")


def test_import_needs_items_and_nothing_else(
    client: FlaskClient, headers: dict[str, str]
) -> None:
    assert_invalid(client.post(IMPORT, json={}, headers=headers), "items")
    response = client.post(IMPORT, json={"items": [local_item()], "x": 1}, headers=headers)
    assert_invalid(response, "x")


@pytest.fixture
def config_overrides() -> dict[str, Any]:
    return {"history_max_items": 3}


def test_import_past_the_cap_imports_nothing(
    app: Flask, client: FlaskClient, headers: dict[str, str]
) -> None:
    create(client, headers, minimal())
    response = client.post(
        IMPORT, json={"items": [local_item(str(i)) for i in range(3)]}, headers=headers
    )
    assert response.status_code == 409
    assert response.get_json() == {"error": "History limit reached"}
    assert count(app) == 1
    ok = client.post(IMPORT, json={"items": [local_item("1"), local_item("2")]}, headers=headers)
    assert ok.status_code == 200


# --- export -------------------------------------------------------------------------------------

TYPES = {
    "txt": "text/plain; charset=utf-8",
    "md": "text/markdown; charset=utf-8",
    "json": "application/json",
    "srt": "application/x-subrip; charset=utf-8",
    "vtt": "text/vtt; charset=utf-8",
}


@pytest.mark.parametrize("fmt", list(TYPES))
def test_export_is_a_download_of_its_type(
    client: FlaskClient, headers: dict[str, str], fmt: str
) -> None:
    item = create(client, headers, BODY)

    response = client.get(f"{URL}/{item['id']}/export", query_string={"format": fmt},
                          headers=headers)

    assert response.status_code == 200
    assert response.headers["Content-Type"].replace(" ", "") == TYPES[fmt].replace(" ", "")
    assert response.headers["Content-Disposition"].startswith(
        f'attachment; filename="Weekly sync.{fmt}"'
    )
    text = response.get_data(as_text=True)
    assert "message" not in (json.loads(text) if fmt == "json" else {})
    if fmt in ("srt", "vtt"):
        assert "The budget review comes first." in text
        assert ("00:00:04,200" if fmt == "srt" else "00:00:04.200") in text
    else:
        assert "Welcome to the weekly sync." in text


def test_vtt_starts_with_its_signature(client: FlaskClient, headers: dict[str, str]) -> None:
    item = create(client, headers, BODY)
    response = client.get(f"{URL}/{item['id']}/export?format=vtt", headers=headers)
    assert response.get_data(as_text=True).startswith("WEBVTT")


@pytest.mark.parametrize("fmt", ["srt", "vtt"])
def test_subtitles_need_segments(client: FlaskClient, headers: dict[str, str], fmt: str) -> None:
    item = create(client, headers, minimal())
    response = client.get(f"{URL}/{item['id']}/export?format={fmt}", headers=headers)
    assert response.status_code == 409
    assert response.get_json() == {"error": "Transcript has no timed segments"}


@pytest.mark.parametrize("query", ["", "?format=pdf", "?format=TXT", "?format=", "?fmt=txt",
                                   "?format=txt&format=md"])
def test_bad_format_is_400_on_format(
    client: FlaskClient, headers: dict[str, str], query: str
) -> None:
    item = create(client, headers, minimal())
    response = client.get(f"{URL}/{item['id']}/export{query}", headers=headers)
    assert response.status_code == 400
    fields = [p["field"] for p in response.get_json()["errors"]]
    assert fields and set(fields) <= {"format", "fmt"}


HOSTILE_TITLES = [
    "../../etc/passwd",
    '..\\..\\windows\\system32"; filename="evil.exe',
    "line\r\nSet-Cookie: a=b",
    "tab\tand\x0bcontrols",
    "\U0001f600 party notes \u202eexe.txt",
    ".hidden",
    "CON",
    "'quoted' \"double\"",
]


@pytest.mark.parametrize("title", HOSTILE_TITLES)
def test_hostile_titles_give_harmless_file_names(
    client: FlaskClient, headers: dict[str, str], title: str
) -> None:
    item = create(client, headers, body(title=title, clientId=None))

    response = client.get(f"{URL}/{item['id']}/export?format=txt", headers=headers)

    assert response.status_code == 200
    disposition = response.headers["Content-Disposition"]
    assert "\r" not in disposition and "\n" not in disposition
    assert len(response.headers.getlist("Set-Cookie")) == 0
    match = re.fullmatch(r'attachment; filename="([^"\\]*)"; filename\*=UTF-8\'\'(\S+)', disposition)
    assert match, disposition
    for name in (match[1], unquote(match[2])):
        assert "/" not in name and "\\" not in name and '"' not in name
        assert not name.startswith(".")
        assert name.endswith(".txt")
        assert not any(ord(char) < 32 or char == "\u202e" for char in name)
    assert match[1].isascii()


def test_export_of_a_non_ascii_title_keeps_it_in_filename_star(
    client: FlaskClient, headers: dict[str, str]
) -> None:
    item = create(client, headers, body(title="Réunion \U0001f600", clientId=None))
    response = client.get(f"{URL}/{item['id']}/export?format=md", headers=headers)
    disposition = response.headers["Content-Disposition"]
    assert "filename*=UTF-8''" in disposition
    assert "Réunion" in unquote(disposition.partition("filename*=UTF-8''")[2])


def test_export_json_is_the_item(client: FlaskClient, headers: dict[str, str]) -> None:
    item = create(client, headers, BODY)
    response = client.get(f"{URL}/{item['id']}/export?format=json", headers=headers)
    exported = json.loads(response.get_data(as_text=True))
    assert exported["transcript"]["text"] == BODY["transcript"]["text"]
    assert exported["title"] == "Weekly sync"
    assert exported["summary"]["text"] == BODY["summary"]["text"]
