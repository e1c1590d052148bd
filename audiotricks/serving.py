"""gunicorn workers whose own error answers follow the contract (``gunicorn.conf.py`` uses them).

gunicorn answers some requests without the app: a malformed request line (400), a request line
past ``limit_request_line`` (414), too many or too large headers (431), and a worker that ran past
``timeout`` (500). Its answer is an HTML page echoing part of the request, without the security
headers or an ``X-Request-ID``. These workers are gunicorn's own sync and gthread workers (same
serving model) with one change: that answer is the contract's JSON error with the same headers as
the app's responses. gunicorn still decides the status and logs the problem as before.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from typing import Any

from gunicorn import util
from gunicorn.workers.gthread import ThreadWorker
from gunicorn.workers.sync import SyncWorker

from audiotricks.runtime import CONFIG_KEY
from audiotricks.security_headers import response_headers

access_log = logging.getLogger("audiotricks.access")

# gunicorn's reason phrases are not the contract's sentences; its message (which may quote the
# request) is never sent.
MESSAGES = {
    400: "Bad request",
    403: "Forbidden",
    408: "Request timeout",
    414: "Request line too long",
    417: "Expectation failed",
    431: "Request headers too large",
    500: "Internal server error",
    501: "Not implemented",
    503: "Service temporarily unavailable",
}
_STATUS_LINE = re.compile(rb"HTTP/1\.[01] ([1-5][0-9][0-9]) ")


class _Capture:
    """Stands in for the client socket while gunicorn writes its HTML page, to learn its status."""

    def __init__(self) -> None:
        self.data = b""

    def gettimeout(self) -> float:
        return 0.0

    def setblocking(self, flag: bool) -> None:
        pass

    def sendall(self, data: bytes) -> None:
        self.data += data

    def send(self, data: bytes) -> int:
        self.data += data
        return len(data)


class JsonErrorsMixin:
    """Replace gunicorn's HTML error page with ``{"error": ...}`` and the app's headers."""

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        capture = _Capture()
        # gunicorn logs, and picks the status, exactly as it always does; only its bytes stay here.
        super().handle_error(req, capture, addr, exc)  # type: ignore[misc]
        found = _STATUS_LINE.match(capture.data)
        status = int(found.group(1)) if found else 500
        if isinstance(exc, SystemExit) and req is None:
            # The worker was stopped at its timeout while the request's head was still arriving:
            # the client was too slow, the app never ran. gunicorn calls that a 500.
            status = 408
        # A new id: the request's head was not (wholly) parsed, so no client value was accepted.
        request_id = uuid.uuid4().hex
        try:
            util.write_nonblock(client, self._error_bytes(status, request_id))
        except OSError:  # the client may be gone; nothing more to do for it
            self.log.debug("could not send the error answer")  # type: ignore[attr-defined]
        access_log.info(
            "%s %s",
            "-" if req is None else getattr(req, "method", "-"),
            status,
            extra={
                "event": "request",
                "request_id": request_id,
                "status": status,
                "client_ip": (addr or ("",))[0] or None,
                "served_by": "gunicorn",
            },
        )

    def _error_bytes(self, status: int, request_id: str) -> bytes:
        body = json.dumps({"error": MESSAGES.get(status, "Bad request")}).encode() + b"\n"
        config = getattr(getattr(self, "wsgi", None), "extensions", {}).get(CONFIG_KEY)
        headers = {
            "Server": "audiotricks",
            "Connection": "close",
            "Content-Type": "application/json",
            "Content-Length": str(len(body)),
            "Cache-Control": "no-store",
            "X-Request-ID": request_id,
            **response_headers(production=bool(config and config.is_production)),
        }
        reason = MESSAGES.get(status, "Error")
        head = f"HTTP/1.1 {status} {reason}\r\n" + "".join(
            f"{name}: {value}\r\n" for name, value in headers.items()
        )
        return head.encode("latin-1") + b"\r\n" + body


# gunicorn has no type information (see setup.cfg), so its worker classes are Any to mypy.
class JsonErrorSyncWorker(JsonErrorsMixin, SyncWorker):  # type: ignore[misc]
    """gunicorn's sync worker (``GUNICORN_THREADS=1``), with contract-shaped error answers."""


class JsonErrorThreadWorker(JsonErrorsMixin, ThreadWorker):  # type: ignore[misc]
    """gunicorn's gthread worker (``GUNICORN_THREADS`` > 1), with contract-shaped error answers."""

