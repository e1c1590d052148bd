"""Fixtures for the mail tests: mails captured from the development mailer, a real SMTP server on
loopback (aiosmtpd) and real worker processes sending to it."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from audiotricks.jobs.queue import QUEUE_KEY
from tests import services
from tests.jobs.conftest import Workers, worker_env

try:
    from tests.mail.smtp_server import Handler, SmtpServer, make_certificate
except ImportError:  # aiosmtpd is a test requirement: CI must not go green without it
    Handler = SmtpServer = None  # type: ignore[assignment,misc]

FRONTEND = "https://app.example.com"
MAIL_FROM = "AudioTricks <no-reply@example.com>"


class MailLog(logging.Handler):
    """The mails the development mailer wrote to the log (MAIL_URL unset)."""

    def __init__(self) -> None:
        super().__init__()
        self.mails: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(record, "event", None) == "mail_logged":
            self.mails.append(record)

    def to(self, address: str) -> list[logging.LogRecord]:
        return [m for m in self.mails if m.to == address]  # type: ignore[attr-defined]


@pytest.fixture
def mail_log() -> Iterator[MailLog]:
    handler = MailLog()
    logger = logging.getLogger("audiotricks.mail.transport")
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


def deliver_queued(app: Flask) -> int:
    """Run every message waiting on the app's queue here, as a worker would; how many ran."""
    huey = app.extensions[QUEUE_KEY].huey
    ran = 0
    while (task := huey.dequeue()) is not None:
        huey.execute(task)
        ran += 1
    return ran


def token_of(link: str) -> str:
    token = link.partition("#token=")[2]
    assert token, link
    return token


@pytest.fixture
def config_overrides() -> dict[str, Any]:
    return {"frontend_url": FRONTEND, "mail_from": MAIL_FROM}


# --- a real SMTP server and real workers ---


@pytest.fixture
def smtp_port() -> int:
    if SmtpServer is None:
        services.unavailable("aiosmtpd is not installed (pip install -r requirements-dev.txt)")
    return services.free_port()


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    return make_certificate(tmp_path)


@pytest.fixture
def smtp_servers() -> Iterator[list[Any]]:
    started: list[Any] = []
    yield started
    for server in started:
        server.stop()


@pytest.fixture
def start_smtp(smtp_port: int, smtp_servers: list[Any]) -> Any:
    """Start an SMTP server on ``smtp_port`` (again, after a stop: the same port)."""

    def start(**options: Any) -> Any:
        server = SmtpServer(smtp_port, **options).start()
        smtp_servers.append(server)
        return server

    return start


MAIL_ENV = {
    "mail_url": "MAIL_URL",
    "mail_from": "MAIL_FROM",
    "frontend_url": "FRONTEND_URL",
    "mail_ca_file": "MAIL_CA_FILE",
    "mail_retry_seconds": "MAIL_RETRY_SECONDS",
    "password_reset_ttl": "PASSWORD_RESET_TTL",
}


@pytest.fixture
def mail_workers(app: Flask, tmp_path: Path) -> Iterator[Workers]:
    """``flask worker`` processes of the test's deployment, mail settings included."""
    config = app.extensions["audiotricks.config"]
    env = worker_env(config)
    env.update({variable: str(getattr(config, name)) for name, variable in MAIL_ENV.items()})
    pool = Workers(env, tmp_path)
    yield pool
    pool.stop_all()
