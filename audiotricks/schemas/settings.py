"""Settings and API-key schemas: what the settings routes accept, and how settings are shown."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from typing import Any

from marshmallow import ValidationError, fields, validate, validates_schema

from audiotricks.models.settings import PROVIDERS, SUMMARY_QUALITIES
from audiotricks.schemas.base import BaseSchema, Timestamp, envelope_schema
from audiotricks.schemas.languages import ISO_639_1_CODES

SETTINGS_JSON_MAX_BYTES = 16 * 1024
SETTINGS_JSON_MAX_DEPTH = 10
API_KEY_MIN = 20
API_KEY_MAX = 256
API_KEY_PATTERN = r"^[!-~]{20,256}$"  # printable ASCII without the space: no whitespace at all
OPENAI_KEY_PREFIX = "sk-"


def json_depth_exceeds(value: Any, limit: int) -> bool:
    """Whether ``value`` nests deeper than ``limit`` (``{}`` and ``[]`` are depth 1).

    Iterative, and it stops as soon as the limit is passed, so a deep body cannot exhaust the stack.
    """
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children: Iterable[Any]
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def _has_non_finite_number(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            return True
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def check_settings_json(value: dict[str, Any]) -> None:
    """settingsJson's rule (also processingOptions'): depth, finite numbers, compact size."""
    if json_depth_exceeds(value, SETTINGS_JSON_MAX_DEPTH):
        raise ValidationError(f"Must be nested at most {SETTINGS_JSON_MAX_DEPTH} levels deep.")
    if _has_non_finite_number(value):  # 1e400 parses as infinity, which JSON cannot store
        raise ValidationError("Numbers must be finite.")
    # Lone surrogates never get here: the body parser refuses them (audiotricks.http).
    size = len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))
    if size > SETTINGS_JSON_MAX_BYTES:
        raise ValidationError(
            f"Must be at most {SETTINGS_JSON_MAX_BYTES} bytes as compact UTF-8 JSON."
        )


class UpdateSettingsSchema(BaseSchema):
    """``PUT /settings``: any non-empty subset of the preferences (API keys are not set here)."""

    preferred_language = fields.String(
        validate=validate.OneOf(
            sorted(ISO_639_1_CODES), error="Must be an ISO 639-1 language code in lower case, such as en."
        ),
        metadata={"description": "ISO 639-1 code in lower case", "example": "en"},
    )
    summary_quality = fields.String(
        validate=validate.OneOf(SUMMARY_QUALITIES, error="Must be one of concise, balanced, detailed."),
    )
    settings_json = fields.Dict(
        validate=check_settings_json,
        metadata={
            "description": f"A JSON object; at most {SETTINGS_JSON_MAX_BYTES} bytes as compact "
            f"UTF-8 JSON and {SETTINGS_JSON_MAX_DEPTH} levels deep. Replaces the stored object."
        },
    )

    @validates_schema
    def _not_empty(self, data: dict[str, Any], **_: Any) -> None:
        if not data:
            raise ValidationError(
                "Give at least one of preferredLanguage, summaryQuality or settingsJson."
            )


class StoreApiKeySchema(BaseSchema):
    """``PUT /settings/api-keys/<provider>``. The key is never echoed, not even in an error."""

    api_key = fields.String(
        required=True,
        load_only=True,
        validate=[
            validate.Length(
                min=API_KEY_MIN,
                max=API_KEY_MAX,
                error=f"Must be {API_KEY_MIN}-{API_KEY_MAX} characters long.",
            ),
            validate.Regexp(
                r"[!-~]*\Z",  # \Z, not $: "$" would let a trailing newline through
                error="Must contain only printable ASCII characters and no whitespace.",
            ),
        ],
        metadata={
            "pattern": API_KEY_PATTERN,
            "minLength": API_KEY_MIN,
            "maxLength": API_KEY_MAX,
            "description": "Printable ASCII, no whitespace (not trimmed); OpenAI keys start with sk-",
        },
    )


def provider_key_problem(provider: str, api_key: str) -> str | None:
    """A provider's own rule on the shape of its keys, as a sentence that does not quote the key."""
    if provider == "openai" and not api_key.startswith(OPENAI_KEY_PREFIX):
        return f"OpenAI keys start with {OPENAI_KEY_PREFIX}."
    return None


class KeyStatusSchema(BaseSchema):
    """Whether a key is stored, and its last four characters; never the key."""

    configured = fields.Boolean(required=True)
    last4 = fields.String(required=True, allow_none=True)
    updated_at = Timestamp(required=True, allow_none=True)
    valid = fields.Boolean(
        required=True,
        allow_none=True,
        metadata={"description": "The last check with the provider; null: never checked"},
    )
    checked_at = Timestamp(required=True, allow_none=True)


class KeyCheckDataSchema(BaseSchema):
    """``POST /settings/api-keys/<provider>/verify``: what the provider said of the stored key."""

    provider = fields.String(required=True, metadata={"enum": list(PROVIDERS)})
    valid = fields.Boolean(required=True)
    checked_at = Timestamp(required=True)


class ApiKeysSchema(BaseSchema):
    openai = fields.Nested(KeyStatusSchema, required=True)
    elevenlabs = fields.Nested(KeyStatusSchema, required=True)


class SettingsSchema(BaseSchema):
    preferred_language = fields.String(required=True)
    summary_quality = fields.String(required=True, metadata={"enum": list(SUMMARY_QUALITIES)})
    settings_json = fields.Dict(required=True)
    api_keys = fields.Nested(ApiKeysSchema, required=True)
    updated_at = Timestamp(required=True)


class SettingsDataSchema(BaseSchema):
    settings = fields.Nested(SettingsSchema, required=True)


class ApiKeysDataSchema(BaseSchema):
    api_keys = fields.Nested(ApiKeysSchema, required=True)


class ApiKeyStatusDataSchema(BaseSchema):
    provider = fields.String(required=True, metadata={"enum": list(PROVIDERS)})
    status = fields.Nested(KeyStatusSchema, required=True)


class ApiKeyDataSchema(BaseSchema):
    provider = fields.String(required=True, metadata={"enum": list(PROVIDERS)})
    api_key = fields.String(required=True, metadata={"description": "The plaintext key"})
    last4 = fields.String(required=True)
    updated_at = Timestamp(required=True)


SettingsEnvelope = envelope_schema(SettingsDataSchema, "SettingsEnvelope")
ApiKeysEnvelope = envelope_schema(ApiKeysDataSchema, "ApiKeysEnvelope")
ApiKeyStatusEnvelope = envelope_schema(ApiKeyStatusDataSchema, "ApiKeyStatusEnvelope")
ApiKeyEnvelope = envelope_schema(ApiKeyDataSchema, "ApiKeyEnvelope")
KeyCheckEnvelope = envelope_schema(KeyCheckDataSchema, "KeyCheckEnvelope")
