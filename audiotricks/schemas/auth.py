"""Account and session schemas: what the auth endpoints accept, and how users and sessions are shown."""

from __future__ import annotations

import re
import uuid
from typing import Any

from marshmallow import ValidationError, fields, validate, validates_schema

from audiotricks.emails import EMAIL_MAX, InvalidEmail, normalise_email
from audiotricks.schemas.base import BaseSchema, Timestamp, envelope_schema
from audiotricks.security.passwords import MAX_BYTES, password_problems

USERNAME_PATTERN = re.compile(r"[A-Za-z0-9_-]{3,30}")


class NormalisedEmail(fields.String):
    """A valid address, loaded as its stored form (see :mod:`audiotricks.emails`)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            return normalise_email(text)
        except InvalidEmail as exc:
            raise ValidationError(str(exc)) from None


def _check_username(value: str) -> None:
    if not USERNAME_PATTERN.fullmatch(value):
        raise ValidationError("Must be 3-30 characters of letters, digits, _ and -.")


def _check_password_policy(value: str) -> None:
    problems = password_problems(value)
    if problems:
        raise ValidationError(problems)


def _check_password_size(value: str) -> None:
    if len(value.encode("utf-8")) > MAX_BYTES:
        raise ValidationError(f"Password must be at most {MAX_BYTES} bytes in UTF-8.")


class RegisterSchema(BaseSchema):
    email = NormalisedEmail(
        required=True,
        metadata={
            "format": "email",
            "maxLength": EMAIL_MAX,
            "description": "Stored normalised: Unicode NFC, IDNA domain in Unicode, lower case;"
            " at most 64 characters before the @",
        },
    )
    username = fields.String(
        required=True,
        validate=_check_username,
        metadata={"pattern": f"^{USERNAME_PATTERN.pattern}$", "minLength": 3, "maxLength": 30},
    )
    password = fields.String(
        required=True,
        load_only=True,
        validate=_check_password_policy,
        metadata={"minLength": 8, "description": "8+ characters, at most 72 bytes in UTF-8"},
    )


class LoginSchema(BaseSchema):
    email = fields.String(validate=validate.Length(max=EMAIL_MAX))
    username = fields.String(validate=validate.Length(max=EMAIL_MAX))
    password = fields.String(
        required=True,
        load_only=True,
        validate=[validate.Length(min=1, error="Must not be empty."), _check_password_size],
    )

    @validates_schema
    def _one_identifier(self, data: dict[str, Any], **_: Any) -> None:
        if ("email" in data) == ("username" in data):
            raise ValidationError("Give exactly one of email or username.", "email")


class ChangePasswordSchema(BaseSchema):
    current_password = fields.String(
        required=True,
        load_only=True,
        validate=[validate.Length(min=1, error="Must not be empty."), _check_password_size],
    )
    new_password = fields.String(
        required=True,
        load_only=True,
        validate=_check_password_policy,
        metadata={
            "minLength": 8,
            "description": "The register rules; must differ from the current password",
        },
    )


class DeleteAccountSchema(BaseSchema):
    password = fields.String(
        required=True,
        load_only=True,
        validate=[validate.Length(min=1, error="Must not be empty."), _check_password_size],
        metadata={"description": "The current password, to confirm the deletion"},
    )


class UserSettingsSummarySchema(BaseSchema):
    preferred_language = fields.String(required=True)
    summary_quality = fields.String(required=True)
    settings_json = fields.Dict(required=True)


class UserSchema(BaseSchema):
    id = fields.UUID(required=True)
    email = fields.String(required=True)
    username = fields.String(required=True)
    is_active = fields.Boolean(required=True)
    email_verified = fields.Boolean(
        required=True,
        metadata={"description": "The address was confirmed through a link mailed to it"},
    )
    created_at = Timestamp(required=True)
    updated_at = Timestamp(required=True)
    last_login_at = Timestamp(required=True, allow_none=True)


class CurrentUserSchema(UserSchema):
    settings = fields.Nested(UserSettingsSummarySchema, required=True)


class UserDataSchema(BaseSchema):
    user = fields.Nested(UserSchema, required=True)


class CurrentUserDataSchema(BaseSchema):
    user = fields.Nested(CurrentUserSchema, required=True)


class LoginResultSchema(BaseSchema):
    token = fields.String(required=True)
    token_type = fields.String(required=True, metadata={"enum": ["Bearer"]})
    expires_at = Timestamp(required=True, metadata={"description": "The token's exp"})
    user = fields.Nested(UserSchema, required=True)


class AuthSessionSchema(BaseSchema):
    """One live login session; ``current`` marks the session making the request."""

    id = fields.UUID(required=True)
    created_at = Timestamp(required=True)
    expires_at = Timestamp(required=True)
    last_used_at = Timestamp(
        required=True, metadata={"description": "Refreshed at most once a minute"}
    )
    user_agent = fields.String(required=True, allow_none=True)
    ip_address = fields.String(required=True, allow_none=True)
    current = fields.Method("_is_current", required=True, metadata={"type": "boolean"})

    def __init__(self, *args: Any, current_session_id: uuid.UUID | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.current_session_id = current_session_id

    def _is_current(self, auth_session: Any) -> bool:
        return bool(auth_session.id == self.current_session_id)


class SessionListSchema(BaseSchema):
    sessions = fields.List(fields.Nested(AuthSessionSchema), required=True)


class RevokedSessionSchema(BaseSchema):
    session_id = fields.UUID(required=True)
    current = fields.Boolean(
        required=True, metadata={"description": "True when the caller ended its own session"}
    )


class RevokedCountSchema(BaseSchema):
    revoked = fields.Integer(
        required=True, metadata={"description": "How many other sessions were revoked"}
    )


UserEnvelope = envelope_schema(UserDataSchema, "UserEnvelope")
CurrentUserEnvelope = envelope_schema(CurrentUserDataSchema, "CurrentUserEnvelope")
LoginEnvelope = envelope_schema(LoginResultSchema, "LoginEnvelope")
EmptyEnvelope = envelope_schema(None, "EmptyEnvelope")
SessionListEnvelope = envelope_schema(SessionListSchema, "SessionListEnvelope")
RevokedSessionEnvelope = envelope_schema(RevokedSessionSchema, "RevokedSessionEnvelope")
RevokedCountEnvelope = envelope_schema(RevokedCountSchema, "RevokedCountEnvelope")
