"""``require_session``: the gate in front of every authenticated view."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, cast

from flask import g, request
from flask.ctx import _AppCtxGlobals

from audiotricks.auth import service
from audiotricks.errors import AuthRequired, EmailNotVerified, InvalidSession
from audiotricks.models import AuthSession, User
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


class RequestGlobals(_AppCtxGlobals):
    """Flask's ``g``, with the caller's user and session as ORM objects built when first read.

    Most authenticated reads never touch them (measured in bench/README.md); a view that does gets
    objects attached to the request's database session, as if it had loaded them.
    """

    @property
    def user(self) -> User:
        return cast("service.LiveSession", self.live_session).attach()[0]

    @property
    def auth_session(self) -> AuthSession:
        return cast("service.LiveSession", self.live_session).attach()[1]


def require_session(view: Callable[..., Any]) -> Callable[..., Any]:
    """Check the bearer token and its session; expose ``g.user`` and ``g.auth_session``.

    Both are ORM objects built on first use (:class:`RequestGlobals`); ``g.live_session`` holds the
    checked rows. ``g.user_id`` is set too: a plain value the access log can read even after the
    view has deleted the account.
    """

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        g.live_session = service.load_session(bearer_token())
        g.user_id = g.live_session.user_id
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
