"""Edge tests are about HTTP, not the database: they run on SQLite only (PostgreSQL is covered
by the API tests and by the two-instance test)."""

from __future__ import annotations

import pytest


@pytest.fixture
def engine() -> str:
    return "sqlite"
