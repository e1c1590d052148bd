"""The per-user cap on open job event streams, counted where the rate limits count.

Each open stream holds a *lease* in the rate-limit storage (``RATELIMIT_STORAGE_URI``): the SQLite
file every worker of a host shares (the default), Redis for several instances, or this process's
memory for ``memory://`` (one worker only, as gunicorn.conf.py insists). A lease expires on its own
``ttl`` seconds after its last renewal, so the streams of a process that died stop counting within
that time; a stream renews its lease while it is open and gives it back when it closes.

Opening a stream is one atomic step in the storage (expired leases dropped, the user's live ones
counted, the new one added only under the cap), so streams opened at once through several workers
or instances never pass the cap.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterable
from typing import Protocol

from redis import Redis

from audiotricks.ratelimits.sqlite_storage import connect, path_of

# (user id, stream id)
Lease = tuple[str, str]


class Leases(Protocol):
    def acquire(self, user_id: str, stream_id: str, limit: int, ttl: float) -> bool:
        """Add a lease for a new stream unless the user already holds ``limit`` live ones."""

    def renew(self, leases: Iterable[Lease], ttl: float) -> None:
        """Extend the given leases by ``ttl`` seconds from now."""

    def release(self, user_id: str, stream_id: str) -> None:
        """Give a stream's lease back (a lease already gone is fine)."""


class MemoryLeases:
    """Leases in this process (``memory://``: one worker process)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._leases: dict[str, dict[str, float]] = {}

    def acquire(self, user_id: str, stream_id: str, limit: int, ttl: float) -> bool:
        now = time.time()
        with self._lock:
            live = {s: t for s, t in self._leases.get(user_id, {}).items() if t > now}
            if len(live) >= limit:
                self._leases[user_id] = live
                return False
            live[stream_id] = now + ttl
            self._leases[user_id] = live
            return True

    def renew(self, leases: Iterable[Lease], ttl: float) -> None:
        until = time.time() + ttl
        with self._lock:
            for user_id, stream_id in leases:
                mine = self._leases.get(user_id, {})
                if stream_id in mine:
                    mine[stream_id] = until

    def release(self, user_id: str, stream_id: str) -> None:
        with self._lock:
            mine = self._leases.get(user_id, {})
            mine.pop(stream_id, None)
            if not mine:
                self._leases.pop(user_id, None)


_SQLITE_SCHEMA = """
CREATE TABLE IF NOT EXISTS stream_leases (
    stream_id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    expires_at REAL NOT NULL
) WITHOUT ROWID
"""
_SQLITE_INDEX = "CREATE INDEX IF NOT EXISTS ix_stream_leases_user ON stream_leases (user_id)"


class SQLiteLeases:
    """Leases in the rate-limit SQLite file, shared by the workers of one host."""

    def __init__(self, uri: str) -> None:
        self.path = path_of(uri)
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        self._local = threading.local()

    def _connection(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is not None and self._local.pid == os.getpid():
            return connection
        # Like the counters, leases are a cache (they expire anyway): no fsync.
        connection = connect(self.path, _SQLITE_SCHEMA, _SQLITE_INDEX)
        self._local.connection, self._local.pid = connection, os.getpid()
        return connection

    def acquire(self, user_id: str, stream_id: str, limit: int, ttl: float) -> bool:
        connection = self._connection()
        now = time.time()
        # BEGIN IMMEDIATE takes the file's write lock first: the count and the insert of one
        # stream cannot interleave with another's, in this process or any other.
        connection.execute("BEGIN IMMEDIATE")
        try:
            connection.execute("DELETE FROM stream_leases WHERE expires_at <= ?", (now,))
            (count,) = connection.execute(
                "SELECT count(*) FROM stream_leases WHERE user_id = ?", (user_id,)
            ).fetchone()
            allowed = int(count) < limit
            if allowed:
                connection.execute(
                    "INSERT INTO stream_leases (stream_id, user_id, expires_at) VALUES (?, ?, ?)",
                    (stream_id, user_id, now + ttl),
                )
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        return allowed

    def renew(self, leases: Iterable[Lease], ttl: float) -> None:
        until = time.time() + ttl
        connection = self._connection()
        connection.execute("BEGIN IMMEDIATE")
        try:
            connection.executemany(
                "UPDATE stream_leases SET expires_at = ? WHERE stream_id = ?",
                [(until, stream_id) for _, stream_id in leases],
            )
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise

    def release(self, user_id: str, stream_id: str) -> None:
        self._connection().execute(
            "DELETE FROM stream_leases WHERE stream_id = ? AND user_id = ?", (stream_id, user_id)
        )


# Drop the user's expired leases, count the live ones, add this one under the cap; the key
# lives as long as its newest lease. The server's clock, so every instance agrees.
_ACQUIRE = """
local now = redis.call("TIME")
now = tonumber(now[1]) + tonumber(now[2]) / 1000000
redis.call("ZREMRANGEBYSCORE", KEYS[1], "-inf", now)
if redis.call("ZCARD", KEYS[1]) >= tonumber(ARGV[1]) then
    return 0
end
redis.call("ZADD", KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
redis.call("EXPIRE", KEYS[1], math.ceil(tonumber(ARGV[2])))
return 1
"""
_RENEW = """
local now = redis.call("TIME")
now = tonumber(now[1]) + tonumber(now[2]) / 1000000
for i = 2, #ARGV do
    redis.call("ZADD", KEYS[1], "XX", now + tonumber(ARGV[1]), ARGV[i])
end
redis.call("EXPIRE", KEYS[1], math.ceil(tonumber(ARGV[1])))
return 1
"""


class RedisLeases:
    """Leases in Redis, one sorted set per user (member: stream id, score: expiry)."""

    def __init__(self, uri: str, prefix: str) -> None:
        # Short waits, as for the rate limits: a stuck Redis must not hold a request for long.
        self.client = Redis.from_url(uri, socket_connect_timeout=1, socket_timeout=1)
        self.prefix = prefix
        self._acquire = self.client.register_script(_ACQUIRE)
        self._renew = self.client.register_script(_RENEW)

    def _key(self, user_id: str) -> str:
        return f"{self.prefix}:stream-leases:{user_id}"

    def acquire(self, user_id: str, stream_id: str, limit: int, ttl: float) -> bool:
        return bool(self._acquire(keys=[self._key(user_id)], args=[limit, ttl, stream_id]))

    def renew(self, leases: Iterable[Lease], ttl: float) -> None:
        by_user: dict[str, list[str]] = {}
        for user_id, stream_id in leases:
            by_user.setdefault(user_id, []).append(stream_id)
        pipe = self.client.pipeline(transaction=False)
        for user_id, streams in by_user.items():
            self._renew(keys=[self._key(user_id)], args=[ttl, *streams], client=pipe)
        pipe.execute()

    def release(self, user_id: str, stream_id: str) -> None:
        self.client.zrem(self._key(user_id), stream_id)


def leases_for(storage_uri: str, prefix: str) -> Leases:
    """The lease store on the rate limits' storage."""
    if storage_uri.startswith("sqlite:///"):
        return SQLiteLeases(storage_uri)
    if storage_uri.startswith(("redis://", "rediss://")):
        return RedisLeases(storage_uri, prefix)
    return MemoryLeases()
