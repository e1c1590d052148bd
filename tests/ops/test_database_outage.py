"""Faults: the database goes away under a running gunicorn and comes back.

A throwaway PostgreSQL (never the shared one: it is stopped mid-test) serves a production-configured
gunicorn with two workers. While the database is down the API answers 503 at once, readiness names
the database and liveness stays up; once it is back the same processes serve again, without a
restart. A restart between two requests costs no error at all. The scrape at the end checks that
the workers' metrics are added up.
"""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from audiotricks.config import normalise_database_url
from tests import services
from tests.conftest import PASSWORD, migrated
from tests.ops.client import Reply, call
from tests.ops.servers import Gunicorn, gunicorn, production_env

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

UNAVAILABLE = {"error": "Service temporarily unavailable"}
METRICS_TOKEN = secrets.token_urlsafe(24)
# Fresh connections, so both workers (and several pooled connections) see each phase.
ROUNDS = 8


@pytest.fixture
def postgres() -> Iterator[services.ThrowawayPostgres]:
    try:
        server = services.ThrowawayPostgres()
    except (FileNotFoundError, subprocess.CalledProcessError, KeyError, LookupError) as exc:
        services.unavailable(f"cannot start a throwaway PostgreSQL ({type(exc).__name__})")
    try:
        yield server
    finally:
        server.remove()


def create_database(server_url: str, name: str) -> str:
    """Create database ``name`` and return its URL (the server goes away with the test)."""
    admin = create_engine(normalise_database_url(server_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()  # no pooled connection left to break when the server restarts
    return (
        make_url(normalise_database_url(server_url))
        .set(database=name)
        .render_as_string(hide_password=False)
    )


@pytest.fixture
def app_server(postgres: services.ThrowawayPostgres, tmp_path: Path) -> Iterator[Gunicorn]:
    url = create_database(postgres.url, "audiotricks")
    migrated(url)
    env = production_env(
        url,
        WEB_CONCURRENCY="2",
        GUNICORN_THREADS="4",
        METRICS_TOKEN=METRICS_TOKEN,
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "metrics"),
    )
    with gunicorn(env, tmp_path / "gunicorn.log") as server:
        yield server


def me(server: Gunicorn, token: str) -> Reply:
    return call(server.port, "GET", "/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})


def login(server: Gunicorn) -> Reply:
    return call(
        server.port,
        "POST",
        "/api/v1/auth/login",
        {"email": "ops@example.com", "password": PASSWORD},
    )


def test_a_database_outage_gives_503_and_is_survived_without_restart(
    postgres: services.ThrowawayPostgres, app_server: Gunicorn, tmp_path: Path
) -> None:
    server = app_server
    sent: dict[str, int] = {}

    def count(name: str) -> None:
        sent[name] = sent.get(name, 0) + 1

    registered = call(
        server.port,
        "POST",
        "/api/v1/auth/register",
        {"email": "ops@example.com", "username": "ops", "password": PASSWORD},
    )
    assert registered.status == 201, registered.text
    token = login(server).json()["data"]["token"]
    for _ in range(ROUNDS):
        assert me(server, token).status == 200
        count("me 200")
    assert call(server.port, "GET", "/health/ready").status == 200

    postgres.stop()
    for _ in range(ROUNDS):
        reply = me(server, token)
        count("me 503")
        assert reply.status == 503, reply.text
        assert reply.json() == UNAVAILABLE  # no traceback, no driver message
        assert reply.seconds < 5
    for reply in (
        login(server),
        call(
            server.port,
            "POST",
            "/api/v1/auth/register",
            {"email": "new@example.com", "username": "new", "password": PASSWORD},
        ),
        call(
            server.port, "POST", "/api/v1/auth/logout", headers={"Authorization": f"Bearer {token}"}
        ),
    ):
        assert reply.status == 503, reply.text
        assert reply.json() == UNAVAILABLE
        assert reply.seconds < 5
    ready = call(server.port, "GET", "/health/ready")
    assert ready.status == 503
    assert ready.json() == {"status": "unavailable", "checks": {"database": "unavailable"}}
    for _ in range(ROUNDS):
        assert call(server.port, "GET", "/health").status == 200
        count("health")

    postgres.start()
    for _ in range(ROUNDS):
        reply = me(server, token)
        count("me 200")
        assert reply.status == 200, reply.text
    assert login(server).status == 200
    assert call(server.port, "GET", "/health/ready").json() == {
        "status": "ok",
        "checks": {"database": "ok"},
    }

    # A restart between two requests (no outage seen by any request) costs not even one 503:
    # every pooled connection is dead, and each is replaced when checked out.
    postgres.stop()
    postgres.start()
    for _ in range(ROUNDS):
        reply = me(server, token)
        count("me 200")
        assert reply.status == 200, reply.text
    assert server.process.poll() is None  # the same gunicorn served throughout

    # Both workers answered requests, and the one that answered the scrape counted them all.
    workers = {p.stem.rsplit("_", 1)[-1] for p in (tmp_path / "metrics").glob("counter_*.db")}
    assert len(workers) == 2
    samples = scrape(server)
    assert samples[("api.auth.me", "GET", "200")] == sent["me 200"]
    assert samples[("api.auth.me", "GET", "503")] == sent["me 503"]
    assert samples[("health.health", "GET", "200")] == sent["health"]

    log = server.log()
    assert "Traceback" not in log
    assert PASSWORD not in log and token not in log and METRICS_TOKEN not in log


def scrape(server: Gunicorn) -> dict[tuple[str, str, str], float]:
    """audiotricks_http_requests_total by (endpoint, method, status), summed over the workers."""
    reply = call(
        server.port, "GET", "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}
    )
    assert reply.status == 200, reply.text
    samples = {}
    for family in text_string_to_metric_families(reply.text):
        for sample in family.samples:
            if sample.name == "audiotricks_http_requests_total":
                labels = sample.labels
                samples[(labels["endpoint"], labels["method"], labels["status"])] = sample.value
    return samples
