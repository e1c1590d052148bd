"""Benchmark the service as it runs in production and write the table into bench/README.md.

Starts gunicorn with the repository's gunicorn.conf.py and production settings (bench secrets) on a
scratch PostgreSQL database, seeds users and sessions, and drives load with wrk from a separate
process. See bench/README.md for what is measured and how to read it.

    .venv/bin/python bench/run.py                 # the full run (about 15 minutes)
    .venv/bin/python bench/run.py --quick         # 1 run of 3 s per case, no growth run
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import bcrypt
import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from audiotricks.security.passwords import hash_password  # noqa: E402
from audiotricks.security.tokens import issue_token, token_hash  # noqa: E402

BENCH = ROOT / "bench"
RESULTS = BENCH / "results"
PASSWORD = "Bench-Password-2026"
OPENAI_KEY = "sk-bench-" + "k" * 40
JWT_SECRET = secrets.token_urlsafe(48)
ENCRYPTION_KEY = secrets.token_hex(32)
TOKEN_SAMPLE = 2000  # distinct sessions the load cycles through
LOGIN_USERS = 2000
BCRYPT_ROUNDS = 12
RAISED = "1000000 per minute"


@dataclass
class Case:
    name: str
    method: str
    path: str
    body: str = ""
    auth: bool = True
    results: dict[int, list[dict]] = field(default_factory=dict)


CASES = [
    Case("GET /health (floor)", "GET", "/health", auth=False),
    Case("GET /api/v1/auth/me", "GET", "/api/v1/auth/me"),
    Case("GET /api/v1/settings", "GET", "/api/v1/settings"),
    Case("PUT /api/v1/settings", "PUT", "/api/v1/settings", '{"summaryQuality": "detailed"}'),
    Case("GET /api/v1/settings/api-keys/openai", "GET", "/api/v1/settings/api-keys/openai"),
]


def log(message: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {message}", flush=True)


# --- database -------------------------------------------------------------------------------


def scratch_database(server_url: str, name: str) -> str:
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return re.sub(r"/[^/]*$", f"/{name}", server_url)


def migrate(database_url: str) -> None:
    env = {**os.environ, **server_env(database_url, port=0)}
    subprocess.run(
        [str(ROOT / ".venv/bin/flask"), "--app", "audiotricks:create_app", "db", "upgrade"],
        env=env, check=True, capture_output=True, cwd=ROOT,
    )


def seed(database_url: str, first_user: int, users: int, sessions_per_user: int) -> list[str]:
    """Insert users ``first_user..``, their settings and sessions; return sample tokens."""
    now = datetime.now(UTC)
    expires = now + timedelta(days=7)
    password_hash = hash_password(PASSWORD, BCRYPT_ROUNDS)  # one hash serves every bench user
    tokens: list[str] = []
    sample_every = max(1, (users * sessions_per_user) // TOKEN_SAMPLE)
    with psycopg.connect(database_url) as conn, conn.cursor() as cur:
        user_ids = [uuid.uuid4() for _ in range(users)]
        with cur.copy(
            "COPY users (id, email, username, username_key, password_hash, is_active,"
            " created_at, updated_at) FROM STDIN"
        ) as copy:
            for n, user_id in enumerate(user_ids, start=first_user):
                name = f"bench{n}"
                copy.write_row((user_id, f"{name}@example.com", name, name, password_hash,
                                True, now, now))
        with cur.copy(
            "COPY user_settings (user_id, preferred_language, summary_quality, settings_json,"
            " updated_at) FROM STDIN"
        ) as copy:
            for user_id in user_ids:
                copy.write_row((user_id, "en", "balanced", "{}", now))
        with cur.copy(
            "COPY sessions (id, user_id, token_hash, created_at, expires_at, last_used_at,"
            " user_agent, ip_address) FROM STDIN"
        ) as copy:
            count = 0
            for user_id in user_ids:
                for _ in range(sessions_per_user):
                    session_id = uuid.uuid4()
                    if count % sample_every == 0 and len(tokens) < TOKEN_SAMPLE:
                        token, _ = issue_token(user_id, session_id, JWT_SECRET, 7 * 86400, now)
                        tokens.append(token)
                        digest = token_hash(token)
                    else:
                        digest = secrets.token_hex(32)  # a session nobody will present
                    copy.write_row((session_id, user_id, digest, now, expires, now,
                                    "bench", "127.0.0.1"))
                    count += 1
        conn.commit()
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    return tokens


# --- server ---------------------------------------------------------------------------------


def server_env(database_url: str, port: int) -> dict[str, str]:
    return {
        "APP_ENV": "production",
        "DATABASE_URL": database_url,
        "JWT_SECRET": JWT_SECRET,
        "ENCRYPTION_KEY": ENCRYPTION_KEY,
        "BCRYPT_ROUNDS": str(BCRYPT_ROUNDS),
        "RATELIMIT_DEFAULT": RAISED,
        "RATELIMIT_LOGIN": RAISED,
        "RATELIMIT_LOGIN_ACCOUNT": RAISED,
        "RATELIMIT_REGISTER": RAISED,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "LOG_LEVEL": os.environ.get("LOG_LEVEL", "INFO"),
    }


class Server:
    def __init__(self, database_url: str, port: int, log_path: Path):
        self.port = port
        self.log = log_path.open("ab")
        self.process = subprocess.Popen(
            [str(ROOT / ".venv/bin/gunicorn"), "-c", "gunicorn.conf.py", "wsgi:app"],
            env={**os.environ, **server_env(database_url, port)},
            cwd=ROOT, stdout=self.log, stderr=self.log, start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(self.url("/health"), timeout=1).read()
                return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"gunicorn did not start; see {log_path}")

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def stop(self) -> None:
        os.killpg(self.process.pid, signal.SIGTERM)
        self.process.wait(30)
        self.log.close()


def store_api_keys(server: Server, tokens: list[str]) -> None:
    body = json.dumps({"apiKey": OPENAI_KEY}).encode()
    for token in tokens:
        request = urllib.request.Request(
            server.url("/api/v1/settings/api-keys/openai"), data=body, method="PUT",
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        urllib.request.urlopen(request, timeout=10).read()


# --- load -----------------------------------------------------------------------------------


def wrk(server: Server, script: str, args: list[str], connections: int, seconds: float) -> dict:
    command = [
        "wrk", f"-t{min(2, connections)}", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "10s",
        "-s", str(BENCH / "wrk" / script), server.url(""), "--", *args,
    ]
    output = subprocess.run(
        command, capture_output=True, text=True, check=True, cwd=BENCH / "wrk"
    ).stdout
    match = re.search(r"^RESULT (.*)$", output, re.MULTILINE)
    if not match:
        raise RuntimeError(f"wrk printed no result:\n{output}")
    result = json.loads(match.group(1))
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    return result


def drain(server: Server) -> None:
    """Wait until the server has finished what the last wrk run left queued.

    wrk stops with requests still waiting in the listen backlog; the workers go on serving them
    after it exits. For logins (a fifth of a second each) that leftover work would otherwise eat
    the first second or two of the next run. A /health request queues behind it.
    """
    for _ in range(2):
        urllib.request.urlopen(server.url("/health"), timeout=60).read()


def measure(server: Server, script: str, args: list[str], connections: int, runs: int,  # noqa: PLR0913, PLR0917
            seconds: float) -> list[dict]:
    wrk(server, script, args, connections, min(3.0, seconds))  # warm-up, discarded
    results = []
    for _ in range(runs):
        drain(server)
        results.append(wrk(server, script, args, connections, seconds))
    for result in results:
        if result["non_2xx"] or result["socket_errors"]:
            log(f"  warning: {result['non_2xx']} non-2xx, {result['socket_errors']} socket errors")
    return results


def bcrypt_limit(threads: int = 2, seconds: float = 5.0) -> float:
    """Password checks per second the machine can do at cost 12 with ``threads`` threads."""
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(BCRYPT_ROUNDS))
    counts = [0] * threads
    stop = time.monotonic() + seconds

    def work(i: int) -> None:
        while time.monotonic() < stop:
            bcrypt.checkpw(PASSWORD.encode(), hashed)
            counts[i] += 1

    started = time.monotonic()
    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return sum(counts) / (time.monotonic() - started)


# --- report ---------------------------------------------------------------------------------


def summary(results: list[dict]) -> dict:
    rps = [r["rps"] for r in results]
    return {
        "rps": statistics.median(rps), "rps_min": min(rps), "rps_max": max(rps),
        "p50_ms": statistics.median(r["p50_us"] for r in results) / 1000,
        "p99_ms": statistics.median(r["p99_us"] for r in results) / 1000,
        "errors": sum(r["non_2xx"] + r["socket_errors"] for r in results),
    }


def row(name: str, connections: int, s: dict) -> str:
    return (f"| {name} | {connections} | {s['rps']:,.0f} | {s['rps_min']:,.0f}–{s['rps_max']:,.0f}"
            f" | {s['p50_ms']:.1f} | {s['p99_ms']:.1f} | {s['errors']} |")


def environment() -> str:
    def version(command: list[str]) -> str:
        try:
            out = subprocess.run(command, capture_output=True, text=True, check=False).stdout + ""
            return out.strip().splitlines()[0] if out.strip() else "?"
        except OSError:
            return "?"

    pg = version(["psql", "--version"])
    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)
    wrk_line = (wrk_version.stdout or wrk_version.stderr).strip().splitlines()[0]
    threads = os.environ.get("GUNICORN_THREADS", "gunicorn.conf.py default")
    workers = os.environ.get("WEB_CONCURRENCY", "gunicorn.conf.py default")
    return (
        f"- machine: {os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}\n"
        f"- {pg}; {wrk_line}\n"
        f"- gunicorn workers: {workers}; threads: {threads}; APP_ENV=production, BCRYPT_ROUNDS=12,"
        f" rate limits raised to {RAISED}\n"
    )


def write_report(report: str) -> None:
    readme = BENCH / "README.md"
    text = readme.read_text()
    start, end = "<!-- results:start -->", "<!-- results:end -->"
    before, rest = text.split(start, 1)
    _, after = rest.split(end, 1)
    readme.write_text(f"{before}{start}\n{report}{end}{after}")


def main() -> None:  # noqa: PLR0915 - the script, step by step
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--server-url", default=os.environ.get(
        "BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
        help="PostgreSQL server to create the scratch database audiotricks_bench on")
    parser.add_argument("--port", type=int, default=5099)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--quick", action="store_true", help="1 run of 3 s, no growth run")
    parser.add_argument("--no-growth", action="store_true", help="skip the 1M-session run")
    parser.add_argument("--no-write", action="store_true", help="do not rewrite bench/README.md")
    parser.add_argument("--only", action="append", default=[], metavar="TEXT",
                        help="run only the cases whose name contains TEXT (repeatable; implies --no-write)")
    options = parser.parse_args()
    if options.quick:
        options.runs, options.seconds, options.no_growth = 1, 3.0, True
    cases = [c for c in CASES if not options.only or any(t in c.name for t in options.only)]
    with_login = not options.only or any(t in "POST /api/v1/auth/login" for t in options.only)
    if options.only:
        options.no_write = True
    if shutil.which("wrk") is None:
        sys.exit("wrk not found: apt-get install wrk")

    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    server_log = RESULTS / f"server-{stamp}.log"
    database_url = scratch_database(options.server_url, "audiotricks_bench")
    log("migrating and seeding 10,000 users with one session each")
    migrate(database_url)
    tokens = seed(database_url, 0, 10_000, 1)
    token_file = RESULTS / "tokens.txt"
    token_file.write_text("\n".join(tokens) + "\n")
    anonymous = RESULTS / "anonymous.txt"
    anonymous.write_text("-\n")
    users_file = RESULTS / "users.txt"
    users_file.write_text("\n".join(f"bench{n}" for n in range(LOGIN_USERS)) + "\n")

    log("measuring the bcrypt limit (cost 12, 2 threads)")
    limit = bcrypt_limit()
    log(f"  {limit:.2f} checks/s")

    server = Server(database_url, options.port, server_log)
    lines = ["| endpoint | connections | req/s (median) | req/s (min–max) | p50 ms | p99 ms | errors |",
             "|---|---|---|---|---|---|---|"]
    figures: dict[tuple[str, int], dict] = {}
    try:
        if any("api-keys" in c.path for c in cases):
            log(f"storing an OpenAI key for {len(tokens)} sessions' users")
            store_api_keys(server, tokens)
        for case in cases:
            for connections in (16, 64):
                log(f"{case.name} at {connections} connections")
                source = token_file if case.auth else anonymous
                results = measure(server, "requests.lua", [str(source), case.method, case.path, case.body],
                                  connections, options.runs, options.seconds)
                figures[(case.name, connections)] = summary(results)
                lines.append(row(case.name, connections, figures[(case.name, connections)]))
                log("  " + lines[-1])
        for connections in (4, 16) if with_login else ():
            log(f"POST /api/v1/auth/login at {connections} connections")
            results = measure(server, "login.lua", [str(users_file), PASSWORD], connections,
                              options.runs, options.seconds)
            figures[("login", connections)] = summary(results)
            lines.append(row("POST /api/v1/auth/login", connections, figures[("login", connections)]))
            log("  " + lines[-1])
    finally:
        server.stop()

    growth = None
    if not options.no_growth:
        log("growing to 100,000 users and 1,000,000 sessions")
        tokens_big = seed(database_url, 10_000, 90_000, 11)
        (RESULTS / "tokens-1m.txt").write_text("\n".join(tokens_big) + "\n")
        server = Server(database_url, options.port, server_log)
        try:
            results = measure(server, "requests.lua",
                              [str(RESULTS / "tokens-1m.txt"), "GET", "/api/v1/auth/me"],
                              16, options.runs, options.seconds)
        finally:
            server.stop()
        growth = summary(results)
        lines.append(row("GET /api/v1/auth/me, 1M sessions / 100k users", 16, growth))
        log("  " + lines[-1])

    report = make_report(options, lines, figures, limit, growth)
    (RESULTS / f"report-{stamp}.md").write_text(report)
    print("\n" + report)
    if not options.no_write and not options.quick:
        write_report(report)


def make_report(options: argparse.Namespace, lines: list[str], figures: dict, limit: float,
                growth: dict | None) -> str:
    floor = figures.get(("GET /health (floor)", 16))
    me = figures.get(("GET /api/v1/auth/me", 16))
    ratios = []
    if floor and me:
        ratios.append(f"- `/me` ÷ `/health` at 16 connections: **{me['rps'] / floor['rps']:.0%}**"
                      f" (target ≥ 25%); `/me` p99 {me['p99_ms']:.1f} ms (target ≤ 25 ms)")
    for case in CASES[2:]:
        other = figures.get((case.name, 16))
        if me and other:
            target = " (target ≥ 85%)" if case.method == "GET" else " (a write: no target)"
            ratios.append(f"- `{case.name}` ÷ `/me` at 16 connections:"
                          f" **{other['rps'] / me['rps']:.0%}**{target}")
    for connections in (4, 16):
        logins = figures.get(("login", connections))
        if logins:
            ratios.append(f"- logins/s at {connections} connections ÷ bcrypt limit ({limit:.2f}/s):"
                          f" **{logins['rps'] / limit:.0%}** (target ≥ 85%)")
    if growth and me:
        ratios.append(f"- `/me` at 1M sessions ÷ at 10k: **{growth['rps'] / me['rps']:.0%}**"
                      " (target ≥ 90%)")

    return (
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC with `{' '.join(['bench/run.py', *sys.argv[1:]])}`"
        f" ({options.runs} runs of {options.seconds:g} s per line after a warm-up).\n\n"
        + environment() + "\n" + "\n".join(lines) + "\n\n"
        + f"bcrypt limit (cost 12, 2 threads, same run): {limit:.2f} checks/s\n\n"
        + "\n".join(ratios) + "\n"
    )


if __name__ == "__main__":
    main()
