"""A WSGI app served on a free loopback port in a thread: the base of the provider stand-ins."""

from __future__ import annotations

import threading
from typing import Any, Self

from werkzeug.serving import make_server


class LoopbackServer:
    """Serves ``self._app`` on 127.0.0.1; ``address`` is ``http://127.0.0.1:<port>``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stopping = threading.Event()  # set on stop: slow answers end early
        self._server = make_server("127.0.0.1", 0, self._app, threaded=True)
        self.address = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def _app(self, environ: dict[str, Any], start_response: Any) -> Any:
        raise NotImplementedError

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
