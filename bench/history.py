"""Benchmark the history endpoints on a large library and write the table into bench/README.md.

Seeds a scratch PostgreSQL database (migrated, so the search trigger and the GIN index are the
application's own) with users, history items of generated transcripts and one user holding 10,000
items, starts gunicorn as bench/run.py does, and measures that user's list pages, single reads and
searches beside GET /api/v1/auth/me, interleaved. See bench/README.md ("History").

    .venv/bin/python bench/history.py            # 100k users, 1M items (40–70 minutes)
    .venv/bin/python bench/history.py --quick    # 1k users, 20k items, 1 run of 3 s per case
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import multiprocessing
import os
import platform
import random
import re
import secrets
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run

from audiotricks.history.service import word_count
from audiotricks.security.tokens import issue_token, token_hash

DATABASE = "audiotricks_bench_history"
HEAVY_ITEMS = 10_000  # the one user whose library is measured (HISTORY_MAX_ITEMS)
HEAVY_SESSIONS = 200  # sessions of that user the load cycles through
DEEP_AFTER = 9_000  # the deep page starts after this many items
BATCH = 5_000  # items per COPY (and per commit)
TEXT_MIN, TEXT_MAX = 2_000, 20_000  # transcript characters, log-uniform between

# --- text -------------------------------------------------------------------------------------

# The head of the vocabulary: real words, most frequent first (the parser drops the stop words).
HEAD_WORDS = (
    "the", "and", "to", "of", "a", "in", "that", "is", "we", "it", "for", "you", "this", "on",
    "so", "with", "be", "have", "are", "was", "but", "not", "they", "our", "at", "can", "will",
    "just", "about", "what", "if", "do", "all", "one", "there", "like", "think", "know",
    "meeting", "project", "team", "time", "need", "going", "really", "people", "customer",
    "product", "data", "next", "week", "release", "plan", "question", "budget", "design",
    "review", "update",
)
VOCABULARY = 60_000
ZIPF_S = 1.05
SENTENCES = 100_000  # the pool every transcript draws its sentences from
ONSETS = (
    "b", "c", "d", "f", "g", "h", "j", "k", "l", "m", "n", "p", "r", "s", "t", "v", "w", "z",
    "br", "ch", "dr", "gr", "kl", "pl", "sh", "st", "tr",
)
VOWELS = ["a", "e", "i", "o", "u", "ai", "ea", "io", "ou"]


def vocabulary(rng: random.Random) -> list[str]:
    """HEAD_WORDS, then word-like inventions of 2-4 syllables, by decreasing frequency."""
    words = list(HEAD_WORDS)
    seen = set(words)
    while len(words) < VOCABULARY:
        word = "".join(rng.choice(ONSETS) + rng.choice(VOWELS) for _ in range(rng.randint(2, 4)))
        word += rng.choice(("", "", "n", "r", "s", "t", "l"))
        if word not in seen:
            seen.add(word)
            words.append(word)
    return words


@dataclass
class Pool:
    """Sentences drawn from a Zipf-like vocabulary: there are common and rare words."""

    words: list[str]
    text: list[str]  # "Word word word."
    json: list[str]  # the same as a JSON string literal
    seconds: list[float]  # how long saying it takes

    @classmethod
    def build(cls, seed: int = 11) -> Pool:
        rng = random.Random(seed)
        words = vocabulary(rng)
        cumulative = list(itertools.accumulate(1 / (rank + 1) ** ZIPF_S for rank in range(len(words))))
        text, literal, seconds = [], [], []
        for _ in range(SENTENCES):
            count = rng.randint(5, 24)
            chosen = rng.choices(words, cum_weights=cumulative, k=count)
            sentence = " ".join(chosen).capitalize() + rng.choice(".....?")
            text.append(sentence)
            literal.append(json.dumps(sentence))
            seconds.append(count / 2.5)
        return cls(words, text, literal, seconds)


def item_values(pool: Pool, rng: random.Random, created: datetime, number: int) -> tuple:
    """The columns of one history item (COPY order, see COLUMNS), shaped as the app stores them."""
    target = int(math.exp(rng.uniform(math.log(TEXT_MIN), math.log(TEXT_MAX))))
    parts: list[str] = []
    segments: list[str] = []
    start, length, size = 0.0, -1, len(pool.text)
    while length < target:
        i = rng.randrange(size)
        parts.append(pool.text[i])
        length += len(pool.text[i]) + 1
        end = start + pool.seconds[i]
        segments.append(f'{{"start": {start:.2f}, "end": {end:.2f}, "text": {pool.json[i]}}}')
        start = end + 0.3
    transcript = " ".join(parts)
    pick = pool.text
    title = " ".join(pick[rng.randrange(size)].rstrip(".?").split()[: rng.randint(2, 5)])
    summary = {
        "text": " ".join(pick[rng.randrange(size)] for _ in range(rng.randint(3, 8))),
        "takeaways": [pick[rng.randrange(size)] for _ in range(rng.randint(2, 5))],
        "key_moments": [
            {
                "timestamp": round(rng.uniform(0, start), 1),
                "title": " ".join(pick[rng.randrange(size)].rstrip(".?").split()[:3]),
                "description": pick[rng.randrange(size)],
                "importance": rng.choice(("high", "medium", "low")),
            }
            for _ in range(rng.randint(1, 4))
        ],
    }
    millis = int(created.timestamp() * 1000)
    return (
        uuid.UUID(int=rng.getrandbits(128), version=4),
        f"{millis}-{number}",
        title[:200],
        "en",
        round(start, 1),
        word_count(transcript),
        f"recording-{millis}.m4a",
        int(start * 16_000),
        transcript,
        "[" + ", ".join(segments) + "]",
        json.dumps(summary) if rng.random() < 0.9 else None,
        '{"language": "auto", "summaryQuality": "balanced"}',
        created,
        created,
        1,
    )


COLUMNS = (
    "id, client_id, title, language, duration_seconds, word_count, source_file_name,"
    " source_file_size, transcript_text, segments, summary, processing_options, created_at,"
    " updated_at, revision, user_id"
)


# --- seeding ----------------------------------------------------------------------------------


def copy_items(database_url: str, worker: int, owners: list[tuple[str, int, bool]],
               progress: multiprocessing.Queue) -> None:
    """One seeding process: COPY the items of ``owners`` (user id, count, heavy) in batches."""
    pool = Pool.build()
    rng = random.Random(1000 + worker)
    now = datetime.now(UTC)
    rows = ((user_id, count, heavy) for user_id, count, heavy in owners)
    with psycopg.connect(database_url) as conn:
        conn.execute("SET synchronous_commit = off")
        pending = 0
        cur = conn.cursor()
        copy_cm = None
        copy = None
        for user_id, count, heavy in rows:
            for n in range(count):
                if copy is None:
                    copy_cm = cur.copy(f"COPY history_items ({COLUMNS}) FROM STDIN")
                    copy = copy_cm.__enter__()
                if heavy:  # one every ~2 hours, newest first, no two alike
                    created = now - timedelta(hours=2 * n, seconds=rng.uniform(0, 3600))
                else:
                    created = now - timedelta(seconds=rng.uniform(60, 2 * 365 * 86400))
                copy.write_row((*item_values(pool, rng, created, n), user_id))
                pending += 1
                if pending == BATCH:
                    copy_cm.__exit__(None, None, None)
                    conn.commit()
                    copy = copy_cm = None
                    progress.put(pending)
                    pending = 0
        if copy_cm is not None:
            copy_cm.__exit__(None, None, None)
            conn.commit()
        progress.put(pending)


def fill_vectors(database_url: str, user_ids: list[str], progress: multiprocessing.Queue) -> None:
    """Let the app's own trigger fill search_vector: an UPDATE naming title fires it."""
    with psycopg.connect(database_url) as conn:
        conn.execute("SET synchronous_commit = off")
        for start in range(0, len(user_ids), 500):
            chunk = user_ids[start:start + 500]
            done = conn.execute(
                "UPDATE history_items SET title = title WHERE user_id = ANY(%s::uuid[])", (chunk,)
            ).rowcount
            conn.commit()
            progress.put(done)


def in_parallel(target, jobs: list[tuple], total: int, label: str) -> None:
    """Run ``target(*args, progress)`` for every args in ``jobs`` in processes; log progress."""
    context = multiprocessing.get_context("fork")
    progress = context.Queue()
    processes = [context.Process(target=target, args=(*args, progress)) for args in jobs]
    for process in processes:
        process.start()
    done, last = 0, time.monotonic()
    while any(p.is_alive() for p in processes) or not progress.empty():
        try:
            done += progress.get(timeout=1)
        except Exception:  # noqa: S112 - queue.Empty: poll again
            continue
        if time.monotonic() - last > 30:
            run.log(f"  {label}: {done:,} of {total:,}")
            last = time.monotonic()
    for process in processes:
        process.join()
        if process.exitcode:
            raise RuntimeError(f"{label}: a worker failed (exit {process.exitcode})")


@dataclass
class Seeded:
    heavy_user: str
    tokens: list[str]
    timings: dict[str, float]
    sizes: dict[str, str]


def seed(database_url: str, users: int, items: int, jobs: int, vectors: str) -> Seeded:
    timings: dict[str, float] = {}
    started = time.monotonic()
    run.seed(database_url, 0, users, 1)
    timings["users and sessions"] = time.monotonic() - started

    with psycopg.connect(database_url, autocommit=True) as conn:
        ids = dict(conn.execute("SELECT username, id::text FROM users").fetchall())
        heavy = ids.pop("bench0")
        now = datetime.now(UTC)
        tokens = []
        with conn.cursor().copy(
            "COPY sessions (id, user_id, token_hash, created_at, expires_at, last_used_at,"
            " user_agent, ip_address) FROM STDIN"
        ) as copy:
            for _ in range(HEAVY_SESSIONS):
                session_id = uuid.uuid4()
                token, expires = issue_token(uuid.UUID(heavy), session_id, run.JWT_SECRET,
                                             7 * 86400, now)
                tokens.append(token)
                copy.write_row((session_id, heavy, token_hash(token), now, expires, now,
                                "bench", "127.0.0.1"))
        gin = conn.execute(
            "SELECT pg_get_indexdef('ix_history_items_search_vector'::regclass)"
        ).fetchone()[0]
        conn.execute("DROP INDEX ix_history_items_search_vector")
        if vectors == "update":
            conn.execute("ALTER TABLE history_items DISABLE TRIGGER history_items_search_vector")

    rng = random.Random(7)
    others = sorted(ids.values())
    counts = Counter(rng.randrange(len(others)) for _ in range(items - HEAVY_ITEMS))
    owners = [(heavy, HEAVY_ITEMS, True)] + [(others[i], c, False) for i, c in sorted(counts.items())]
    shares = [owners[j::jobs] for j in range(jobs)]
    started = time.monotonic()
    in_parallel(copy_items, [(database_url, j, shares[j]) for j in range(jobs)], items,
                "items copied")
    timings["COPY of the items" + (" (trigger off)" if vectors == "update" else " (trigger on)")] = (
        time.monotonic() - started)

    with psycopg.connect(database_url, autocommit=True) as conn:
        if vectors == "update":
            conn.execute("ALTER TABLE history_items ENABLE TRIGGER history_items_search_vector")
            started = time.monotonic()
            owner_ids = [owner for owner, _, _ in owners]
            in_parallel(fill_vectors, [(database_url, owner_ids[j::jobs]) for j in range(jobs)],
                        items, "search vectors filled")
            timings["UPDATE filling search_vector (the trigger)"] = time.monotonic() - started
        started = time.monotonic()
        conn.execute("SET maintenance_work_mem = '1GB'")
        conn.execute(gin)
        timings["GIN index build"] = time.monotonic() - started
        started = time.monotonic()
        conn.execute("VACUUM ANALYZE")
        timings["VACUUM ANALYZE"] = time.monotonic() - started
        sizes = dict(zip(
            ("database", "history_items (with TOAST)", "GIN index", "list index"),
            conn.execute(
                "SELECT pg_size_pretty(pg_database_size(current_database())),"
                " pg_size_pretty(pg_table_size('history_items')),"
                " pg_size_pretty(pg_relation_size('ix_history_items_search_vector')),"
                " pg_size_pretty(pg_relation_size('ix_history_items_user_id_created_at_id'))"
            ).fetchone(),
            strict=True,
        ))
        missing = conn.execute(
            "SELECT count(*) FROM history_items WHERE search_vector IS NULL"
        ).fetchone()[0]
        if missing:
            raise RuntimeError(f"{missing} items have no search vector")
    return Seeded(heavy, tokens, timings, sizes)


# --- measuring --------------------------------------------------------------------------------


def get_json(server: run.Server, path: str, token: str) -> dict:
    request = urllib.request.Request(server.url(path), headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def deep_cursor(server: run.Server, token: str) -> str:
    """The cursor after DEEP_AFTER items, found by paging through once."""
    cursor, seen = None, 0
    while seen < DEEP_AFTER:
        path = f"/api/v1/history?limit=100{'&cursor=' + cursor if cursor else ''}"
        page = get_json(server, path, token)["data"]
        seen += len(page["items"])
        cursor = page["nextCursor"]
    return cursor


def search_words(database_url: str, heavy: str, pool: Pool) -> tuple[tuple[str, int], tuple[str, int]]:
    """The most frequent indexed word, and a rare one (a few of the heavy user's items)."""
    def matches(conn: psycopg.Connection, word: str) -> int:
        return conn.execute(
            "SELECT count(*) FROM history_items WHERE user_id = %s"
            " AND search_vector @@ websearch_to_tsquery('english', %s)", (heavy, word)
        ).fetchone()[0]

    with psycopg.connect(database_url) as conn:
        common = next(w for w in pool.words
                      if conn.execute("SELECT to_tsvector('english', %s) <> ''", (w,)).fetchone()[0])
        rare = None
        for rank in range(20_000, len(pool.words), 997):
            count = matches(conn, pool.words[rank])
            if 3 <= count <= 30:
                rare = (pool.words[rank], count)
                break
        if rare is None:
            raise RuntimeError("no rare word found")
        return (common, matches(conn, common)), rare


class LoadAverage:
    """Samples the 1-minute load average every few seconds while the load runs."""

    def __init__(self) -> None:
        self.samples: list[float] = []
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.sample, daemon=True)
        self.thread.start()

    def sample(self) -> None:
        while not self.stopped.wait(5):
            self.samples.append(os.getloadavg()[0])

    def stop(self) -> str:
        self.stopped.set()
        self.thread.join()
        s = self.samples or [os.getloadavg()[0]]
        return f"{min(s):.1f}–{max(s):.1f} (median {statistics.median(s):.1f})"


def environment() -> str:
    def version(command: list[str]) -> str:
        try:
            out = subprocess.run(command, capture_output=True, text=True, check=False)
        except OSError:
            return "?"
        text = (out.stdout or out.stderr).strip()
        return text.splitlines()[0] if text else "?"

    return (
        f"- machine: {os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}\n"
        f"- {version(['psql', '--version'])}; {version(['redis-server', '--version'])};"
        f" {version(['wrk', '-v'])}\n"
        "- gunicorn.conf.py defaults (sync workers, 2 per core), the production shape of"
        f" `bench/run.py`: `APP_ENV=production`, every rate limit on and raised to {run.RAISED},"
        " counters in Redis (own key prefix), JSON access log at INFO into a file\n"
    )


def tables(figures: dict[str, dict], ratios: dict[str, list[float]], me_name: str
           ) -> tuple[list[str], list[str]]:
    """The table's lines and the verdicts on the targets."""
    share = {name: statistics.median(r) for name, r in ratios.items()}
    lines = ["| endpoint | connections | req/s (median) | req/s (min–max) | p50 ms | p99 ms | errors"
             " | ÷ `/me` beside it (median, min–max) |", "|---|---|---|---|---|---|---|---|"]
    for name, s in figures.items():
        ratio = "100%"
        if name in share:
            ratio = f"{share[name]:.0%} ({min(ratios[name]):.0%}–{max(ratios[name]):.0%})"
        lines.append(run.row(name, 16, s) + f" {ratio} |")
    first_name, deep_name = "GET /history (first page)", f"GET /history (after {DEEP_AFTER:,} items)"
    first, deep = figures[first_name], figures[deep_name]
    single_name = "GET /history/<id> (random ids)"
    single = figures[single_name]
    searches = [s for n, s in figures.items() if n.startswith("search")]
    verdicts = [
        f"- first page ÷ `/me`: **{share[first_name]:.0%}**, deep page ÷ `/me`:"
        f" **{share[deep_name]:.0%}**, single read ÷ `/me`: **{share[single_name]:.0%}**"
        " (target ≥ 75%)",
        f"- p99 of list pages and single reads: {first['p99_ms']:.1f}, {deep['p99_ms']:.1f},"
        f" {single['p99_ms']:.1f} ms (target ≤ 30 ms); `/me` beside them:"
        f" {figures[me_name]['p99_ms']:.1f} ms",
        f"- deep page ÷ first page: **{share[deep_name] / share[first_name]:.0%}** (target: as fast)",
        f"- search p99: common word {searches[0]['p99_ms']:.1f} ms, rare word"
        f" {searches[1]['p99_ms']:.1f} ms (target ≤ 100 ms)",
    ]
    return lines, verdicts


def main() -> None:  # noqa: PLR0915 - the script, step by step
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--server-url", default=os.environ.get(
        "BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
        help=f"PostgreSQL server to create the scratch database {DATABASE} on")
    parser.add_argument("--database", default=DATABASE, help="name of the scratch database")
    parser.add_argument("--redis-url", default=os.environ.get(
        "BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"),
        help="Redis for the production shape's counters (under a key prefix of the run's own)")
    parser.add_argument("--port", type=int, default=5098)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--jobs", type=int, default=2, help="seeding processes")
    parser.add_argument("--vectors", choices=("trigger", "update"), default="trigger",
                        help="fill search_vector by the trigger during COPY, or by an UPDATE after")
    parser.add_argument("--quick", action="store_true",
                        help="1k users, 20k items, 1 run of 3 s per case, table not rewritten")
    parser.add_argument("--seed-only", action="store_true",
                        help="seed, report and stop (the database is kept, for --reuse)")
    parser.add_argument("--reuse", action="store_true",
                        help="measure the database a previous run left (it keeps the seeded tokens)")
    parser.add_argument("--keep", action="store_true", help="do not drop the scratch database")
    parser.add_argument("--no-write", action="store_true", help="do not rewrite bench/README.md")
    options = parser.parse_args()
    if options.quick:
        options.users, options.items, options.runs, options.seconds = 1_000, 20_000, 1, 3.0
    run.RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    state = run.RESULTS / f"{options.database}-state.json"
    database_url = re.sub(r"/[^/]*$", f"/{options.database}", options.server_url)

    if options.reuse:
        saved = json.loads(state.read_text())
        run.JWT_SECRET = saved["jwt_secret"]
        seeded = Seeded(saved["heavy"], saved["tokens"], saved["timings"], saved["sizes"])
    else:
        run.scratch_database(options.server_url, options.database)
        run.migrate(database_url)
        run.log(f"seeding {options.users:,} users, {options.items:,} history items"
                f" ({options.jobs} processes, search vectors by {options.vectors})")
        started = time.monotonic()
        seeded = seed(database_url, options.users, options.items, options.jobs, options.vectors)
        seeded.timings["total"] = time.monotonic() - started
        state.write_text(json.dumps({"jwt_secret": run.JWT_SECRET, "heavy": seeded.heavy_user,
                                     "tokens": seeded.tokens, "timings": seeded.timings,
                                     "sizes": seeded.sizes}))
    seeding = "; ".join(f"{k} {v:,.0f} s" for k, v in seeded.timings.items())
    sizes = "; ".join(f"{k} {v}" for k, v in seeded.sizes.items())
    run.log(f"seeded: {seeding}\n  sizes: {sizes}")
    if options.seed_only:
        return

    tokens_file = run.RESULTS / "history-tokens.txt"
    tokens_file.write_text("\n".join(seeded.tokens) + "\n")
    (common, common_count), (rare, rare_count) = search_words(database_url, seeded.heavy_user,
                                                              Pool.build())
    with psycopg.connect(database_url) as conn:
        item_ids = [str(r[0]) for r in conn.execute(
            "SELECT id FROM history_items WHERE user_id = %s", (seeded.heavy_user,))]
    random.Random(3).shuffle(item_ids)
    paths_file = run.RESULTS / "history-paths.txt"
    paths_file.write_text("".join(f"/api/v1/history/{i}\n" for i in item_ids))

    prefix = f"bench-history-{secrets.token_hex(4)}"
    server = run.ours(database_url, options.port, "production", options.redis_url, prefix,
                      run.RESULTS / f"server-history-{stamp}.log")
    try:
        cursor = deep_cursor(server, seeded.tokens[0])
        cases = [
            ("GET /api/v1/auth/me", "requests.lua", [str(tokens_file), "GET", "/api/v1/auth/me"]),
            ("GET /history (first page)", "requests.lua",
             [str(tokens_file), "GET", "/api/v1/history"]),
            (f"GET /history (after {DEEP_AFTER:,} items)", "requests.lua",
             [str(tokens_file), "GET", f"/api/v1/history?cursor={cursor}"]),
            ("GET /history/<id> (random ids)", "paths.lua", [str(tokens_file), str(paths_file)]),
            (f"search, common word ({common_count:,} matches)", "requests.lua",
             [str(tokens_file), "GET", f"/api/v1/history?q={common}"]),
            (f"search, rare word ({rare_count:,} matches)", "requests.lua",
             [str(tokens_file), "GET", f"/api/v1/history?q={rare}"]),
        ]
        for name, _, args in cases:  # every case answers 200 before it is timed
            path = args[3] if len(args) > 3 else "/api/v1/history/" + item_ids[0]
            get_json(server, path, seeded.tokens[0])
            run.log(f"checked {name}")
        results: dict[str, list[dict]] = {name: [] for name, _, _ in cases}
        ratios: dict[str, list[float]] = {name: [] for name, _, _ in cases[1:]}
        load = LoadAverage()
        for _, script, args in cases:  # warm-up, discarded
            run.wrk(server, script, args, 16, min(3.0, options.seconds))
        me_case = cases[0]
        for round_ in range(options.runs):
            # /me before and after every other line: each line's ratio is to the /me runs on
            # either side of it, so a change of the machine's load falls on both alike.
            sequence = [me_case] + [line for case in cases[1:] for line in (case, me_case)]
            measured = []
            for name, script, args in sequence:
                run.drain(server)
                result = run.wrk(server, script, args, 16, options.seconds)
                results[name].append(result)
                measured.append((name, result["rps"]))
                run.log(f"round {round_ + 1}: {name}: {result['rps']:,.0f} req/s,"
                        f" p99 {result['p99_us'] / 1000:.1f} ms")
            for i in range(1, len(measured), 2):
                beside = (measured[i - 1][1] + measured[i + 1][1]) / 2
                ratios[measured[i][0]].append(measured[i][1] / beside)
        load_average = load.stop()
    finally:
        server.stop()
        run.forget_counters(options.redis_url, prefix)

    figures = {name: run.summary(rs) for name, rs in results.items()}
    lines, verdicts = tables(figures, ratios, me_case[0])
    command = " ".join(["bench/history.py", *sys.argv[1:]])
    runs = f"{options.runs} run" + ("s" if options.runs > 1 else "")
    report = (
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC with `{command}` ({runs} of"
        f" {options.seconds:g} s per line, `/me` between every two other lines, after a warm-up),"
        " all requests as"
        f" the user with {HEAVY_ITEMS:,} items ({HEAVY_SESSIONS} sessions).\n\n"
        + environment()
        + f"- data: {options.users:,} users, {options.items:,} history items;"
        f" search words `{common}` and `{rare}`\n"
        f"- seeding: {seeding}\n- sizes: {sizes}\n"
        f"- load average (1 min) during the runs: {load_average}\n\n"
        + "\n".join(lines) + "\n\n" + "\n".join(verdicts) + "\n"
    )
    (run.RESULTS / f"history-report-{stamp}.md").write_text(report)
    print("\n" + report)
    if not options.no_write and not options.quick:
        run.write_report(report, "history")
    if not options.keep:
        with psycopg.connect(options.server_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{options.database}" WITH (FORCE)')


if __name__ == "__main__":
    main()
