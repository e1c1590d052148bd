"""Settings tests log at DEBUG, and every test checks that no API key reached a log record."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest

from audiotricks.logs import JsonFormatter
from tests.settings.helpers import ISSUED_KEYS


@pytest.fixture
def config_overrides() -> dict[str, Any]:
    return {"log_level": "DEBUG"}


@pytest.fixture(autouse=True)
def no_key_in_logs(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Look for every key sent so far in this run in the test's log records, extras included."""
    caplog.set_level(logging.DEBUG)
    yield
    formatter = JsonFormatter()
    records = caplog.get_records("setup") + caplog.get_records("call")
    logged = "\n".join(formatter.format(record) for record in records)
    leaked = [key[-4:] for key in ISSUED_KEYS if key in logged]
    assert not leaked, f"API keys ending in {leaked} were logged"
