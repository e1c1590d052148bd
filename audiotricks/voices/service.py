"""Voices: the ElevenLabs voices of a user, through the stored key, cached for 10 minutes.

The cache is Flask-Caching's: Redis when CACHE_URL is set (every process and instance shares the
lists, and storing a key on one instance drops the list for all), an in-process SimpleCache
otherwise. Entries are keyed by the user's id only (never by anything of the key) and hold a
fingerprint of the stored key's ciphertext: a list fetched with another key than the one stored
now is a miss, so even an in-process cache that missed the drop (another gunicorn worker) never
serves a list read with a replaced or removed key. Storing or deleting the ElevenLabs key drops
the entry. The cache is a convenience: when it fails, the list comes from the provider.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from typing import Any

from cachelib.serializers import RedisSerializer
from flask import Flask
from flask_caching import Cache
from flask_caching.backends.rediscache import RedisCache

from audiotricks.config import Config
from audiotricks.errors import Conflict, NotFound
from audiotricks.models import User
from audiotricks.providers.elevenlabs import ElevenLabsClient
from audiotricks.providers.openai import PROVIDER_KEY_INVALID
from audiotricks.providers.retry import ProviderError
from audiotricks.runtime import current_config
from audiotricks.settings.checks import (
    CHECK_TIMEOUT_SECONDS,
    ProviderRequestFailed,
    note_rejected_key,
)
from audiotricks.settings.service import read_api_key, user_settings

log = logging.getLogger(__name__)

cache = Cache()
VOICES_TTL_SECONDS = 600
CACHE_KEY_PREFIX = "audiotricks:cache:"


class NoElevenLabsKey(Conflict):
    message = "No ElevenLabs API key stored"


class _JsonSerializer(RedisSerializer):
    """JSON instead of cachelib's pickle: whoever can write to the shared Redis must not be able
    to make a web process unpickle something of theirs. Anything unreadable is a miss."""

    def dumps(self, value: Any, protocol: int | None = None) -> bytes:
        return json.dumps(value, separators=(",", ":")).encode()

    def loads(self, value: bytes | None) -> Any:
        if value is None:
            return None
        try:
            return json.loads(value)
        except (ValueError, UnicodeDecodeError):
            return None


class JsonRedisCache(RedisCache):
    """Flask-Caching's Redis backend, storing JSON."""

    serializer = _JsonSerializer()


def init_cache(app: Flask, config: Config) -> None:
    """Bind the cache to ``app``: Redis at CACHE_URL, or an in-process SimpleCache."""
    settings: dict[str, Any] = {
        "CACHE_DEFAULT_TIMEOUT": VOICES_TTL_SECONDS,
        "CACHE_KEY_PREFIX": CACHE_KEY_PREFIX,
    }
    if config.cache_url:
        settings.update(
            CACHE_TYPE=f"{__name__}.JsonRedisCache",
            CACHE_REDIS_URL=config.cache_url,
            # Bounded waits: an unreachable Redis costs a request seconds, then the provider
            # answers instead.
            CACHE_OPTIONS={"socket_connect_timeout": 2, "socket_timeout": 2},
        )
    else:
        settings.update(CACHE_TYPE="SimpleCache", CACHE_THRESHOLD=10_000)
    cache.init_app(app, config=settings)


def _entry_key(user_id: uuid.UUID) -> str:
    return f"voices:{user_id}"


def _fingerprint(ciphertext: str) -> str:
    """Names the stored key without revealing anything of it (a hash of its ciphertext)."""
    return hashlib.sha256(ciphertext.encode()).hexdigest()[:32]


def _cache_call(what: str, call: Any) -> Any:
    try:
        return call()
    except Exception as exc:  # the cache is an optimisation: carry on without it
        log.warning(
            "voices cache %s failed: %s", what, type(exc).__name__, extra={"event": "cache_failed"}
        )
        return None


def forget_voices(user_id: uuid.UUID) -> None:
    """Drop the user's cached list (their ElevenLabs key was stored or removed)."""
    _cache_call("delete", lambda: cache.delete(_entry_key(user_id)))


def list_voices(user: User) -> list[dict[str, Any]]:
    """The user's voices as the contract shows them, from the cache or from ElevenLabs."""
    ciphertext = user_settings(user.id).elevenlabs_key_encrypted
    if ciphertext is None:
        raise NoElevenLabsKey()
    fingerprint = _fingerprint(ciphertext)
    cached = _cache_call("read", lambda: cache.get(_entry_key(user.id)))
    if isinstance(cached, dict) and cached.get("key") == fingerprint:
        voices: list[dict[str, Any]] = cached["voices"]
        return voices
    try:
        stored = read_api_key(user.id, "elevenlabs")
    except NotFound:  # removed since the settings row was read
        raise NoElevenLabsKey() from None
    config = current_config()
    try:
        with ElevenLabsClient(
            stored.api_key,
            base_url=config.elevenlabs_base_url,
            timeout=CHECK_TIMEOUT_SECONDS,
            retry_seconds=0,
        ) as client:
            found = client.voices()
    except ProviderError as error:
        if error.code == PROVIDER_KEY_INVALID:  # shown as valid: false in the key's status
            note_rejected_key(user.id, "elevenlabs", stored.ciphertext)
        raise ProviderRequestFailed() from None
    voices = [
        {
            "voice_id": voice.voice_id,
            "name": voice.name,
            "category": voice.category,
            "preview_url": voice.preview_url,
        }
        for voice in found
    ]
    entry = {"key": _fingerprint(stored.ciphertext), "voices": voices}
    _cache_call("write", lambda: cache.set(_entry_key(user.id), entry, timeout=VOICES_TTL_SECONDS))
    return voices
