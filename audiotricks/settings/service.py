"""Settings and the API-key vault: read and change a user's preferences, store and read keys."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy.exc import IntegrityError

from audiotricks.errors import NotFound, StoredKeyUndecryptable
from audiotricks.extensions import db
from audiotricks.models import PROVIDERS, User, UserSettings, utcnow
from audiotricks.runtime import current_config
from audiotricks.security.crypto import DecryptionError, Keyring, associated_data

log = logging.getLogger(__name__)

KEYRING_KEY = "audiotricks.keyring"


def keyring() -> Keyring:
    """The app's keyring (current key plus old keys), built once from the configuration."""
    extensions = current_app.extensions
    if KEYRING_KEY not in extensions:
        config = current_config()
        extensions[KEYRING_KEY] = Keyring(
            config.encryption_key_bytes, config.encryption_old_key_bytes
        )
    ring: Keyring = extensions[KEYRING_KEY]
    return ring


@dataclass(frozen=True)
class KeyStatus:
    """What may be shown about a stored key: read from plain columns, never decrypted."""

    configured: bool
    last4: str | None
    updated_at: datetime | None


@dataclass(frozen=True)
class StoredKey:
    provider: str
    api_key: str
    last4: str
    updated_at: datetime

    def __repr__(self) -> str:  # the key stays out of tracebacks and debug output
        return f"<StoredKey {self.provider} ...{self.last4}>"


def encrypted_column(provider: str) -> str:
    return f"{provider}_key_encrypted"


def user_settings(user: User) -> UserSettings:
    """The user's settings row; created with the defaults if it is somehow missing."""
    settings = db.session.get(UserSettings, user.id)
    if settings is None:
        db.session.add(UserSettings(user_id=user.id))
        try:
            db.session.commit()
        except IntegrityError:  # a concurrent request created it first
            db.session.rollback()
        settings = db.session.get(UserSettings, user.id)
        assert settings is not None  # noqa: S101 - for mypy: the row exists now (ours or theirs)
    return settings


def key_status(settings: UserSettings, provider: str) -> KeyStatus:
    """The masked status of one provider's key."""
    return KeyStatus(
        configured=getattr(settings, encrypted_column(provider)) is not None,
        last4=getattr(settings, f"{provider}_key_last4"),
        updated_at=getattr(settings, f"{provider}_key_updated_at"),
    )


def key_statuses(settings: UserSettings) -> dict[str, KeyStatus]:
    return {provider: key_status(settings, provider) for provider in PROVIDERS}


def describe(settings: UserSettings) -> dict[str, Any]:
    """The Settings object of the contract, in the shape ``SettingsSchema`` dumps."""
    return {
        "preferred_language": settings.preferred_language,
        "summary_quality": settings.summary_quality,
        "settings_json": settings.settings_json,
        "api_keys": key_statuses(settings),
        "updated_at": settings.updated_at,
    }


def update_settings(user: User, changes: dict[str, Any]) -> UserSettings:
    """Apply the given preferences; those not given keep their value."""
    settings = user_settings(user)
    for name in ("preferred_language", "summary_quality", "settings_json"):
        if name in changes:
            setattr(settings, name, changes[name])
    settings.updated_at = utcnow()  # also when the values did not change: the user saved
    db.session.commit()
    return settings


def _log_event(message: str, event: str, user: User, provider: str) -> None:
    log.info(message, extra={"event": event, "user_id": str(user.id), "provider": provider})


def store_api_key(user: User, provider: str, api_key: str) -> KeyStatus:
    """Encrypt and store the key, replacing any earlier one."""
    settings = user_settings(user)
    now = utcnow()
    ciphertext = keyring().encrypt(api_key, associated_data(user.id, provider))
    setattr(settings, encrypted_column(provider), ciphertext)
    setattr(settings, f"{provider}_key_last4", api_key[-4:])
    setattr(settings, f"{provider}_key_updated_at", now)
    settings.updated_at = now
    db.session.commit()
    _log_event("api key stored", "api_key_stored", user, provider)
    return key_status(settings, provider)


def remove_api_key(user: User, provider: str) -> KeyStatus:
    """Forget the key; removing one that is not there is not an error."""
    settings = user_settings(user)
    if getattr(settings, encrypted_column(provider)) is not None:
        setattr(settings, encrypted_column(provider), None)
        setattr(settings, f"{provider}_key_last4", None)
        setattr(settings, f"{provider}_key_updated_at", None)
        settings.updated_at = utcnow()
        db.session.commit()
        _log_event("api key removed", "api_key_removed", user, provider)
    return key_status(settings, provider)


def read_api_key(user: User, provider: str) -> StoredKey:
    """The decrypted key; NotFound when none is stored, StoredKeyUndecryptable when it won't open."""
    settings = user_settings(user)
    ciphertext = getattr(settings, encrypted_column(provider))
    if ciphertext is None:
        raise NotFound("No API key stored for this provider")
    try:
        api_key = keyring().decrypt(ciphertext, associated_data(user.id, provider))
    except DecryptionError as exc:
        # The reason (unknown key id, tampering, ...) is for operators; the client gets one sentence.
        log.warning(
            "stored api key cannot be decrypted: %s",
            exc,
            extra={
                "event": "api_key_undecryptable",
                "user_id": str(user.id),
                "provider": provider,
                "reason": type(exc).__name__,
            },
        )
        raise StoredKeyUndecryptable() from None
    _log_event("api key read", "api_key_read", user, provider)
    status = key_status(settings, provider)
    return StoredKey(
        provider,
        api_key,
        status.last4 or api_key[-4:],
        status.updated_at or settings.updated_at,
    )
