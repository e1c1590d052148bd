"""gunicorn: SIGTERM lets the request in flight finish; a configuration error stops start-up."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.ops.client import call
from tests.ops.servers import CONTROLLED, REPO, gunicorn, production_env
from tests.services import free_port

pytestmark = pytest.mark.slow


def test_sigterm_lets_the_in_flight_request_finish(tmp_path: Path, sqlite_template: str) -> None:
    database = tmp_path / "app.db"
    shutil.copyfile(sqlite_template, database)
    # Cost 14 makes a login take about a second here: long enough to be in flight at SIGTERM.
    env = production_env(
        f"sqlite:///{database}", BCRYPT_ROUNDS="14", WEB_CONCURRENCY="1", GUNICORN_THREADS="2"
    )
    with gunicorn(env, tmp_path / "gunicorn.log") as server:
        assert call(server.port, "GET", "/health").status == 200
        outcome: dict[str, Any] = {}

        def login() -> None:
            body = {"email": "nobody@example.com", "password": "Some-Password-1"}
            outcome["reply"] = call(server.port, "POST", "/api/v1/auth/login", body)
            outcome["finished"] = time.monotonic()

        client = threading.Thread(target=login)
        client.start()
        time.sleep(0.5)
        signalled = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        client.join(30)

        reply = outcome["reply"]
        assert reply.status == 401
        assert reply.json() == {"error": "Invalid credentials"}
        assert outcome["finished"] > signalled + 0.1  # it really was still running at the signal
        assert server.process.wait(30) == 0
        log = server.log()
        assert "Traceback" not in log
        # Every line gunicorn and the app wrote is one JSON record: one format, one redaction.
        records = [json.loads(line) for line in log.splitlines()]
        assert any(r["message"] == "Handling signal: term" for r in records)
        assert {r["logger"] for r in records} >= {"gunicorn.error", "audiotricks.access"}
        # gunicorn's own access log is off: the app's line is the only one per request.
        assert [r["path"] for r in records if r["logger"] == "audiotricks.access"] == [
            "/health",
            "/api/v1/auth/login",
        ]


def test_a_configuration_error_stops_start_up_with_one_message(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in CONTROLLED}
    env.update(
        {"APP_ENV": "production", "PORT": str(free_port()), "JWT_SECRET": "tiny-secret-value"}
    )
    finished = subprocess.run(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert finished.returncode == 1
    assert "Traceback" not in finished.stderr
    assert "Invalid configuration:" in finished.stderr
    assert "DATABASE_URL is required in production" in finished.stderr
    assert "JWT_SECRET must be at least 32 characters" in finished.stderr
    assert "tiny-secret-value" not in finished.stderr  # problems named, values never shown
