"""A fixed-window strategy that counts a hit and reads its window in one storage call.

Flask-Limiter counts a request with ``hit`` (one increment) and then, for the
``X-RateLimit-*`` headers, asks the strategy for the window's state: ``get`` and ``get_expiry``,
two more calls. On Redis that is three round trips per request, two of them only for headers.

:class:`OneTripFixedWindow` increments and reads the count and the time to live together (one Lua
script on Redis, one statement on the SQLite storage) and keeps the answer for the rest of the
request, where the headers read it. Enforcement is unchanged: the increment is the same atomic
operation, and the decision is taken on the count it returned. ``test`` (which decides) always
reads the storage; only the header figures come from the request's own increment, i.e. what was
left right after this request counted, which is what the client is told anyway.
"""

from __future__ import annotations

import time
from typing import Any, cast

from flask import g, has_request_context
from limits import RateLimitItem
from limits.storage import RedisStorage
from limits.strategies import STRATEGIES, FixedWindowRateLimiter
from limits.util import WindowStats

from audiotricks.ratelimits.sqlite_storage import SQLiteStorage

NAME = "audiotricks-fixed-window"
_MEMO = "_rate_limit_windows"

# limits' own incr_expire script, plus the key's time to live in the same answer.
_INCR_TTL = b"""
local amount = tonumber(ARGV[2])
local current = redis.call("incrby", KEYS[1], amount)
if current == amount then
    redis.call("expire", KEYS[1], ARGV[1])
end
return {current, redis.call("ttl", KEYS[1])}
"""


class OneTripFixedWindow(FixedWindowRateLimiter):
    """``fixed-window`` with one storage call per hit on Redis and SQLite (see the module)."""

    def __init__(self, storage: Any) -> None:
        super().__init__(storage)
        self._script: Any = None
        if isinstance(storage, RedisStorage):
            self._script = storage.get_connection().register_script(_INCR_TTL)

    def _incr_window(self, key: str, expiry: int, amount: int) -> tuple[int, float] | None:
        """The count after the increment and when its window ends, or None for other storages."""
        storage = self.storage
        if self._script is not None:
            redis = cast(RedisStorage, storage)
            count, ttl = self._script(keys=[redis.prefixed_key(key)], args=[expiry, amount])
            return int(count), max(int(ttl), 0) + time.time()
        if isinstance(storage, SQLiteStorage):
            return storage.incr_window(key, expiry, amount)
        return None

    def hit(self, item: RateLimitItem, *identifiers: str, cost: int = 1) -> bool:
        key = item.key_for(*identifiers)
        window = self._incr_window(key, item.get_expiry(), cost)
        if window is None:
            return super().hit(item, *identifiers, cost=cost)
        if has_request_context():
            memo: dict[tuple[int, str], tuple[int, float]] = g.setdefault(_MEMO, {})
            memo[(id(self), key)] = window
        return window[0] <= item.amount

    def get_window_stats(self, item: RateLimitItem, *identifiers: str) -> WindowStats:
        if has_request_context():
            memo = g.get(_MEMO)
            known = memo.get((id(self), item.key_for(*identifiers))) if memo else None
            if known is not None:
                count, expires_at = known
                return WindowStats(expires_at, max(0, item.amount - count))
        return super().get_window_stats(item, *identifiers)


STRATEGIES[NAME] = OneTripFixedWindow  # chosen by name in Limiter(...)
