"""ElevenLabs client for voices, key checks and speech: a plain class over ``httpx2``.

Why httpx2 and not the official ``elevenlabs`` SDK: the three calls we make (``GET /v1/voices``,
``GET /v1/user``, ``POST /v1/text-to-speech/{voice_id}``) are small JSON/HTTP calls, and the SDK
would add a dependency tree of its own (pydantic models regenerated with every API change, its own
retry layer we would have to switch off) for no gain. ``httpx2`` is already installed and pinned
as the OpenAI SDK's transport, so this module adds nothing to requirements.txt, and it lets the
worker stream the MP3 answer straight to a file.

Base URL from ``ELEVENLABS_BASE_URL`` (the API root: paths start with ``/v1``); the key goes in the
``xi-api-key`` header, and nowhere else.

Errors and retries, as the OpenAI client does them:

- 401 whose ``detail.status`` is ``quota_exceeded`` (how ElevenLabs reports used-up credit), or
  402: ``provider_quota`` at once.
- Other 401, and 403: ``provider_key_invalid`` at once.
- 429, 408, 409, 5xx, timeouts, connection errors, and a 200 whose body is not what the API
  documents (JSON for the reads, MP3 for speech): retried with exponential backoff and jitter, or
  after exactly the ``Retry-After`` asked for, while the time spent stays within ``retry_seconds``;
  then ``provider_unavailable``. ``should_continue()`` is asked before every retry and every second
  of a wait; ``False`` raises Canceled, so a canceled job makes no further call.
- Any other 4xx (an unknown voice, a model the server does not have): ``provider_unavailable``
  naming the status.

Log lines hold only the operation, status codes, attempt numbers and durations: never the key, a
body, or text to speak.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import quote

import httpx2

from audiotricks.audio.formats import SNIFF_BYTES, sniff_format
from audiotricks.providers.openai import PROVIDER_KEY_INVALID, PROVIDER_QUOTA
from audiotricks.providers.retry import (
    PROVIDER_UNAVAILABLE,
    Malformed,
    ProviderClient,
    ProviderError,
    Retry,
    retry_after,
)

log = logging.getLogger(__name__)

# httpx logs every request line at INFO, query strings included: keep it quiet.
logging.getLogger("httpx2").setLevel(logging.WARNING)

DEFAULT_BASE_URL = "https://api.elevenlabs.io"
DEFAULT_MODEL = "eleven_multilingual_v2"
# MP3 at 44.1 kHz, 128 kbit/s: what every plan may ask for, and what a browser plays and seeks.
OUTPUT_FORMAT = "mp3_44100_128"
# ElevenLabs' own limit for one request with eleven_multilingual_v2 is 10,000 characters; the
# contract sends at most 5,000.
TEXT_MAX_CHARS = 5_000
# No part of speech comes near this (5,000 characters are about 6 minutes, 6 MB); a server that
# sends more is misbehaving, and the disk is not its to fill.
AUDIO_MAX_BYTES = 64 * 1024 * 1024
ERROR_BODY_MAX_BYTES = 64 * 1024
VOICES_MAX = 1_000
VOICE_ID_MAX = 64
_CHUNK = 64 * 1024

T = TypeVar("T")


@dataclass(frozen=True)
class Voice:
    """One voice the account may use: the contract's ``Voice`` object."""

    voice_id: str
    name: str
    category: str | None
    preview_url: str | None


class _Retryable(Exception):
    """A status worth another try, with the wait the provider asked for, if anything."""

    def __init__(self, retry: Retry) -> None:
        super().__init__(retry.reason)
        self.retry = retry


class ElevenLabsClient(ProviderClient):
    """One user's ElevenLabs key, bound to a base URL, with one method per provider call."""

    def __init__(  # noqa: PLR0913 - every knob is a keyword set from config
        self,
        api_key: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        model: str = DEFAULT_MODEL,
        timeout: float = 30.0,
        speech_timeout: float = 300.0,
        retry_seconds: float = 600.0,
        should_continue: Callable[[], bool] = lambda: True,
        sleep: Callable[[float], None] = time.sleep,
        malformed_attempts: int = 3,
    ) -> None:
        super().__init__(
            "ElevenLabs",
            api_key,
            base_url.rstrip("/"),
            retry_seconds=retry_seconds,
            should_continue=should_continue,
            sleep=sleep,
            malformed_attempts=malformed_attempts,
            log=log,
        )
        self._model = model
        # Speech of 5,000 characters takes the provider a while; reads are quick.
        self._speech_timeout = httpx2.Timeout(max(timeout, speech_timeout), connect=10.0)
        self._http = httpx2.Client(
            base_url=self._base_url,
            headers={"xi-api-key": api_key},
            timeout=httpx2.Timeout(timeout, connect=10.0),
            follow_redirects=False,  # a redirect would carry the key header elsewhere
            trust_env=False,  # no proxy settings from the environment between us and the key
        )

    def close(self) -> None:
        self._http.close()

    # Calls

    def voices(self) -> list[Voice]:
        """The voices the key's account may use (premade, cloned, generated, library)."""

        def call() -> list[Voice]:
            response = self._http.get("/v1/voices")
            _raise_for_status(response.status_code, response.headers, response.content)
            return _parse_voices(_json(response.content))

        return self._with_retries("voices", call)

    def read_user(self) -> None:
        """Read the key's user: raises ProviderError when the key does not work."""

        def call() -> None:
            response = self._http.get("/v1/user")
            _raise_for_status(response.status_code, response.headers, response.content)
            if not isinstance(_json(response.content), dict):
                raise Malformed

        self._with_retries("user", call)

    def speak(self, text: str, voice_id: str, path: str) -> int:
        """Speak ``text`` (at most TEXT_MAX_CHARS) with ``voice_id``; the MP3 is written to ``path``.

        Streamed to the file as it arrives; returns its size. A retry starts the file over.
        """
        if not text.strip() or len(text) > TEXT_MAX_CHARS:
            raise ValueError(f"text must be 1 to {TEXT_MAX_CHARS} characters")
        if not voice_id:
            raise ValueError("voice_id is required")
        target = f"/v1/text-to-speech/{quote(voice_id, safe='')}"
        body = {"text": text, "model_id": self._model}

        def call() -> int:
            with self._http.stream(
                "POST",
                target,
                params={"output_format": OUTPUT_FORMAT},
                json=body,
                headers={"Accept": "audio/mpeg"},
                timeout=self._speech_timeout,
            ) as response:
                if response.status_code != 200:
                    head = _read_bounded(response, ERROR_BODY_MAX_BYTES)
                    _raise_for_status(response.status_code, response.headers, head)
                return _save_mp3(response, path)

        return self._with_retries("speech", call)

    # Retries

    def _with_retries(self, operation: str, call: Callable[[], T]) -> T:
        def classify(exc: Exception) -> Retry | None:
            if isinstance(exc, _Retryable):
                return exc.retry
            if isinstance(exc, httpx2.TimeoutException):
                return Retry("timeout")
            if isinstance(exc, httpx2.TransportError):
                return Retry("connection error")
            return None

        return self._retrier.run(operation, call, classify)


def _detail_status(content: bytes) -> str | None:
    """``detail.status`` of an ElevenLabs error body (``{"detail": {"status", "message"}}``)."""
    try:
        data = json.loads(content)
    except (ValueError, UnicodeDecodeError):
        return None
    detail = data.get("detail") if isinstance(data, dict) else None
    status = detail.get("status") if isinstance(detail, dict) else None
    return status if isinstance(status, str) else None


def _raise_for_status(status: int, headers: Any, content: bytes) -> None:
    """Nothing for a 200; _Retryable for a status worth another try; ProviderError otherwise."""
    if status == 200:
        return
    detail = _detail_status(content)
    if status == 402 or (status == 401 and detail == "quota_exceeded"):
        raise ProviderError(
            PROVIDER_QUOTA, "The ElevenLabs account has no credit left.", status=status
        ) from None
    if status in {401, 403}:
        message = (
            "ElevenLabs rejected the API key."
            if status == 401
            else "ElevenLabs refused access with this API key."
        )
        raise ProviderError(PROVIDER_KEY_INVALID, message, status=status) from None
    if status in {408, 409, 429} or status >= 500:
        raise _Retryable(Retry(f"status {status}", retry_after(headers)))
    if detail == "voice_not_found" or status == 404:
        raise ProviderError(
            PROVIDER_UNAVAILABLE, "ElevenLabs does not know this voice.", status=status
        ) from None
    raise ProviderError(
        PROVIDER_UNAVAILABLE,
        f"ElevenLabs refused the request (HTTP {status}); check the model name and base URL.",
        status=status,
    ) from None


def _read_bounded(response: httpx2.Response, limit: int) -> bytes:
    """At most ``limit`` bytes of a streamed body (an error body: small, but not ours to trust)."""
    head = b""
    for chunk in response.iter_bytes(_CHUNK):
        head += chunk
        if len(head) >= limit:
            break
    return head[:limit]


def _save_mp3(response: httpx2.Response, path: str) -> int:
    """Write the streamed answer to ``path``; Malformed unless it is MP3 of a sane size."""
    size = 0
    with open(path, "wb") as out:
        for chunk in response.iter_bytes(_CHUNK):
            size += len(chunk)
            if size > AUDIO_MAX_BYTES:
                raise Malformed
            out.write(chunk)
    with open(path, "rb") as written:
        head = written.read(SNIFF_BYTES)
    if size == 0 or sniff_format(head) != "mp3":
        os.remove(path)
        raise Malformed
    return size


def _json(content: bytes) -> Any:
    try:
        return json.loads(content)
    except (ValueError, UnicodeDecodeError):
        raise Malformed from None


def _text(value: Any, limit: int) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    return value.strip()[:limit]


def _parse_voices(data: Any) -> list[Voice]:
    """The ``voices`` array; entries without an id or a name are dropped, not fatal."""
    if not isinstance(data, dict) or not isinstance(data.get("voices"), list):
        raise Malformed
    voices = []
    for item in data["voices"][:VOICES_MAX]:
        if not isinstance(item, dict):
            continue
        voice_id, name = _text(item.get("voice_id"), VOICE_ID_MAX + 1), _text(item.get("name"), 200)
        if voice_id is None or len(voice_id) > VOICE_ID_MAX or name is None:
            continue  # an id we would have to cut could never be spoken with
        preview = _text(item.get("preview_url"), 2048)
        voices.append(
            Voice(
                voice_id=voice_id,
                name=name,
                category=_text(item.get("category"), 64),
                # Only a web link: a page plays it, so nothing else may get through.
                preview_url=preview if preview and preview.startswith("https://") else None,
            )
        )
    return voices
