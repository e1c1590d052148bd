"""A real Redis restarted (no persistence) while jobs wait on it: the sweep sends them again."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator

import pytest
import redis

from tests import services
from tests.jobs.helpers import audio_bytes, store_key
from tests.jobs.test_worker import start_job, wait_finished
from tests.settings.helpers import remember


class RestartableRedis:
    """redis-server on a fixed free port, without persistence, that can be restarted empty."""

    def __init__(self, binary: str):
        self.binary = binary
        self.port = services.free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        services.wait_for_port(self.port)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


@pytest.fixture
def restartable_redis() -> Iterator[RestartableRedis]:
    binary = shutil.which("redis-server")
    if binary is None:
        services.unavailable("redis-server not installed")
    server = RestartableRedis(binary)
    yield server
    server.stop()


@pytest.fixture
def user(auth, client, standin):
    token = auth.signup()
    store_key(client, token, remember(standin.key))
    return token


@pytest.fixture
def queue_kind() -> str:
    return "redis-queue"


@pytest.fixture
def queue_url(restartable_redis: RestartableRedis) -> str:
    return restartable_redis.url


def test_jobs_queued_before_a_redis_restart_are_all_run(
    app, client, user, standin, workers, tmp_path, restartable_redis, queue_name
):
    ids = [start_job(client, user, audio_bytes(tmp_path, 2.0)) for _ in range(3)]
    connection = redis.Redis.from_url(restartable_redis.url)
    assert connection.llen(f"huey.redis.{queue_name}") == 4  # and the verification mail
    connection.close()

    restartable_redis.stop()
    restartable_redis.start()  # empty: the three messages are gone
    connection = redis.Redis.from_url(restartable_redis.url)
    assert connection.llen(f"huey.redis.{queue_name}") == 0
    connection.close()
    workers.start()

    for job_id in ids:
        assert wait_finished(client, user, job_id, workers)["status"] == "succeeded"
    assert "queued jobs sent again" in workers.logs()
