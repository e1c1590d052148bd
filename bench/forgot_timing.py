"""``POST /auth/password/forgot`` for an address with an account and one without: same time?

The request counts the address's budget and enqueues, whatever the address; the worker looks the
account up. This measures that the answer time does not tell the two apart: the app in this
process (Flask's test client) on a scratch SQLite database and the embedded SQLite queue, the
two kinds of request alternating so a busy moment of the machine slows both alike.

    .venv/bin/python bench/forgot_timing.py [--requests 500]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from audiotricks import create_app  # noqa: E402
from tests.conftest import PASSWORD, make_config, migrated  # noqa: E402

FORGOT = "/api/v1/auth/password/forgot"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=500, help="per kind of address")
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="forgot-timing-")
    url = f"sqlite:///{folder}/app.db"
    migrated(url)
    app = create_app(make_config(url, queue_url=f"sqlite:///{folder}/queue.db"))
    client = app.test_client()
    body = {"email": "alice@example.com", "username": "alice", "password": PASSWORD}
    assert client.post("/api/v1/auth/register", json=body).status_code == 201
    samples: dict[str, list[float]] = {"alice@example.com": [], "nobody@example.com": []}
    client.post(FORGOT, json={"email": "warm-up@example.com"})
    for _ in range(args.requests):
        for email, times in samples.items():
            start = time.perf_counter()
            assert client.post(FORGOT, json={"email": email}).status_code == 202
            times.append(time.perf_counter() - start)
    medians = {}
    for email, times in samples.items():
        times.sort()
        medians[email] = statistics.median(times)
        p90 = times[int(len(times) * 0.9)]
        print(f"{email:20} median {medians[email] * 1000:.3f} ms  p90 {p90 * 1000:.3f} ms")
    known, unknown = medians.values()
    print(f"known / unknown median: {known / unknown:.3f}")


if __name__ == "__main__":
    main()
