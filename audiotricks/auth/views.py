"""Auth endpoints: thin views over :mod:`audiotricks.auth.service`."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from flask import Response, g, request

from audiotricks.auth import bp, service
from audiotricks.auth.decorators import require_session
from audiotricks.http import envelope, json_body, responds
from audiotricks.mail.outbox import send_later_or_log
from audiotricks.ratelimits import (
    LOGIN_PER_IP,
    REGISTER_PER_IP,
    account_key,
    password_attempt,
    rate_limited,
    unknown_identifier_key,
)
from audiotricks.schemas.auth import (
    AuthSessionSchema,
    ChangePasswordSchema,
    CurrentUserDataSchema,
    CurrentUserEnvelope,
    DeleteAccountSchema,
    EmptyEnvelope,
    LoginEnvelope,
    LoginResultSchema,
    LoginSchema,
    RegisterSchema,
    RevokedCountEnvelope,
    RevokedCountSchema,
    RevokedSessionEnvelope,
    RevokedSessionSchema,
    SessionListEnvelope,
    UserDataSchema,
    UserEnvelope,
)
from audiotricks.schemas.dumping import compile_dumper

log = logging.getLogger(__name__)
user_data = UserDataSchema()
# /me is the commonest authenticated read: the same schema's fields through a cheaper dump.
dump_current_user_data = compile_dumper(CurrentUserDataSchema)
login_result = LoginResultSchema()
revoked_session = RevokedSessionSchema()
revoked_count = RevokedCountSchema()


@bp.post("/register")
@rate_limited(REGISTER_PER_IP)
@responds(201, UserEnvelope, 409)
@json_body(RegisterSchema)
def register(body: dict[str, Any]) -> tuple[Response, int]:
    """Create an account (and its default settings)."""
    user = service.register_user(body["email"], body["username"], body["password"])
    send_later_or_log("verify", user_id=user.id)  # a queue outage must not fail the registration
    return envelope("Registration successful", user_data.dump({"user": user}), 201)


@bp.post("/login")
@rate_limited(LOGIN_PER_IP)
@responds(200, LoginEnvelope, 401, 403, 429)
@json_body(LoginSchema)
def login(body: dict[str, Any]) -> tuple[Response, int]:
    """Log in with email or username and get a bearer token.

    Every password check is counted against the account's failure budget before it runs (429
    once spent, even for the right password); a successful login gives its unit back.
    """
    field = "email" if "email" in body else "username"
    identifier = body[field]
    user = service.find_user(**{field: identifier})
    if user is not None:
        budget = account_key(user.id)
    else:
        budget = unknown_identifier_key(field, service.identifier_key(field, identifier))
    with password_attempt(budget):
        user = service.authenticate(user, body["password"])
    issued = service.start_session(user, request.user_agent.string, request.remote_addr)
    log.info(
        "login succeeded",
        extra={
            "event": "login_succeeded",
            "user_id": str(user.id),
            "session_id": str(issued.session_id),
        },
    )
    result = {
        "token": issued.token,
        "token_type": "Bearer",
        "expires_at": issued.expires_at,
        "user": user,
    }
    return envelope("Login successful", login_result.dump(result))


@bp.post("/logout")
@responds(200, EmptyEnvelope)
@require_session
def logout() -> tuple[Response, int]:
    """Revoke the current session."""
    service.revoke_session(g.auth_session)
    log.info(
        "logged out",
        extra={"event": "logout", "user_id": str(g.user.id), "session_id": str(g.auth_session.id)},
    )
    return envelope("Logout successful", {})


@bp.get("/me")
@responds(200, CurrentUserEnvelope)
@require_session
def me() -> tuple[Response, int]:
    """The current user with their preferences."""
    return envelope("Current user", dump_current_user_data({"user": g.live_session.current_user()}))


@bp.get("/sessions")
@responds(200, SessionListEnvelope)
@require_session
def list_sessions() -> tuple[Response, int]:
    """The caller's live sessions, newest first; ``current`` marks this one."""
    sessions = service.live_sessions(g.user)
    schema = AuthSessionSchema(many=True, current_session_id=g.auth_session.id)
    return envelope("Active sessions", {"sessions": schema.dump(sessions)})


@bp.delete("/sessions/<uuid:session_id>")
@responds(200, RevokedSessionEnvelope, 404)
@require_session
def revoke_session(session_id: uuid.UUID) -> tuple[Response, int]:
    """Revoke one of the caller's live sessions (the current one too: that is a logout).

    Another user's session, an unknown, revoked or expired one is a 404; so is an id that is not a
    UUID (the route does not match it).
    """
    current = session_id == g.auth_session.id
    service.revoke_user_session(g.user, session_id)
    data = revoked_session.dump({"session_id": session_id, "current": current})
    return envelope("Session revoked", data)


@bp.delete("/sessions")
@responds(200, RevokedCountEnvelope)
@require_session
def revoke_other_sessions() -> tuple[Response, int]:
    """Revoke every session of the caller except the current one."""
    revoked = service.revoke_other_sessions(g.user, g.auth_session)
    return envelope("Other sessions revoked", revoked_count.dump({"revoked": revoked}))


@bp.put("/password")
@responds(200, EmptyEnvelope, 429)
@require_session
@json_body(ChangePasswordSchema)
def change_password(body: dict[str, Any]) -> tuple[Response, int]:
    """Change the caller's password and revoke their other sessions.

    A wrong ``currentPassword`` is a 400 on that field and counts as a failed login of the
    account (429 once the budget is spent); a ``newPassword`` equal to the current one is a 400
    on ``newPassword``. The current session keeps working.
    """
    user_id = g.user.id
    service.change_password(
        g.user, g.auth_session, body["current_password"], body["new_password"]
    )
    send_later_or_log("password_changed", user_id=user_id)
    return envelope("Password changed", {})


@bp.delete("/me")
@responds(200, EmptyEnvelope, 429)
@require_session
@json_body(DeleteAccountSchema)
def delete_account(body: dict[str, Any]) -> tuple[Response, int]:
    """Delete the caller's account with its sessions and settings (the password confirms it).

    A wrong ``password`` is a 400 on that field and counts as a failed login of the account (429
    once the budget is spent). The email and username become free again.
    """
    service.delete_account(g.user, body["password"])
    return envelope("Account deleted", {})
