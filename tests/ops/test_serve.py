"""``make run``'s command (python -m audiotricks.serve): the API and a worker, and Ctrl-C ends both."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

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


def test_ctrl_c_stops_the_api_and_the_worker(app, tmp_path):
    port = free_port()
    env = worker_env(app.extensions["audiotricks.config"])
    env.update({"HOST": "127.0.0.1", "PORT": str(port), "WEB_CONCURRENCY": "2",
                "RATELIMIT_ENABLED": "false"})
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    log_path = tmp_path / "serve.log"
    with open(log_path, "wb") as log:
        # Its own session, as a terminal's foreground job is: the SIGINT below goes to the group.
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
        deadline = time.monotonic() + 10
        while any(alive(pid) for pid in family) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert [pid for pid in family if alive(pid)] == [], log_path.read_text()
    finally:
        if supervisor.poll() is None:
            os.killpg(supervisor.pid, signal.SIGKILL)
            supervisor.wait(10)


def test_when_one_child_dies_the_other_is_stopped_too(app, tmp_path):
    port = free_port()
    env = worker_env(app.extensions["audiotricks.config"])
    env.update({"HOST": "127.0.0.1", "PORT": str(port), "WEB_CONCURRENCY": "1",
                "RATELIMIT_ENABLED": "false"})
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
        family = descendants(supervisor.pid)
        [worker] = [
            pid for pid in family if b"worker" in Path(f"/proc/{pid}/cmdline").read_bytes()
            and b"flask" in Path(f"/proc/{pid}/cmdline").read_bytes()
        ]
        os.kill(worker, signal.SIGKILL)

        assert supervisor.wait(40) != 0
        deadline = time.monotonic() + 10
        while any(alive(pid) for pid in family) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert [pid for pid in family if alive(pid)] == []
    finally:
        if supervisor.poll() is None:
            os.killpg(supervisor.pid, signal.SIGKILL)
            supervisor.wait(10)
