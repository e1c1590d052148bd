"""Job pick-up latency: from the job's creation (queued) to a worker's claim (running).

For each queue storage (the embedded SQLite file, then Redis) it starts one ``flask worker`` (what
``make worker`` runs) on a scratch SQLite database, creates jobs one at a time through the real
upload route (Flask's test client, in this process), with a random pause of 0–1 s between them so
they arrive at every point of the worker's polling cycle, and reads ``started_at - created_at``
from the jobs table. The audio is a bare WAV header, so each job fails at once (``audio_unreadable``)
without a provider: only the queue is measured.

    .venv/bin/python bench/job_pickup.py [--jobs 60] [--redis redis://127.0.0.1:6379/0]
"""

from __future__ import annotations

import argparse
import io
import os
import random
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from flask_migrate import upgrade  # noqa: E402
from sqlalchemy import select  # noqa: E402

from audiotricks import create_app  # noqa: E402
from audiotricks.config import Config  # noqa: E402
from audiotricks.extensions import db  # noqa: E402
from audiotricks.models import Job  # noqa: E402

JWT_SECRET = secrets.token_urlsafe(48)
ENCRYPTION_KEY = secrets.token_hex(32)
PASSWORD = "Bench-Password-2026"
WAV_HEADER = (
    b"RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00\x80\x3e\x00\x00"
    b"\x00\x7d\x00\x00\x02\x00\x10\x00data\x00\x00\x00\x00"
)


def measure(queue_url: str, jobs: int, folder: Path) -> list[float]:
    name = f"bench{uuid.uuid4().hex[:10]}"
    database = f"sqlite:///{folder}/{name}.db"
    config = Config(
        app_env="development", database_url=database, jwt_secret=JWT_SECRET,
        encryption_key=ENCRYPTION_KEY, bcrypt_rounds=4, ratelimit_enabled=False,
        queue_url=queue_url, queue_name=name, upload_dir=str(folder / "uploads"),
        jobs_max_active=1000, log_level="WARNING",
    )
    app = create_app(config)
    with app.app_context():
        upgrade(directory=str(ROOT / "migrations"))
    env = {
        **os.environ, "FLASK_APP": "audiotricks:create_app", "APP_ENV": "development",
        "DATABASE_URL": database, "JWT_SECRET": JWT_SECRET, "ENCRYPTION_KEY": ENCRYPTION_KEY,
        "QUEUE_URL": queue_url, "QUEUE_NAME": name, "UPLOAD_DIR": str(folder / "uploads"),
        "LOG_LEVEL": "WARNING",
    }
    worker = subprocess.Popen([os.path.join(os.path.dirname(sys.executable), "flask"), "worker"],
                              cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        client = app.test_client()
        client.post("/api/v1/auth/register", json={"email": "b@example.com", "username": "bench",
                                                   "password": PASSWORD})
        token = client.post("/api/v1/auth/login", json={"username": "bench", "password": PASSWORD}
                            ).get_json()["data"]["token"]
        headers = {"Authorization": f"Bearer {token}"}
        client.put("/api/v1/settings/api-keys/openai", json={"apiKey": "sk-" + "b" * 40},
                   headers=headers)
        time.sleep(3)  # the worker is up and idle
        for _ in range(jobs):
            time.sleep(random.uniform(0, 1))
            response = client.post("/api/v1/jobs/transcriptions", headers=headers,
                                   data={"file": (io.BytesIO(WAV_HEADER), "a.wav")},
                                   content_type="multipart/form-data")
            assert response.status_code == 202, response.get_json()
        deadline = time.monotonic() + 60
        with app.app_context():
            while True:
                rows = db.session.execute(select(Job.created_at, Job.started_at)).all()
                db.session.commit()
                if all(started for _, started in rows) or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
        return [(started - created).total_seconds() * 1000 for created, started in rows if started]
    finally:
        worker.terminate()
        worker.wait(30)
        if queue_url.startswith("redis"):
            connection = redis.Redis.from_url(queue_url)
            for key in connection.scan_iter(f"huey.*.{name}*"):
                connection.delete(key)
            connection.close()


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=60)
    parser.add_argument("--redis", default=os.environ.get("BENCH_REDIS_URL",
                                                          "redis://127.0.0.1:6379/0"))
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="pickup-bench-"))
    for label, url in (("SQLite file", f"sqlite:///{folder}/queue.db"), ("Redis", args.redis)):
        latencies = measure(url, args.jobs, folder)
        print(f"{label:12} {len(latencies)} jobs: p50 {statistics.median(latencies):.0f} ms, "
              f"p99 {percentile(latencies, 0.99):.0f} ms, max {max(latencies):.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
