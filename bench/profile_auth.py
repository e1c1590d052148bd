"""Time (and optionally profile) the authenticated path in-process, without a server or load tool.

    .venv/bin/python bench/profile_auth.py                      # µs per request, median of 5 rounds
    .venv/bin/python bench/profile_auth.py --profile out.txt    # plus a pyinstrument profile of /me

Uses Flask's test client against a scratch database on BENCH_DATABASE_URL (default the local
PostgreSQL), with the production rate limiter on (limits raised). The test client adds its own
cost to every request, so compare the lines with each other, not with bench/run.py's figures.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from audiotricks import create_app  # noqa: E402
from tests.conftest import dispose_engines, make_config, migrated  # noqa: E402
from tests.services import scratch_database  # noqa: E402

PATHS = ("/health", "/api/v1/auth/me", "/api/v1/settings")
PASSWORD = "Bench-Password-2026"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--profile", metavar="FILE", help="write a pyinstrument profile of /me")
    options = parser.parse_args()
    server = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    with scratch_database(server) as url:
        migrated(url)
        app = create_app(make_config(url, ratelimit_enabled=True, ratelimit_default="1000000 per minute",
                                     log_level="WARNING"))
        client = app.test_client()
        client.post("/api/v1/auth/register",
                    json={"email": "bench@example.com", "username": "bench", "password": PASSWORD})
        login = client.post("/api/v1/auth/login", json={"username": "bench", "password": PASSWORD})
        headers = {"Authorization": f"Bearer {login.get_json()['data']['token']}"}
        for path in PATHS:
            rounds = []
            for _ in range(5):
                started = time.perf_counter()
                for _ in range(options.requests // 5):
                    assert client.get(path, headers=headers).status_code == 200
                rounds.append((time.perf_counter() - started) / (options.requests // 5) * 1e6)
            print(f"{path:24} {statistics.median(rounds):7.0f} µs/request")
        if options.profile:
            from pyinstrument import Profiler

            profiler = Profiler(interval=0.0002)
            profiler.start()
            for _ in range(options.requests):
                client.get("/api/v1/auth/me", headers=headers)
            profiler.stop()
            Path(options.profile).write_text(profiler.output_text(unicode=False, color=False))
            print(f"profile written to {options.profile}")
        dispose_engines(app)


if __name__ == "__main__":
    main()
