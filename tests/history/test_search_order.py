"""The order of search results past HISTORY_SEARCH_RANKED: the newest matches ranked, best first,
then the older matches newest first; pages cover every match once, on both engines."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.history.conftest import create, minimal
from tests.history.test_search import search

RANKED = 3


@pytest.fixture
def config_overrides() -> dict[str, Any]:
    return {"history_search_ranked": RANKED}


def _item(client: FlaskClient, headers: dict[str, str], day: int, mentions: int) -> None:
    """Item ``t<day>`` created on that day of November, naming "budget" ``mentions`` times in a
    transcript of the same length as the others (so both engines rank by the mentions)."""
    text = "budget " * mentions + "other " * (6 - mentions) + f"day {day}"
    create(client, headers, minimal(text, title=f"t{day}", createdAt=f"2025-11-{day:02d}T10:00:00Z"))


@pytest.fixture
def library(client: FlaskClient, headers: dict[str, str]) -> None:
    # The three newest (days 14-16) are ranked: 15 (3 mentions), 16 (2), 14 (1). Then the older
    # ones by date, however often they say it (day 10 says it five times).
    for day, mentions in ((10, 5), (11, 1), (12, 2), (13, 1), (14, 1), (15, 3), (16, 2)):
        _item(client, headers, day, mentions)
    create(client, headers, minimal("nothing to see", title="other"))


EXPECTED = ["t15", "t16", "t14", "t13", "t12", "t11", "t10"]


def _titles(data: dict[str, Any]) -> list[str]:
    return [entry["title"] for entry in data["items"]]


def _pages(client: FlaskClient, headers: dict[str, str], q: str, limit: int,
           between: Any = None) -> list[list[str]]:
    pages = []
    data = search(client, headers, q, limit=limit)
    while True:
        pages.append(_titles(data))
        if not data["nextCursor"]:
            return pages
        if between is not None:
            between()
        data = search(client, headers, q, limit=limit, cursor=data["nextCursor"])


@pytest.mark.usefixtures("library")
def test_the_newest_matches_are_ranked_then_the_older_follow_newest_first(
    client: FlaskClient, headers: dict[str, str]
) -> None:
    assert _titles(search(client, headers, "budget", limit=100)) == EXPECTED


@pytest.mark.usefixtures("library")
@pytest.mark.parametrize("limit", [1, 2, 3, 4, 7])
def test_pages_cross_from_ranked_to_older_matches_without_a_gap(
    client: FlaskClient, headers: dict[str, str], limit: int
) -> None:
    pages = _pages(client, headers, "budget", limit)

    assert [title for page in pages for title in page] == EXPECTED
    assert all(len(page) == limit for page in pages[:-1])


@pytest.mark.usefixtures("library")
def test_items_saved_while_paging_never_repeat_or_hide_an_older_match(
    client: FlaskClient, headers: dict[str, str]
) -> None:
    added = iter(range(20, 30))

    def save_newer_matches() -> None:  # each newest and best: ranked before the cursor
        _item(client, headers, next(added), 6)

    pages = _pages(client, headers, "budget", 2, between=save_newer_matches)
    seen = [title for page in pages for title in page]

    assert len(seen) == len(set(seen))
    assert [title for title in seen if title in EXPECTED] == EXPECTED
