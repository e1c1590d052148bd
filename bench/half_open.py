"""How long do half-open connections stop the server? (see bench/README.md, "Half-open connections")

Starts gunicorn with the repository's gunicorn.conf.py (the ``make run`` defaults unless told
otherwise), opens N connections that send the start of a request line and never finish it, then
times ``GET /health`` from another client, and reports how the held connections ended.

    .venv/bin/python bench/half_open.py                       # N = the worker count, timeout 30 s
    .venv/bin/python bench/half_open.py --held 3 --timeout 10
    .venv/bin/python bench/half_open.py --threads 2           # gthread workers
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_health(port: int, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("gunicorn did not start")


def hold(port: int, outcome: dict[int, tuple[float, str]], index: int, started: float) -> None:
    """Send half a request line and wait until the server closes (or answers) the connection."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"GET /heal")
        sock.settimeout(300)
        try:
            data = sock.recv(65536)
        except OSError as exc:
            data = f"<{type(exc).__name__}>".encode()
    first = data.split(b"\r\n", 1)[0].decode("latin-1") or "<closed without an answer>"
    outcome[index] = (time.monotonic() - started, first)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, help="WEB_CONCURRENCY (default: gunicorn.conf.py's)")
    parser.add_argument("--threads", type=int, default=1, help="GUNICORN_THREADS (default 1)")
    parser.add_argument("--timeout", type=int, default=30, help="GUNICORN_TIMEOUT (default 30)")
    parser.add_argument("--held", type=int, help="half-open connections (default: the workers)")
    args = parser.parse_args()
    # Stopped from outside (Ctrl-C, SIGTERM): still stop the server it started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    workers = args.workers or 2 * (cores or 1)
    held = args.held or workers
    port = free_port()
    folder = tempfile.mkdtemp(prefix="half-open-")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("GUNICORN_", "WEB_"))},
        "APP_ENV": "production",
        "DATABASE_URL": f"sqlite:///{folder}/app.db",  # /health does not touch it
        "JWT_SECRET": secrets.token_urlsafe(48),
        "ENCRYPTION_KEY": secrets.token_hex(32),
        # Required in production; /health sends no mail.
        "MAIL_URL": "smtp://127.0.0.1:9",
        "MAIL_FROM": "no-reply@example.com",
        "FRONTEND_URL": "https://app.example.com",
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "WEB_CONCURRENCY": str(workers),
        "GUNICORN_THREADS": str(args.threads),
        "GUNICORN_TIMEOUT": str(args.timeout),
        "LOG_LEVEL": "WARNING",
    }
    with open(Path(folder) / "gunicorn.log", "wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
    try:
        wait_for_health(port, time.monotonic() + 30)
        print(f"workers={workers} threads={args.threads} timeout={args.timeout}s held={held}")
        started = time.monotonic()
        outcome: dict[int, tuple[float, str]] = {}
        holders = [
            threading.Thread(target=hold, args=(port, outcome, i, started), daemon=True)
            for i in range(held)
        ]
        for thread in holders:
            thread.start()
        time.sleep(0.5)  # let every worker pick up one of them
        asked = time.monotonic()
        try:
            url = f"http://127.0.0.1:{port}/health"
            with urllib.request.urlopen(url, timeout=args.timeout + 60) as reply:
                status = reply.status
        except OSError as exc:
            status = f"failed ({exc})"
        print(f"GET /health from another client: {status} after {time.monotonic() - asked:.1f} s")
        deadline = time.monotonic() + args.timeout + 60
        for thread in holders:
            thread.join(max(0.0, deadline - time.monotonic()))
        for index in sorted(outcome):
            seconds, first = outcome[index]
            print(f"  held connection {index}: {first} after {seconds:.1f} s")
        missing = held - len(outcome)
        if missing:
            print(f"  {missing} held connection(s) still open after {args.timeout + 60} s")
    finally:
        server.terminate()
        server.wait(60)


if __name__ == "__main__":
    main()
