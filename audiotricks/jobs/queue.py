"""The task queue: Huey on an SQLite file (embedded default) or on Redis, built from the config.

Huey takes a message off the queue when a worker starts it, so a worker that dies mid-job loses
the message. The at-least-once guarantee therefore lives in the ``jobs`` table, not in the queue
(see :mod:`audiotricks.jobs.service`): a run starts with an atomic claim that holds a lease, a
heartbeat renews the lease while the job runs, and a periodic sweep sends again every job whose
lease ran out or whose message never arrived. The queue only ever carries a job's id (and, for
the mail tasks of :mod:`audiotricks.mail.tasks`, what to mail to whom: never a token).
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from flask import Flask, current_app
from huey import RedisHuey, SqliteHuey
from huey.api import Huey
from huey.consumer import Consumer, Scheduler
from huey.serializer import SignedSerializer
from redis import ConnectionPool

from audiotricks.config import QUEUE_SQLITE_FILENAME, UPLOAD_DIRNAME, Config

log = logging.getLogger(__name__)

QUEUE_KEY = "audiotricks.queue"
# An idle worker polls the embedded queue at most this often (Redis blocks instead): the
# pick-up latency of a job on SQLite is at most about this long.
IDLE_POLL_SECONDS = 0.5


class Queue:
    """The app's queue and the tasks on it, built on first use.

    Lazily: an app that never enqueues (a migration, a CLI command) opens no queue storage, and
    under gunicorn no SQLite connection is made before the workers fork.
    """

    def __init__(self, app: Flask, config: Config):
        self.app = app
        self.config = config
        self.sweep_seconds = config.jobs_sweep_seconds
        self._lock = threading.Lock()
        self._huey: Huey | None = None
        self._run_job: Callable[[str], Any] | None = None

    @property
    def huey(self) -> Huey:
        with self._lock:
            if self._huey is None:
                from audiotricks.jobs import tasks
                from audiotricks.mail import tasks as mail_tasks

                huey = build_huey(self.config, self.app.instance_path)
                self._run_job = tasks.register(self.app, huey, self.config)
                mail_tasks.register(self.app, huey, self.config)  # mail goes on the same queue
                self._huey = huey
            return self._huey

    def send(self, job_id: object) -> None:
        """Put "run job <id>" on the queue; nothing else ever goes on it."""
        self.huey.enqueue(self._task()(str(job_id)))

    def _task(self) -> Any:
        self.huey  # noqa: B018 - builds the queue and its tasks
        assert self._run_job is not None  # noqa: S101 - set with the queue
        return self._run_job.s  # type: ignore[attr-defined]

    def pending(self) -> int:
        """"Run job" messages waiting on the queue.

        Mail and periodic tasks share the queue but are not counted: the sweep compares this
        with the queued jobs to find lost messages, and a waiting mail must not hide one.
        """
        huey = self.huey
        assert self._run_job is not None  # noqa: S101 - set with the queue
        name = huey._registry.task_to_string(self._run_job.task_class)  # type: ignore[attr-defined]
        count = 0
        for data in huey.storage.enqueued_items():
            try:
                message = huey.serializer.deserialize(data)
            except Exception:  # noqa: S112 - signed with another key: dropped by the workers
                continue
            count += message.name == name
        return count

    def sweep(self) -> None:
        from audiotricks.jobs import tasks

        tasks.sweep_jobs(self.app)


def queue_url(config: Config, instance_path: str) -> str:
    return config.queue_url or "sqlite:///" + os.path.join(instance_path, QUEUE_SQLITE_FILENAME)


def upload_dir(config: Config, instance_path: str) -> str:
    return config.upload_dir or os.path.join(instance_path, UPLOAD_DIRNAME)


def build_huey(config: Config, instance_path: str) -> Huey:
    """A Huey instance on the configured storage; results are off (the jobs table has them)."""
    url = queue_url(config, instance_path)
    # Messages are signed: whoever can write to the queue's storage still cannot make a worker
    # unpickle a message of their own.
    secret = hashlib.sha256(b"audiotricks-queue\0" + config.jwt_secret.encode()).hexdigest()
    serializer = SignedSerializer(secret=secret, salt="audiotricks")
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///"):]
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        return SqliteHuey(
            name=config.queue_name, filename=path, results=False, serializer=serializer
        )
    # Bounded waits: an unreachable Redis fails an enqueue in seconds (the sweep sends the job
    # later) instead of holding a web worker; reads outlast the 1 s blocking pop.
    pool = ConnectionPool.from_url(
        url, socket_connect_timeout=5, socket_timeout=10, health_check_interval=30
    )
    return RedisHuey(
        name=config.queue_name,
        connection_pool=pool,
        results=False,
        serializer=serializer,
        read_timeout=1,
    )


class EveryInterval:
    """A periodic task's schedule: due at the first scheduler tick, then every ``seconds``."""

    def __init__(self, seconds: int):
        self.seconds = seconds
        self.last: float | None = None

    def __call__(self, _now: datetime) -> bool:
        now = time.monotonic()
        if self.last is not None and now - self.last < self.seconds - 0.5:
            return False
        self.last = now
        return True


def init_queue(app: Flask, config: Config) -> None:
    """Keep the app's queue in ``app.extensions`` (built when first used)."""
    app.extensions[QUEUE_KEY] = Queue(app, config)


def current_queue() -> Queue:
    queue: Queue = current_app.extensions[QUEUE_KEY]
    return queue


def create_consumer(queue: Queue, workers: int, on_stop: Callable[[], None]) -> Consumer:
    """Huey's consumer whose scheduler also sweeps, every JOBS_SWEEP_SECONDS.

    The sweep runs in the scheduler's own thread rather than as a queued task: it must not wait
    behind long jobs when every worker is busy, which is exactly when a lost job needs it. The
    scheduler's periodic tick (a minute in Huey) is shortened to the sweep interval; periodic
    tasks keep their own schedules (:class:`EveryInterval`).
    """

    class SweepingScheduler(Scheduler):  # type: ignore[misc]
        periodic_task_seconds = queue.sweep_seconds

        def enqueue_periodic_tasks(self, now: datetime) -> None:
            super().enqueue_periodic_tasks(now)
            try:
                queue.sweep()
            except Exception as exc:  # the next tick tries again
                log.error("sweep failed: %s", type(exc).__name__, extra={"event": "sweep_failed"})

    class JobConsumer(Consumer):  # type: ignore[misc]
        scheduler_class = SweepingScheduler

        def stop(self, graceful: bool = False) -> None:
            on_stop()  # running jobs stop at their next step instead of starting it
            super().stop(graceful=graceful)

    consumer: Consumer = JobConsumer(
        queue.huey,
        workers=workers,
        # Threads: a job mostly waits on the provider or on FFmpeg (which releases the GIL);
        # more processes, on this host or others, scale further.
        worker_type="thread",
        periodic=True,
        initial_delay=0.05,
        backoff=1.5,
        max_delay=IDLE_POLL_SECONDS,
        scheduler_interval=1,
        # SIGTERM (a service manager) lets running jobs finish their current step; SIGINT
        # (Ctrl-C) stops at once. Either way a job that did not finish goes back on the queue.
        graceful_signal="TERM",
        shutdown_timeout=20,
    )
    return consumer
