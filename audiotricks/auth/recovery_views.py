"""Account recovery and addresses under ``/api/v1/auth``: thin views over
:mod:`audiotricks.auth.recovery_service`; the mails go out from the workers
(:mod:`audiotricks.mail.outbox`)."""

from __future__ import annotations

import logging
from typing import Any

from flask import Response, g

from audiotricks.auth import bp, recovery_service
from audiotricks.auth.decorators import require_session
from audiotricks.errors import Conflict, ServiceUnavailable
from audiotricks.http import envelope, json_body, responds
from audiotricks.mail.outbox import MailNotQueued, send_later, send_later_or_log
from audiotricks.ratelimits import (
    FORGOT_PER_IP,
    MAIL_SCOPE,
    account_key,
    rate_limited,
    spend,
    unknown_identifier_key,
)
from audiotricks.runtime import current_config
from audiotricks.schemas.auth import EmptyEnvelope
from audiotricks.schemas.base import ErrorSchema
from audiotricks.schemas.recovery import (
    ChangeEmailSchema,
    ForgotPasswordSchema,
    ResetPasswordSchema,
    VerifyEmailSchema,
)

log = logging.getLogger(__name__)

FORGOT_MESSAGE = "If an account exists for this email, a reset link has been sent"
QUEUE_DOWN = (503, ErrorSchema, "The mail could not be queued; nothing was changed")


def _queue(kind: str, **fields: Any) -> None:
    """Enqueue a mail the request exists for: 503 when the queue cannot take it."""
    try:
        send_later(kind, **fields)
    except MailNotQueued:
        raise ServiceUnavailable() from None


@bp.post("/password/forgot")
@rate_limited(FORGOT_PER_IP)
@responds(202, EmptyEnvelope, 429, QUEUE_DOWN)
@json_body(ForgotPasswordSchema)
def forgot_password(body: dict[str, Any]) -> tuple[Response, int]:
    """Mail a password reset link, if an account has this address.

    The answer is the same, and takes the same time, for any valid address: the request only
    counts the address's budget (RATELIMIT_MAIL, keyed on a keyed hash of the address) and
    enqueues; the worker looks the account up. Limited per client IP by RATELIMIT_FORGOT.
    """
    email = body["email"]
    spend(current_config().ratelimit_mail, MAIL_SCOPE, unknown_identifier_key("email", email))
    _queue("reset", email=email)
    return envelope(FORGOT_MESSAGE, {}, 202)


@bp.post("/password/reset")
@responds(200, EmptyEnvelope)
@json_body(ResetPasswordSchema)
def reset_password(body: dict[str, Any]) -> tuple[Response, int]:
    """Set a new password with the token of a reset link; every session of the account ends.

    A bad, expired, used or superseded token is a 400 on `token` (`Invalid or expired token`);
    the new password follows the register rules. The account's address counts as verified.
    """
    user_id = recovery_service.reset_password(body["token"], body["new_password"])
    send_later_or_log("password_changed", user_id=user_id)
    return envelope("Password reset", {})


@bp.post("/email/verify")
@responds(200, EmptyEnvelope, (409, ErrorSchema, "The new address was registered meanwhile"))
@json_body(VerifyEmailSchema)
def verify_email(body: dict[str, Any]) -> tuple[Response, int]:
    """Confirm an address with the token of a mailed link (registration or change of address).

    For a change of address the account switches to the new one now, and the old one is told;
    409 `Email already registered` when another account took it meanwhile (the link stays
    usable should that account let it go).
    """
    verified = recovery_service.verify_email(body["token"])
    if verified.purpose == "email_change":
        send_later_or_log("email_changed", user_id=verified.user_id, email=verified.old_email)
        return envelope("Email changed", {})
    return envelope("Email verified", {})


@bp.post("/email/verify/resend")
@responds(202, EmptyEnvelope, (409, ErrorSchema, "Email already verified"), 429, QUEUE_DOWN)
@require_session
def resend_verification() -> tuple[Response, int]:
    """Mail a new verification link to the caller's address (older links stop working).

    Limited per account by RATELIMIT_MAIL.
    """
    if g.user.email_verified:
        raise Conflict("Email already verified")
    user_id = g.user.id
    spend(current_config().ratelimit_mail, MAIL_SCOPE, account_key(user_id))
    _queue("verify", user_id=user_id)
    return envelope("Verification email sent", {}, 202)


@bp.put("/email")
@responds(202, EmptyEnvelope, (409, ErrorSchema, "Email already registered"), 429, QUEUE_DOWN)
@require_session
@json_body(ChangeEmailSchema)
def change_email(body: dict[str, Any]) -> tuple[Response, int]:
    """Ask to change the caller's address: a confirmation link goes to the new one.

    The address changes when that link's token comes back (`POST /auth/email/verify`); the old
    address is then told. A wrong `password` is a 400 on that field and counts as a failed login
    of the account (429 once the budget is spent); the same address is a 400 on `newEmail`; an
    address in use is a 409. Requests are limited per account by RATELIMIT_MAIL.
    """
    user_id, current_email = g.user.id, g.user.email
    recovery_service.check_email_change(g.user, body["password"], body["new_email"])
    spend(current_config().ratelimit_mail, MAIL_SCOPE, account_key(user_id))
    _queue("email_change", user_id=user_id, email=current_email, new_email=body["new_email"])
    return envelope("Confirmation sent to the new address", {}, 202)
