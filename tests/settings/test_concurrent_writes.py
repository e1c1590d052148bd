"""Concurrent settings writes on a real gunicorn (several sync workers), on both engines.

A write used to go through the ORM, which sends only the columns that differ from the row as the
request read it. Two key PUTs racing could then leave one key's ciphertext with the other's
``last4`` (the PUT whose ``last4`` equalled the old row's sent only its ciphertext), and two
preference PUTs a mix neither client sent. Every write is now one UPDATE setting all its columns.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PASSWORD
from tests.ops.client import Reply, call
from tests.ops.servers import Gunicorn, gunicorn, production_env
from tests.settings.helpers import remember

pytestmark = pytest.mark.slow

ROUNDS = 20
KEYS = "/api/v1/settings/api-keys/openai"


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[Gunicorn]:
    """gunicorn with four sync workers on the engine under test (a fresh, migrated database)."""
    env = production_env(database_url, WEB_CONCURRENCY="4")
    with gunicorn(env, tmp_path / "gunicorn.log") as running:
        yield running


def bearer(server: Gunicorn) -> dict[str, str]:
    body = {"email": "race@example.com", "username": "racer", "password": PASSWORD}
    assert call(server.port, "POST", "/api/v1/auth/register", body).status == 201
    credentials = {"email": body["email"], "password": PASSWORD}
    login = call(server.port, "POST", "/api/v1/auth/login", credentials)
    assert login.status == 200, login.text
    return {"Authorization": f"Bearer {login.json()['data']['token']}"}


def race(*requests: Callable[[], Reply]) -> list[Reply]:
    """Run the requests at the same moment, each on its own thread; their replies."""
    start = threading.Barrier(len(requests))
    replies: list[Any] = [None] * len(requests)

    def run(index: int) -> None:
        start.wait()
        replies[index] = requests[index]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(requests))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return replies


def openai_key_ending(last4: str) -> str:
    return remember("sk-" + secrets.token_urlsafe(30) + last4)


def test_racing_key_puts_never_mix_one_keys_ciphertext_with_anothers_last4(
    server: Gunicorn,
) -> None:
    headers = bearer(server)
    mismatches = []
    for round_number in range(ROUNDS):
        # Two keys whose last four differ; the stored row always holds one of the two endings, so
        # one PUT of each round agrees with the old row on last4 (the case that went wrong).
        keys = [openai_key_ending("AAAA"), openai_key_ending("BBBB")]
        replies = race(
            *(
                (lambda key=key: call(server.port, "PUT", KEYS, {"apiKey": key}, headers))
                for key in keys
            )
        )
        assert [r.status for r in replies] == [200, 200], [r.text for r in replies]
        stored = call(server.port, "GET", KEYS, headers=headers)
        assert stored.status == 200, stored.text
        data = stored.json()["data"]
        assert data["apiKey"] in keys
        if data["apiKey"][-4:] != data["last4"]:
            mismatches.append(round_number)
    assert mismatches == [], f"ciphertext and last4 of different keys in rounds {mismatches}"


def test_racing_preference_puts_leave_one_clients_whole_choice(server: Gunicorn) -> None:
    headers = bearer(server)
    before = {"preferredLanguage": "de", "summaryQuality": "detailed"}
    # Each choice keeps one of the old values: the ORM sent only the other, so the two writes
    # could combine into ("fr", "concise"), which nobody chose.
    choices = [
        {"preferredLanguage": "de", "summaryQuality": "concise"},
        {"preferredLanguage": "fr", "summaryQuality": "detailed"},
    ]
    mixed = []
    for round_number in range(ROUNDS):
        assert call(server.port, "PUT", "/api/v1/settings", before, headers).status == 200
        replies = race(
            *(
                (lambda choice=choice: call(server.port, "PUT", "/api/v1/settings", choice, headers))
                for choice in choices
            )
        )
        assert [r.status for r in replies] == [200, 200], [r.text for r in replies]
        settings = call(server.port, "GET", "/api/v1/settings", headers=headers).json()["data"]
        stored = {name: settings["settings"][name] for name in before}
        if stored not in choices:
            mixed.append((round_number, stored))
    assert mixed == []
