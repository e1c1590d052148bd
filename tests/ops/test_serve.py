"""``make run``'s command (python -m audiotricks.serve): the API and a worker, and Ctrl-C ends both."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.jobs.conftest import worker_env
from tests.ops.client import call
from tests.services import free_port, wait_for_port


def descendants(pid: int) -> set[int]:
    """Every process below ``pid`` (children, grandchildren...), from /proc."""
    found: set[int] = set()
    todo = [pid]
    while todo:
        parent = todo.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            children = (task / "children").read_text().split() if (task / "children").exists() else []
            for child in map(int, children):
                if child not in found:
                    found.add(child)
                    todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(") ")[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


@contextmanager
def serving(app: Any, tmp_path: Path, workers: int) -> Iterator[tuple[subprocess.Popen[bytes], int, Path]]:
    """``python -m audiotricks.serve`` in its own session (as a terminal's foreground job is, so a
    SIGINT to the group is Ctrl-C), once its API answers and its worker has started."""
    port = free_port()
    env = worker_env(app.extensions["audiotricks.config"])
    env.update({"HOST": "127.0.0.1", "PORT": str(port), "WEB_CONCURRENCY": str(workers),
                "RATELIMIT_ENABLED": "false"})
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    log_path = tmp_path / "serve.log"
    with open(log_path, "wb") as log:
        supervisor = subprocess.Popen(
            [sys.executable, "-m", "audiotricks.serve"],
            cwd=Path(__file__).resolve().parents[2],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for_port(port, timeout=30)
        deadline = time.monotonic() + 30
        while "worker started" not in log_path.read_text(errors="replace"):
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.1)
        yield supervisor, port, log_path
    finally:
        if supervisor.poll() is None:
            os.killpg(supervisor.pid, signal.SIGKILL)
            supervisor.wait(10)


def assert_all_gone(family: set[int], log_path: Path) -> None:
    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in family) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [pid for pid in family if alive(pid)] == [], log_path.read_text()


def test_ctrl_c_stops_the_api_and_the_worker(app, tmp_path):
    with serving(app, tmp_path, workers=2) as (supervisor, port, log_path):
        assert call(port, "GET", "/health").status == 200
        # gunicorn forks its workers after it starts listening: wait for all four processes.
        deadline = time.monotonic() + 20
        while len(family := descendants(supervisor.pid)) < 4 and time.monotonic() < deadline:
            time.sleep(0.1)
        commands = [Path(f"/proc/{pid}/cmdline").read_bytes() for pid in family]
        assert any(b"gunicorn" in command for command in commands)
        assert any(b"worker" in command and b"flask" in command for command in commands)
        assert len(family) >= 4  # gunicorn master and its 2 workers, and the job worker

        os.killpg(supervisor.pid, signal.SIGINT)  # what Ctrl-C does
        assert supervisor.wait(40) == 0, log_path.read_text()
        assert_all_gone(family, log_path)


def test_when_one_child_dies_the_other_is_stopped_too(app, tmp_path):
    with serving(app, tmp_path, workers=1) as (supervisor, _, log_path):
        family = descendants(supervisor.pid)
        [worker] = [
            pid for pid in family if b"worker" in Path(f"/proc/{pid}/cmdline").read_bytes()
            and b"flask" in Path(f"/proc/{pid}/cmdline").read_bytes()
        ]
        os.kill(worker, signal.SIGKILL)

        assert supervisor.wait(40) != 0
        assert_all_gone(family, log_path)
