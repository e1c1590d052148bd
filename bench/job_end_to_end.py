"""End-to-end time and memory of a transcription job, against a stand-in OpenAI server.

The job runs as ``make run`` runs it: one ``flask worker`` process (the embedded SQLite queue, a
scratch SQLite database) takes it from the queue, probes and cuts the audio, sends each part to a
stand-in OpenAI server on loopback (tests/providers/openai_standin.py: OpenAI's wire format, the
25 MB limit, an answer as soon as it has decoded the part), asks it for the summary, saves the
history item and deletes the upload. The upload goes through the real route (Flask's test client,
in this process); bench/upload_memory.py measures the web worker's side of a large upload.

It reports, for each recording: the time from the upload's 202 to ``succeeded``, the time spent in
each stage (read by polling ``GET /jobs/<id>`` every 50 ms), the parts sent and the worker's peak
RSS (sampled from /proc every 20 ms). The stand-in shares the machine's cores and decodes what it
receives, so its work is in the figures; OpenAI's own processing time is not.

    .venv/bin/python bench/job_end_to_end.py                    # a 60-minute WAV, default limits
    .venv/bin/python bench/job_end_to_end.py --minutes 10 --part-bytes 2000000
"""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from flask_migrate import upgrade  # noqa: E402

from audiotricks import create_app  # noqa: E402
from audiotricks.config import Config  # noqa: E402
from tests.audio_files import make_audio  # noqa: E402
from tests.providers.openai_standin import OpenAIStandIn  # noqa: E402

JWT_SECRET = secrets.token_urlsafe(48)
ENCRYPTION_KEY = secrets.token_hex(32)
PASSWORD = "Bench-Password-2026"
API_KEY = "sk-bench-" + secrets.token_hex(20)
FINISHED = {"succeeded", "failed", "canceled"}


class PeakRss:
    """Samples a process's resident set size until stopped; ``peak`` in MiB."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self.first = pid, 0.0, 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _rss(self) -> float:
        with open(f"/proc/{self.pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return 0.0

    def _run(self) -> None:
        self.first = self._rss()
        while not self._stop.wait(0.02):
            try:
                self.peak = max(self.peak, self._rss())
            except OSError:
                return

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def run_job(audio: Path, part_bytes: int, folder: Path) -> dict[str, object]:
    standin = OpenAIStandIn(API_KEY).start()
    database = f"sqlite:///{folder}/bench.db"
    settings = {
        "DATABASE_URL": database, "QUEUE_URL": f"sqlite:///{folder}/queue.db",
        "UPLOAD_DIR": str(folder / "uploads"), "OPENAI_BASE_URL": standin.base_url,
        "TRANSCRIBE_MAX_BYTES": str(part_bytes),
    }
    config = Config(
        app_env="development", database_url=database, jwt_secret=JWT_SECRET,
        encryption_key=ENCRYPTION_KEY, bcrypt_rounds=4, ratelimit_enabled=False,
        queue_url=settings["QUEUE_URL"], upload_dir=settings["UPLOAD_DIR"],
        openai_base_url=standin.base_url, transcribe_max_bytes=part_bytes, log_level="WARNING",
    )
    app = create_app(config)
    with app.app_context():
        upgrade(directory=str(ROOT / "migrations"))
    env = {
        **os.environ, **settings, "FLASK_APP": "audiotricks:create_app",
        "APP_ENV": "development", "JWT_SECRET": JWT_SECRET, "ENCRYPTION_KEY": ENCRYPTION_KEY,
        "LOG_LEVEL": "WARNING",
    }
    worker = subprocess.Popen(  # what `make worker` runs
        [os.path.join(os.path.dirname(sys.executable), "flask"), "worker"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        client = app.test_client()
        client.post("/api/v1/auth/register", json={"email": "e2e@example.com",
                                                   "username": "e2e", "password": PASSWORD})
        token = client.post("/api/v1/auth/login", json={"username": "e2e", "password": PASSWORD}
                            ).get_json()["data"]["token"]
        headers = {"Authorization": f"Bearer {token}"}
        client.put("/api/v1/settings/api-keys/openai", json={"apiKey": API_KEY}, headers=headers)
        time.sleep(3)  # the worker is up and idle
        with PeakRss(worker.pid) as rss, audio.open("rb") as upload:
            response = client.post("/api/v1/jobs/transcriptions", headers=headers,
                                   data={"file": (upload, audio.name)},
                                   content_type="multipart/form-data")
            assert response.status_code == 202, response.get_json()
            accepted = time.monotonic()
            job_url = f"/api/v1/jobs/{response.get_json()['data']['job']['id']}"
            stages: dict[str, float] = {}
            stage, since = "queued", accepted
            while True:
                job = client.get(job_url, headers=headers).get_json()["data"]["job"]
                now = time.monotonic()
                if job["stage"] != stage:
                    stages[stage] = stages.get(stage, 0.0) + now - since
                    stage, since = job["stage"], now
                if job["status"] in FINISHED:
                    break
                time.sleep(0.05)
            total = time.monotonic() - accepted
        assert job["status"] == "succeeded", job
        return {
            "total": total, "stages": stages, "rss_idle": rss.first, "rss_peak": rss.peak,
            "parts": len(standin.requests_to("transcriptions")),
            "largest_part": max(r.file_size or 0 for r in standin.requests_to("transcriptions")),
        }
    finally:
        worker.terminate()
        worker.wait(30)
        standin.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--fmt", default="wav", help="upload format (tests/audio_files.FORMATS)")
    parser.add_argument("--part-bytes", type=int, default=26_214_400,
                        help="TRANSCRIBE_MAX_BYTES (default OpenAI's 25 MB)")
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the stand-in's request lines
    with tempfile.TemporaryDirectory(prefix="e2e-bench-") as tmp:
        audio = Path(tmp) / f"recording.{args.fmt}"
        make_audio(str(audio), seconds=args.minutes * 60, fmt=args.fmt)
        print(f"{args.minutes:g}-minute {args.fmt}, {audio.stat().st_size / 1e6:.1f} MB, "
              f"TRANSCRIBE_MAX_BYTES={args.part_bytes:,}; load average {os.getloadavg()[0]:.1f}")
        for run in range(args.runs):
            folder = Path(tmp) / f"run{run}"
            folder.mkdir()
            result = run_job(audio, args.part_bytes, folder)
            stages = ", ".join(f"{name} {seconds:.1f} s"
                               for name, seconds in result["stages"].items())  # type: ignore[attr-defined]
            print(f"run {run + 1}: {result['total']:.1f} s from 202 to succeeded ({stages}); "
                  f"{result['parts']} part(s), largest {result['largest_part']:,} bytes; "
                  f"worker RSS {result['rss_idle']:.0f} MiB idle, peak {result['rss_peak']:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
