"""``GET /history?q=``: words over title, transcript and summary; the same tests on both engines,
including input that is syntax in FTS5 or tsquery."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.history.conftest import URL, assert_invalid, create, minimal


def search(client: FlaskClient, headers: dict[str, str], q: str, **params: Any) -> dict[str, Any]:
    response = client.get(URL, query_string={"q": q, **params}, headers=headers)
    assert response.status_code == 200, response.get_json()
    data: dict[str, Any] = response.get_json()["data"]
    return data


def found(client: FlaskClient, headers: dict[str, str], q: str) -> list[str]:
    return [entry["title"] for entry in search(client, headers, q)["items"]]


@pytest.fixture
def library(client: FlaskClient, headers: dict[str, str]) -> None:
    create(client, headers, minimal(
        "We planned the quarterly budget and the hiring freeze.",
        title="Finance meeting",
        summary={"text": "Budget planning.", "takeaways": ["Freeze hiring until spring"],
                 "keyMoments": [{"timestamp": 5, "title": "Roadmap", "description": "Rockets"}]},
    ))
    create(client, headers, minimal("The garden needs water and sunlight.", title="Gardening tips"))
    create(client, headers, minimal("Café crème at the Müller bakery.", title="Breakfast"))


@pytest.mark.usefixtures("library")
@pytest.mark.parametrize(
    ("q", "titles"),
    [
        ("budget", ["Finance meeting"]),  # transcript and summary
        ("finance", ["Finance meeting"]),  # title only
        ("rockets", ["Finance meeting"]),  # a key moment's description
        ("spring", ["Finance meeting"]),  # a takeaway
        ("BUDGET", ["Finance meeting"]),  # case-insensitive
        ("Budget Hiring", ["Finance meeting"]),  # every word ...
        ("budget sunlight", []),  # ... is required
        ("meetings", ["Finance meeting"]),  # stemmed
        ("planning", ["Finance meeting"]),
        ("waters", ["Gardening tips"]),
        ("café", ["Breakfast"]),
        ("müller", ["Breakfast"]),
        ("nothing-like-this", []),
    ],
)
def test_words_match_title_transcript_and_summary(
    client: FlaskClient, headers: dict[str, str], q: str, titles: list[str]
) -> None:
    assert found(client, headers, q) == titles


def test_only_the_callers_items_are_searched(
    client: FlaskClient, headers: dict[str, str], other_headers: dict[str, str]
) -> None:
    create(client, other_headers, minimal("secret budget of bob", title="Bob's"))
    create(client, headers, minimal("my budget", title="Alice's"))
    assert found(client, headers, "budget") == ["Alice's"]
    assert found(client, other_headers, "budget") == ["Bob's"]


def test_best_match_first(client: FlaskClient, headers: dict[str, str]) -> None:
    filler = "unrelated words about many other things " * 40
    create(client, headers, minimal(filler + "one budget line", title="Passing mention"))
    create(client, headers, minimal("budget budget budget review", title="Budget review"))
    create(client, headers, minimal(filler + "another budget and budget", title="Two mentions"))

    assert found(client, headers, "budget") == ["Budget review", "Two mentions", "Passing mention"]


def test_snippet_shows_the_match_and_stays_short(
    client: FlaskClient, headers: dict[str, str]
) -> None:
    text = "intro " * 3000 + "the zebra crossing was repainted " + "outro " * 3000
    create(client, headers, minimal(text, title="Long"))
    create(client, headers, minimal("zebra " + "x" * 200_000, title="Giant word"))

    entries = search(client, headers, "zebra")["items"]

    by_title = {entry["title"]: entry["snippet"] for entry in entries}
    assert "zebra" in by_title["Long"]
    assert len(by_title["Long"]) <= 240
    assert len(by_title["Giant word"]) <= 240


def test_snippet_finds_a_stemmed_or_capitalised_match_deep_in_the_transcript(
    client: FlaskClient, headers: dict[str, str]
) -> None:
    filler = "lorem ipsum dolor sit amet " * 800
    create(client, headers, minimal(filler + "Zebras crossed here. " + filler, title="Capital"))
    create(client, headers, minimal(filler + "we held several meetings " + filler, title="Stem"))
    create(client, headers, minimal(
        filler + "the budget first " + filler + "then the hiring plan " + filler, title="Apart"
    ))

    assert "Zebras crossed" in search(client, headers, "zebra")["items"][0]["snippet"]
    assert "meetings" in search(client, headers, "meeting")["items"][0]["snippet"]
    # Words far apart: the passage shows the first of them.
    assert "budget" in search(client, headers, "hiring budget")["items"][0]["snippet"]


def test_search_pages_cover_every_match_once(
    client: FlaskClient, headers: dict[str, str]
) -> None:
    for i in range(7):
        create(client, headers, minimal("budget " * (i % 3 + 1) + f"item {i}", title=f"t{i}"))
    create(client, headers, minimal("no match here", title="other"))

    everything = [e["id"] for e in search(client, headers, "budget", limit=100)["items"]]
    paged: list[str] = []
    data = search(client, headers, "budget", limit=3)
    while True:
        paged += [e["id"] for e in data["items"]]
        if not data["nextCursor"]:
            break
        data = search(client, headers, "budget", limit=3, cursor=data["nextCursor"])

    assert len(everything) == 7
    assert paged == everything


def test_a_search_cursor_is_bound_to_its_words(
    client: FlaskClient, headers: dict[str, str]
) -> None:
    for i in range(3):
        create(client, headers, minimal(f"budget {i}"))
    cursor = search(client, headers, "budget", limit=1)["nextCursor"]

    response = client.get(URL, query_string={"q": "budgets", "cursor": cursor}, headers=headers)
    assert_invalid(response, "cursor")
    response = client.get(URL, query_string={"cursor": cursor}, headers=headers)
    assert_invalid(response, "cursor")


def test_the_index_follows_updates_and_deletes(
    client: FlaskClient, headers: dict[str, str]
) -> None:
    item = create(client, headers, minimal("apples and pears", title="Fruit"))
    client.put(f"{URL}/{item['id']}", json={"transcript": {"text": "plums"}}, headers=headers)
    assert found(client, headers, "apples") == []
    assert found(client, headers, "plums") == ["Fruit"]
    client.put(f"{URL}/{item['id']}", json={"title": "Orchard"}, headers=headers)
    assert found(client, headers, "orchard") == ["Orchard"]
    client.put(
        f"{URL}/{item['id']}", json={"summary": {"text": "cherries"}}, headers=headers
    )
    assert found(client, headers, "cherries") == ["Orchard"]
    client.delete(f"{URL}/{item['id']}", headers=headers)
    assert found(client, headers, "plums") == []


HOSTILE = [
    '"', '""', '"budget', "*", "budget*", "NEAR", "NEAR(a b)", "NEAR(budget hiring, 2)", ":",
    "title:budget", "{title}:budget", "^budget", "&", "|", "!", "!budget", "(", ")", "((", "a)",
    "a OR b", "budget OR", "AND", "NOT budget", "-word", "-budget", "budget -hiring", "<->",
    "budget <-> hiring", "a & b | !c", "'", "''", "\\", "%", "_", ";--", "' OR 1=1 --",
    "\u00e9\u00e8\u00ea", "\u65e5\u672c\u8a9e", "\U0001f600", "\u202e", "\u0301", "a\u0000b"[:1],
    "!@#$%^&*()_+-=[]{};':\",./<>?`~" * 6, "x" * 200,
]


@pytest.mark.usefixtures("library")
def test_query_syntax_in_user_input_is_never_an_error(
    client: FlaskClient, headers: dict[str, str]
) -> None:
    # One library for every input (a test each would rebuild it): each answer is a 200 page.
    for q in HOSTILE:
        response = client.get(URL, query_string={"q": q[:200]}, headers=headers)
        assert response.status_code == 200, (q, response.get_json())
        assert isinstance(response.get_json()["data"]["items"], list)


@pytest.mark.usefixtures("library")
def test_quoted_words_still_match_as_words(client: FlaskClient, headers: dict[str, str]) -> None:
    assert found(client, headers, '"budget"') == ["Finance meeting"]
    assert found(client, headers, "budget*") == ["Finance meeting"]


@pytest.mark.parametrize("q", ["", "x" * 201])
def test_bad_q_is_400_on_q(client: FlaskClient, headers: dict[str, str], q: str) -> None:
    assert_invalid(client.get(URL, query_string={"q": q}, headers=headers), "q")


def _distinct_words(count: int) -> str:
    """``count`` different made-up words (base-26 numerals), 6-7 characters with the space."""
    words = []
    for index in range(count):
        letters, rest = "", index
        for _ in range(5):
            rest, digit = divmod(rest, 26)
            letters += chr(ord("a") + digit)
        words.append("q" + letters)
    return " ".join(words)


def test_a_transcript_of_a_million_distinct_characters_is_saved_and_found(
    client: FlaskClient, headers: dict[str, str]
) -> None:
    """Its tsvector would pass PostgreSQL's 1 MiB limit (1.4 MB): the trigger indexes a prefix
    instead, so the save succeeds and the beginning is searchable."""
    text = _distinct_words(142_000)[:1_000_000]
    assert len(text) >= 990_000

    create(client, headers, minimal(text, title="Word list"))

    assert found(client, headers, "qaaaaa") == ["Word list"]
    assert found(client, headers, "qbaaaa") == ["Word list"]
