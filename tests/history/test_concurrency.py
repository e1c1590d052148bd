"""Racing requests on one user's history: one winner per ETag, one item per clientId, and the
item cap held — on both engines, with real concurrent requests."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from audiotricks.models import HistoryItem
from tests.helpers import scalar
from tests.history.conftest import BODY, URL, create, minimal

RACERS = 12
CAP = 5


@pytest.fixture
def config_overrides() -> dict[str, Any]:
    return {"history_max_items": CAP}


def race(app: Flask, send: Any) -> list[Any]:
    """Run ``send(client, i)`` from RACERS threads released together."""
    barrier = threading.Barrier(RACERS)

    def one(i: int) -> Any:
        client = app.test_client()
        barrier.wait()
        return send(client, i)

    with ThreadPoolExecutor(RACERS) as pool:
        return list(pool.map(one, range(RACERS)))


def count(app: Flask) -> int:
    return int(scalar(app, select(func.count()).select_from(HistoryItem)))


def test_two_clients_with_one_etag_cannot_both_win(
    app: Flask, client: Any, headers: dict[str, str]
) -> None:
    created = client.post(URL, json=BODY, headers=headers)
    item_id = created.get_json()["data"]["item"]["id"]
    etag = created.headers["ETag"]

    responses = race(app, lambda c, i: c.put(
        f"{URL}/{item_id}", json={"title": f"Edit {i}"}, headers={**headers, "If-Match": etag}
    ))

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [412] * (RACERS - 1)
    [winner] = [r for r in responses if r.status_code == 200]
    stored = client.get(f"{URL}/{item_id}", headers=headers)
    assert stored.get_json()["data"]["item"]["title"] == winner.get_json()["data"]["item"]["title"]
    assert stored.headers["ETag"] == winner.headers["ETag"]


def test_racing_creates_with_one_client_id_make_one_item(
    app: Flask, headers: dict[str, str]
) -> None:
    responses = race(app, lambda c, i: c.post(URL, json=BODY, headers=headers))

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * (RACERS - 1) + [201]
    assert len({r.get_json()["data"]["item"]["id"] for r in responses}) == 1
    assert count(app) == 1


def test_racing_creates_never_pass_the_cap(
    app: Flask, client: Any, headers: dict[str, str]
) -> None:
    for _ in range(CAP - 2):
        create(client, headers, minimal())

    responses = race(app, lambda c, i: c.post(URL, json=minimal(f"item {i}"), headers=headers))

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] * 2 + [409] * (RACERS - 2)
    assert count(app) == CAP


def test_racing_imports_never_pass_the_cap(
    app: Flask, client: Any, headers: dict[str, str]
) -> None:
    def local_item(i: int, j: int) -> dict[str, Any]:
        return {
            "id": f"local-{i}-{j}",
            "timestamp": 1732530000000,
            "title": "Imported",
            "results": {"transcript": {"text": f"words {i} {j}"}},
        }

    responses = race(app, lambda c, i: c.post(
        f"{URL}/import", json={"items": [local_item(i, 0), local_item(i, 1)]}, headers=headers
    ))

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 2 + [409] * (RACERS - 2)
    assert count(app) == 4
