"""Auth endpoints: thin views over :mod:`audiotricks.auth.service`."""

from __future__ import annotations

import logging
from typing import Any

from flask import Response, g, request

from audiotricks.auth import bp, service
from audiotricks.auth.decorators import require_session
from audiotricks.http import envelope, json_body, responds
from audiotricks.schemas.auth import (
    CurrentUserDataSchema,
    CurrentUserEnvelope,
    EmptyEnvelope,
    LoginEnvelope,
    LoginResultSchema,
    LoginSchema,
    RegisterSchema,
    UserDataSchema,
    UserEnvelope,
)

log = logging.getLogger(__name__)
user_data = UserDataSchema()
current_user_data = CurrentUserDataSchema()
login_result = LoginResultSchema()


@bp.post("/register")
@responds(201, UserEnvelope, 409)
@json_body(RegisterSchema)
def register(body: dict[str, Any]) -> tuple[Response, int]:
    """Create an account (and its default settings)."""
    user = service.register_user(body["email"], body["username"], body["password"])
    return envelope("Registration successful", user_data.dump({"user": user}), 201)


@bp.post("/login")
@responds(200, LoginEnvelope, 401, 403)
@json_body(LoginSchema)
def login(body: dict[str, Any]) -> tuple[Response, int]:
    """Log in with email or username and get a bearer token."""
    user = service.find_user(email=body.get("email"), username=body.get("username"))
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
    return envelope("Current user", current_user_data.dump({"user": g.user}))
