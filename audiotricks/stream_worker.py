"""A gunicorn sync worker that serves job event streams from threads of their own.

A sync worker answers one connection at a time, which is what makes it fast on the database path
(see gunicorn.conf.py). A Server-Sent Events stream stays open for minutes: served the same way
it would hold the worker for all that time, and a handful of open streams would stop the API.

This worker is gunicorn's sync worker (with the contract's error answers, :mod:`.serving`) with
one change. When a request's head names ``GET /api/v1/jobs/<id>/events``, the parsed request
and its connection are handed to a new thread, which runs the app and writes the stream exactly
as the worker itself would (same WSGI environ, same response writer); the worker goes straight
back to accepting connections. Every other request is served as before, in the worker's own
thread. Stream threads spend their lives waiting on a condition (the process's job watcher,
:mod:`audiotricks.jobs.watch`, wakes them), so hundreds of them cost little but memory.

At most ``STREAMS_MAX_PER_WORKER`` streams run in one process; one more is answered
``503 {"error": "Service temporarily unavailable"}`` by the worker itself. When the worker stops
(SIGTERM, SIGINT, a restart), its open streams end cleanly (the last chunk is sent), and
clients reconnect — to another worker — after the stream's ``retry`` delay.

Not handed off: TLS terminated by gunicorn itself (put TLS on the proxy in front, as the README
says), and requests to any other path.
"""

from __future__ import annotations

import contextlib
import logging
import re
import socket
import threading
import time
import uuid
from typing import Any

from gunicorn import util

from audiotricks.runtime import CONFIG_KEY
from audiotricks.serving import JsonErrorSyncWorker

log = logging.getLogger(__name__)

STREAM_PATH = re.compile(r"/api/v1/jobs/[^/]{1,64}/events")
# A client that stops reading is dropped after its writes block this long (at least).
SEND_TIMEOUT_MIN_SECONDS = 30
# At exit, how long the worker waits for its streams to send their last chunk.
EXIT_GRACE_SECONDS = 2.0


class _Connection:
    """The client socket as the worker's own ``handle`` sees it.

    Once the connection is handed to a stream thread, ``handle``'s closing of it must not touch
    the socket: its ``shutdown`` then fails (gunicorn's graceful close gives up on that), and
    ``close`` does nothing. Everything else is the socket's own.
    """

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.handed_off = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.sock, name)

    def shutdown(self, how: int) -> None:
        if self.handed_off:
            raise OSError("the connection belongs to a stream thread")
        self.sock.shutdown(how)

    def close(self) -> None:
        if not self.handed_off:
            self.sock.close()


class StreamingSyncWorker(JsonErrorSyncWorker):
    """gunicorn's sync worker; job event streams run in threads of their own (see the module)."""

    def init_process(self) -> None:
        self._stream_threads: set[threading.Thread] = set()
        self._stream_lock = threading.Lock()
        super().init_process()

    def _config(self) -> Any:
        return getattr(self.wsgi, "extensions", {}).get(CONFIG_KEY)

    def handle(self, listener: Any, client: socket.socket, addr: Any) -> None:
        if self.cfg.is_ssl:  # gunicorn wraps the socket itself: no hand-off (see the module)
            super().handle(listener, client, addr)
            return
        super().handle(listener, _Connection(client), addr)

    def handle_request(self, listener: Any, req: Any, client: Any, addr: Any) -> None:
        if (
            not isinstance(client, _Connection)
            or req.method != "GET"
            or not STREAM_PATH.fullmatch(req.path or "")
        ):
            super().handle_request(listener, req, client, addr)
            return
        config = self._config()
        limit = config.streams_max_per_worker if config is not None else 1000
        with self._stream_lock:
            full = len(self._stream_threads) >= limit
            if not full:
                thread = threading.Thread(
                    target=self._serve_stream,
                    args=(listener, req, client.sock, addr),
                    name="event-stream",
                    daemon=True,
                )
                self._stream_threads.add(thread)
        if full:
            log.warning("stream refused: this worker's stream threads are all busy",
                        extra={"event": "stream_refused", "limit": limit})
            util.write_nonblock(client.sock, self._error_bytes(503, uuid.uuid4().hex))
            return
        client.handed_off = True
        thread.start()

    def _serve_stream(self, listener: Any, req: Any, sock: socket.socket, addr: Any) -> None:
        config = self._config()
        ping = config.streams_ping_seconds if config is not None else 15
        try:
            sock.settimeout(max(SEND_TIMEOUT_MIN_SECONDS, 2 * ping))
            super().handle_request(listener, req, sock, addr)
        except StopIteration:  # gunicorn's way of saying the connection is done with
            pass
        except OSError as exc:  # the client went away
            log.debug("stream connection closed: %s", type(exc).__name__)
        except BaseException as exc:  # before any byte was sent: the contract's error answer
            with contextlib.suppress(Exception):
                self.handle_error(req, sock, addr, exc)
        finally:
            util.close_graceful(sock)
            with self._stream_lock:
                self._stream_threads.discard(threading.current_thread())

    def run(self) -> None:
        try:
            super().run()
        finally:
            self._end_streams()

    def _end_streams(self) -> None:
        """End this process's open streams and give them a moment to send their last chunk."""
        from audiotricks.jobs.watch import end_streams

        if getattr(self, "wsgi", None) is None:
            return
        end_streams(self.wsgi)
        deadline = time.monotonic() + EXIT_GRACE_SECONDS
        with self._stream_lock:
            threads = list(self._stream_threads)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
