"""The SQLite counter storage: exact under concurrent processes, windows that expire, and the
``limits`` interface Flask-Limiter relies on."""

from __future__ import annotations

import multiprocessing
import re
import time
from pathlib import Path

import pytest
from limits import parse
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter

from audiotricks.ratelimits.sqlite_storage import SQLiteStorage, path_of


def uri(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'counters' / 'limits.db'}"


def _hammer(storage_uri: str, key: str, times: int) -> None:
    storage = storage_from_string(storage_uri)
    for _ in range(times):
        storage.incr(key, 60)


def test_the_scheme_is_registered_with_limits(tmp_path: Path) -> None:
    storage = storage_from_string(uri(tmp_path))
    assert isinstance(storage, SQLiteStorage)
    assert storage.check()
    assert (tmp_path / "counters" / "limits.db").exists()


def test_concurrent_processes_lose_no_count(tmp_path: Path) -> None:
    context = multiprocessing.get_context("fork")
    workers = [
        context.Process(target=_hammer, args=(uri(tmp_path), "shared", 200)) for _ in range(4)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    assert storage_from_string(uri(tmp_path)).get("shared") == 800


def test_a_fixed_window_allows_exactly_its_amount_then_expires(tmp_path: Path) -> None:
    storage = SQLiteStorage(uri(tmp_path))
    limiter = FixedWindowRateLimiter(storage)
    item = parse("3 per 1 second")
    assert [limiter.hit(item, "client") for _ in range(5)] == [True, True, True, False, False]
    assert limiter.get_window_stats(item, "client").remaining == 0
    assert storage.get_expiry(item.key_for("client")) > time.time()
    time.sleep(1.1)
    assert storage.get(item.key_for("client")) == 0
    assert limiter.hit(item, "client")  # a new window
    assert storage.get(item.key_for("client")) == 1


def test_a_negative_increment_gives_a_unit_back(tmp_path: Path) -> None:
    storage = SQLiteStorage(uri(tmp_path))
    assert storage.incr("k", 60, 2) == 2
    assert storage.incr("k", 60, -1) == 1


def test_clear_and_reset(tmp_path: Path) -> None:
    storage = SQLiteStorage(uri(tmp_path))
    for key in ("a", "b", "c"):
        storage.incr(key, 60)
    storage.clear("a")
    assert storage.get("a") == 0
    assert storage.get("b") == 1
    assert storage.reset() == 2
    assert storage.get("c") == 0


def test_counters_survive_a_fork(tmp_path: Path) -> None:
    """gunicorn builds the app in the master and forks: a child must not reuse its connection."""
    storage = SQLiteStorage(uri(tmp_path))
    storage.incr("k", 60)
    context = multiprocessing.get_context("fork")
    child = context.Process(target=lambda: storage.incr("k", 60))
    child.start()
    child.join(30)
    assert child.exitcode == 0
    assert storage.get("k") == 2


@pytest.mark.parametrize("bad", ["sqlite://", "sqlite:///", "sqlite:relative.db"])
def test_a_malformed_uri_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match=re.escape("sqlite:///path/to/file.db")):
        path_of(bad)
