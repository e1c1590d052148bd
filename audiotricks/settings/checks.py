"""Asking a provider whether a stored key works, and remembering the answer with the key.

A check runs in the web request (``POST /settings/api-keys/<provider>/verify``): one attempt with
a short timeout, no retries, so a slow provider costs the caller seconds, not a worker for
minutes. The answer is written only while the row still holds the key that was checked (the
UPDATE is conditioned on its ciphertext): a check racing a key replacement never marks the new
key with the old key's result. Jobs whose provider rejects a key record ``valid: false`` the
same way.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime

from audiotricks.errors import ApiError, Conflict
from audiotricks.extensions import db
from audiotricks.models import User
from audiotricks.providers.elevenlabs import ElevenLabsClient
from audiotricks.providers.openai import PROVIDER_KEY_INVALID, PROVIDER_QUOTA, OpenAIClient
from audiotricks.providers.retry import ProviderError
from audiotricks.runtime import current_config
from audiotricks.settings.service import read_api_key, record_key_check

log = logging.getLogger(__name__)

CHECK_TIMEOUT_SECONDS = 10.0


class ProviderRequestFailed(ApiError):
    """The provider could not be reached, or failed (5xx, timeout): nothing can be said."""

    status = 502
    message = "Provider request failed"


class KeyChangedDuringCheck(Conflict):
    message = "The API key changed while it was checked; check again"


@dataclass(frozen=True)
class KeyCheck:
    provider: str
    valid: bool
    checked_at: datetime


def _ask_provider(provider: str, api_key: str) -> None:
    """One call that needs a working key; ProviderError when it did not work."""
    config = current_config()
    if provider == "openai":
        with OpenAIClient(
            api_key, base_url=config.openai_base_url, timeout=CHECK_TIMEOUT_SECONDS, retry_seconds=0
        ) as openai_client:
            openai_client.list_models()
    else:
        with ElevenLabsClient(
            api_key,
            base_url=config.elevenlabs_base_url,
            timeout=CHECK_TIMEOUT_SECONDS,
            retry_seconds=0,
        ) as elevenlabs_client:
            elevenlabs_client.read_user()


def verify_key(user: User, provider: str) -> KeyCheck:
    """Check the stored key with its provider and record the answer.

    A key the provider accepts but whose account has no credit left is valid (it authenticates).
    NotFound when no key is stored; ProviderRequestFailed when the provider gave no answer about
    the key; KeyChangedDuringCheck when the key was replaced or removed meanwhile.
    """
    stored = read_api_key(user.id, provider)
    try:
        _ask_provider(provider, stored.api_key)
        valid = True
    except ProviderError as error:
        if error.code == PROVIDER_KEY_INVALID:
            valid = False
        elif error.code == PROVIDER_QUOTA:
            valid = True
        else:
            raise ProviderRequestFailed() from None
    checked_at = record_key_check(user.id, provider, stored.ciphertext, valid)
    if checked_at is None:
        raise KeyChangedDuringCheck()
    return KeyCheck(provider, valid, checked_at)


def note_rejected_key(user_id: uuid.UUID, provider: str, ciphertext: str) -> None:
    """A job's provider rejected the key stored as ``ciphertext``: show it as invalid.

    Best effort: the job fails with provider_key_invalid whether or not this is written.
    """
    try:
        record_key_check(user_id, provider, ciphertext, False)
    except Exception as exc:
        db.session.rollback()
        log.warning(
            "key check not recorded: %s",
            type(exc).__name__,
            extra={"event": "api_key_check_not_recorded", "provider": provider},
        )
