"""Account recovery and addresses: mailed tokens, password resets, verification, change of address.

A token is 256 random bits (URL-safe base64), mailed once and stored only as its SHA-256. Each is
decided in the database, atomically: spending it is a guarded ``UPDATE … WHERE used_at IS NULL
AND expires_at > now`` in the same transaction as its effect, so of two requests racing with one
token exactly one wins. A token dies when

- it was used, or expired (``PASSWORD_RESET_TTL`` for a reset, 48 hours for the others);
- a newer token of the same purpose was made for the user (making one marks the older ones used);
- the account's address is no longer the one it was mailed to (every token row keeps it);
- for a reset, the password changed since (the row keeps ``credentials_version``, which every
  password change, reset and deactivation bumps).

Tokens are made by the workers when they send the mail (see :mod:`audiotricks.mail.outbox`), so
the queue never carries one, or by ``flask users reset-link`` for an operator.
"""

from __future__ import annotations

import logging
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, or_, select, update
from sqlalchemy.exc import IntegrityError

from audiotricks.auth.service import _require_password, _revoke_sessions_of
from audiotricks.errors import Conflict, ValidationFailed
from audiotricks.extensions import db
from audiotricks.models import EmailToken, User, utcnow
from audiotricks.runtime import current_config
from audiotricks.security.passwords import hash_password
from audiotricks.security.tokens import token_hash

log = logging.getLogger(__name__)

TOKEN_BYTES = 32  # 256 bits
VERIFY_TTL = timedelta(hours=48)
RESET_PATH = "/reset-password"
VERIFY_PATH = "/verify-email"
INVALID_TOKEN = "Invalid or expired token"  # noqa: S105 - an error text, not a secret


def invalid_token() -> ValidationFailed:
    return ValidationFailed(errors=[{"field": "token", "message": INVALID_TOKEN}])


def link(path: str, token: str) -> str:
    """A frontend link with the token in the fragment: browsers never send it to a server."""
    return f"{current_config().frontend_url}{path}#token={token}"


def mint_token(user: User, purpose: str, new_email: str | None = None) -> str:
    """A new token of ``purpose`` for ``user``, superseding the older ones; committed.

    The token is returned once, to go into a mail or onto an operator's screen.
    """
    now = utcnow()
    ttl = (
        timedelta(seconds=current_config().password_reset_ttl)
        if purpose == "reset"
        else VERIFY_TTL
    )
    token = secrets.token_urlsafe(TOKEN_BYTES)
    db.session.execute(
        update(EmailToken)
        .where(
            EmailToken.user_id == user.id,
            EmailToken.purpose == purpose,
            EmailToken.used_at.is_(None),
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    db.session.add(
        EmailToken(
            user_id=user.id,
            purpose=purpose,
            token_hash=token_hash(token),
            email=user.email,
            new_email=new_email,
            credentials_version=user.credentials_version,
            created_at=now,
            expires_at=now + ttl,
        )
    )
    db.session.commit()
    log.info(
        "mail token made",
        extra={"event": "email_token_made", "user_id": str(user.id), "purpose": purpose},
    )
    return token


@dataclass(frozen=True)
class LiveToken:
    id: uuid.UUID
    user_id: uuid.UUID
    purpose: str
    email: str
    new_email: str | None
    credentials_version: int


def _live_token(token: str, purposes: tuple[str, ...]) -> LiveToken:
    """The unused, unexpired token row of one of ``purposes``, or the 400 on ``token``."""
    row = db.session.execute(
        select(
            EmailToken.id,
            EmailToken.user_id,
            EmailToken.purpose,
            EmailToken.email,
            EmailToken.new_email,
            EmailToken.credentials_version,
        ).where(
            EmailToken.token_hash == token_hash(token),
            EmailToken.purpose.in_(purposes),
            EmailToken.used_at.is_(None),
            EmailToken.expires_at > utcnow(),
        )
    ).first()
    db.session.commit()  # end the read: nothing is held while a password is hashed
    if row is None:
        raise invalid_token()
    return LiveToken(*row)


def _spend(token_id: uuid.UUID) -> None:
    """Mark the token used, if it still is live; else roll back and 400. The caller commits."""
    now = utcnow()
    spent = db.session.execute(
        update(EmailToken)
        .where(
            EmailToken.id == token_id,
            EmailToken.used_at.is_(None),
            EmailToken.expires_at > now,
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if spent.rowcount != 1:  # type: ignore[attr-defined]  # DML: a CursorResult
        db.session.rollback()
        raise invalid_token()


def reset_password(token: str, new_password: str) -> uuid.UUID:
    """Set a new password with a reset token and revoke every session; the user's id.

    The reset also verifies the address: the token came back from it.
    """
    live = _live_token(token, ("reset",))
    new_hash = hash_password(new_password, current_config().bcrypt_rounds)
    _spend(live.id)
    now = utcnow()
    changed = db.session.execute(
        update(User)
        .where(
            User.id == live.user_id,
            User.credentials_version == live.credentials_version,
            User.email == live.email,
            User.is_active.is_(True),
        )
        .values(
            password_hash=new_hash,
            email_verified=True,
            updated_at=now,
            credentials_version=User.credentials_version + 1,
        )
        .execution_options(synchronize_session=False)
    )
    if changed.rowcount != 1:  # type: ignore[attr-defined]  # DML: a CursorResult
        db.session.rollback()
        raise invalid_token()
    revoked = _revoke_sessions_of(live.user_id, keep=None, now=now)
    db.session.commit()
    log.info(
        "password reset",
        extra={"event": "password_reset", "user_id": str(live.user_id), "sessions_revoked": revoked},
    )
    return live.user_id


@dataclass(frozen=True)
class Verified:
    user_id: uuid.UUID
    purpose: str
    old_email: str  # the address the account had before (the same for a verification)


def verify_email(token: str) -> Verified:
    """Spend a verification or change-of-address token.

    A verification marks the address verified. A change of address sets the new one (verified),
    unless another account took it meanwhile: then 409, decided by the unique constraint, and
    the token stays unused.
    """
    live = _live_token(token, ("verify", "email_change"))
    _spend(live.id)
    values: dict[str, object] = {"email_verified": True, "updated_at": utcnow()}
    if live.purpose == "email_change":
        values["email"] = live.new_email
    try:
        changed = db.session.execute(
            update(User)
            .where(User.id == live.user_id, User.email == live.email)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
    except IntegrityError:
        db.session.rollback()
        raise Conflict("Email already registered") from None
    if changed.rowcount != 1:  # type: ignore[attr-defined]  # DML: a CursorResult
        db.session.rollback()
        raise invalid_token()
    db.session.commit()
    event = "email_changed" if live.purpose == "email_change" else "email_verified"
    log.info(event.replace("_", " "), extra={"event": event, "user_id": str(live.user_id)})
    return Verified(live.user_id, live.purpose, live.email)


def check_email_change(user: User, password: str, new_email: str) -> None:
    """Confirm a change of address may be asked for: the password, a new and free address.

    A wrong password is a 400 on ``password`` and spends the account's password budget, as on
    ``PUT /auth/password``. An address in use is a 409 now; one taken before the confirmation
    comes back is a 409 then.
    """
    current_email = user.email
    _require_password(user, password, "password")
    if new_email == current_email:
        raise ValidationFailed(
            errors=[{"field": "newEmail", "message": "Must differ from the current email."}]
        )
    if db.session.scalar(select(User.id).where(User.email == new_email)) is not None:
        db.session.commit()
        raise Conflict("Email already registered")
    db.session.commit()


def prune_tokens() -> int:
    """Delete tokens that can no longer work (used, superseded or expired); how many."""
    result = db.session.execute(
        delete(EmailToken)
        .where(or_(EmailToken.used_at.is_not(None), EmailToken.expires_at <= utcnow()))
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return int(result.rowcount)  # type: ignore[attr-defined]  # DML: a CursorResult
