"""gunicorn's own answers (before the app sees a request) follow the contract: raw sockets.

Malformed or oversized request heads, and a request head that never finishes before the worker
timeout, get the contract's JSON error with the app's security headers and an X-Request-ID, not
gunicorn's HTML page (which quoted part of the request back).
"""

from __future__ import annotations

import json
import shutil
import socket
import time
from collections.abc import Iterator

import pytest

from audiotricks.security_headers import COMMON_HEADERS, HSTS
from tests.ops.client import call
from tests.ops.servers import Gunicorn, gunicorn, production_env

pytestmark = pytest.mark.slow

TIMEOUT = 2  # GUNICORN_TIMEOUT of the server under test


@pytest.fixture(scope="module", params=["sync", "gthread"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, sqlite_template: str
) -> Iterator[Gunicorn]:
    folder = tmp_path_factory.mktemp("gunicorn-errors")
    shutil.copyfile(sqlite_template, folder / "app.db")
    env = production_env(
        f"sqlite:///{folder / 'app.db'}",
        WEB_CONCURRENCY="2",
        GUNICORN_TIMEOUT=str(TIMEOUT),
        GUNICORN_THREADS="1" if request.param == "sync" else "2",
    )
    with gunicorn(env, folder / "gunicorn.log") as running:
        yield running


def exchange(port: int, data: bytes, wait: float = 10.0) -> tuple[int, dict[str, str], bytes]:
    """Send ``data`` on a fresh connection and read until the server closes it."""
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as sock:
        sock.sendall(data)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers, body


def assert_contract_error(headers: dict[str, str], body: bytes, message: str) -> None:
    assert headers["content-type"] == "application/json"
    assert json.loads(body) == {"error": message}
    assert int(headers["content-length"]) == len(body)
    assert len(headers["x-request-id"]) == 32  # a fresh id: the head was never accepted
    for name, value in COMMON_HEADERS.items():
        assert headers[name.lower()] == value
    assert headers["content-security-policy"].startswith("default-src 'none'")
    assert headers["strict-transport-security"] == HSTS  # production
    assert headers["server"] == "audiotricks"
    assert headers["cache-control"] == "no-store"


HEAD_END = b"Host: localhost\r\n\r\n"


@pytest.mark.parametrize(
    ("data", "status", "message"),
    [
        (b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\n" + HEAD_END, 414, "Request line too long"),
        (
            b"GET /health HTTP/1.1\r\n"
            + b"".join(b"X-Field-%d: v\r\n" % i for i in range(120))
            + HEAD_END,
            431,
            "Request headers too large",
        ),
        (b"GET /health HTTP/1.1\r\nX-Big: " + b"v" * 9000 + b"\r\n" + HEAD_END, 431,
         "Request headers too large"),
        (b"<script>alert(1)</script>\r\n\r\n", 400, "Bad request"),
        (b"G(T /health HTTP/1.1\r\n" + HEAD_END, 400, "Bad request"),
        (b"GET /health HTTP/9.9\r\n" + HEAD_END, 400, "Bad request"),
        (b"GET /health HTTP/1.1\r\nBad <Name>: v\r\n" + HEAD_END, 400, "Bad request"),
    ],
    ids=["long-line", "many-headers", "big-header", "garbage-line", "bad-method", "bad-version",
         "bad-header-name"],
)
def test_gunicorns_own_errors_are_contract_json(
    server: Gunicorn, data: bytes, status: int, message: str
) -> None:
    got, headers, body = exchange(server.port, data)
    assert got == status
    assert_contract_error(headers, body, message)
    assert b"<" not in body and b"script" not in body  # nothing of the request is echoed


# Sync workers only: a gthread worker keeps its heartbeat while one of its threads waits on the
# client, so it is never timed out (bench/README.md, "Half-open connections").
@pytest.mark.parametrize("server", ["sync"], indirect=True)
def test_a_request_head_unfinished_at_the_worker_timeout_gets_a_json_408(
    server: Gunicorn,
) -> None:
    started = time.monotonic()
    got, headers, body = exchange(server.port, b"GET /health HTTP/1.1\r\nHost: x\r\n", wait=30)
    elapsed = time.monotonic() - started
    assert got == 408
    assert_contract_error(headers, body, "Request timeout")
    assert TIMEOUT - 0.5 < elapsed < TIMEOUT + 5
    # The worker was replaced; the server still answers.
    assert call(server.port, "GET", "/health").status == 200


def test_a_doubled_slash_with_a_foreign_host_is_a_json_404(server: Gunicorn) -> None:
    got, headers, body = exchange(
        server.port, b"GET /api/v1//auth/me HTTP/1.1\r\nHost: evil.example\r\n\r\n"
    )
    assert got == 404
    assert "location" not in headers
    assert json.loads(body) == {"error": "Resource not found"}
