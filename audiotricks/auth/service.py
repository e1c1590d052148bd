"""Accounts and sessions: registration, login, the session check, logout and the account lifecycle.

The session check (:func:`load_session`) runs on every authenticated request, so it is kept lean
(measured in bench/README.md):

- One Core statement reads the session row, its user and the user's settings (a join), on an
  autocommit engine: one round trip, no BEGIN and no ROLLBACK, and no lazy query afterwards.
- The rows become ORM objects attached to the request's session without another query
  (:meth:`LiveSession.attach`), so views use ``g.user`` and ``g.auth_session`` as ordinary
  models. They are built on first use only: a view that just reads the caller (``GET /me``)
  serialises the fetched values and never pays for the ORM objects.
- ``last_used_at`` is refreshed only when it is at least :data:`SESSION_TOUCH_INTERVAL` old, with a
  single guarded ``UPDATE``; a request within the interval writes nothing. The listed
  ``lastUsedAt`` is therefore accurate to about a minute, which is all a "last active" column
  needs, and a busy client costs one write a minute instead of one per request.
- Validity is never cached in the process: every request reads the row, so a revocation (logout,
  password change, deactivation) holds at once on every instance.

Credentials versions close the window between a login reading the user and writing its session
(a bcrypt hash apart). ``users.credentials_version`` is bumped by the same ``UPDATE`` that sets a
new password or deactivates the account; a session records the version its login read *before*
checking the password, and the session check (the same one statement) refuses a session whose
version is not the user's. :func:`start_session` writes the session only while the user still has
that version and is active (a guarded ``UPDATE`` of the user row, which also locks it until the
commit), so the login that loses the race gets 401 instead of a dead token; a session it did
write before the change is revoked by it.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

from sqlalchemy import (
    LABEL_STYLE_TABLENAME_PLUS_COL,
    Row,
    Update,
    bindparam,
    delete,
    func,
    or_,
    select,
    true,
    update,
)
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from audiotricks.emails import email_lookup_keys
from audiotricks.errors import (
    AccountDeactivated,
    Conflict,
    InvalidCredentials,
    InvalidSession,
    NotFound,
    ValidationFailed,
)
from audiotricks.extensions import SESSION_CHECK_BIND, db
from audiotricks.models import AuthSession, User, UserSettings, utcnow
from audiotricks.ratelimits import account_key, password_attempt
from audiotricks.runtime import current_config
from audiotricks.security.passwords import (
    constant_time_equals,
    hash_password,
    verify_or_dummy,
    verify_password,
)
from audiotricks.security.tokens import (
    InvalidToken,
    TokenClaims,
    decode_token,
    issue_token,
    token_hash,
)

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
        if _violated_constraint(exc) == "uq_users_username_key":
            raise Conflict("Username already taken") from None
        if _violated_constraint(exc) == "uq_users_email":
            raise Conflict("Email already registered") from None
        raise
    return user


def _violated_constraint(exc: IntegrityError) -> str | None:
    """The unique constraint an insert broke, by name (never by the message, which quotes values)."""
    diag = getattr(exc.orig, "diag", None)  # PostgreSQL names it
    if diag is not None:
        return getattr(diag, "constraint_name", None)
    # SQLite: "UNIQUE constraint failed: users.username_key" (column names only, no values).
    message = str(exc.orig)
    for column in ("username_key", "email"):
        if message == f"UNIQUE constraint failed: users.{column}":
            return f"uq_users_{column}"
    return None


def identifier_key(field: str, value: str) -> str:
    """The form an email or username is stored and compared in (the normalised address)."""
    return email_lookup_keys(value)[-1] if field == "email" else value.lower()


def find_user(email: str | None = None, username: str | None = None) -> User | None:
    """The user with this email (normalised, see audiotricks.emails) or username (any case)."""
    if email is not None:
        keys = email_lookup_keys(email)
        matches = db.session.scalars(select(User).where(User.email.in_(keys)))
        found = {user.email: user for user in matches}
        return next((found[key] for key in keys if key in found), None)
    key = identifier_key("username", username or "")
    return db.session.scalar(select(User).where(User.username_key == key))


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
    assert user is not None  # noqa: S101 - for mypy: verify_or_dummy fails without a user
    if not user.is_active:
        log.info(
            "login refused: account deactivated",
            extra={"event": "login_failed", "user_id": str(user.id)},
        )
        raise AccountDeactivated()
    return user


def start_session(user: User, user_agent: str | None, ip_address: str | None) -> IssuedToken:
    """Issue a token and write its session row and ``last_login_at`` in one transaction.

    ``user`` is the object loaded before the password was checked: the session records the
    ``credentials_version`` read then. If the password changed or the account was deactivated
    since, InvalidCredentials (401), as for the old password a moment later.
    """
    config = current_config()
    now = utcnow()
    user_id, version = user.id, user.credentials_version
    # First the guarded UPDATE of the user row: it checks the version the login read and locks the
    # row until the commit, so a password change or deactivation is wholly before this login (and
    # fails it here) or wholly after (and revokes the session written below).
    claimed = db.session.execute(
        update(User)
        .where(User.id == user_id, User.credentials_version == version, User.is_active.is_(True))
        .values(last_login_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]  # DML: a CursorResult
        db.session.rollback()
        log.info(
            "login refused: credentials changed during the login",
            extra={"event": "login_failed", "user_id": str(user_id)},
        )
        raise InvalidCredentials()
    session_id = uuid.uuid4()
    token, expires_at = issue_token(
        user_id, session_id, config.jwt_secret, config.jwt_expires_in, now
    )
    db.session.add(
        AuthSession(
            id=session_id,
            user_id=user_id,
            token_hash=token_hash(token),
            created_at=now,
            expires_at=expires_at,
            last_used_at=now,
            user_agent=(user_agent or None) and user_agent[:USER_AGENT_MAX],
            ip_address=ip_address,
            credentials_version=version,
        )
    )
    db.session.commit()
    set_committed_value(user, "last_login_at", now)
    set_committed_value(user, "updated_at", now)
    return IssuedToken(token=token, expires_at=expires_at, session_id=session_id)


class LiveSession:
    """The rows behind a checked session: plain values now, ORM objects on first use."""

    __slots__ = ("_attached", "_values", "user_id")

    def __init__(self, values: dict[type, dict[str, Any]]) -> None:
        self._values = values
        self._attached: tuple[User, AuthSession] | None = None
        self.user_id: uuid.UUID = values[User]["id"]

    def attach(self) -> tuple[User, AuthSession]:
        """The user and session as ORM objects in the request's session (built once)."""
        if self._attached is None:
            self._attached = _attach(self._values)
        return self._attached

    def current_user(self) -> User | SimpleNamespace:
        """The user with their settings, for views that only read them.

        The ORM object once a view has attached it (it may hold changes), plain attributes before.
        """
        if self._attached is not None:
            return self._attached[0]
        settings = self._values[UserSettings]
        return SimpleNamespace(
            **self._values[User],
            settings=SimpleNamespace(**settings) if settings["user_id"] is not None else None,
        )


def load_session(token: str) -> LiveSession:
    """The live session behind ``token``, or InvalidSession / AccountDeactivated."""
    try:
        claims = decode_token(token, current_config().jwt_secret)  # signature and exp
    except InvalidToken:
        raise InvalidSession() from None
    return LiveSession(_check_session(claims, token_hash(token), utcnow()))


def _check_session(claims: TokenClaims, presented_hash: str, now: datetime) -> dict[type, dict[str, Any]]:
    """The session, user and settings rows behind a live session; ``last_used_at`` refreshed.

    Runs on the session-check engine: autocommit, and no ping before each checkout. A connection
    the database dropped (a restart) fails the first statement; the pool then discards every
    connection older than that failure, and one retry runs on a fresh one.
    """
    engine = db.engines[SESSION_CHECK_BIND]
    for attempt in (1, 2):
        try:
            with engine.connect() as connection:
                row = connection.execute(SESSION_LOOKUP, {"session_id": claims.session_id}).first()
                if row is None:
                    raise InvalidSession()
                values = {model: _columns(row, model) for model in _LOOKUP_TABLES}
                session = values[AuthSession]
                if (
                    session["user_id"] != claims.user_id
                    or session["revoked_at"] is not None
                    or session["expires_at"] <= now
                    # The password changed or the account was deactivated since this login read it.
                    or session["credentials_version"] != values[User]["credentials_version"]
                    or not constant_time_equals(session["token_hash"], presented_hash)
                ):
                    raise InvalidSession()
                if not values[User]["is_active"]:
                    raise AccountDeactivated()
                if session["last_used_at"] <= now - SESSION_TOUCH_INTERVAL:
                    connection.execute(
                        _touch_statement(claims.session_id, now, connection.dialect.name)
                    )
                    session["last_used_at"] = now
                return values
        except DBAPIError as exc:
            if attempt == 2 or not exc.connection_invalidated:
                raise
    raise AssertionError("unreachable")


# The session check in one statement: session, user and settings rows, joined by key.
_LOOKUP_TABLES: tuple[type[Any], ...] = (AuthSession, User, UserSettings)
SESSION_LOOKUP = (
    select(*(model.__table__ for model in _LOOKUP_TABLES))
    .set_label_style(LABEL_STYLE_TABLENAME_PLUS_COL)
    .select_from(
        AuthSession.__table__.join(User.__table__).outerjoin(UserSettings.__table__)
    )
    .where(AuthSession.__table__.c.id == bindparam("session_id"))
)
_LABELS = {
    model: [(attr.key, f"{model.__table__.name}_{attr.columns[0].name}")
            for attr in sa_inspect(model).column_attrs]
    for model in _LOOKUP_TABLES
}


def _columns(row: Row[Any], model: type) -> dict[str, Any]:
    mapping = row._mapping
    return {key: mapping[label] for key, label in _LABELS[model]}


def _touch_statement(session_id: uuid.UUID, now: datetime, dialect: str) -> Update:
    """Record use of a session; guarded, so of two racing requests only one writes.

    On PostgreSQL the write does not wait for its WAL to reach the disk: the statement turns
    ``synchronous_commit`` off for its own transaction only (``set_config(..., true)``; a setting
    on the connection would not survive a transaction-pooling proxy, and would cover other
    writes). A database crash may then lose the last fraction of a second of touches, which only
    makes a listed ``lastUsedAt`` older; waiting for the flush kept the request's worker idle for
    0.5 ms at the median and several ms under load (measured in bench/README.md).
    """
    statement = (
        update(AuthSession)
        .where(
            AuthSession.id == session_id,
            AuthSession.last_used_at <= now - SESSION_TOUCH_INTERVAL,
        )
        .values(last_used_at=now)
    )
    if dialect == "postgresql":
        no_flush_wait = func.set_config("synchronous_commit", "off", true())
        statement = statement.where(no_flush_wait.is_not(None))
    return statement


def _attach(values: dict[type, dict[str, Any]]) -> tuple[User, AuthSession]:
    """ORM objects for the fetched rows, attached to the request's session without a query.

    ``make_transient_to_detached`` marks the values as loaded from the database (no pending
    changes), so a view that changes and commits an object writes only what it changed, and
    ``db.session.get`` finds the objects in the identity map instead of selecting them again.
    """
    user = User(**values[User])
    auth_session = AuthSession(**values[AuthSession])
    settings = (
        UserSettings(**values[UserSettings]) if values[UserSettings]["user_id"] is not None else None
    )
    for obj in (user, auth_session, settings):
        if obj is not None:
            make_transient_to_detached(obj)
    set_committed_value(user, "settings", settings)
    set_committed_value(auth_session, "user", user)
    if settings is not None:
        set_committed_value(settings, "user", user)
        db.session.add(settings)
    db.session.add(user)
    db.session.add(auth_session)
    return user, auth_session


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
    if result.rowcount != 1:  # type: ignore[attr-defined]  # DML: a CursorResult
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
    return int(result.rowcount)  # type: ignore[attr-defined]  # DML: a CursorResult


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
    """ValidationFailed on ``field`` unless ``password`` is the user's.

    A wrong password here counts as a failed login of the account: whoever holds a stolen token
    must not get a password oracle with a looser limit than the login's.
    """
    password_hash = user.password_hash
    # End the read transaction first: no pooled connection is held while bcrypt runs.
    db.session.commit()
    with password_attempt(account_key(user.id)):
        if not verify_password(password, password_hash):
            raise ValidationFailed(errors=[{"field": field, "message": "Password is incorrect."}])


def change_password(
    user: User, current: AuthSession, current_password: str, new_password: str
) -> int:
    """Set a new password and revoke every other session of the user; how many were revoked.

    The new password must differ from the current one (400 on ``newPassword``): "changing" to the
    same secret would end the other sessions while leaving a possibly leaked password in place.

    The user's ``credentials_version`` is bumped in the same ``UPDATE``, which ends every other
    session, written or not yet; the current session takes the new version in the same transaction
    and keeps working. The ``UPDATE`` only applies to the version this request's session check
    read: when another change won the race in between (this session is then revoked),
    InvalidSession.
    """
    user_id, current_id, version = user.id, current.id, user.credentials_version
    _require_password(user, current_password, "currentPassword")
    if constant_time_equals(current_password, new_password):
        raise ValidationFailed(
            errors=[
                {"field": "newPassword", "message": "Must differ from the current password."}
            ]
        )
    new_hash = hash_password(new_password, current_config().bcrypt_rounds)
    now = utcnow()
    changed = db.session.execute(
        update(User)
        .where(User.id == user_id, User.credentials_version == version)
        .values(
            password_hash=new_hash,
            updated_at=now,
            credentials_version=User.credentials_version + 1,
        )
        .execution_options(synchronize_session=False)
    )
    if changed.rowcount != 1:  # type: ignore[attr-defined]  # DML: a CursorResult
        db.session.rollback()
        raise InvalidSession()
    db.session.execute(
        update(AuthSession)
        .where(AuthSession.id == current_id)
        .values(credentials_version=version + 1)
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
    from audiotricks.history.service import delete_all_items
    from audiotricks.jobs.speech import remove_audio

    user_id = user.id
    _require_password(user, password, "password")
    # The items first, in the same transaction: their stored audio files are named by the rows
    # the cascade would delete unseen, and are removed once the deletion is committed.
    audio = delete_all_items(user_id)
    db.session.execute(
        delete(User).where(User.id == user_id).execution_options(synchronize_session=False)
    )
    db.session.commit()
    remove_audio(audio)
    db.session.expunge_all()  # the deleted rows must not be reloaded by anything after this
    log.info("account deleted", extra={"event": "account_deleted", "user_id": str(user_id)})


def find_user_by_login(identifier: str) -> User | None:
    """The user named by an email (it has an ``@``; normalised) or a username (any case)."""
    if "@" in identifier:
        return find_user(email=identifier)
    return find_user(username=identifier)


def set_user_active(user: User, active: bool) -> int:
    """(De)activate ``user``; deactivating revokes every session. How many were revoked.

    Deactivating also bumps ``credentials_version`` in the same ``UPDATE``, so a login in flight
    (its password already checked) cannot add a session that outlives it; reactivation leaves the
    version, so no session of before the deactivation comes back.
    """
    user_id = user.id
    now = utcnow()
    values: dict[str, Any] = {"is_active": active, "updated_at": now}
    if not active:
        values["credentials_version"] = User.credentials_version + 1
    db.session.execute(
        update(User)
        .where(User.id == user_id)
        .values(**values)
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
