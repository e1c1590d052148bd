"""Accounts and sessions: registration, login, the session check and logout."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from audiotricks.errors import (
    AccountDeactivated,
    Conflict,
    InvalidCredentials,
    InvalidSession,
)
from audiotricks.extensions import db
from audiotricks.models import AuthSession, User, UserSettings, utcnow
from audiotricks.runtime import current_config
from audiotricks.security.passwords import constant_time_equals, hash_password, verify_or_dummy
from audiotricks.security.tokens import InvalidToken, decode_token, issue_token, token_hash

USER_AGENT_MAX = 512
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IssuedToken:
    token: str
    expires_at: datetime
    session_id: uuid.UUID


def register_user(email: str, username: str, password: str) -> User:
    """Create the user and its default settings in one transaction; 409 on a taken name."""
    user = User(
        email=email,
        username=username,
        username_key=username.lower(),
        password_hash=hash_password(password, current_config().bcrypt_rounds),
        settings=UserSettings(),
    )
    db.session.add(user)
    try:
        db.session.commit()
    except IntegrityError as exc:
        # The unique constraints decide, so racing registrations cannot both win.
        db.session.rollback()
        if "username_key" in str(exc.orig):
            raise Conflict("Username already taken") from None
        raise Conflict("Email already registered") from None
    return user


def find_user(email: str | None = None, username: str | None = None) -> User | None:
    """The user with this email or username, compared case-insensitively."""
    if email is not None:
        return db.session.scalar(select(User).where(User.email == email.strip().lower()))
    return db.session.scalar(select(User).where(User.username_key == (username or "").lower()))


def authenticate(user: User | None, password: str) -> User:
    """Check the password; unknown accounts cost the same bcrypt time as wrong passwords."""
    # End the read transaction first: no pooled connection is held while bcrypt runs.
    db.session.commit()
    rounds = current_config().bcrypt_rounds
    if not verify_or_dummy(password, user.password_hash if user else None, rounds):
        # Security event: the user id when the account exists, never the identifier typed.
        user_id = str(user.id) if user else None
        log.info("login failed", extra={"event": "login_failed", "user_id": user_id})
        raise InvalidCredentials()
    assert user is not None
    if not user.is_active:
        log.info(
            "login refused: account deactivated",
            extra={"event": "login_failed", "user_id": str(user.id)},
        )
        raise AccountDeactivated()
    return user


def start_session(user: User, user_agent: str | None, ip_address: str | None) -> IssuedToken:
    """Issue a token and write its session row and ``last_login_at`` in one transaction."""
    config = current_config()
    now = utcnow()
    session_id = uuid.uuid4()
    token, expires_at = issue_token(user.id, session_id, config.jwt_secret, config.jwt_expires_in, now)
    db.session.add(
        AuthSession(
            id=session_id,
            user_id=user.id,
            token_hash=token_hash(token),
            created_at=now,
            expires_at=expires_at,
            last_used_at=now,
            user_agent=(user_agent or None) and user_agent[:USER_AGENT_MAX],
            ip_address=ip_address,
        )
    )
    user.last_login_at = now
    db.session.commit()
    return IssuedToken(token=token, expires_at=expires_at, session_id=session_id)


def load_session(token: str) -> tuple[User, AuthSession]:
    """The user and live session behind ``token``, or InvalidSession / AccountDeactivated."""
    try:
        claims = decode_token(token, current_config().jwt_secret)
    except InvalidToken:
        raise InvalidSession() from None
    row = db.session.execute(
        select(AuthSession, User)
        .join(User, User.id == AuthSession.user_id)
        .where(AuthSession.id == claims.session_id)
    ).first()
    if row is None:
        raise InvalidSession()
    auth_session, user = row
    if (
        auth_session.user_id != claims.user_id
        or auth_session.revoked_at is not None
        or auth_session.expires_at <= utcnow()
        or not constant_time_equals(auth_session.token_hash, token_hash(token))
    ):
        raise InvalidSession()
    if not user.is_active:
        raise AccountDeactivated()
    return user, auth_session


def revoke_session(auth_session: AuthSession) -> None:
    """End one session now; its token fails on every instance from the next request."""
    auth_session.revoked_at = utcnow()
    db.session.commit()
