"""Time what writing one log line costs: the redacting filter plus the JSON formatter.

    .venv/bin/python bench/redaction.py                  # median µs per line for each case
    .venv/bin/python bench/redaction.py --size 65536     # smaller adversarial inputs

No server, no database: records are built as the app builds them and passed through the same
filters and formatter its log handler uses (with the test suite's configured secrets), outside a
request, so no request secrets are read. Each case is timed line by line for about half a second;
the median is reported.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from audiotricks.logs import (  # noqa: E402
    PATH_LOG_MAX,
    USER_AGENT_LOG_MAX,
    JsonFormatter,
    RedactingFilter,
    RequestIdFilter,
    cut_text,
)
from tests.conftest import TEST_ENCRYPTION_KEY, TEST_JWT_SECRET  # noqa: E402

USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0"


def access_record(path: str, user_agent: str = USER_AGENT) -> dict[str, Any]:
    """The fields of an access line, as the app logs them (path and user agent already cut)."""
    path = cut_text(path, PATH_LOG_MAX)
    return {
        "name": "audiotricks.access",
        "levelno": logging.INFO,
        "levelname": "INFO",
        "msg": "%s %s %s",
        "args": ("GET", path, 404),
        "request_id": "18fc46be151f471bbc6966665d300987",
        "event": "request",
        "method": "GET",
        "path": path,
        "status": 404,
        "duration_ms": 3.1,
        "user_id": None,
        "client_ip": "127.0.0.1",
        "user_agent": cut_text(user_agent, USER_AGENT_LOG_MAX),
    }


def message_record(text: str) -> dict[str, Any]:
    """A warning quoting a client-sent text in its message and in an extra field."""
    return {
        "name": "audiotricks.test",
        "levelno": logging.WARNING,
        "levelname": "WARNING",
        "msg": "client sent %s",
        "args": (text,),
        "echo": text,
    }


def adversarial(size: int) -> dict[str, str]:
    """Inputs that made the old patterns retry at every position (see tests/ops/test_logging.py)."""
    return {
        "letters": "a" * size,
        "eyJ runs": ("eyJ" * size)[:size],
        "dotted words": ("a." * size)[:size],
        "scheme separators": ("x://" * size)[:size],
        "URL user without @": ("x://u:" + "b:" * size)[:size],
        "key=": ("a=" * size)[:size],
        "bearer repeated": ("bearer " * size)[:size],
        "unclosed quote": ('password:"' + "x" * size)[:size],
    }


def median_us(fields: dict[str, Any], seconds: float) -> tuple[float, int]:
    """Median µs to filter and format one record built from ``fields``, and how many were timed."""
    filters = (RequestIdFilter(), RedactingFilter([TEST_JWT_SECRET, TEST_ENCRYPTION_KEY]))
    formatter = JsonFormatter()
    timings: list[float] = []
    deadline = time.perf_counter() + seconds
    while len(timings) < 5 or time.perf_counter() < deadline:
        record = logging.makeLogRecord(fields)  # the filter rewrites it: a fresh one each time
        started = time.perf_counter()
        for log_filter in filters:
            log_filter.filter(record)
        formatter.format(record)
        timings.append(time.perf_counter() - started)
    return statistics.median(timings) * 1e6, len(timings)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=1_000_000, help="adversarial input, chars")
    parser.add_argument("--seconds", type=float, default=0.5, help="time spent on each case")
    options = parser.parse_args()
    cases = {
        "access line, typical": access_record("/api/v1/auth/me"),
        "access line, 4 KB path": access_record("/" + "a" * 4096),
        "message quoting a 4 KB path": message_record("/" + "a" * 4096),
    }
    for name, text in adversarial(options.size).items():
        cases[f"message quoting {options.size:,} chars: {name}"] = message_record(text)
    width = max(map(len, cases))
    print(f"{'case':{width}}  µs/line (median)  lines timed")
    for name, fields in cases.items():
        micros, count = median_us(fields, options.seconds)
        print(f"{name:{width}}  {micros:16,.1f}  {count:11,}")


if __name__ == "__main__":
    main()
