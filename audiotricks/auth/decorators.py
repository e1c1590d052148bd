"""``require_session``: the gate in front of every authenticated view."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from flask import g, request

from audiotricks.auth import service
from audiotricks.errors import AuthRequired, InvalidSession

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
