"""Account recovery and address schemas: forgotten passwords, mailed tokens, change of address."""

from __future__ import annotations

from marshmallow import fields, validate

from audiotricks.emails import EMAIL_MAX
from audiotricks.schemas.auth import NormalisedEmail, _check_password_policy, _check_password_size
from audiotricks.schemas.base import BaseSchema

# A mailed token is 43 characters of URL-safe base64; anything much longer is not one.
TOKEN_MAX = 128
EMAIL_DESCRIPTION = "A valid address, at most 64 characters before the @"


class ForgotPasswordSchema(BaseSchema):
    email = NormalisedEmail(
        required=True,
        metadata={"format": "email", "maxLength": EMAIL_MAX, "description": EMAIL_DESCRIPTION},
    )


def _token_field() -> fields.String:
    return fields.String(
        required=True,
        load_only=True,
        validate=validate.Length(min=1, max=TOKEN_MAX, error="Invalid or expired token"),
        metadata={"description": "The token from the mailed link (after #token=)"},
    )


class ResetPasswordSchema(BaseSchema):
    token = _token_field()
    new_password = fields.String(
        required=True,
        load_only=True,
        validate=_check_password_policy,
        metadata={"minLength": 8, "description": "The register rules"},
    )


class VerifyEmailSchema(BaseSchema):
    token = _token_field()


class ChangeEmailSchema(BaseSchema):
    password = fields.String(
        required=True,
        load_only=True,
        validate=[validate.Length(min=1, error="Must not be empty."), _check_password_size],
        metadata={"description": "The current password, to confirm the change"},
    )
    new_email = NormalisedEmail(
        required=True,
        metadata={"format": "email", "maxLength": EMAIL_MAX, "description": EMAIL_DESCRIPTION},
    )
