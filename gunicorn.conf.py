"""gunicorn settings, read from the environment (``gunicorn -c gunicorn.conf.py wsgi:app``).

WEB_CONCURRENCY            worker processes (default: twice the number of cores)
GUNICORN_THREADS           threads per worker (default 1: sync workers; above 1, gthread)
GUNICORN_TIMEOUT           seconds a request may take before its worker is restarted (default 30)
GUNICORN_GRACEFUL_TIMEOUT  seconds in-flight requests get to finish after SIGTERM (default 30)
HOST / PORT                where to listen (default 127.0.0.1:5000)
PROMETHEUS_MULTIPROC_DIR   where the workers' metrics live (default: a fresh temporary folder)
LOG_LEVEL / LOG_FORMAT     gunicorn's own messages use the app's logging (JSON lines or console)

The app writes one access line per request itself, so gunicorn's access log is off.
"""

import atexit
import logging
import os
import shutil
import tempfile

from dotenv import load_dotenv
from gunicorn.glogging import Logger

# The same .env the app reads, so its gunicorn and logging variables apply here too.
load_dotenv(".env", override=False)


def _env(name: str, default: str) -> str:
    """The variable's value; empty counts as unset (as in the app's configuration)."""
    return os.environ.get(name, "").strip() or default


bind = f"{_env('HOST', '127.0.0.1')}:{_env('PORT', '5000')}"
# The cores this process may use (a container's CPU set), not every core of the host.
_cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
# Sync workers, two per core (measured in bench/README.md): on the database path they beat gthread
# workers (no GIL contention between threads: higher req/s, p99 less than half), and with two per
# core a login hashing its password in one worker leaves the others free to answer.
workers = int(_env("WEB_CONCURRENCY", str(2 * _cores)))
threads = int(_env("GUNICORN_THREADS", "1"))
# gunicorn's sync and gthread workers, answering their own errors (malformed or oversized request
# heads, a worker timeout) with the contract's JSON and headers instead of an HTML page. The sync
# worker also hands job event streams to threads of their own (audiotricks/stream_worker.py), so
# open streams never hold the workers that answer the rest of the API.
worker_class = (
    "audiotricks.serving.JsonErrorThreadWorker"
    if threads > 1
    else "audiotricks.stream_worker.StreamingSyncWorker"
)
timeout = int(_env("GUNICORN_TIMEOUT", "30"))
# SIGTERM: stop accepting, let in-flight requests finish for up to this long, then exit.
graceful_timeout = int(_env("GUNICORN_GRACEFUL_TIMEOUT", "30"))
keepalive = 5


def _refuse_per_process_counters() -> None:
    """memory:// rate-limit counters live in one process: with several workers each would count
    alone and every documented limit would be multiplied by the worker count."""
    storage = _env("RATELIMIT_STORAGE_URI", "")
    enabled = _env("RATELIMIT_ENABLED", "true").lower() in ("1", "true", "yes", "on")
    if enabled and storage.startswith("memory://") and workers > 1:
        raise SystemExit(
            f"RATELIMIT_STORAGE_URI=memory:// counts in each of the {workers} workers alone; "
            "leave it unset (a file shared by the workers), use redis://, or set WEB_CONCURRENCY=1"
        )


_refuse_per_process_counters()
# Build the app once in the master, then fork: faster start, config errors stop start-up at once.
preload_app = True
accesslog = None
errorlog = "-"
loglevel = _env("LOG_LEVEL", "info").lower()
# No runtime control socket: one fixed path per user would collide between instances, and
# nothing here needs to resize workers at run time.
control_socket_disable = True
# Worker heartbeats in memory, not on a disk that may be slow or read-only.
# gunicorn creates its own private files there (mkstemp), so a shared directory is safe.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None  # noqa: S108


def _remove_metrics_dir(path: str, master_pid: int) -> None:
    if os.getpid() == master_pid:  # workers run exit handlers too, and must leave it alone
        shutil.rmtree(path, ignore_errors=True)


# prometheus_client reads this when first imported, which happens when the app is loaded (after
# this file), so every worker writes its counters where one scrape can add them all up.
# A reload (SIGHUP) reads this file again in the same master: the folder is prepared only once.
_PREPARED = "AUDIOTRICKS_METRICS_DIR_PREPARED"
if os.environ.get(_PREPARED) != str(os.getpid()):
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="audiotricks-metrics-")
        # Removed when the master exits, however it exits (a failed start included).
        atexit.register(_remove_metrics_dir, os.environ["PROMETHEUS_MULTIPROC_DIR"], os.getpid())
    else:
        os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)
        # Counters left by an earlier run would be added to this one's.
        for name in os.listdir(os.environ["PROMETHEUS_MULTIPROC_DIR"]):
            if name.endswith(".db"):
                os.remove(os.path.join(os.environ["PROMETHEUS_MULTIPROC_DIR"], name))
    os.environ[_PREPARED] = str(os.getpid())


class AppLogger(Logger):
    """gunicorn's messages go through the app's handler: same format, same redaction."""

    def setup(self, cfg):  # type: ignore[no-untyped-def]
        super().setup(cfg)
        from audiotricks.config import Config
        from audiotricks.logs import configure_logging

        configure_logging(Config.from_env(os.environ, instance_path=""))
        for handler in list(self.error_log.handlers):
            self.error_log.removeHandler(handler)
        self.error_log.propagate = True
        self.error_log.setLevel(logging.NOTSET)


logger_class = AppLogger


def child_exit(server, worker):  # type: ignore[no-untyped-def]
    """Let the metrics of a finished worker stop counting as live."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
