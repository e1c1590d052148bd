"""Rate-limit counters in a SQLite file: shared by every worker process of one host.

The embedded default needs counters that all gunicorn workers see (``memory://`` counts per
process, so four workers would let four times the documented number through) without asking a
newcomer to install Redis. A small SQLite file in the instance folder does that: each increment
is one atomic ``INSERT ... ON CONFLICT DO UPDATE ... RETURNING`` statement, so concurrent workers
never lose a count and the value returned is the one this increment produced.

Counters are a cache, not data: the file runs in WAL mode without fsync (a crash loses at most
the current windows) and expired rows are deleted as it goes. Several hosts need Redis.

Registered with the ``limits`` library under the ``sqlite`` scheme, so it is chosen by
``RATELIMIT_STORAGE_URI=sqlite:///path/to/file.db`` like any other storage.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from typing import Any

from limits.storage import Storage

SCHEME = "sqlite"
# One in this many increments also deletes the expired rows (amortised clean-up).
PRUNE_EVERY = 1000
# A writer waits this long for another process's write before the limiter's fallback takes over.
BUSY_TIMEOUT_SECONDS = 2.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS counters (
    key TEXT PRIMARY KEY,
    count INTEGER NOT NULL,
    expires_at REAL NOT NULL
) WITHOUT ROWID
"""
# In an UPDATE every expression reads the row as it was, so both CASEs see the old expiry.
_INCREMENT = """
INSERT INTO counters (key, count, expires_at) VALUES (:key, :amount, :now + :expiry)
ON CONFLICT (key) DO UPDATE SET
    count = CASE WHEN expires_at <= :now THEN :amount ELSE count + :amount END,
    expires_at = CASE WHEN expires_at <= :now THEN :now + :expiry ELSE expires_at END
RETURNING count, expires_at
"""


def path_of(uri: str) -> str:
    """The file of a ``sqlite:///relative`` or ``sqlite:////absolute`` URI."""
    prefix = f"{SCHEME}:///"
    if not uri.startswith(prefix) or len(uri) == len(prefix):
        raise ValueError(f"a {SCHEME} storage URI looks like {prefix}path/to/file.db")
    return uri[len(prefix):]


def connect(path: str, *schema: str) -> sqlite3.Connection:
    """A connection to the shared file (autocommit, WAL, no fsync) with ``schema`` in place."""
    connection = sqlite3.connect(path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=OFF")
    for statement in schema:
        connection.execute(statement)
    return connection


class SQLiteStorage(Storage):
    """A ``limits`` storage (fixed-window counters) in one SQLite file."""

    STORAGE_SCHEME = [SCHEME]  # noqa: RUF012  (the name and type the limits library reads)

    def __init__(self, uri: str, wrap_exceptions: bool = False, **options: Any) -> None:
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        self.path = path_of(uri)
        directory = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(directory, exist_ok=True)
        # One connection per thread and per process: sqlite3 connections must not cross a fork.
        self._local = threading.local()
        self._increments = 0

    @property
    def base_exceptions(self) -> type[Exception]:
        return sqlite3.Error

    def _connection(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is not None and self._local.pid == os.getpid():
            return connection
        connection = connect(self.path, _SCHEMA)
        self._local.connection, self._local.pid = connection, os.getpid()
        return connection

    def incr(self, key: str, expiry: float, amount: int = 1) -> int:
        return self.incr_window(key, expiry, amount)[0]

    def incr_window(self, key: str, expiry: float, amount: int = 1) -> tuple[int, float]:
        """Increment ``key``; the count it produced and when its window ends, in one statement."""
        connection = self._connection()
        now = time.time()
        row = connection.execute(
            _INCREMENT, {"key": key, "amount": amount, "now": now, "expiry": expiry}
        ).fetchone()
        self._increments += 1
        if self._increments % PRUNE_EVERY == 0:
            connection.execute("DELETE FROM counters WHERE expires_at <= ?", (now,))
        return int(row[0]), float(row[1])

    def get(self, key: str) -> int:
        row = self._connection().execute(
            "SELECT count FROM counters WHERE key = ? AND expires_at > ?", (key, time.time())
        ).fetchone()
        return int(row[0]) if row else 0

    def get_expiry(self, key: str) -> float:
        now = time.time()
        row = self._connection().execute(
            "SELECT expires_at FROM counters WHERE key = ? AND expires_at > ?", (key, now)
        ).fetchone()
        return float(row[0]) if row else now

    def check(self) -> bool:
        try:
            self._connection().execute("SELECT 1").fetchone()
        except sqlite3.Error:
            return False
        return True

    def reset(self) -> int | None:
        return self._connection().execute("DELETE FROM counters").rowcount

    def clear(self, key: str) -> None:
        self._connection().execute("DELETE FROM counters WHERE key = ?", (key,))
