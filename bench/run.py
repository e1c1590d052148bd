"""Benchmark the service side by side with a bare-Flask floor and the fastapi-users peer.

Starts our service in its production and embedded shapes (gunicorn with the repository's
gunicorn.conf.py, bench secrets, rate limits on and raised), the floor (bench/floor_app.py) and,
when given its folder, the peer, all on one PostgreSQL server; seeds users and sessions; drives
load with wrk from a separate process, the lines interleaved; and writes the ratios and the table
into bench/README.md. See bench/README.md for what is measured and how to read it.

    .venv/bin/python bench/run.py --peer DIR --peer-python PY   # the full run (about 25 minutes)
    .venv/bin/python bench/run.py --quick                       # 1 run of 3 s per line, no growth
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
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable
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
TOKEN_SAMPLE = 2000  # distinct sessions the load of one line cycles through
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

# Lines presenting a token: `/me` in both shapes and the settings cases (CASES[2:]).
AUTHENTICATED_LINES = 2 + len(CASES[2:])


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


def seed(database_url: str, first_user: int, users: int, sessions_per_user: int,
         sample: int = TOKEN_SAMPLE) -> list[str]:
    """Insert users ``first_user..``, their settings and sessions; return ``sample`` tokens."""
    now = datetime.now(UTC)
    expires = now + timedelta(days=7)
    password_hash = hash_password(PASSWORD, BCRYPT_ROUNDS)  # one hash serves every bench user
    tokens: list[str] = []
    sample_every = max(1, (users * sessions_per_user) // sample)
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
                    if count % sample_every == 0 and len(tokens) < sample:
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


# --- servers -------------------------------------------------------------------------------


def our_env(database_url: str, port: int, shape: str, redis_url: str, prefix: str) -> dict[str, str]:
    """The environment of our service in one shape (see bench/README.md), limits raised but on."""
    env = {
        "DATABASE_URL": database_url,
        "JWT_SECRET": JWT_SECRET,
        "ENCRYPTION_KEY": ENCRYPTION_KEY,
        "BCRYPT_ROUNDS": str(BCRYPT_ROUNDS),
        "RATELIMIT_ENABLED": "true",
        "RATELIMIT_DEFAULT": RAISED,
        "RATELIMIT_LOGIN": RAISED,
        "RATELIMIT_LOGIN_ACCOUNT": RAISED,
        "RATELIMIT_REGISTER": RAISED,
        "HOST": "127.0.0.1",
        "PORT": str(port),
    }
    if shape == "production":
        # MAIL_* and FRONTEND_URL are required in production; no worker runs, nothing is sent.
        env |= {"MAIL_URL": "smtp://127.0.0.1:9", "MAIL_FROM": "no-reply@example.com",
                "FRONTEND_URL": "https://app.example.com"}
        env |= {"APP_ENV": "production", "RATELIMIT_STORAGE_URI": redis_url,
                "RATELIMIT_KEY_PREFIX": prefix, "LOG_LEVEL": "INFO", "LOG_FORMAT": "json"}
    else:
        # What `make run` starts: development, counters in a SQLite file shared by the workers
        # (the default storage; a fresh file of the run's own), logging left at its defaults.
        env |= {"APP_ENV": "development",
                "RATELIMIT_STORAGE_URI": f"sqlite:///{RESULTS / f'ratelimits-{prefix}.db'}"}
    return env


def server_env(database_url: str, port: int) -> dict[str, str]:
    """For migrations: the production shape's settings (nothing is served)."""
    return our_env(database_url, port, "production", "redis://127.0.0.1:6379/0", "bench")


class Server:
    """A process listening on ``port``; its standard error (the log) goes to ``log_path``."""

    def __init__(self, command: list[str], env: dict[str, str], port: int, log_path: Path,  # noqa: PLR0913, PLR0917
                 cwd: Path = ROOT, health: str = "/health"):
        self.port = port
        self.health = health
        self.log_path = log_path
        self.log = log_path.open("ab")
        clean = {k: v for k, v in os.environ.items()
                 if not k.startswith(("RATELIMIT_", "LOG_", "APP_ENV", "WEB_CONCURRENCY"))}
        self.process = subprocess.Popen(
            command, env={**clean, **env}, cwd=cwd, stdout=self.log, stderr=self.log,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(self.url(health), timeout=1).read()
                return
            except urllib.error.HTTPError:  # answering (a 401 on the peer's health path, say)
                return
            except OSError:
                if self.process.poll() is not None:
                    break
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"{command[0]} did not start; see {log_path}")

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def trim_log(self) -> None:
        """Empty the log between runs (it is opened for appending, so writers carry on)."""
        os.truncate(self.log_path, 0)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(30)
        self.log.close()


def ours(database_url: str, port: int, shape: str, redis_url: str, prefix: str, log_path: Path) -> Server:  # noqa: PLR0913, PLR0917
    return Server([str(ROOT / ".venv/bin/gunicorn"), "-c", "gunicorn.conf.py", "wsgi:app"],
                  our_env(database_url, port, shape, redis_url, prefix), port, log_path)


def floor(port: int, log_path: Path) -> Server:
    workers = 2 * (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
    return Server([str(ROOT / ".venv/bin/gunicorn"), "--workers", str(workers), "--worker-class", "sync",
                   "--bind", f"127.0.0.1:{port}", "--chdir", str(BENCH), "floor_app:app"],
                  {}, port, log_path, health="/ping")


def peer(peer_dir: Path, python: str, database_url: str, port: int, log_path: Path) -> Server:
    """fastapi-users with DatabaseStrategy, uvicorn with 2 workers, as the peer's README runs it."""
    return Server([python, "-m", "uvicorn", "app:app", "--host", "127.0.0.1", "--port", str(port),
                   "--workers", "2", "--no-access-log", "--log-level", "warning"],
                  {"FAU_DATABASE_URL": database_url, "FAU_STRATEGY": "db"}, port, log_path,
                  cwd=peer_dir, health="/ping")


def seed_peer(peer_dir: Path, python: str, server_url: str, users: int) -> tuple[str, Path]:
    """Seed the peer's database with its own script; its asyncpg URL and a token file."""
    parts = urllib.parse.urlsplit(server_url)
    server = f"{parts.scheme}://{parts.netloc}"
    tokens = RESULTS / "peer-tokens.txt"
    subprocess.run([python, "seed.py", "fau_bench", str(users), str(TOKEN_SAMPLE), str(tokens)],
                   cwd=peer_dir, env={**os.environ, "PG_SERVER": server}, check=True,
                   capture_output=True)
    return f"postgresql+asyncpg://{parts.netloc}/fau_bench", tokens


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
        "wrk", f"-t{min(2, connections)}", f"-c{connections}", f"-d{seconds:g}s",
        # A login waits behind every other one queued: at 64 connections, many seconds.
        "--timeout", "60s" if script == "login.lua" else "10s",
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
        urllib.request.urlopen(server.url(server.health), timeout=60).read()


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


def environment(options: argparse.Namespace, loads: list[str]) -> str:
    def version(command: list[str]) -> str:
        try:
            out = subprocess.run(command, capture_output=True, text=True, check=False)
        except OSError:
            return "?"
        text = (out.stdout or out.stderr).strip()
        return text.splitlines()[0] if text else "?"

    peer = "not run"
    if options.peer:
        shown = subprocess.run([options.peer_python, "-m", "pip", "show", "fastapi-users"],
                               capture_output=True, text=True, check=False).stdout
        peer = "fastapi-users " + next((line.split(": ", 1)[1] for line in shown.splitlines()
                                        if line.startswith("Version: ")), "?")
    return (
        f"- machine: {os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()};"
        f" load average (1 min) {', '.join(loads)} (before, during, after)\n"
        f"- {version(['psql', '--version'])}; {version(['redis-server', '--version'])};"
        f" {version(['wrk', '-v'])}\n"
        f"- ours: gunicorn.conf.py defaults (sync workers, 2 per core), BCRYPT_ROUNDS={BCRYPT_ROUNDS},"
        f" every rate limit on and raised to {RAISED}\n"
        "  - *production*: `APP_ENV=production`, counters in Redis (own key prefix), JSON access log at"
        " INFO through the app's handler into a file\n"
        "  - *embedded*: what `make run` starts (development, counters in a SQLite file shared by the"
        " workers, default logging into a file), on the same PostgreSQL\n"
        f"- floor: `bench/floor_app.py` (bare Flask `/ping`), gunicorn sync x 2 per core; peer:"
        f" fastapi-users DatabaseStrategy `/users/me`, uvicorn x 2 ({peer})\n"
    )


def write_report(report: str, marker: str = "results") -> None:
    """Replace what stands between ``<!-- {marker}:start -->`` and its end in bench/README.md."""
    readme = BENCH / "README.md"
    text = readme.read_text()
    start, end = f"<!-- {marker}:start -->", f"<!-- {marker}:end -->"
    before, rest = text.split(start, 1)
    _, after = rest.split(end, 1)
    readme.write_text(f"{before}{start}\n{report}{end}{after}")


@dataclass
class Line:
    """One row of the table: a server, a wrk script and its arguments."""

    key: str
    label: str
    server: str
    script: str
    args: list[str]
    connections: tuple[int, ...] = (16, 64)


def load_average() -> str:
    return f"{os.getloadavg()[0]:.1f}"


def run_lines(servers: dict[str, Server], lines: list[Line], connections: int,  # noqa: PLR0913, PLR0917
              runs: int, seconds: float, figures: dict[tuple[str, int], dict],
              between: Callable[[], None] | None = None) -> None:
    """Every line at ``connections``: a warm-up each, then ``runs`` rounds, A, B, A, B, ...

    ``between`` runs at the start of every round (the bcrypt limit, measured beside the logins).
    """
    lines = [line for line in lines if connections in line.connections]
    for line in lines:
        log(f"warm-up: {line.label} at {connections} connections")
        drain(servers[line.server])
        wrk(servers[line.server], line.script, line.args, connections, min(3.0, seconds))
    results: dict[str, list[dict]] = {line.key: [] for line in lines}
    for round_number in range(1, runs + 1):
        if between is not None:
            between()
        for line in lines:
            server = servers[line.server]
            drain(server)
            server.trim_log()
            result = wrk(server, line.script, line.args, connections, seconds)
            results[line.key].append(result)
            bad = result["non_2xx"] + result["socket_errors"]
            log(f"  round {round_number}: {line.label} at {connections}: {result['rps']:,.0f} req/s"
                + (f" ({bad} errors)" if bad else ""))
    for line in lines:
        figures[(line.key, connections)] = summary(results[line.key])


def main() -> None:  # noqa: PLR0912, PLR0915 - the script, step by step
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--server-url", default=os.environ.get(
        "BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
        help="PostgreSQL server to create the scratch databases on")
    parser.add_argument("--redis-url", default=os.environ.get(
        "BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"),
        help="Redis for the production shape's counters (under a key prefix of the run's own)")
    parser.add_argument("--peer", type=Path, default=os.environ.get("BENCH_PEER_DIR") or None,
                        metavar="DIR", help="the fastapi-users peer kit (or BENCH_PEER_DIR)")
    parser.add_argument("--peer-python", default=os.environ.get("BENCH_PEER_PYTHON", "python3"),
                        help="a Python with the peer's requirements (or BENCH_PEER_PYTHON)")
    parser.add_argument("--port", type=int, default=5099, help="first of four ports")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--quick", action="store_true", help="1 run of 3 s, no growth run")
    parser.add_argument("--no-growth", action="store_true", help="skip the 1M-session run")
    parser.add_argument("--no-login", action="store_true", help="skip the login lines")
    parser.add_argument("--no-write", action="store_true", help="do not rewrite bench/README.md")
    options = parser.parse_args()
    if options.quick:
        options.runs, options.seconds, options.no_growth = 1, 3.0, True
    if shutil.which("wrk") is None:
        sys.exit("wrk not found: apt-get install wrk")
    if options.peer is None:
        log("peer skipped: give --peer DIR or BENCH_PEER_DIR (the fastapi-users kit) and"
            " --peer-python / BENCH_PEER_PYTHON (a Python with its requirements) to include it")

    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    prefix = f"bench-{secrets.token_hex(4)}"
    database_url = scratch_database(options.server_url, "audiotricks_bench")
    log("migrating and seeding 10,000 users with one session each")
    migrate(database_url)
    # Each authenticated line presents TOKEN_SAMPLE sessions of its own. A session's last_used_at
    # is written at most once a minute; with shared sessions the line that came first after a
    # minute (the rounds are longer) paid all those writes alone, and the others none.
    tokens = seed(database_url, 0, 10_000, 1, sample=AUTHENTICATED_LINES * TOKEN_SAMPLE)
    token_files = []
    for index in range(AUTHENTICATED_LINES):
        token_files.append(RESULTS / f"tokens-{index}.txt")
        token_files[-1].write_text(
            "\n".join(tokens[index * TOKEN_SAMPLE:(index + 1) * TOKEN_SAMPLE]) + "\n"
        )
    anonymous = RESULTS / "anonymous.txt"
    anonymous.write_text("-\n")
    users_file = RESULTS / "users.txt"
    users_file.write_text("\n".join(f"bench{n}" for n in range(LOGIN_USERS)) + "\n")

    log("measuring the bcrypt limit (cost 12, 2 threads)")
    limit = bcrypt_limit()
    log(f"  {limit:.2f} checks/s")
    loads = [load_average()]

    servers: dict[str, Server] = {}
    try:
        servers["production"] = ours(database_url, options.port, "production", options.redis_url,
                                     prefix, RESULTS / f"server-production-{stamp}.log")
        servers["embedded"] = ours(database_url, options.port + 1, "embedded", options.redis_url,
                                   prefix, RESULTS / f"server-embedded-{stamp}.log")
        servers["floor"] = floor(options.port + 2, RESULTS / f"server-floor-{stamp}.log")
        lines = [Line("floor", "bare Flask `GET /ping` (floor)", "floor", "requests.lua",
                      [str(anonymous), "GET", "/ping"])]
        if options.peer is not None:
            log("seeding the peer's database (10,000 users, its own script)")
            peer_url, peer_tokens = seed_peer(options.peer.resolve(), options.peer_python,
                                              options.server_url, 10_000)
            servers["peer"] = peer(options.peer.resolve(), options.peer_python, peer_url,
                                   options.port + 3, RESULTS / f"server-peer-{stamp}.log")
            lines.append(Line("peer", "fastapi-users `GET /users/me`", "peer", "requests.lua",
                              [str(peer_tokens), "GET", "/users/me"]))
        token_files_left = iter(token_files)
        for shape in ("production", "embedded"):
            lines.append(Line(f"{shape}:/health", f"{shape}: `GET /health`", shape, "requests.lua",
                              [str(anonymous), "GET", "/health"]))
            lines.append(Line(f"{shape}:/me", f"{shape}: `GET /api/v1/auth/me`", shape,
                              "requests.lua", [str(next(token_files_left)), "GET", "/api/v1/auth/me"]))
        lines += [Line(f"production:{case.method} {case.path}", f"production: `{case.method} {case.path}`",
                       "production", "requests.lua",
                       [str(next(token_files_left)), case.method, case.path, case.body])
                  for case in CASES[2:]]
        key_tokens = tokens[-TOKEN_SAMPLE:]  # the api-keys line's sessions: the last file
        log(f"storing an OpenAI key for {len(key_tokens)} sessions' users")
        store_api_keys(servers["production"], key_tokens)

        figures: dict[tuple[str, int], dict] = {}
        for connections in (16, 64):
            run_lines(servers, lines, connections, options.runs, options.seconds, figures)
            loads.append(load_average())
        login = Line("production:login", "production: `POST /api/v1/auth/login`", "production",
                     "login.lua", [str(users_file), PASSWORD])
        for connections in () if options.no_login else (16, 64):
            # The bcrypt limit moves with the load on the machine: measured before every round.
            checks: list[float] = []
            run_lines(servers, [login], connections, options.runs, options.seconds, figures,
                      between=lambda checks=checks: checks.append(bcrypt_limit()))
            figures[("bcrypt", connections)] = {"rps": statistics.median(checks)}
            log(f"  bcrypt limit beside the logins: {', '.join(f'{c:.2f}' for c in checks)} checks/s")
        if not options.no_login:
            lines.append(login)
    finally:
        for server in servers.values():
            server.stop()

    growth = None
    if not options.no_growth:
        # Another time, another load on the machine: the growth line is measured interleaved with
        # the floor again, and compared as a share of the floor with the 10k figure's share.
        log("growing to 100,000 users and 1,000,000 sessions")
        tokens_big = seed(database_url, 10_000, 90_000, 11)
        (RESULTS / "tokens-1m.txt").write_text("\n".join(tokens_big) + "\n")
        again: dict[str, Server] = {}
        try:
            again["production"] = ours(database_url, options.port, "production", options.redis_url,
                                       prefix, RESULTS / f"server-production-{stamp}.log")
            again["floor"] = floor(options.port + 2, RESULTS / f"server-floor-{stamp}.log")
            growth_lines = [
                Line("floor-again", "", "floor", "requests.lua", [str(anonymous), "GET", "/ping"], (16,)),
                Line("growth", "", "production", "requests.lua",
                     [str(RESULTS / "tokens-1m.txt"), "GET", "/api/v1/auth/me"], (16,)),
            ]
            run_lines(again, growth_lines, 16, options.runs, options.seconds, figures)
        finally:
            for server in again.values():
                server.stop()
        growth = figures[("growth", 16)]
    loads.append(load_average())
    forget_counters(options.redis_url, prefix)

    report = make_report(options, lines, figures, limit, growth, loads)
    (RESULTS / f"report-{stamp}.md").write_text(report)
    print("\n" + report)
    if not options.no_write and not options.quick:
        write_report(report)


def forget_counters(redis_url: str, prefix: str) -> None:
    """Delete the run's counters from Redis (a shared server: only its own prefix)."""
    import redis

    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter(f"*{prefix}*"):
        client.delete(key)
    client.close()


def ratio(figures: dict, a: str, b: str, connections: int) -> float | None:
    x, y = figures.get((a, connections)), figures.get((b, connections))
    return x["rps"] / y["rps"] if x and y else None


def make_report(options: argparse.Namespace, lines: list[Line], figures: dict, limit: float,  # noqa: PLR0913, PLR0917
                growth: dict | None, loads: list[str]) -> str:
    table = ["| service and request | connections | req/s (median) | req/s (min–max) | p50 ms | p99 ms"
             " | errors |", "|---|---|---|---|---|---|---|"]
    table += [row(line.label, c, figures[(line.key, c)])
              for line in lines for c in line.connections if (line.key, c) in figures]
    if growth:
        table.append(row("production: `GET /api/v1/auth/me`, 1M sessions / 100k users", 16, growth))
        table.append(row("bare Flask `GET /ping` (floor), beside the 1M line", 16,
                         figures[("floor-again", 16)]))

    def cell(value: float | None, target: float | None = None, percent: bool = False) -> str:
        if value is None:
            return "–"
        text = f"{value:.0%}" if percent else f"{value:.2f}"
        if target is None:
            return text
        return f"**{text}** {'✓' if value >= target else '✗'}"

    me, prod = "production:/me", "production"
    checks = [
        ("production `/me` ÷ peer `/users/me`", "≥ 2.0", lambda c: cell(ratio(figures, me, "peer", c), 2.0)),
        ("production `/me` ÷ floor", "≥ 0.25", lambda c: cell(ratio(figures, me, "floor", c), 0.25)),
        ("production `/health` ÷ floor", "≥ 0.8",
         lambda c: cell(ratio(figures, f"{prod}:/health", "floor", c), 0.8)),
    ]
    for case in CASES[2:]:
        key = f"production:{case.method} {case.path}"
        target = 0.85 if case.method == "GET" else None
        checks.append((f"production `{case.method} {case.path}` ÷ `/me`",
                       "≥ 0.85" if target else "a write: none",
                       lambda c, k=key, t=target: cell(ratio(figures, k, me, c), t)))
    checks.append(("production logins/s ÷ bcrypt limit (measured beside them)", "≥ 90%",
                   lambda c: cell(ratio(figures, "production:login", "bcrypt", c), 0.9, True)))
    checks += [
        ("embedded `/me` ÷ peer `/users/me`", "–", lambda c: cell(ratio(figures, "embedded:/me", "peer", c))),
        ("embedded `/me` ÷ floor", "–", lambda c: cell(ratio(figures, "embedded:/me", "floor", c))),
        ("embedded `/health` ÷ floor", "–", lambda c: cell(ratio(figures, "embedded:/health", "floor", c))),
        ("production `/me` ÷ embedded `/me`", "–", lambda c: cell(ratio(figures, me, "embedded:/me", c))),
    ]
    ratios = ["| ratio (same run) | target | 16 connections | 64 connections |", "|---|---|---|---|"]
    ratios += [f"| {name} | {target} | {fn(16)} | {fn(64)} |" for name, target, fn in checks]
    p99 = figures.get((me, 16))
    notes = []
    if p99:
        notes.append(f"- production `/me` p99 at 16 connections: **{p99['p99_ms']:.1f} ms**"
                     f" (target ≤ 25 ms) {'✓' if p99['p99_ms'] <= 25 else '✗'}")
    at_10k, at_1m = ratio(figures, me, "floor", 16), ratio(figures, "growth", "floor-again", 16)
    if at_10k and at_1m:
        notes.append(f"- production `/me` at 1M sessions / 100k users: {at_1m:.2f} of the floor measured"
                     f" beside it, against {at_10k:.2f} at 10k: **{at_1m / at_10k:.0%}** kept"
                     " (target ≥ 90%)")
    beside = [f"{figures[('bcrypt', c)]['rps']:.2f} (median, {c} connections)"
              for c in (16, 64) if ("bcrypt", c) in figures]
    notes.append(f"- bcrypt limit (cost 12, 2 threads, same run): {limit:.2f} checks/s at the start;"
                 f" before each login round: {'; '.join(beside) or '–'}")
    return (
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC with `{' '.join(['bench/run.py', *sys.argv[1:]])}`"
        f" ({options.runs} interleaved rounds of {options.seconds:g} s per line after a warm-up;"
        " medians).\n\n"
        + environment(options, loads) + "\n" + "\n".join(ratios) + "\n\n" + "\n".join(notes)
        + "\n\n" + "\n".join(table) + "\n"
    )


if __name__ == "__main__":
    main()
