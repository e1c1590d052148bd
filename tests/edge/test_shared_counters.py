"""The documented limits hold exactly under real multi-worker gunicorn, started the way ``make run``
starts it (development defaults, two workers per core, the default counter storage) and on Redis.

Each request is a new connection, so gunicorn hands them to whichever worker is free; clients
come from different loopback addresses (127.x.y.z) so that the per-IP and per-account limits can
be told apart.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests import services
from tests.conftest import PASSWORD
from tests.ops.client import Reply, call
from tests.ops.servers import CONTROLLED, REPO, Gunicorn, gunicorn

pytestmark = pytest.mark.slow

LOGIN = "/api/v1/auth/login"
REGISTER = "/api/v1/auth/register"
WORKERS = 4  # more than one is the point; make run starts two per core


@pytest.fixture(params=["default", "redis"])
def server(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: str
) -> Iterator[Gunicorn]:
    database = tmp_path / "app.db"
    shutil.copyfile(sqlite_template, database)
    env = {
        # make run's environment: development, the documented default limits and storage ...
        "DATABASE_URL": f"sqlite:///{database}",
        "WEB_CONCURRENCY": str(WORKERS),
        "LOG_LEVEL": "WARNING",
        # ... with a namespace of its own, as the instance folder's counter file is shared.
        "RATELIMIT_KEY_PREFIX": f"test-{uuid.uuid4().hex}",
        "BCRYPT_ROUNDS": "10",
    }
    if request.param == "redis":
        url = request.getfixturevalue("redis_url")
        if url is None:
            services.unavailable("no Redis (set TEST_REDIS_URL or install redis-server)")
        env["RATELIMIT_STORAGE_URI"] = url
    with gunicorn(env, tmp_path / "gunicorn.log") as started:
        yield started


def login(port: int, source: str, password: str, **identity: str) -> Reply:
    return call(port, "POST", LOGIN, {**identity, "password": password}, source=source)


def register(port: int, source: str, name: str) -> Reply:
    body = {"email": f"{name}@example.com", "username": name, "password": PASSWORD}
    return call(port, "POST", REGISTER, body, source=source)


def statuses(replies: list[Reply]) -> list[int]:
    return sorted(reply.status for reply in replies)


def test_login_per_ip_is_ten_a_minute_across_workers(server: Gunicorn) -> None:
    replies = [login(server.port, "127.0.2.1", "Wrong-Horse-1", email=f"n{i}@example.com")
               for i in range(15)]
    assert statuses(replies) == [401] * 10 + [429] * 5
    assert [r.status for r in replies[10:]] == [429] * 5


def test_register_per_ip_is_five_a_minute_across_workers(server: Gunicorn) -> None:
    replies = [register(server.port, "127.0.3.1", f"user{i}") for i in range(8)]
    assert [r.status for r in replies] == [201] * 5 + [429] * 3


def test_ten_failed_logins_per_account_across_workers_and_addresses(server: Gunicorn) -> None:
    assert register(server.port, "127.0.4.1", "alice").status == 201
    replies = [login(server.port, f"127.0.5.{i}", "Wrong-Horse-1", username="alice")
               for i in range(1, 16)]
    assert [r.status for r in replies] == [401] * 10 + [429] * 5
    # Limited: even the right password, by the other name, from a fresh address.
    assert login(server.port, "127.0.6.1", PASSWORD, email="alice@example.com").status == 429


def test_parallel_guesses_cannot_overshoot_the_account_limit(server: Gunicorn) -> None:
    assert register(server.port, "127.0.7.1", "bob").status == 201

    def guess(index: int) -> Reply:
        return login(server.port, f"127.0.8.{index}", "Wrong-Horse-1", email="bob@example.com")

    with ThreadPoolExecutor(max_workers=20) as pool:
        replies = list(pool.map(guess, range(1, 21)))
    # Exactly ten passwords were checked; the others were refused before bcrypt ran.
    assert statuses(replies) == [401] * 10 + [429] * 10


def test_per_process_counters_refuse_to_start_with_several_workers(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in CONTROLLED and not k.startswith("RATELIMIT")}
    env.update(
        RATELIMIT_STORAGE_URI="memory://",
        WEB_CONCURRENCY="2",
        PORT=str(services.free_port()),
    )
    result: Any = subprocess.run(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode != 0
    assert "memory:// counts in each of the 2 workers alone" in result.stderr + result.stdout
