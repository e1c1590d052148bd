"""Fixtures for the tests that run real workers: the queue on SQLite or Redis, a stand-in OpenAI
server, and worker processes started with the command ``make worker`` runs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis

from tests import services
from tests.conftest import TEST_ENCRYPTION_KEY, TEST_JWT_SECRET
from tests.ops.servers import CONTROLLED, REPO
from tests.providers.openai_standin import OpenAIStandIn

FLASK = os.path.join(os.path.dirname(sys.executable), "flask")
# Short enough for tests to watch a lease run out and a sweep find it.
FAST_JOBS = {
    "jobs_lease_seconds": 3,
    "jobs_sweep_seconds": 1,
    "jobs_requeue_seconds": 2,
    "provider_retry_seconds": 3,
}


@pytest.fixture(params=["sqlite-queue", "redis-queue"])
def queue_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def queue_name() -> str:
    """A queue of this test's own: Redis is shared with other runs."""
    return f"test{uuid.uuid4().hex[:12]}"


@pytest.fixture
def queue_url(
    queue_kind: str, queue_name: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[str]:
    if queue_kind == "sqlite-queue":
        yield f"sqlite:///{tmp_path}/queue.db"
        return
    url = request.getfixturevalue("redis_url")
    if url is None:
        services.unavailable("no Redis (set TEST_REDIS_URL or install redis-server)")
    yield str(url)
    client = redis.Redis.from_url(url)
    for key in client.scan_iter(f"huey.*.{queue_name}*"):
        client.delete(key)
    client.close()


@pytest.fixture
def standin() -> Iterator[OpenAIStandIn]:
    server = OpenAIStandIn("sk-" + uuid.uuid4().hex + uuid.uuid4().hex[:8]).start()
    yield server
    server.stop()


@pytest.fixture
def job_settings() -> dict[str, Any]:
    """Override in a test module to change the job settings of the app and its workers."""
    return {}


@pytest.fixture
def config_overrides(
    queue_url: str, queue_name: str, tmp_path: Path, standin: OpenAIStandIn,
    job_settings: dict[str, Any],
) -> dict[str, Any]:
    return {
        "queue_url": queue_url,
        "queue_name": queue_name,
        "upload_dir": str(tmp_path / "uploads"),
        "openai_base_url": standin.base_url,
        **FAST_JOBS,
        **job_settings,
    }


@dataclass
class WorkerProcess:
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, signum: int = signal.SIGINT) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signum)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


@dataclass
class Workers:
    """Starts ``flask worker`` processes with the app's configuration; stops them at the end."""

    env: dict[str, str]
    folder: Path
    started: list[WorkerProcess] = field(default_factory=list)

    def start(self, threads: int = 2, **extra_env: str) -> WorkerProcess:
        log_path = self.folder / f"worker-{len(self.started)}.log"
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                [FLASK, "worker", "--threads", str(threads)],
                cwd=REPO,
                env={**self.env, **extra_env},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        worker = WorkerProcess(process, log_path)
        self.started.append(worker)
        deadline = time.monotonic() + 30
        while "worker started" not in worker.log():
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"worker did not start:\n{worker.log()}")
            time.sleep(0.05)
        return worker

    def logs(self) -> str:
        return "\n".join(worker.log() for worker in self.started)

    def stop_all(self) -> None:
        for worker in self.started:
            worker.stop()


def worker_env(app_config: Any) -> dict[str, str]:
    """The environment a worker needs to be the same deployment as the test's app."""
    env = {k: v for k, v in os.environ.items() if k not in CONTROLLED}
    names = {
        "queue_url": "QUEUE_URL",
        "queue_name": "QUEUE_NAME",
        "upload_dir": "UPLOAD_DIR",
        "openai_base_url": "OPENAI_BASE_URL",
        "jobs_lease_seconds": "JOBS_LEASE_SECONDS",
        "jobs_sweep_seconds": "JOBS_SWEEP_SECONDS",
        "jobs_requeue_seconds": "JOBS_REQUEUE_SECONDS",
        "jobs_max_attempts": "JOBS_MAX_ATTEMPTS",
        "provider_retry_seconds": "PROVIDER_RETRY_SECONDS",
        "transcribe_max_bytes": "TRANSCRIBE_MAX_BYTES",
        "audio_max_seconds": "AUDIO_MAX_SECONDS",
        "sessions_prune_seconds": "SESSIONS_PRUNE_SECONDS",
    }
    env.update({variable: str(getattr(app_config, name)) for name, variable in names.items()})
    env.update(
        {
            "FLASK_APP": "audiotricks:create_app",
            "APP_ENV": "test",
            "DATABASE_URL": app_config.database_url,
            "JWT_SECRET": TEST_JWT_SECRET,
            "ENCRYPTION_KEY": TEST_ENCRYPTION_KEY,
            "BCRYPT_ROUNDS": "4",
            "LOG_FORMAT": "json",
            "LOG_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


@pytest.fixture
def workers(app: Any, tmp_path: Path) -> Iterator[Workers]:
    pool = Workers(worker_env(app.extensions["audiotricks.config"]), tmp_path)
    yield pool
    pool.stop_all()
