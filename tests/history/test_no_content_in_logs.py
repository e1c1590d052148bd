"""Transcripts, titles and search words are user content: they never reach a log record."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from flask.testing import FlaskClient

from audiotricks.logs import JsonFormatter
from tests.history.conftest import URL, create, minimal

MARKER = "zqxjmarkerwordvv"


@pytest.fixture
def config_overrides() -> dict[str, Any]:
    return {"log_level": "DEBUG"}


def test_history_requests_log_no_user_content(
    client: FlaskClient, headers: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    item = create(client, headers, minimal(f"private {MARKER} text", title=f"T {MARKER}"))
    client.get(URL, query_string={"q": MARKER}, headers=headers)
    client.put(f"{URL}/{item['id']}", json={"title": MARKER + "2"}, headers=headers)
    client.put(f"{URL}/{item['id']}", json={"title": MARKER * 30}, headers=headers)  # a 400
    client.get(f"{URL}/{item['id']}/export?format=md", headers=headers)
    client.post(f"{URL}/import", json={"items": [{"id": MARKER, "results": {}}]}, headers=headers)
    client.delete(f"{URL}/{item['id']}", headers=headers)

    formatter = JsonFormatter()
    logged = "\n".join(formatter.format(record) for record in caplog.get_records("call"))
    assert "history item created" in logged  # the events are logged ...
    assert MARKER not in logged  # ... without the content
