"""``GET /history``: newest first, keyset pages that never repeat or skip, strict parameters."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.history.conftest import URL, assert_invalid, create, minimal

BASE = datetime(2026, 1, 1, tzinfo=UTC)


def stamp(minutes: int) -> str:
    return (BASE + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


def page(client: FlaskClient, headers: dict[str, str], **params: Any) -> dict[str, Any]:
    response = client.get(URL, query_string=params, headers=headers)
    assert response.status_code == 200, response.get_json()
    data: dict[str, Any] = response.get_json()["data"]
    return data


def every_page(client: FlaskClient, headers: dict[str, str], **params: Any) -> list[str]:
    ids: list[str] = []
    data = page(client, headers, **params)
    while True:
        ids += [entry["id"] for entry in data["items"]]
        if data["nextCursor"] is None:
            return ids
        data = page(client, headers, **params, cursor=data["nextCursor"])


def test_entries_are_newest_first_and_never_the_transcript(
    client: FlaskClient, headers: dict[str, str]
) -> None:
    old = create(client, headers, minimal("old words", createdAt=stamp(1)))
    new = create(client, headers, minimal("new words " * 500, createdAt=stamp(2)))

    data = page(client, headers)

    assert [entry["id"] for entry in data["items"]] == [new["id"], old["id"]]
    assert data["nextCursor"] is None
    entry = data["items"][0]
    assert set(entry) == {
        "id", "title", "language", "durationSeconds", "wordCount", "hasSummary", "hasAudio",
        "snippet", "createdAt", "updatedAt",
    }
    assert entry["wordCount"] == 1000
    assert entry["snippet"].startswith("new words new words")
    assert len(entry["snippet"]) <= 240


def test_only_the_callers_items(
    client: FlaskClient, headers: dict[str, str], other_headers: dict[str, str]
) -> None:
    create(client, other_headers, minimal())
    assert page(client, headers)["items"] == []


def test_pages_cover_every_item_once_in_order(
    client: FlaskClient, headers: dict[str, str]
) -> None:
    # Pairs share a createdAt, so the id breaks ties.
    created = [create(client, headers, minimal(createdAt=stamp(i // 2)))["id"] for i in range(11)]

    ids = every_page(client, headers, limit=3)

    assert sorted(ids) == sorted(created)
    assert len(ids) == len(set(ids)) == 11
    assert ids == [entry["id"] for entry in page(client, headers, limit=100)["items"]]


def test_default_limit_is_20(client: FlaskClient, headers: dict[str, str]) -> None:
    for i in range(21):
        create(client, headers, minimal(createdAt=stamp(i)))
    data = page(client, headers)
    assert len(data["items"]) == 20
    assert data["nextCursor"] is not None


def test_changes_while_paging_never_repeat_or_skip_older_items(
    client: FlaskClient, headers: dict[str, str]
) -> None:
    ids = [create(client, headers, minimal(createdAt=stamp(i)))["id"] for i in range(10)]
    newest_first = ids[::-1]

    first = page(client, headers, limit=4)
    assert [e["id"] for e in first["items"]] == newest_first[:4]
    # Meanwhile: new items arrive (newer and older than the cursor), one seen and one unseen
    # item are deleted.
    create(client, headers, minimal(createdAt=stamp(100)))
    create(client, headers, minimal(createdAt=stamp(7)))
    late = create(client, headers, minimal(createdAt=stamp(3)))["id"]
    assert client.delete(f"{URL}/{newest_first[0]}", headers=headers).status_code == 200
    assert client.delete(f"{URL}/{newest_first[5]}", headers=headers).status_code == 200

    rest: list[str] = []
    data = first
    while data["nextCursor"]:
        data = page(client, headers, limit=4, cursor=data["nextCursor"])
        rest += [e["id"] for e in data["items"]]

    seen = [e["id"] for e in first["items"]] + rest
    assert len(seen) == len(set(seen))
    older_unseen = [i for i in newest_first[4:] if i != newest_first[5]]
    assert [i for i in rest if i != late] == older_unseen
    assert late in rest  # created older than the cursor: it is reached, not skipped


@pytest.mark.parametrize("limit", ["0", "101", "-1", "abc", "1.5", "", "1e2"])
def test_bad_limit_is_400_on_limit(
    client: FlaskClient, headers: dict[str, str], limit: str
) -> None:
    assert_invalid(client.get(f"{URL}?limit={limit}", headers=headers), "limit")


def _cursor(client: FlaskClient, headers: dict[str, str]) -> str:
    for i in range(3):
        create(client, headers, minimal(createdAt=stamp(i)))
    cursor: str = page(client, headers, limit=1)["nextCursor"]
    return cursor


def _flip(cursor: str) -> str:
    head, _, mac = cursor.partition(".")
    payload = base64.urlsafe_b64decode(head + "=" * (-len(head) % 4))
    forged = payload.replace(b'"l"', b'"s"')
    return base64.urlsafe_b64encode(forged).rstrip(b"=").decode() + "." + mac


@pytest.mark.parametrize(
    "make_bad",
    [
        lambda c: "garbage",
        lambda c: "",
        lambda c: c + "x",
        lambda c: c[:-2],
        lambda c: c.replace(".", ""),
        lambda c: "." + c.partition(".")[2],
        _flip,
        lambda c: "A" * 600,
        lambda c: c + "\u00e9",
        lambda c: "eyJ4IjoxfQ.AAAAAAAAAAAAAAAAAAAAAA",
        lambda c: c.partition(".")[0] + "." + base64.urlsafe_b64encode(b"\0" * 16).decode(),
    ],
)
def test_bad_cursor_is_400_on_cursor(
    client: FlaskClient, headers: dict[str, str], make_bad: Any
) -> None:
    cursor = _cursor(client, headers)
    response = client.get(URL, query_string={"cursor": make_bad(cursor)}, headers=headers)
    assert_invalid(response, "cursor")
    assert cursor.partition(".")[0] not in response.get_data(as_text=True)


def test_another_users_cursor_is_400(
    client: FlaskClient, headers: dict[str, str], other_headers: dict[str, str]
) -> None:
    cursor = _cursor(client, headers)
    response = client.get(URL, query_string={"cursor": cursor}, headers=other_headers)
    assert_invalid(response, "cursor")


def test_a_list_cursor_is_not_a_search_cursor(
    client: FlaskClient, headers: dict[str, str]
) -> None:
    cursor = _cursor(client, headers)
    response = client.get(URL, query_string={"cursor": cursor, "q": "hello"}, headers=headers)
    assert_invalid(response, "cursor")


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=1&limit=2", "limit"),
        ("page=2", "page"),
        ("offset=10", "offset"),
        ("q=a%00b", "q"),
        ("cursor=a%00b", "cursor"),
    ],
)
def test_repeated_unknown_or_nul_parameters_are_400(
    client: FlaskClient, headers: dict[str, str], query: str, field: str
) -> None:
    assert_invalid(client.get(f"{URL}?{query}", headers=headers), field)


def test_requires_authentication(client: FlaskClient) -> None:
    assert client.get(URL).status_code == 401
