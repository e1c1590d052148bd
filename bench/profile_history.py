"""Time (and optionally profile) the history read paths in-process, on the database history.py seeded.

    .venv/bin/python bench/history.py --items 300000 --seed-only     # once: seed and keep
    .venv/bin/python bench/profile_history.py                        # µs per request, each case
    .venv/bin/python bench/profile_history.py --profile out.txt --case first

Uses Flask's test client in the production shape of bench/profile_auth.py (Redis counters, JSON
access log at INFO into /dev/null, rate limits raised but on), as the user with 10,000 items, with
the secret and tokens bench/history.py saved. For each case: wall and CPU µs per request (median of
5 rounds). CPU is this process only (the Python side of a request); wall adds the database's time
and the round trips. Compare the cases with each other, not with bench/history.py's figures.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import history  # noqa: E402
import psycopg  # noqa: E402
import run  # noqa: E402
from profile_auth import quiet_handler, shape_config, write_profile  # noqa: E402

from audiotricks import create_app  # noqa: E402
from tests.conftest import dispose_engines, make_config  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database", default=history.DATABASE)
    parser.add_argument("--server-url", default=os.environ.get(
        "BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"))
    parser.add_argument("--requests", type=int, default=500, help="per case (5 rounds)")
    parser.add_argument("--case", action="append",
                        help="only these cases (me, first, deep, item, common, rare)")
    parser.add_argument("--profile", metavar="FILE",
                        help="write a pyinstrument profile of the (first) case")
    parser.add_argument("--show-all", action="store_true", help="no frames hidden in the profile")
    options = parser.parse_args()
    database_url = options.server_url.rsplit("/", 1)[0] + "/" + options.database
    saved = json.loads((run.RESULTS / f"{options.database}-state.json").read_text())
    (common, _), (rare, _) = history.search_words(database_url, saved["heavy"],
                                                 history.Pool.build())
    with psycopg.connect(database_url) as conn:
        item_ids = [str(r[0]) for r in conn.execute(
            "SELECT id FROM history_items WHERE user_id = %s", (saved["heavy"],))]
    random.Random(3).shuffle(item_ids)

    with tempfile.TemporaryDirectory() as scratch:
        measure(options, database_url, saved, (common, rare), item_ids, scratch)


def measure(options: argparse.Namespace, database_url: str, saved: dict,  # noqa: PLR0913, PLR0917
            words: tuple[str, str], item_ids: list[str], scratch: str) -> None:
    common, rare = words
    config = make_config(database_url).replace(
        **shape_config("production", database_url, scratch))
    app = create_app(config.replace(jwt_secret=saved["jwt_secret"]))
    quiet_handler()
    client = app.test_client()
    tokens = saved["tokens"]
    headers = [{"Authorization": f"Bearer {t}"} for t in tokens]
    cursor, seen = None, 0
    while seen < history.DEEP_AFTER:
        page = client.get("/api/v1/history?limit=100" + (f"&cursor={cursor}" if cursor else ""),
                          headers=headers[0]).get_json()["data"]
        seen += len(page["items"])
        cursor = page["nextCursor"]
    ids = iter(item_ids * 100)
    cases = {
        "me": lambda: "/api/v1/auth/me",
        "first": lambda: "/api/v1/history",
        "deep": lambda: f"/api/v1/history?cursor={cursor}",
        "item": lambda: f"/api/v1/history/{next(ids)}",
        "common": lambda: f"/api/v1/history?q={common}",
        "rare": lambda: f"/api/v1/history?q={rare}",
    }
    chosen = options.case or list(cases)
    per_round = max(1, options.requests // 5)
    n = 0
    for name in chosen:
        path = cases[name]
        for _ in range(5):  # warm-up
            assert client.get(path(), headers=headers[0]).status_code == 200
        rounds, cpu = [], []
        for _ in range(5):
            started, cpu_started = time.perf_counter(), time.process_time()
            for _ in range(per_round):
                n += 1
                client.get(path(), headers=headers[n % len(headers)])
            rounds.append((time.perf_counter() - started) / per_round * 1e6)
            cpu.append((time.process_time() - cpu_started) / per_round * 1e6)
        print(f"{name:8} {statistics.median(rounds):8.0f} µs/request,"
              f" {statistics.median(cpu):6.0f} µs CPU", flush=True)
    if options.profile:
        path = cases[chosen[0]]
        write_profile(lambda i: client.get(path(), headers=headers[i % len(headers)]),
                      options.requests, options.profile, options.show_all)
        print(f"profile of {chosen[0]} written to {options.profile}")
    dispose_engines(app)


if __name__ == "__main__":
    main()
