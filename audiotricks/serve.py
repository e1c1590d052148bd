"""``python -m audiotricks.serve``: the API (gunicorn) and a job worker, stopped together.

What ``make run`` starts, so one command serves everything on a newcomer's machine. SIGINT
(Ctrl-C), SIGTERM and SIGHUP are passed on to both children (a terminal's Ctrl-C also reaches
them directly; both take a repeated signal calmly), and when either child exits the other is
stopped too. A child still running 30 seconds after the stop is killed: nothing outlives this.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import time
from types import FrameType

STOP_GRACE_SECONDS = 30


def commands() -> list[list[str]]:
    python = sys.executable
    return [
        [python, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
        [python, "-m", "flask", "--app", "audiotricks:create_app", "worker"],
    ]


def _signal_all(children: list[subprocess.Popen[bytes]], signum: int) -> None:
    for child in children:
        if child.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                child.send_signal(signum)


def main() -> int:
    received: list[int] = []

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        received.append(signum)

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, on_signal)
    children = [subprocess.Popen(command) for command in commands()]  # noqa: S603 - fixed commands
    exit_code = 0
    while not received:
        exited = [child for child in children if child.poll() is not None]
        if exited:
            exit_code = exited[0].returncode or 1
            break
        time.sleep(0.2)
    forwarded = received[0] if received else signal.SIGTERM
    _signal_all(children, signal.SIGTERM if forwarded == signal.SIGHUP else forwarded)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    while any(child.poll() is None for child in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    _signal_all(children, signal.SIGKILL)
    for child in children:
        child.wait()
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
