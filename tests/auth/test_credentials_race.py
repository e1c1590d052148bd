"""Logins racing a password change or a deactivation never get a token that outlives it.

A login reads the user, spends a bcrypt hash on the password, then writes its session row. A
password change or deactivation finishing inside that window must still win: the login that read
the old credentials is refused, or its token is dead. Run against a real gunicorn (several worker
processes, each with threads) on both engines, with a real bcrypt cost so the window is wide.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask.testing import FlaskCliRunner

from tests.conftest import PASSWORD
from tests.ops.client import Reply, call
from tests.ops.servers import Gunicorn, gunicorn, production_env

pytestmark = pytest.mark.slow

LOGIN = "/api/v1/auth/login"
ME = "/api/v1/auth/me"
NEW_PASSWORD = "Battery-Staple-77"
RACERS = 8
CREDENTIALS = {"email": "racer@example.com", "password": PASSWORD}


@dataclass
class Attempt:
    started: float
    finished: float
    reply: Reply


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[Gunicorn]:
    # Cost 11: a hash takes a few hundred milliseconds here, so many logins are in flight at once.
    env = production_env(
        database_url, BCRYPT_ROUNDS="11", WEB_CONCURRENCY="3", GUNICORN_THREADS="4"
    )
    with gunicorn(env, tmp_path / "gunicorn.log") as running:
        registered = call(
            running.port,
            "POST",
            "/api/v1/auth/register",
            {**CREDENTIALS, "username": "racer"},
        )
        assert registered.status == 201, registered.text
        yield running
        assert "Traceback" not in running.log()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def race_logins(
    server: Gunicorn, change: Callable[[], None]
) -> tuple[list[Attempt], float, float]:
    """Logins with the old password from RACERS threads, back to back, while ``change`` runs.

    Returns every attempt and when the change started and finished. The threads stop starting new
    logins once the change has finished; the ones in flight then complete.
    """
    attempts: list[Attempt] = []
    done, logged_in = threading.Event(), threading.Event()
    lock = threading.Lock()

    def racer() -> None:
        while not done.is_set():
            started = time.monotonic()
            reply = call(server.port, "POST", LOGIN, CREDENTIALS)
            with lock:
                attempts.append(Attempt(started, time.monotonic(), reply))
            if reply.status == 200:
                logged_in.set()

    threads = [threading.Thread(target=racer) for _ in range(RACERS)]
    for thread in threads:
        thread.start()
    # Logins work before the change, and the racers are hashing back to back when it starts.
    assert logged_in.wait(60), [a.reply.text for a in attempts]
    time.sleep(0.2)
    change_started = time.monotonic()
    try:
        change()
    finally:
        change_finished = time.monotonic()
        done.set()
        for thread in threads:
            thread.join(60)
    return attempts, change_started, change_finished


def check_race_happened(attempts: list[Attempt], change_finished: float) -> None:
    """Some logins were in flight when the change finished: the race was really run."""
    assert any(a.started < change_finished < a.finished for a in attempts)
    # A login that lost the race is refused like a wrong password, never a 5xx; one that started
    # after a deactivation, with the right password, is a 403.
    for attempt in attempts:
        assert attempt.reply.status in (200, 401, 403), attempt.reply.text
        if attempt.reply.status == 401:
            assert attempt.reply.json() == {"error": "Invalid credentials"}


def tokens_of(attempts: list[Attempt]) -> list[str]:
    return [a.reply.json()["data"]["token"] for a in attempts if a.reply.status == 200]


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"], indirect=True)
def test_no_login_racing_a_password_change_keeps_a_working_token(server: Gunicorn) -> None:
    changer = call(server.port, "POST", LOGIN, CREDENTIALS).json()["data"]["token"]

    def change_password() -> None:
        body = {"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD}
        reply = call(server.port, "PUT", "/api/v1/auth/password", body, bearer(changer))
        assert reply.status == 200, reply.text

    attempts, _, finished = race_logins(server, change_password)

    check_race_happened(attempts, finished)
    assert 403 not in {a.reply.status for a in attempts}
    tokens = tokens_of(attempts)
    assert [call(server.port, "GET", ME, None, bearer(t)).status for t in tokens] == [401] * len(
        tokens
    )
    # The session that changed the password keeps working, and the new password logs in.
    assert call(server.port, "GET", ME, None, bearer(changer)).status == 200
    relogin = call(server.port, "POST", LOGIN, {**CREDENTIALS, "password": NEW_PASSWORD})
    assert relogin.status == 200
    assert call(server.port, "POST", LOGIN, CREDENTIALS).status == 401


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"], indirect=True)
def test_no_login_racing_a_deactivation_keeps_a_token(
    server: Gunicorn, runner: FlaskCliRunner
) -> None:
    def deactivate() -> None:
        result = runner.invoke(args=["users", "deactivate", "racer"])
        assert result.exit_code == 0, result.output

    attempts, _, finished = race_logins(server, deactivate)

    check_race_happened(attempts, finished)
    tokens = tokens_of(attempts)
    assert [call(server.port, "GET", ME, None, bearer(t)).status for t in tokens] == [401] * len(
        tokens
    )
    # Reactivation does not bring any of them back: the account logs in afresh.
    result = runner.invoke(args=["users", "activate", "racer"])
    assert result.exit_code == 0, result.output
    revived = [t for t in tokens if call(server.port, "GET", ME, None, bearer(t)).status != 401]
    assert revived == []
    fresh = call(server.port, "POST", LOGIN, CREDENTIALS)
    assert fresh.status == 200
    assert call(server.port, "GET", ME, None, bearer(fresh.json()["data"]["token"])).status == 200
