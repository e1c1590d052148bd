"""Memory of a web worker while it receives a 200 MB upload (POST /api/v1/jobs/transcriptions).

Starts gunicorn as ``make run`` does (one sync worker, so the upload lands in a known process) on a
scratch SQLite database, registers a user with a stored OpenAI key, then streams a 200,000,000-byte
WAV file to the upload route while sampling the worker's resident memory (VmRSS) every 20 ms. The
result is the largest RSS seen during the upload minus the RSS just before it. No worker runs:
the job stays queued, only the web side is measured.

    .venv/bin/python bench/upload_memory.py
"""

from __future__ import annotations

import http.client
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
import wave
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SIZE = 200_000_000
BOUNDARY = "bench0boundary"


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def make_wav(path: Path, size: int) -> None:
    """A valid 16 kHz mono 16-bit WAV of about ``size`` bytes (quiet noise, written in blocks)."""
    block = secrets.token_bytes(64 * 1024)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16_000)
        written = 44
        while written + len(block) <= size:
            out.writeframesraw(block)
            written += len(block)


def call(port: int, method: str, path: str, body: object = None, token: str | None = None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    headers = {"Content-Type": "application/json"} if body is not None else {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    connection.request(method, path, body=json.dumps(body) if body is not None else None,
                       headers=headers)
    response = connection.getresponse()
    data = json.loads(response.read() or b"{}")
    connection.close()
    return response.status, data


def upload(port: int, token: str, wav: Path) -> tuple[int, float]:
    head = (
        f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.wav\"\r\n"
        "Content-Type: audio/wav\r\n\r\n"
    ).encode()
    tail = f"\r\n--{BOUNDARY}--\r\n".encode()
    length = len(head) + wav.stat().st_size + len(tail)
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    connection.putrequest("POST", "/api/v1/jobs/transcriptions")
    connection.putheader("Authorization", f"Bearer {token}")
    connection.putheader("Content-Type", f"multipart/form-data; boundary={BOUNDARY}")
    connection.putheader("Content-Length", str(length))
    connection.endheaders()
    started = time.monotonic()
    connection.send(head)
    with open(wav, "rb") as source:
        while chunk := source.read(1024 * 1024):
            connection.send(chunk)
    connection.send(tail)
    response = connection.getresponse()
    response.read()
    connection.close()
    return response.status, time.monotonic() - started


def main() -> int:
    folder = Path(tempfile.mkdtemp(prefix="upload-bench-"))
    wav = folder / "big.wav"
    make_wav(wav, SIZE)
    port = 5900 + os.getpid() % 90
    env = {
        **os.environ,
        "APP_ENV": "development",
        "DATABASE_URL": f"sqlite:///{folder}/bench.db",
        "QUEUE_URL": f"sqlite:///{folder}/queue.db",
        "UPLOAD_DIR": str(folder / "uploads"),
        "RATELIMIT_ENABLED": "false",
        "WEB_CONCURRENCY": "1",
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "LOG_LEVEL": "WARNING",
        "FLASK_APP": "audiotricks:create_app",
    }
    python = sys.executable
    subprocess.run([python, "-m", "flask", "db", "upgrade"], cwd=ROOT, env=env, check=True,
                   capture_output=True)
    server = subprocess.Popen([python, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
                              cwd=ROOT, env=env, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            try:
                call(port, "GET", "/health")
                break
            except OSError:
                time.sleep(0.1)
        password = "Bench-Password-2026"
        call(port, "POST", "/api/v1/auth/register",
             {"email": "bench@example.com", "username": "bench", "password": password})
        _, login = call(port, "POST", "/api/v1/auth/login",
                        {"email": "bench@example.com", "password": password})
        token = login["data"]["token"]
        call(port, "PUT", "/api/v1/settings/api-keys/openai", {"apiKey": "sk-" + "b" * 40}, token)
        children = Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()
        worker = int(children[0])
        before = rss_kib(worker)
        peak = before
        done = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not done.is_set():
                peak = max(peak, rss_kib(worker))
                time.sleep(0.02)

        sampler = threading.Thread(target=sample)
        sampler.start()
        status, seconds = upload(port, token, wav)
        done.set()
        sampler.join()
        stored = sum(f.stat().st_size for f in (folder / "uploads").glob("*"))
        print(f"upload of {wav.stat().st_size:,} bytes: HTTP {status} in {seconds:.1f} s, "
              f"{stored:,} bytes stored")
        print(f"web worker RSS before {before / 1024:.1f} MiB, peak during {peak / 1024:.1f} MiB, "
              f"growth {(peak - before) / 1024:.1f} MiB")
        return 0 if status == 202 else 1
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(30)
        for path in sorted(folder.rglob("*"), reverse=True):
            path.unlink() if path.is_file() else path.rmdir()
        folder.rmdir()


if __name__ == "__main__":
    sys.exit(main())
