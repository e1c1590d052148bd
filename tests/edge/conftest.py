"""Edge tests are about HTTP, not the database: they run on SQLite only (PostgreSQL is covered
by the API tests and by the two-instance test)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask

from audiotricks.ratelimits import close_rate_limit_storage


@pytest.fixture
def engine() -> str:
    return "sqlite"


@pytest.fixture
def app(app: Flask) -> Iterator[Flask]:
    """The suite's app, with its Redis connections closed at the end (no stray sockets)."""
    yield app
    close_rate_limit_storage(app)
