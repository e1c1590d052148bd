"""Settings endpoints: thin views over :mod:`audiotricks.settings.service`.

Unknown providers never reach a view: the ``provider`` converter only matches ``openai`` and
``elevenlabs``, so any other name is a 404 on every method.
"""

from __future__ import annotations

from typing import Any

from flask import Response, g

from audiotricks.auth.decorators import require_session, require_verified_email
from audiotricks.errors import ApiError, StoredKeyUndecryptable, ValidationFailed
from audiotricks.http import envelope, json_body, responds
from audiotricks.runtime import current_config
from audiotricks.schemas.base import ErrorSchema
from audiotricks.schemas.settings import (
    ApiKeyDataSchema,
    ApiKeyEnvelope,
    ApiKeysDataSchema,
    ApiKeysEnvelope,
    ApiKeyStatusDataSchema,
    ApiKeyStatusEnvelope,
    KeyCheckDataSchema,
    KeyCheckEnvelope,
    SettingsDataSchema,
    SettingsEnvelope,
    StoreApiKeySchema,
    UpdateSettingsSchema,
    provider_key_problem,
)
from audiotricks.settings import bp, checks, service

settings_data = SettingsDataSchema()
api_keys_data = ApiKeysDataSchema()
api_key_status_data = ApiKeyStatusDataSchema()
api_key_data = ApiKeyDataSchema()
key_check_data = KeyCheckDataSchema()


class KeyRevealDisabled(ApiError):
    status = 403
    message = "Key reveal is disabled"


# Documented on the route that decrypts; the body is the usual error shape.
UNDECRYPTABLE = (409, ErrorSchema, StoredKeyUndecryptable.message)


def checked_settings() -> service.SettingsRow:
    """The caller's settings row as their session check read it: no second query, no ORM object.

    The ORM row when the check found none (it is created then) or the view attached the user.
    """
    settings = g.live_session.current_user().settings
    return settings if settings is not None else service.user_settings(g.user_id)


@bp.get("")
@responds(200, SettingsEnvelope)
@require_session
def get_settings() -> tuple[Response, int]:
    """The caller's preferences and the status of their API keys."""
    settings = checked_settings()
    return envelope("Settings", settings_data.dump({"settings": service.describe(settings)}))


@bp.put("")
@responds(200, SettingsEnvelope)
@require_session
@json_body(UpdateSettingsSchema)
def update_settings(body: dict[str, Any]) -> tuple[Response, int]:
    """Change any non-empty subset of the preferences; the others keep their value."""
    settings = service.update_settings(g.user, body)
    return envelope(
        "Settings updated", settings_data.dump({"settings": service.describe(settings)})
    )


@bp.get("/api-keys")
@responds(200, ApiKeysEnvelope)
@require_session
def list_api_keys() -> tuple[Response, int]:
    """Which API keys are stored (configured, last four characters, update time), never the keys."""
    statuses = service.key_statuses(checked_settings())
    return envelope("API key status", api_keys_data.dump({"api_keys": statuses}))


@bp.put("/api-keys/<provider:provider>")
@responds(200, ApiKeyStatusEnvelope)
@require_session
@require_verified_email
@json_body(StoreApiKeySchema)
def store_api_key(provider: str, body: dict[str, Any]) -> tuple[Response, int]:
    """Store (or replace) the API key for openai or elevenlabs, encrypted at rest."""
    problem = provider_key_problem(provider, body["api_key"])
    if problem:
        raise ValidationFailed(errors=[{"field": "apiKey", "message": problem}])
    status = service.store_api_key(g.user, provider, body["api_key"])
    result = {"provider": provider, "status": status}
    return envelope("API key stored", api_key_status_data.dump(result))


@bp.get("/api-keys/<provider:provider>")
@responds(
    200,
    ApiKeyEnvelope,
    UNDECRYPTABLE,
    (403, ErrorSchema, "Account is deactivated, or Key reveal is disabled (API_KEY_REVEAL=false)"),
)
@require_session
def read_api_key(provider: str) -> tuple[Response, int]:
    """The stored API key in plaintext, for the frontend to call the provider.

    404 when no key is stored for the provider. 409 when the stored key cannot be decrypted
    (tampered with, or its encryption key was removed from the configuration): store it again.
    403 Key reveal is disabled when the server runs with API_KEY_REVEAL=false, whether or not a
    key is stored.
    """
    if not current_config().api_key_reveal:
        raise KeyRevealDisabled()
    stored = service.read_api_key(g.user_id, provider, checked_settings())
    return envelope("API key", api_key_data.dump(stored))


@bp.delete("/api-keys/<provider:provider>")
@responds(200, ApiKeyStatusEnvelope)
@require_session
def remove_api_key(provider: str) -> tuple[Response, int]:
    """Remove the stored API key; succeeds whether or not one was stored."""
    status = service.remove_api_key(g.user, provider)
    result = {"provider": provider, "status": status}
    return envelope("API key removed", api_key_status_data.dump(result))


@bp.post("/api-keys/<provider:provider>/verify")
@responds(
    200,
    KeyCheckEnvelope,
    (409, ErrorSchema, "The stored key cannot be decrypted, or it changed while it was checked"),
    (502, ErrorSchema, checks.ProviderRequestFailed.message),
)
@require_session
def verify_api_key(provider: str) -> tuple[Response, int]:
    """Ask the provider whether the stored key works (OpenAI: list models; ElevenLabs: read the user).

    valid is false when the provider rejects the key, true when it accepts it (also when the
    account has no credit left); the answer is kept and shown as valid / checkedAt in KeyStatus.
    404 when no key is stored. 502 Provider request failed when the provider cannot be reached,
    times out (10 s) or fails: nothing is recorded then. 409 when the key was replaced or removed
    during the check (the answer is about a key that is gone): check again.
    """
    result = checks.verify_key(g.user, provider)
    return envelope("API key checked", key_check_data.dump(result))
