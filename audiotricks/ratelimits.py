"""Rate limits (Flask-Limiter): per client IP on every ``/api/`` route, tighter on login and register.

Views declare their limits with :func:`rate_limited`; :func:`init_rate_limits` builds one
Limiter per app and applies them. One per app, not a module-level instance: Flask-Limiter keeps its
storage, key prefix and fallback state on the Limiter object, so two apps in one process (tests,
scripts) would otherwise share counters and settings.

When the storage (Redis) is unreachable the limiter fails open onto per-instance in-memory
counters and logs a warning; it checks the storage again with a growing back-off and goes back to
it once it answers. A Redis outage therefore never turns into failed requests.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, current_app, request
from flask_limiter import Limiter, RequestLimit
from werkzeug.exceptions import HTTPException

from audiotricks.config import Config

log = logging.getLogger(__name__)

LIMITER_KEY = "audiotricks.limiter"

# Rule names a view may ask for, mapped to the Limiter.limit arguments built from Config.
LOGIN_PER_IP = "login_per_ip"
LOGIN_PER_ACCOUNT = "login_per_account"
REGISTER_PER_IP = "register_per_ip"

# Longer identifiers fail validation (400) and are never counted, so they are not looked up.
IDENTIFIER_MAX = 254

# A slow or blackholed Redis must not hold requests for long before the fallback takes over.
REDIS_OPTIONS: dict[str, str | int] = {"socket_connect_timeout": 1, "socket_timeout": 1}


def rate_limited(*rules: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Mark a view with the named limits; :func:`init_rate_limits` enforces them per app."""

    def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
        view.rate_limits = rules  # type: ignore[attr-defined]
        return view

    return decorator


def client_ip() -> str:
    """The socket peer; ProxyFix rewrites it only when TRUSTED_PROXY_COUNT proxies are trusted."""
    return request.remote_addr or "unknown"


def account_key() -> str:
    """The account a login names: its user id, or a digest of the identifier when none exists.

    Keyed on the account rather than on what was typed, so failures by email and by username
    count against one limit, and a limited account is refused whichever it is named by. An
    unknown identifier is keyed on a digest of its lower-cased form, so no address ends up in
    the storage or in Flask-Limiter's own log lines. Read from the raw body because the limit
    is checked before the view validates it.
    """
    from audiotricks.auth.service import find_user
    from audiotricks.http import unstorable

    try:
        body = request.get_json(silent=True)
    except HTTPException:  # too large: the view answers 413 itself
        body = None
    if isinstance(body, dict):
        for field in ("email", "username"):
            value = body.get(field)
            if (
                isinstance(value, str)
                and value.strip()
                and len(value) <= IDENTIFIER_MAX
                and not unstorable(value)
            ):
                user = find_user(**{field: value})
                if user is not None:
                    return f"user:{user.id}"
                digest = hashlib.sha256(value.strip().lower().encode()).hexdigest()[:32]
                return f"{field}:{digest}"
    return "no-account"  # not a valid login; it gets a 400 and is never counted


def _failed_login(response: Response) -> bool:
    return response.status_code == 401


def _not_api() -> bool:
    # Preflights do no work and must not eat the client's budget; /health is for load balancers.
    return request.method == "OPTIONS" or not request.path.startswith("/api/")


def _log_breach(limit: RequestLimit) -> None:
    log.warning(
        "rate limit exceeded",
        extra={"event": "rate_limited", "limit": str(limit.limit), "path": request.path},
    )


def _route_limits(config: Config) -> dict[str, dict[str, Any]]:
    post_only: dict[str, Any] = {"methods": ["POST"], "override_defaults": False}
    return {
        LOGIN_PER_IP: {"limit_value": config.ratelimit_login, **post_only},
        # Only failed logins count; once the account is over, every login for it gets 429.
        LOGIN_PER_ACCOUNT: {
            "limit_value": config.ratelimit_login_account,
            "key_func": account_key,
            "deduct_when": _failed_login,
            **post_only,
        },
        REGISTER_PER_IP: {"limit_value": config.ratelimit_register, **post_only},
    }


def init_rate_limits(app: Flask, config: Config) -> Limiter:
    """Build this app's Limiter and apply the limits its views declare (after blueprints)."""
    storage_options = REDIS_OPTIONS if config.ratelimit_storage_uri.startswith("redis") else {}
    limiter = Limiter(
        key_func=client_ip,
        default_limits=[config.ratelimit_default],
        default_limits_exempt_when=_not_api,
        headers_enabled=True,
        storage_uri=config.ratelimit_storage_uri,
        storage_options=storage_options,
        strategy="fixed-window",
        key_prefix=config.ratelimit_key_prefix,
        swallow_errors=True,
        in_memory_fallback_enabled=True,
        on_breach=_log_breach,
        enabled=config.ratelimit_enabled,
    )
    # Registered before the Limiter's own hook, so they run after it (Flask runs them in reverse).
    app.after_request(_retry_after_only_when_limited)
    app.after_request(_tightest_limit_in_headers)
    rules = _route_limits(config)
    for endpoint, view in list(app.view_functions.items()):
        wrapped: Callable[..., Any] = view
        for rule in reversed(getattr(view, "rate_limits", ())):
            wrapped = limiter.limit(**rules[rule])(wrapped)
        app.view_functions[endpoint] = wrapped
    limiter.init_app(app)
    app.extensions[LIMITER_KEY] = limiter
    return limiter


def _retry_after_only_when_limited(response: Response) -> Response:
    # Flask-Limiter sends Retry-After with every limited response; it only means something on a 429.
    if response.status_code not in (429, 503):
        response.headers.pop("Retry-After", None)
    return response


def _tightest_limit_in_headers(response: Response) -> Response:
    # Flask-Limiter reports the limit with the shortest window; on login, where three limits
    # apply, the client is better served by the one closest to running out.
    limiter: Limiter | None = current_app.extensions.get(LIMITER_KEY)
    if limiter is None or response.status_code == 429 or "X-RateLimit-Limit" not in response.headers:
        return response
    limits = limiter.current_limits
    if len(limits) < 2:
        return response
    try:
        stats = [(limit.remaining, limit.reset_at, limit.limit.amount) for limit in limits]
    except Exception:  # storage down: keep what Flask-Limiter wrote
        log.debug("rate limit stats unavailable", exc_info=True)
        return response
    remaining, reset_at, amount = min(stats, key=lambda item: (item[0], -item[1]))
    response.headers["X-RateLimit-Limit"] = str(amount)
    response.headers["X-RateLimit-Remaining"] = str(remaining)
    response.headers["X-RateLimit-Reset"] = str(reset_at)
    return response


def close_rate_limit_storage(app: Flask) -> None:
    """Close the app's connections to its rate-limit storage (for apps that end before the process)."""
    limiter: Limiter | None = app.extensions.get(LIMITER_KEY)
    if limiter is None or not limiter.initialized:
        return
    client = getattr(limiter.storage, "storage", None)  # the redis client of a Redis storage
    if client is not None and hasattr(client, "close"):
        client.close()
