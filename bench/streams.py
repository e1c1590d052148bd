"""Does the API keep its throughput while job event streams are open?

Starts our service as bench/run.py's production shape (gunicorn with the repository's
gunicorn.conf.py: the streaming sync workers, two per core; PostgreSQL; rate-limit counters and
stream leases in Redis), seeds users with sessions and running jobs, and measures
``GET /api/v1/auth/me`` with wrk at 16 connections, alternately with no stream open and with
``--streams`` (200) streams open, ``--per-user`` (5, the default STREAMS_MAX_PER_USER) per user, so
the cap is respected. Meanwhile the jobs change as a worker's progress reports would (each job
every ``--change-every`` seconds), so the open streams receive events and the watchers have work.

Each round opens its streams for users of its own: the leases of the round before are given back
only when the server notices the closed connections (at their next write), and the script waits
for that before the next run without streams.

    .venv/bin/python bench/streams.py                 # 5 rounds of 10 s per line
    .venv/bin/python bench/streams.py --runs 1 --seconds 3 --no-write
"""

from __future__ import annotations

import argparse
import os
import secrets
import selectors
import socket
import statistics
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import redis

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run

from audiotricks.security.tokens import decode_token

DATABASE = "audiotricks_bench_streams"


def seed_jobs(database_url: str, tokens: list[str], per_user: int) -> list[tuple[str, str]]:
    """One running job per stream: ``per_user`` for each token's user; (token, job id) pairs."""
    now = datetime.now(UTC)
    pairs = []
    with psycopg.connect(database_url) as conn, conn.cursor() as cur:
        for token in tokens:
            user_id = decode_token(token, run.JWT_SECRET).user_id
            for _ in range(per_user):
                job_id = uuid.uuid4()
                cur.execute(
                    "INSERT INTO jobs (id, user_id, kind, status, progress, stage, options,"
                    " attempts, created_at, started_at, updated_at)"
                    " VALUES (%s, %s, 'transcription', 'running', 1, 'transcribing', '{}', 1,"
                    " %s, %s, %s)",
                    (job_id, user_id, now, now, now),
                )
                pairs.append((token, str(job_id)))
        conn.commit()
    return pairs


class Progress:
    """Moves the jobs along as workers would: each job changes every ``every`` seconds."""

    def __init__(self, database_url: str, job_ids: list[str], every: float):
        self.database_url, self.job_ids, self.every = database_url, job_ids, every
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        tick = 0.1
        batch = max(1, round(len(self.job_ids) * tick / self.every))
        position = 0
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            while not self.stop.wait(tick):
                ids = [self.job_ids[(position + n) % len(self.job_ids)] for n in range(batch)]
                position += batch
                conn.execute(
                    "UPDATE jobs SET progress = progress %% 90 + 1, detail = 'part ' ||"
                    " (progress %% 90 + 1) || ' of 90', updated_at = now() WHERE id = ANY(%s)",
                    (ids,),
                )

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)


@dataclass
class Streams:
    """Open event streams read by one thread with a selector (as many clients would read)."""

    port: int
    sockets: list[socket.socket] = field(default_factory=list)
    heads: dict[int, bytes] = field(default_factory=dict)
    started: set[int] = field(default_factory=set)  # streams that sent their first event
    events: int = 0
    closed_early: int = 0

    def open(self, pairs: list[tuple[str, str]]) -> None:
        self.selector = selectors.DefaultSelector()
        for token, job_id in pairs:
            sock = socket.create_connection(("127.0.0.1", self.port), timeout=10)
            sock.sendall(
                f"GET /api/v1/jobs/{job_id}/events HTTP/1.1\r\nHost: bench\r\n"
                f"Authorization: Bearer {token}\r\n\r\n".encode()
            )
            sock.setblocking(False)
            self.selector.register(sock, selectors.EVENT_READ)
            self.sockets.append(sock)
            self.heads[sock.fileno()] = b""
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        while not self.stop.is_set():
            for key, _ in self.selector.select(timeout=0.2):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)  # registered above
                try:
                    data = sock.recv(65536)
                except BlockingIOError:
                    continue
                if not data:
                    self.selector.unregister(sock)
                    self.closed_early += 1
                    continue
                fd = sock.fileno()
                if len(self.heads[fd]) < 64:
                    self.heads[fd] += data[:64]
                found = data.count(b"event: job")
                if found and fd not in self.started:
                    self.started.add(fd)
                self.events += found

    def wait_open(self, timeout: float = 60) -> None:
        """Until every stream has answered 200 and sent its first event."""
        deadline = time.monotonic() + timeout
        while len(self.started) < len(self.sockets):
            if time.monotonic() > deadline:
                statuses = sorted({head[:12] for head in self.heads.values()})
                raise RuntimeError(f"streams did not open: {len(self.started)}; {statuses}")
            time.sleep(0.1)
        bad = [head for head in self.heads.values() if not head.startswith(b"HTTP/1.1 200")]
        if bad:
            raise RuntimeError(f"{len(bad)} streams refused: {bad[0]!r}")

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        for sock in self.sockets:
            sock.close()
        self.selector.close()


def wait_leases_released(client: redis.Redis, prefix: str, timeout: float = 60) -> float:
    """Seconds until no stream lease is left in Redis (the server noticed every closed stream)."""
    started = time.monotonic()
    while any(client.zcard(key) for key in client.scan_iter(f"{prefix}:stream-leases:*")):
        if time.monotonic() - started > timeout:
            raise RuntimeError("stream leases were not given back")
        time.sleep(0.2)
    return time.monotonic() - started


def main() -> None:  # noqa: PLR0915 - the script, step by step
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--server-url", default=os.environ.get(
        "BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
        help=f"PostgreSQL server to create the scratch database {DATABASE} on")
    parser.add_argument("--redis-url", default=os.environ.get(
        "BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"))
    parser.add_argument("--port", type=int, default=5097)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--streams", type=int, default=200)
    parser.add_argument("--per-user", type=int, default=5)
    parser.add_argument("--change-every", type=float, default=10.0,
                        help="seconds between two changes of one job")
    parser.add_argument("--no-write", action="store_true", help="do not update bench/README.md")
    options = parser.parse_args()
    run.RESULTS.mkdir(exist_ok=True)
    stamp = f"{datetime.now(UTC):%Y%m%d-%H%M%S}"

    users_per_round = options.streams // options.per_user
    database_url = run.scratch_database(options.server_url, DATABASE)
    run.migrate(database_url)
    run.log("seeding 2,000 users with one session each")
    tokens = run.seed(database_url, 0, 2000, 1)
    rounds = []
    for round_ in range(options.runs + 1):  # the first is the warm-up
        chosen = tokens[round_ * users_per_round:(round_ + 1) * users_per_round]
        rounds.append(seed_jobs(database_url, chosen, options.per_user))
    tokens_file = run.RESULTS / "streams-tokens.txt"
    tokens_file.write_text("".join(t + "\n" for t in tokens))
    me = [str(tokens_file), "GET", "/api/v1/auth/me"]

    prefix = f"bench-streams-{secrets.token_hex(4)}"
    server = run.ours(database_url, options.port, "production", options.redis_url, prefix,
                      run.RESULTS / f"server-streams-{stamp}.log")
    leases = redis.Redis.from_url(options.redis_url)
    progress = Progress(database_url, [job for pairs in rounds for _, job in pairs],
                        options.change_every)
    results: dict[str, list[dict]] = {"none": [], "open": []}
    notes = []
    loads = []
    try:
        for round_, pairs in enumerate(rounds):
            warm_up = round_ == 0
            seconds = min(3.0, options.seconds) if warm_up else options.seconds
            run.drain(server)
            without = run.wrk(server, "requests.lua", me, 16, seconds)
            streams = Streams(options.port)
            streams.open(pairs)
            streams.wait_open()
            before = streams.events
            run.drain(server)
            loads.append(os.getloadavg()[0])
            with_streams = run.wrk(server, "requests.lua", me, 16, seconds)
            delivered = streams.events - before
            early = streams.closed_early
            streams.close()
            released = wait_leases_released(leases, prefix)
            if warm_up:
                continue
            results["none"].append(without)
            results["open"].append(with_streams)
            notes.append((delivered, early, released))
            run.log(f"round {round_}: /me {without['rps']:,.0f} req/s without streams,"
                    f" {with_streams['rps']:,.0f} with {len(pairs)} open ({delivered} events"
                    f" delivered meanwhile, {early} closed early; leases back in {released:.1f} s)")
    finally:
        progress.close()
        server.stop()
        run.forget_counters(options.redis_url, prefix)

    none, opened = run.summary(results["none"]), run.summary(results["open"])
    ratios = [b["rps"] / a["rps"] for a, b in zip(results["none"], results["open"], strict=True)]
    lines = [
        "| `/me` at 16 connections | req/s (median) | req/s (min–max) | p50 ms | p99 ms | errors |",
        "|---|---|---|---|---|---|",
        f"| no stream open | {none['rps']:,.0f} | {none['rps_min']:,.0f}–{none['rps_max']:,.0f}"
        f" | {none['p50_ms']:.1f} | {none['p99_ms']:.1f} | {none['errors']} |",
        f"| {options.streams} streams open | {opened['rps']:,.0f} | {opened['rps_min']:,.0f}–"
        f"{opened['rps_max']:,.0f} | {opened['p50_ms']:.1f} | {opened['p99_ms']:.1f}"
        f" | {opened['errors']} |",
    ]
    events = statistics.median(n[0] for n in notes)
    report = (
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC with `bench/streams.py"
        f"{' ' + ' '.join(sys.argv[1:]) if sys.argv[1:] else ''}` ({options.runs} rounds of"
        f" {options.seconds:g} s per line, without and with streams alternately, after a warm-up"
        f" round): production shape (gunicorn.conf.py defaults: {2 * len(os.sched_getaffinity(0))}"
        f" streaming sync workers; PostgreSQL; counters and stream leases in Redis; JSON access"
        f" log to a file), {options.streams} streams of {options.streams // options.per_user}"
        f" users ({options.per_user} each, the default cap), each job changing every"
        f" {options.change_every:g} s (median {events:,.0f} events delivered during a run with"
        f" streams); load average (1 min) during the runs with streams"
        f" {min(loads):.1f}–{max(loads):.1f} on {os.cpu_count()} cores.\n\n"
        + "\n".join(lines) + "\n\n"
        f"- with {options.streams} streams open ÷ without, round by round (each round's two runs"
        f" back to back): {', '.join(f'{r:.0%}' for r in ratios)}; median"
        f" **{statistics.median(ratios):.0%}** (target ≥ 80%)\n"
        f"- ratio of the two medians above: {opened['rps'] / none['rps']:.0%} (it also carries"
        " the drift of the machine's load from round to round)\n"
    )
    (run.RESULTS / f"streams-report-{stamp}.md").write_text(report)
    print("\n" + report)
    if not options.no_write:
        run.write_report(report, "streams")
    with psycopg.connect(options.server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')


if __name__ == "__main__":
    main()
