"""A stand-in ElevenLabs server on loopback, speaking the documented wire format, for tests.

It serves ``GET /v1/voices``, ``GET /v1/user`` and ``POST /v1/text-to-speech/{voice_id}``;
checks that ``xi-api-key`` is exactly the key it was given (ElevenLabs answers anything else with
``401 {"detail": {"status": "invalid_api_key", ...}}``); refuses text over 10,000 characters
(``400 text_too_long``) and unknown voices (``404 voice_not_found``); and answers speech with real
MP3 bytes made by PyAV (tests/audio_files.py): a tone whose length follows the text (0.01 s a
character, at least a quarter of a second), so tests can check the joined file's duration.

Failures are queued per endpoint (``voices``, ``user``, ``speech``) and used up one per request:
``401``, ``quota`` (ElevenLabs' 401 with ``detail.status`` ``quota_exceeded``), ``429`` (with
``Retry-After``), ``500``, ``slow`` (sleep, then answer normally) and ``malformed`` (200 with a
body that is not what the API documents). Every request is recorded, with the key reduced to
whether it matched.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from werkzeug.wrappers import Request, Response

from tests.audio_files import make_audio
from tests.providers.loopback import LoopbackServer
from tests.providers.openai_standin import Failure

TEXT_LIMIT = 10_000
SECONDS_PER_CHARACTER = 0.01
VOICES = [
    {
        "voice_id": "21m00Tcm4TlvDq8ikWAM",
        "name": "Rachel",
        "category": "premade",
        "preview_url": "https://storage.example/voices/21m00Tcm4TlvDq8ikWAM/preview.mp3",
        "labels": {"accent": "american"},
        "settings": None,
    },
    {
        "voice_id": "AZnzlk1XvdvUeBnXmlld",
        "name": "Domi",
        "category": "premade",
        "preview_url": "https://storage.example/voices/AZnzlk1XvdvUeBnXmlld/preview.mp3",
        "labels": {},
        "settings": None,
    },
    {
        "voice_id": "cl0nedV01ce000000001",
        "name": "My clone",
        "category": "cloned",
        "preview_url": None,
        "labels": {},
        "settings": None,
    },
]
_MP3_CACHE: dict[float, bytes] = {}


def mp3_bytes(seconds: float) -> bytes:
    """A real MP3 (libmp3lame, 44.1 kHz) of a tone ``seconds`` long, rounded to 50 ms."""
    length = round(max(seconds, 0.05) * 20) / 20
    if length not in _MP3_CACHE:
        with tempfile.TemporaryDirectory() as folder:
            path = make_audio(os.path.join(folder, "speech.mp3"), seconds=length, fmt="mp3",
                              kind="tone", sample_rate=44_100)
            with open(path, "rb") as handle:
                _MP3_CACHE[length] = handle.read()
    return _MP3_CACHE[length]


def _error(status: int, detail_status: str, message: str,
           headers: dict[str, str] | None = None) -> Response:
    body = {"detail": {"status": detail_status, "message": message}}
    return Response(json.dumps(body), status=status, headers=headers,
                    content_type="application/json")


@dataclass
class Received:
    """What one request carried (never the key itself)."""

    endpoint: str
    method: str
    path: str
    at: float
    key_matched: bool
    key_present: bool
    query: dict[str, str]
    json: Any = None


class ElevenLabsStandIn(LoopbackServer):
    """The server; ``base_url`` is what the client is given. Start with ``start()``."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.received: list[Received] = []
        self.failures: dict[str, deque[Failure]] = {
            name: deque() for name in ("voices", "user", "speech")
        }
        self.voices: list[dict[str, Any]] = [dict(voice) for voice in VOICES]
        super().__init__()
        self.base_url = self.address

    def fail(self, endpoint: str, kind: str, *, times: int = 1, seconds: float = 1.0) -> None:
        for _ in range(times):
            self.failures[endpoint].append(Failure(kind, seconds))

    def requests_to(self, endpoint: str) -> list[Received]:
        with self._lock:
            return [item for item in self.received if item.endpoint == endpoint]

    # WSGI

    def _app(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        return self._handle(request)(environ, start_response)

    def _route(self, request: Request) -> tuple[str, str | None] | None:
        if request.method == "GET" and request.path == "/v1/voices":
            return "voices", None
        if request.method == "GET" and request.path == "/v1/user":
            return "user", None
        prefix = "/v1/text-to-speech/"
        if request.method == "POST" and request.path.startswith(prefix):
            return "speech", request.path[len(prefix):]
        return None

    def _handle(self, request: Request) -> Response:
        route = self._route(request)
        if route is None:
            return Response(json.dumps({"detail": "Not Found"}), status=404,
                            content_type="application/json")
        endpoint, voice_id = route
        key = request.headers.get("xi-api-key")
        record = Received(
            endpoint=endpoint,
            method=request.method,
            path=request.path,
            at=time.monotonic(),
            key_matched=key == self.key,
            key_present=key is not None,
            query=dict(request.args),
            json=request.get_json(silent=True) if endpoint == "speech" else None,
        )
        with self._lock:
            self.received.append(record)
            failure = self.failures[endpoint].popleft() if self.failures[endpoint] else None
        if failure is not None and failure.kind == "slow":  # slow whatever the answer
            self._stopping.wait(failure.seconds)
            failure = None
        if not record.key_matched:
            return _error(401, "invalid_api_key", "Invalid API key")
        if failure is not None:
            return self._failure(failure, endpoint)
        if endpoint == "voices":
            return Response(json.dumps({"voices": self.voices}), content_type="application/json")
        if endpoint == "user":
            return Response(json.dumps({
                "subscription": {"tier": "starter", "character_count": 1200,
                                 "character_limit": 30000, "status": "active"},
                "is_new_user": False,
                "can_use_delayed_payment_methods": False,
            }), content_type="application/json")
        return self._speech(voice_id or "", record.json)

    def _failure(self, failure: Failure, endpoint: str) -> Response:
        canned = {
            "malformed": lambda: Response(
                "<html>upstream hiccup</html>", status=200,
                content_type="audio/mpeg" if endpoint == "speech" else "application/json"),
            "401": lambda: _error(401, "invalid_api_key", "Invalid API key"),
            "quota": lambda: _error(
                401, "quota_exceeded",
                "This request exceeds your quota of 10000. You have 0 credits remaining, "
                "while 91 credits are required for this request."),
            "429": lambda: _error(429, "too_many_concurrent_requests",
                                  "Too many concurrent requests.",
                                  headers={"Retry-After": f"{failure.seconds:g}"}),
            "500": lambda: _error(500, "internal_server_error", "An internal error occurred."),
        }
        return canned[failure.kind]()

    def _speech(self, voice_id: str, body: Any) -> Response:
        if voice_id not in {voice["voice_id"] for voice in self.voices}:
            return _error(404, "voice_not_found", "A voice with the voice_id was not found.")
        if not isinstance(body, dict) or not isinstance(body.get("text"), str):
            return Response(json.dumps({"detail": [{"loc": ["body", "text"],
                                                    "msg": "field required"}]}),
                            status=422, content_type="application/json")
        text = body["text"]
        if len(text) > TEXT_LIMIT:
            return _error(400, "text_too_long", "Text is too long.")
        seconds = max(0.25, len(text) * SECONDS_PER_CHARACTER)
        return Response(mp3_bytes(seconds), content_type="audio/mpeg")
