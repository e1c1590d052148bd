"""``require_session``: the gate in front of every authenticated view."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from flask import g, request

from audiotricks.auth import service
from audiotricks.errors import AuthRequired, EmailNotVerified, InvalidSession
from audiotricks.runtime import current_config

TOKEN_MAX = 4096  # far above a real token; stops pathological headers early


def bearer_token() -> str:
    """The token of an ``Authorization: Bearer`` header, or AuthRequired."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise AuthRequired()
    if len(token) > TOKEN_MAX:
        raise InvalidSession()
    return token


def require_session(view: Callable[..., Any]) -> Callable[..., Any]:
    """Check the bearer token and its session; expose ``g.user`` and ``g.auth_session``.

    ``g.user_id`` is set too: a plain value the access log can read even after the view has
    deleted the account.
    """

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        g.user, g.auth_session = service.load_session(bearer_token())
        g.user_id = g.user.id
        return view(*args, **kwargs)

    wrapper.requires_auth = True  # type: ignore[attr-defined]
    return wrapper


def require_verified_email(view: Callable[..., Any]) -> Callable[..., Any]:
    """With REQUIRE_VERIFIED_EMAIL, 403 for an account whose address is not verified.

    Goes under :func:`require_session` (it reads ``g.user``).
    """

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if current_config().require_verified_email and not g.user.email_verified:
            raise EmailNotVerified()
        return view(*args, **kwargs)

    wrapper.requires_verified_email = True  # type: ignore[attr-defined]
    return wrapper
