"""Run the app under a real gunicorn, configured the way production is, for the tests."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.services import free_port, wait_for_port

REPO = Path(__file__).resolve().parents[2]
# Variables of the caller's environment that would change what the server under test does.
CONTROLLED = (
    "APP_ENV",
    "DATABASE_URL",
    "JWT_SECRET",
    "ENCRYPTION_KEY",
    "ENCRYPTION_OLD_KEYS",
    "METRICS_TOKEN",
    "PROMETHEUS_MULTIPROC_DIR",
    "WEB_CONCURRENCY",
    "GUNICORN_THREADS",
    "HOST",
    "PORT",
    "LOG_FORMAT",
    "LOG_LEVEL",
)


@dataclass
class Gunicorn:
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


# Required in production; no worker runs in these tests, so nothing is ever sent there.
PRODUCTION_MAIL = {
    "MAIL_URL": "smtp://127.0.0.1:9",
    "MAIL_FROM": "AudioTricks <no-reply@example.com>",
    "FRONTEND_URL": "https://app.example.com",
}

# The same, as Config fields.
PRODUCTION_MAIL_CONFIG = {name.lower(): value for name, value in PRODUCTION_MAIL.items()}


def production_env(database_url: str, **overrides: str) -> dict[str, str]:
    """A production configuration with fresh strong secrets."""
    return {
        "APP_ENV": "production",
        "DATABASE_URL": database_url,
        "JWT_SECRET": secrets.token_urlsafe(48),
        "ENCRYPTION_KEY": secrets.token_hex(32),
        **PRODUCTION_MAIL,
        "BCRYPT_ROUNDS": "10",
        "RATELIMIT_ENABLED": "false",  # these tests are not about limits
        "LOG_FORMAT": "json",
        **overrides,
    }


@contextmanager
def gunicorn(app_env: dict[str, str], log_path: Path) -> Iterator[Gunicorn]:
    """gunicorn -c gunicorn.conf.py wsgi:app on a free port; stopped (SIGTERM) on exit."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in CONTROLLED}
    env.update({"HOST": "127.0.0.1", "PORT": str(port), "PYTHONUNBUFFERED": "1", **app_env})
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = Gunicorn(port, process, log_path)
    try:
        try:
            wait_for_port(port, timeout=30)
        except TimeoutError:
            raise AssertionError(f"gunicorn did not start:\n{server.log()}") from None
        yield server
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
