"""Accounts and sessions: registration, login, the session check, logout and the account lifecycle.

The session check (:func:`load_session`) runs on every authenticated request, so it is kept lean:

- One SQL statement loads the session row, its user and the user's settings (a join), so no lazy
  query follows in the common path (``GET /me`` dumps the settings too).
- ``last_used_at`` is refreshed only when it is at least :data:`SESSION_TOUCH_INTERVAL` old, with a
  single guarded ``UPDATE``; a request within the interval writes nothing and commits nothing. The
  listed ``lastUsedAt`` is therefore accurate to about a minute, which is all a "last active"
  column needs, and a busy client costs one write a minute instead of one per request.
- Validity is never cached in the process: every request reads the row, so a revocation (logout,
  password change, deactivation) holds at once on every instance.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import contains_eager

from audiotricks.errors import (
    AccountDeactivated,
    Conflict,
    InvalidCredentials,
    InvalidSession,
    NotFound,
    ValidationFailed,
)
from audiotricks.extensions import db
from audiotricks.models import AuthSession, User, UserSettings, utcnow
from audiotricks.runtime import current_config
from audiotricks.security.passwords import (
    constant_time_equals,
    hash_password,
    verify_or_dummy,
    verify_password,
)
from audiotricks.security.tokens import InvalidToken, decode_token, issue_token, token_hash

log = logging.getLogger(__name__)

USER_AGENT_MAX = 512
# How stale last_used_at may get before a request refreshes it (see the module docstring).
SESSION_TOUCH_INTERVAL = timedelta(seconds=60)
PRUNE_BATCH_SIZE = 1000


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
        claims = decode_token(token, current_config().jwt_secret)  # signature and exp
    except InvalidToken:
        raise InvalidSession() from None
    row = db.session.execute(
        select(AuthSession, User)
        .join(User, User.id == AuthSession.user_id)
        .outerjoin(UserSettings, UserSettings.user_id == User.id)
        .options(contains_eager(User.settings))
        .where(AuthSession.id == claims.session_id)
    ).first()
    if row is None:
        raise InvalidSession()
    auth_session, user = row
    now = utcnow()
    if (
        auth_session.user_id != claims.user_id
        or auth_session.revoked_at is not None
        or auth_session.expires_at <= now
        or not constant_time_equals(auth_session.token_hash, token_hash(token))
    ):
        raise InvalidSession()
    if not user.is_active:
        raise AccountDeactivated()
    if auth_session.last_used_at <= now - SESSION_TOUCH_INTERVAL:
        touch_session(auth_session.id, now)
    return user, auth_session


def touch_session(session_id: uuid.UUID, now: datetime) -> None:
    """Record use of a session with one guarded UPDATE (a racing request makes it a no-op)."""
    db.session.execute(
        update(AuthSession)
        .where(
            AuthSession.id == session_id,
            AuthSession.last_used_at <= now - SESSION_TOUCH_INTERVAL,
        )
        .values(last_used_at=now)
        .execution_options(synchronize_session=False)
    )
    # Commit expires the loaded rows; this request reloads them, at most once a minute a session.
    db.session.commit()


def revoke_session(auth_session: AuthSession) -> None:
    """End one session now; its token fails on every instance from the next request."""
    auth_session.revoked_at = utcnow()
    db.session.commit()


def live_sessions(user: User) -> list[AuthSession]:
    """The user's sessions that are neither revoked nor expired, newest first."""
    return list(
        db.session.scalars(
            select(AuthSession)
            .where(
                AuthSession.user_id == user.id,
                AuthSession.revoked_at.is_(None),
                AuthSession.expires_at > utcnow(),
            )
            .order_by(AuthSession.created_at.desc(), AuthSession.id.desc())
        )
    )


def revoke_user_session(user: User, session_id: uuid.UUID) -> None:
    """Revoke one of ``user``'s live sessions; NotFound for another's, a dead or unknown one."""
    now = utcnow()
    # One guarded UPDATE: ownership and liveness are checked by the same statement that revokes.
    result = db.session.execute(
        update(AuthSession)
        .where(
            AuthSession.id == session_id,
            AuthSession.user_id == user.id,
            AuthSession.revoked_at.is_(None),
            AuthSession.expires_at > now,
        )
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        db.session.rollback()
        raise NotFound("Session not found")
    db.session.commit()
    log.info(
        "session revoked",
        extra={"event": "session_revoked", "user_id": str(user.id), "session_id": str(session_id)},
    )


def _revoke_sessions_of(user_id: uuid.UUID, keep: uuid.UUID | None, now: datetime) -> int:
    """Revoke the user's live sessions except ``keep``; the count. The caller commits."""
    conditions = [
        AuthSession.user_id == user_id,
        AuthSession.revoked_at.is_(None),
        AuthSession.expires_at > now,
    ]
    if keep is not None:
        conditions.append(AuthSession.id != keep)
    result = db.session.execute(
        update(AuthSession)
        .where(*conditions)
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)


def revoke_other_sessions(user: User, current: AuthSession) -> int:
    """Revoke every live session of ``user`` but ``current``; how many were revoked."""
    user_id, current_id = user.id, current.id
    revoked = _revoke_sessions_of(user_id, keep=current_id, now=utcnow())
    db.session.commit()
    log.info(
        "other sessions revoked",
        extra={"event": "sessions_revoked", "user_id": str(user_id), "count": revoked},
    )
    return revoked


def _require_password(user: User, password: str, field: str) -> None:
    """ValidationFailed on ``field`` unless ``password`` is the user's."""
    password_hash = user.password_hash
    # End the read transaction first: no pooled connection is held while bcrypt runs.
    db.session.commit()
    if not verify_password(password, password_hash):
        raise ValidationFailed(errors=[{"field": field, "message": "Password is incorrect."}])


def change_password(
    user: User, current: AuthSession, current_password: str, new_password: str
) -> int:
    """Set a new password and revoke every other session of the user; how many were revoked.

    The new password must differ from the current one (400 on ``newPassword``): "changing" to the
    same secret would end the other sessions while leaving a possibly leaked password in place.
    """
    user_id, current_id = user.id, current.id
    _require_password(user, current_password, "currentPassword")
    if constant_time_equals(current_password, new_password):
        raise ValidationFailed(
            errors=[
                {"field": "newPassword", "message": "Must differ from the current password."}
            ]
        )
    new_hash = hash_password(new_password, current_config().bcrypt_rounds)
    now = utcnow()
    db.session.execute(
        update(User)
        .where(User.id == user_id)
        .values(password_hash=new_hash, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    revoked = _revoke_sessions_of(user_id, keep=current_id, now=now)
    db.session.commit()
    log.info(
        "password changed",
        extra={"event": "password_changed", "user_id": str(user_id), "sessions_revoked": revoked},
    )
    return revoked


def delete_account(user: User, password: str) -> None:
    """Delete the user; the foreign keys' ON DELETE CASCADE removes its sessions and settings."""
    user_id = user.id
    _require_password(user, password, "password")
    db.session.execute(
        delete(User).where(User.id == user_id).execution_options(synchronize_session=False)
    )
    db.session.commit()
    db.session.expunge_all()  # the deleted rows must not be reloaded by anything after this
    log.info("account deleted", extra={"event": "account_deleted", "user_id": str(user_id)})


def find_user_by_login(identifier: str) -> User | None:
    """The user named by an email (it has an ``@``) or a username, case-insensitively."""
    if "@" in identifier:
        return find_user(email=identifier)
    return find_user(username=identifier)


def set_user_active(user: User, active: bool) -> int:
    """(De)activate ``user``; deactivating revokes every session. How many were revoked."""
    user_id = user.id
    now = utcnow()
    db.session.execute(
        update(User)
        .where(User.id == user_id)
        .values(is_active=active, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    revoked = 0 if active else _revoke_sessions_of(user_id, keep=None, now=now)
    db.session.commit()
    event = "user_activated" if active else "user_deactivated"
    log.info(
        event.replace("_", " "),
        extra={"event": event, "user_id": str(user_id), "sessions_revoked": revoked},
    )
    return revoked


@dataclass(frozen=True)
class PruneResult:
    expired: int
    revoked: int
    batches: int

    @property
    def total(self) -> int:
        return self.expired + self.revoked


def prune_sessions(batch_size: int = PRUNE_BATCH_SIZE) -> PruneResult:
    """Delete expired and revoked session rows, ``batch_size`` at a time, committing per batch.

    Short batches keep each transaction (and its locks) small on a large table; the cut-off is
    fixed at the start, so sessions expiring while it runs wait for the next run.
    """
    now = utcnow()
    dead = or_(AuthSession.expires_at <= now, AuthSession.revoked_at.is_not(None))
    expired = revoked = batches = 0
    while True:
        rows = db.session.execute(
            select(AuthSession.id, AuthSession.revoked_at.is_not(None))
            .where(dead)
            .order_by(AuthSession.expires_at)
            .limit(batch_size)
        ).all()
        if not rows:
            break
        ids = [row[0] for row in rows]
        db.session.execute(
            delete(AuthSession)
            .where(AuthSession.id.in_(ids))
            .execution_options(synchronize_session=False)
        )
        db.session.commit()
        batches += 1
        revoked += sum(1 for row in rows if row[1])
        expired += sum(1 for row in rows if not row[1])
    log.debug(  # debug: a cron run that succeeds stays silent
        "sessions pruned",
        extra={"event": "sessions_pruned", "expired": expired, "revoked": revoked},
    )
    return PruneResult(expired=expired, revoked=revoked, batches=batches)
