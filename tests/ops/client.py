"""A tiny HTTP client for tests against real servers (stdlib only, a new connection per call)."""

from __future__ import annotations

import http.client
import json
import time
from dataclasses import dataclass
from typing import Any


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    text: str
    seconds: float

    def json(self) -> Any:
        return json.loads(self.text)


def call(
    port: int,
    method: str,
    path: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
    timeout: float = 30.0,
    source: str | None = None,
) -> Reply:
    """Send one request to 127.0.0.1:``port`` and read the whole answer.

    ``source`` is the client address to send from (any 127.x.y.z works on loopback), so one test
    can be many clients to the per-IP limits.
    """
    sent = dict(headers or {})
    payload = None
    if body is not None:
        payload = json.dumps(body).encode()
        sent.setdefault("Content-Type", "application/json")
    connection = http.client.HTTPConnection(
        "127.0.0.1", port, timeout=timeout, source_address=(source, 0) if source else None
    )
    started = time.monotonic()
    try:
        connection.request(method, path, body=payload, headers=sent)
        response = connection.getresponse()
        text = response.read().decode()
        return Reply(
            response.status,
            {k.lower(): v for k, v in response.getheaders()},
            text,
            time.monotonic() - started,
        )
    finally:
        connection.close()
