"""Settings and the API-key vault: read and change a user's preferences, store and read keys."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from flask import current_app
from sqlalchemy import CursorResult, update
from sqlalchemy.exc import IntegrityError

from audiotricks.errors import InvalidSession, NotFound, StoredKeyUndecryptable
from audiotricks.extensions import db
from audiotricks.models import PROVIDERS, User, UserSettings, utcnow
from audiotricks.runtime import current_config
from audiotricks.security.crypto import DecryptionError, Keyring, associated_data

log = logging.getLogger(__name__)

KEYRING_KEY = "audiotricks.keyring"
PREFERENCES = ("preferred_language", "summary_quality", "settings_json")

# A settings row to read from: the ORM object, or the plain values a session check read.
SettingsRow = UserSettings | SimpleNamespace


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
    valid: bool | None = None  # the last check's answer; None: never checked
    checked_at: datetime | None = None


@dataclass(frozen=True)
class StoredKey:
    provider: str
    api_key: str
    last4: str
    updated_at: datetime
    # The stored form this key was read from: a check's result is written only while the row
    # still holds it (see record_key_check).
    ciphertext: str = field(default="", repr=False)

    def __repr__(self) -> str:  # the key stays out of tracebacks and debug output
        return f"<StoredKey {self.provider} ...{self.last4}>"


def encrypted_column(provider: str) -> str:
    return f"{provider}_key_encrypted"


def user_settings(user_id: uuid.UUID) -> UserSettings:
    """The settings row of the user ``user_id``; created with the defaults if it is missing."""
    settings = db.session.get(UserSettings, user_id)
    if settings is None:
        db.session.add(UserSettings(user_id=user_id))
        try:
            db.session.commit()
        except IntegrityError:  # a concurrent request created it first, or the account is gone
            db.session.rollback()
        settings = db.session.get(UserSettings, user_id)
        if settings is None:
            # The foreign key refused the row: the account was deleted by a concurrent request.
            raise InvalidSession()
    return settings


def key_status(settings: SettingsRow, provider: str) -> KeyStatus:
    """The masked status of one provider's key."""
    return KeyStatus(
        configured=getattr(settings, encrypted_column(provider)) is not None,
        last4=getattr(settings, f"{provider}_key_last4"),
        updated_at=getattr(settings, f"{provider}_key_updated_at"),
        valid=getattr(settings, f"{provider}_key_valid"),
        checked_at=getattr(settings, f"{provider}_key_checked_at"),
    )


def key_statuses(settings: SettingsRow) -> dict[str, KeyStatus]:
    return {provider: key_status(settings, provider) for provider in PROVIDERS}


def describe(settings: SettingsRow) -> dict[str, Any]:
    """The Settings object of the contract, in the shape ``SettingsSchema`` dumps."""
    return {
        "preferred_language": settings.preferred_language,
        "summary_quality": settings.summary_quality,
        "settings_json": settings.settings_json,
        "api_keys": key_statuses(settings),
        "updated_at": settings.updated_at,
    }


def _write(settings: UserSettings, values: dict[str, Any], *where: Any) -> int:
    """Write ``values`` to the settings row in one UPDATE and commit; rows changed (0 or 1).

    Every given column is written, whatever the row held when this request read it: the ORM's
    unit of work would send only the columns that differ from that read, so two requests racing
    could each write part of their values and leave a row neither of them chose (one key's
    ciphertext with the other key's last4). One statement also keeps the columns of a write
    together: another request sees all of them or none.
    """
    result: CursorResult[Any] = db.session.execute(  # type: ignore[assignment]
        update(UserSettings)
        .where(UserSettings.user_id == settings.user_id, *where)
        .values(values)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    db.session.expire(settings)  # the next read of it sees what is stored now
    return int(result.rowcount)


def _write_existing(settings: UserSettings, values: dict[str, Any]) -> None:
    """:func:`_write` to a row that must exist: it was there at the start of the request, so
    if it is gone the account was deleted meanwhile and this session is no longer valid."""
    if _write(settings, values) == 0:
        raise InvalidSession()


def update_settings(user: User, changes: dict[str, Any]) -> UserSettings:
    """Apply the given preferences; those not given keep their value."""
    settings = user_settings(user.id)
    values = {name: changes[name] for name in PREFERENCES if name in changes}
    # The time too when the values did not change: the user saved.
    _write_existing(settings, {**values, "updated_at": utcnow()})
    return settings


def _log_event(message: str, event: str, user_id: uuid.UUID, provider: str) -> None:
    log.info(message, extra={"event": event, "user_id": str(user_id), "provider": provider})


def store_api_key(user: User, provider: str, api_key: str) -> KeyStatus:
    """Encrypt and store the key, replacing any earlier one."""
    settings = user_settings(user.id)  # the row exists before it is updated
    now = utcnow()
    ciphertext = keyring().encrypt(api_key, associated_data(user.id, provider))
    # Ciphertext, last4 and times in one statement, always all of them (see _write).
    columns = _key_columns(provider, ciphertext, api_key[-4:], now)
    _write_existing(settings, {**columns, "updated_at": now})
    _log_event("api key stored", "api_key_stored", user.id, provider)
    _key_changed(user, provider)
    return KeyStatus(configured=True, last4=api_key[-4:], updated_at=now)


def remove_api_key(user: User, provider: str) -> KeyStatus:
    """Forget the key; removing one that is not there is not an error."""
    settings = user_settings(user.id)
    stored = getattr(UserSettings, encrypted_column(provider)).is_not(None)
    columns = _key_columns(provider, None, None, None)
    if _write(settings, {**columns, "updated_at": utcnow()}, stored):
        _log_event("api key removed", "api_key_removed", user.id, provider)
    _key_changed(user, provider)
    return KeyStatus(configured=False, last4=None, updated_at=None)


def _key_changed(user: User, provider: str) -> None:
    """What was read with the old key is stale now (the cached voices list)."""
    if provider == "elevenlabs":
        from audiotricks.voices.service import forget_voices

        forget_voices(user.id)


def _key_columns(
    provider: str, ciphertext: str | None, last4: str | None, when: datetime | None
) -> dict[str, Any]:
    """Every column of one provider's key: written together, or the row could pair one key's
    ciphertext with another key's last4."""
    return {
        encrypted_column(provider): ciphertext,
        f"{provider}_key_last4": last4,
        f"{provider}_key_updated_at": when,
        # A new key (or none) has not been checked yet.
        f"{provider}_key_valid": None,
        f"{provider}_key_checked_at": None,
    }


def read_api_key(
    user_id: uuid.UUID, provider: str, settings: SettingsRow | None = None
) -> StoredKey:
    """The decrypted key; NotFound when none is stored, StoredKeyUndecryptable when it won't open.

    ``settings`` is the user's settings row when the caller has already read it (a view has the
    one its session check read); otherwise it is read here.
    """
    if settings is None:
        settings = user_settings(user_id)
    ciphertext = getattr(settings, encrypted_column(provider))
    if ciphertext is None:
        raise NotFound("No API key stored for this provider")
    try:
        api_key = keyring().decrypt(ciphertext, associated_data(user_id, provider))
    except DecryptionError as exc:
        # The reason (unknown key id, tampering, ...) is for operators; the client gets one sentence.
        log.warning(
            "stored api key cannot be decrypted: %s",
            exc,
            extra={
                "event": "api_key_undecryptable",
                "user_id": str(user_id),
                "provider": provider,
                "reason": type(exc).__name__,
            },
        )
        raise StoredKeyUndecryptable() from None
    _log_event("api key read", "api_key_read", user_id, provider)
    status = key_status(settings, provider)
    return StoredKey(
        provider,
        api_key,
        status.last4 or api_key[-4:],
        status.updated_at or settings.updated_at,
        ciphertext,
    )


def record_key_check(
    user_id: Any, provider: str, ciphertext: str, valid: bool
) -> datetime | None:
    """Write a check's result for the key stored as ``ciphertext``; the time, or None when the
    row no longer holds that key (replaced or removed while it was checked: the result is about
    a key that is gone, and must not be shown as the new key's)."""
    now = utcnow()
    column = getattr(UserSettings, encrypted_column(provider))
    result: CursorResult[Any] = db.session.execute(  # type: ignore[assignment]
        update(UserSettings)
        .where(UserSettings.user_id == user_id, column == ciphertext)
        .values({f"{provider}_key_valid": valid, f"{provider}_key_checked_at": now})
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    if not result.rowcount:
        return None
    log.info(
        "api key checked",
        extra={
            "event": "api_key_checked",
            "user_id": str(user_id),
            "provider": provider,
            "valid": valid,
        },
    )
    return now
