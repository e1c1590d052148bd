"""Racing registrations: the database's unique constraints decide, never a 500 or a duplicate."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from audiotricks.extensions import db
from audiotricks.models import User
from tests.conftest import PASSWORD

RACERS = 20


# SQLite serialises writers, so the race is run where it can really happen: PostgreSQL.
@pytest.mark.parametrize("engine", ["postgresql"], indirect=True)
@pytest.mark.parametrize(
    ("make_body", "error"),
    [
        (lambda i: {"email": "race@example.com", "username": f"racer{i}"}, "Email already registered"),
        (
            lambda i: {"email": f"racer{i}@example.com", "username": ("Racer", "racer", "RACER")[i % 3]},
            "Username already taken",
        ),
    ],
)
def test_concurrent_registrations_of_one_name_give_one_201(app, make_body, error):
    barrier = threading.Barrier(RACERS)

    def register(i: int):
        client = app.test_client()
        body = {**make_body(i), "password": PASSWORD}
        barrier.wait()
        return client.post("/api/v1/auth/register", json=body)

    with ThreadPoolExecutor(RACERS) as pool:
        responses = list(pool.map(register, range(RACERS)))

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [409] * (RACERS - 1)
    assert all(r.get_json() == {"error": error} for r in responses if r.status_code == 409)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(User)) == 1
