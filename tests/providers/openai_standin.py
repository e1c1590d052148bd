"""A stand-in OpenAI server on loopback, speaking the documented wire format, for tests.

It serves ``POST /v1/audio/transcriptions`` (multipart), ``POST /v1/chat/completions`` and
``GET /v1/models``; checks that ``Authorization`` is exactly ``Bearer <key>``; refuses a request
body over 25 MB (26,214,400 bytes) with OpenAI's 413; decodes the audio it receives with PyAV and
answers ``verbose_json`` with one segment per 10 seconds of the real duration, each segment's text
naming its times (``"segment 0.0-10.0 of 34.5"``), so tests can check offsets after joining.

Failures are queued per endpoint (``transcriptions``, ``chat``, ``models``) and used up one per
request: ``401``, ``403``, ``429`` (with ``Retry-After``), ``quota`` (429 insufficient_quota),
``500``, ``400`` (OpenAI's invalid-file answer), ``slow`` (sleep, then answer normally) and
``malformed`` (200 with a body that is not JSON). Every request is recorded, with the
``Authorization`` value reduced to whether it matched.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import av
import av.error
from werkzeug.wrappers import Request, Response

from tests.providers.loopback import LoopbackServer

OPENAI_MAX_BYTES = 26_214_400
SEGMENT_SECONDS = 10.0
ENDPOINTS = {
    "/v1/audio/transcriptions": "transcriptions",
    "/v1/chat/completions": "chat",
    "/v1/models": "models",
}
WHISPER_NAMES = {"en": "english", "de": "german", "fr": "french", "es": "spanish"}
_LANGUAGE_MARK = re.compile(r"ISO 639-1 code: ([a-z]{2})")
_TIME_MARK = re.compile(r"^\[(\d{1,9}(?:\.\d{1,3})?)\]", re.MULTILINE)


@dataclass
class Failure:
    """One queued failure: ``kind`` as in the module docstring; ``seconds`` for slow / Retry-After."""

    kind: str
    seconds: float = 1.0
    retry_after_ms: float | None = None


@dataclass
class Received:
    """What one request carried (never the Authorization value itself)."""

    endpoint: str
    method: str
    at: float
    auth_matched: bool
    auth_present: bool
    headers: dict[str, str]
    fields: dict[str, list[str]] = field(default_factory=dict)
    file_name: str | None = None
    file_size: int | None = None
    body_size: int = 0
    json: Any = None


def _error(status: int, message: str, err_type: str, code: str | None = None,
           headers: dict[str, str] | None = None) -> Response:
    body = {"error": {"message": message, "type": err_type, "param": None, "code": code}}
    return Response(json.dumps(body), status=status, headers=headers,
                    content_type="application/json")


class OpenAIStandIn(LoopbackServer):
    """The server; ``base_url`` is what the client is given. Start with ``start()``."""

    def __init__(self, key: str, *, max_bytes: int = OPENAI_MAX_BYTES) -> None:
        self.key = key
        self.max_bytes = max_bytes
        self.received: list[Received] = []
        self.failures: dict[str, deque[Failure]] = {name: deque() for name in ENDPOINTS.values()}
        self.summary_reply: Any = None  # when set, the chat answer's content (JSON-encoded unless str)
        self.no_speech = False  # when set, transcriptions hear nothing (Whisper on silence: "")
        super().__init__()
        self.base_url = f"{self.address}/v1"

    def fail(self, endpoint: str, kind: str, *, times: int = 1, seconds: float = 1.0,
             retry_after_ms: float | None = None) -> None:
        """Queue ``times`` failures of ``kind`` for the next requests to ``endpoint``."""
        for _ in range(times):
            self.failures[endpoint].append(Failure(kind, seconds, retry_after_ms))

    def requests_to(self, endpoint: str) -> list[Received]:
        with self._lock:
            return [item for item in self.received if item.endpoint == endpoint]

    # WSGI

    def _app(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        request.max_form_memory_size = None
        try:
            response = self._handle(request)
        finally:
            request.close()  # spooled file parts
        return response(environ, start_response)

    def _handle(self, request: Request) -> Response:
        endpoint = ENDPOINTS.get(request.path)
        expected_method = "GET" if endpoint == "models" else "POST"
        if endpoint is None or request.method != expected_method:
            return _error(404, "Unknown request URL.", "invalid_request_error", "unknown_url")
        auth = request.headers.get("Authorization")
        record = Received(
            endpoint=endpoint,
            method=request.method,
            at=time.monotonic(),
            auth_matched=auth == f"Bearer {self.key}",
            auth_present=auth is not None,
            headers={k: v for k, v in request.headers.items() if k.lower() != "authorization"},
            body_size=request.content_length or 0,
        )
        too_large = (request.content_length or 0) > self.max_bytes
        if endpoint == "transcriptions" and not too_large:
            record.fields = {key: request.form.getlist(key) for key in request.form}
            upload = request.files.get("file")
            if upload is not None:
                record.file_name = upload.filename
                upload.stream.seek(0, 2)
                record.file_size = upload.stream.tell()
                upload.stream.seek(0)
        elif endpoint == "chat":
            record.json = request.get_json(silent=True)
        else:
            request.get_data()  # read the body whole, so the connection is answered cleanly
        with self._lock:
            self.received.append(record)
            failure = self.failures[endpoint].popleft() if self.failures[endpoint] else None
        refusal = self._refusal(record, failure, request)
        if refusal is not None:
            return refusal
        if endpoint == "transcriptions":
            return self._transcription(request)
        if endpoint == "chat":
            return self._chat(record.json)
        return Response(json.dumps({"object": "list", "data": [
            {"id": "whisper-1", "object": "model", "created": 1677532384, "owned_by": "openai-internal"},
            {"id": "gpt-4o-mini", "object": "model", "created": 1721172741, "owned_by": "system"},
        ]}), content_type="application/json")

    def _refusal(self, record: Received, failure: Failure | None, request: Request) -> Response | None:
        """A wrong key, a queued failure, or a body over the limit, in that order."""
        if not record.auth_matched:
            return _error(401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key")
        if failure is not None:
            response = self._failure(failure)
            if response is not None:
                return response
        if record.body_size > self.max_bytes:
            return _error(
                413,
                f"Maximum content size limit ({self.max_bytes}) exceeded "
                f"({request.content_length} bytes read)",
                "server_error",
            )
        return None

    def _failure(self, failure: Failure) -> Response | None:
        """The answer a queued failure gives, or None to answer normally (after a slow wait)."""
        if failure.kind == "slow":
            self._stopping.wait(failure.seconds)
            return None
        headers = {"Retry-After": f"{failure.seconds:g}"}
        if failure.retry_after_ms is not None:
            headers["retry-after-ms"] = f"{failure.retry_after_ms:g}"
        canned = {
            "malformed": lambda: Response("<html>upstream hiccup</html>", status=200,
                                          content_type="application/json"),
            "401": lambda: _error(401, "Incorrect API key provided.", "invalid_request_error",
                                  "invalid_api_key"),
            "403": lambda: _error(403, "You are not allowed to sample from this model",
                                  "invalid_request_error"),
            "429": lambda: _error(429, "Rate limit reached for requests.", "requests",
                                  "rate_limit_exceeded", headers=headers),
            "quota": lambda: _error(429, "You exceeded your current quota, please check your plan "
                                    "and billing details.", "insufficient_quota", "insufficient_quota"),
            "500": lambda: _error(500, "The server had an error while processing your request.",
                                  "server_error"),
            "400": lambda: _error(400, "Invalid file format. Supported formats: ['flac', 'm4a', "
                                  "'mp3', 'mp4', 'mpeg', 'mpga', 'oga', 'ogg', 'wav', 'webm']",
                                  "invalid_request_error"),
        }
        return canned[failure.kind]()

    def _transcription(self, request: Request) -> Response:
        upload = request.files.get("file")
        if upload is None or not request.form.get("model"):
            return _error(400, "Missing required parameter.", "invalid_request_error")
        try:
            with av.open(upload.stream, mode="r") as container:
                stream = container.streams.audio[0]
                samples = 0
                for frame in container.decode(stream):
                    samples += frame.samples
                duration = samples / stream.rate
        except (av.error.FFmpegError, IndexError, ZeroDivisionError):
            return _error(400, "Audio file might be corrupted or unsupported", "invalid_request_error",
                          "invalid_value")
        segments = []
        start = duration if self.no_speech else 0.0
        while start < duration:
            end = min(duration, start + SEGMENT_SECONDS)
            segments.append({
                "id": len(segments), "seek": 0, "start": round(start, 3), "end": round(end, 3),
                "text": f" segment {start:.1f}-{end:.1f} of {duration:.1f}", "tokens": [],
                "temperature": 0.0, "avg_logprob": -0.2, "compression_ratio": 1.2, "no_speech_prob": 0.01,
            })
            start = end
        language = request.form.get("language") or "en"
        body = {
            "task": "transcribe",
            "language": WHISPER_NAMES.get(language, language),
            "duration": round(duration, 3),
            "text": "".join(segment["text"] for segment in segments).strip(),
            "segments": segments,
            "usage": {"type": "duration", "seconds": math.ceil(duration)},
        }
        return Response(json.dumps(body), content_type="application/json")

    def _chat(self, body: Any) -> Response:
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            return _error(400, "Invalid request body.", "invalid_request_error")
        messages = body["messages"]
        system = next((m.get("content", "") for m in messages if m.get("role") == "system"), "")
        user = next((m.get("content", "") for m in messages if m.get("role") == "user"), "")
        if self.summary_reply is not None:
            content = self.summary_reply if isinstance(self.summary_reply, str) else json.dumps(
                self.summary_reply)
        else:
            match = _LANGUAGE_MARK.search(system)
            language = match.group(1) if match else "unknown"
            times = [float(mark) for mark in _TIME_MARK.findall(user)][:5]
            content = json.dumps({
                "summary": f"Summary in {language} of {len(user)} characters.",
                "takeaways": [f"Takeaway {n} in {language}" for n in (1, 2, 3)],
                "key_moments": [
                    {"timestamp": at, "title": f"Moment at {at:g}", "description": "Something happens.",
                     "importance": "high" if n == 0 else "medium"}
                    for n, at in enumerate(times)
                ],
            })
        answer = {
            "id": "chatcmpl-standin", "object": "chat.completion", "created": int(time.time()),
            "model": body.get("model"),
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": content, "refusal": None}}],
            "usage": {"prompt_tokens": (len(system) + len(user)) // 4, "completion_tokens": len(content) // 4,
                      "total_tokens": (len(system) + len(user) + len(content)) // 4},
        }
        return Response(json.dumps(answer), content_type="application/json")
