"""The read routes run on the autocommit engine: they survive the database dropping connections."""

from __future__ import annotations

import psycopg
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import literal, select

from audiotricks.history import service
from tests.history.conftest import URL, create, minimal


@pytest.fixture
def engine() -> str:
    return "postgresql"  # only a database server drops its clients' connections


def _drop_every_connection(database_url: str) -> int:
    with psycopg.connect(database_url.replace("+psycopg", ""), autocommit=True) as conn:
        return len(conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall())


def test_a_read_retries_once_on_a_fresh_connection(app: Flask, database_url: str) -> None:
    with app.app_context():
        assert service.read_rows(select(literal(1)))[0][0] == 1  # a pooled connection now
        assert _drop_every_connection(database_url) >= 1

        assert service.read_rows(select(literal(2)))[0][0] == 2


def test_list_item_and_search_answer_after_a_database_restart(
    client: FlaskClient, headers: dict[str, str], database_url: str
) -> None:
    item = create(client, headers, minimal("a budget talk", title="Budget"))
    paths = [URL, f"{URL}/{item['id']}", f"{URL}?q=budget", f"{URL}/{item['id']}/export?format=txt"]
    for path in paths:
        assert client.get(path, headers=headers).status_code == 200

    _drop_every_connection(database_url)

    for path in paths:
        assert client.get(path, headers=headers).status_code == 200, path
