"""Time (and optionally profile) the authenticated path in-process, without a server or load tool.

    .venv/bin/python bench/profile_auth.py                      # µs (wall, CPU) per request
    .venv/bin/python bench/profile_auth.py --profile out.txt    # plus a pyinstrument profile of /me
    .venv/bin/python bench/profile_auth.py --shape production   # Redis counters, JSON access log

Uses Flask's test client against a scratch database on BENCH_DATABASE_URL (default the local
PostgreSQL), with the rate limiter on (limits raised, so they never trigger but every request is
counted). Shapes:

- ``embedded`` (the default): counters in a SQLite file (the default storage), logs at WARNING;
- ``production``: ``APP_ENV=production``, counters in Redis (BENCH_REDIS_URL, default
  redis://127.0.0.1:6379/15, under a key prefix of its own), the JSON access log at INFO written
  through the real handler to /dev/null.

The test client adds its own cost to every request, so compare the lines with each other, not with
bench/run.py's figures.
"""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from audiotricks import create_app  # noqa: E402
from tests.conftest import dispose_engines, make_config, migrated  # noqa: E402
from tests.services import scratch_database  # noqa: E402

PATHS = ("/health", "/api/v1/auth/me", "/api/v1/settings")
PASSWORD = "Bench-Password-2026"
RAISED = "1000000 per minute"


def shape_config(shape: str, url: str, scratch: str) -> dict[str, object]:
    limits = {"ratelimit_enabled": True, "ratelimit_default": RAISED, "ratelimit_login": RAISED,
              "ratelimit_login_account": RAISED, "ratelimit_register": RAISED}
    if shape == "production":
        redis = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")
        return {**limits, "app_env": "production", "bcrypt_rounds": 10,
                "jwt_secret": secrets.token_urlsafe(48), "encryption_key": secrets.token_hex(32),
                "ratelimit_storage_uri": redis,
                "ratelimit_key_prefix": f"bench-{secrets.token_hex(4)}",
                "log_level": "INFO", "log_format": "json",
                # Required in production; nothing here sends mail.
                "mail_url": "smtp://127.0.0.1:9", "mail_from": "no-reply@example.com",
                "frontend_url": "https://app.example.com"}
    return {**limits, "ratelimit_storage_uri": f"sqlite:///{scratch}/ratelimits.db",
            "log_level": "WARNING"}


def quiet_handler() -> None:
    """Point the app's log handler at /dev/null: every record still goes through its filters and
    formatter, as in production, but nothing reaches the terminal."""
    for handler in logging.getLogger().handlers:
        if getattr(handler, "audiotricks", False) and isinstance(handler, logging.StreamHandler):
            handler.setStream(open(os.devnull, "w"))  # noqa: SIM115 - lives as long as the process


def write_profile(request: Callable[[int], object], count: int, path: str, show_all: bool) -> None:
    """A pyinstrument profile of ``count`` calls of ``request(i)``, as text into ``path``."""
    from pyinstrument import Profiler

    profiler = Profiler(interval=0.0002)
    profiler.start()
    for i in range(count):
        request(i)
    profiler.stop()
    Path(path).write_text(profiler.output_text(unicode=False, color=False, show_all=show_all))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--shape", choices=("embedded", "production"), default="embedded")
    parser.add_argument("--profile", metavar="FILE", help="write a pyinstrument profile of --path")
    parser.add_argument("--path", default="/api/v1/auth/me", help="the path to profile")
    parser.add_argument("--show-all", action="store_true", help="no frames hidden in the profile")
    options = parser.parse_args()
    server = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    with scratch_database(server) as url, tempfile.TemporaryDirectory() as scratch:
        migrated(url)
        config = make_config(url).replace(**shape_config(options.shape, url, scratch))
        app = create_app(config)
        quiet_handler()
        client = app.test_client()
        client.post("/api/v1/auth/register",
                    json={"email": "bench@example.com", "username": "bench", "password": PASSWORD})
        login = client.post("/api/v1/auth/login", json={"username": "bench", "password": PASSWORD})
        headers = {"Authorization": f"Bearer {login.get_json()['data']['token']}"}
        per_round = options.requests // 5
        for path in PATHS:
            rounds, cpu = [], []
            for _ in range(5):
                started, cpu_started = time.perf_counter(), time.process_time()
                for _ in range(per_round):
                    assert client.get(path, headers=headers).status_code == 200
                rounds.append((time.perf_counter() - started) / per_round * 1e6)
                cpu.append((time.process_time() - cpu_started) / per_round * 1e6)
            # CPU time moves less than wall time when other work loads the machine.
            print(f"{options.shape:10} {path:24} {statistics.median(rounds):7.0f} µs/request,"
                  f" {statistics.median(cpu):5.0f} µs CPU")
        if options.profile:
            write_profile(lambda _: client.get(options.path, headers=headers), options.requests,
                          options.profile, options.show_all)
            print(f"profile written to {options.profile}")
        dispose_engines(app)


if __name__ == "__main__":
    main()
