"""Rate limits (Flask-Limiter): per client IP on every ``/api/`` route, tighter on login and register.

Views declare their limits with :func:`rate_limited`; :func:`init_rate_limits` builds one
Limiter per app and applies them. One per app, not a module-level instance: Flask-Limiter keeps its
storage, key prefix and fallback state on the Limiter object, so two apps in one process (tests,
scripts) would otherwise share counters and settings.

Storage: ``memory://`` counts in one process; the ``sqlite:///`` storage (the default, a file in
the instance folder, :mod:`.sqlite_storage`) is shared by every worker of a host; ``redis://`` by
every instance. When the storage is unreachable the limiter falls back onto per-process in-memory
counters and logs a warning; it checks the storage again with a growing back-off and goes back to
it once it answers. A storage outage therefore never turns into failed requests, and never into
uncounted password guesses either.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask, Response, current_app, g, request
from flask_limiter import Limiter, RequestLimit
from limits import RateLimitItem, parse
from limits.storage import MemoryStorage
from limits.strategies import FixedWindowRateLimiter, RateLimiter

from audiotricks.config import Config
from audiotricks.errors import TooManyRequests
from audiotricks.ratelimits import (
    sqlite_storage,  # noqa: F401  (registers the sqlite:// scheme)
    window,
)
from audiotricks.runtime import current_config

log = logging.getLogger(__name__)

LIMITER_KEY = "audiotricks.limiter"

# Rule names a view may ask for, mapped to the Limiter.limit arguments built from Config.
LOGIN_PER_IP = "login_per_ip"
REGISTER_PER_IP = "register_per_ip"
FORGOT_PER_IP = "forgot_per_ip"
# The mails one address or account may be sent on request (RATELIMIT_MAIL), counted by spend().
MAIL_SCOPE = "mail-requests"
# The failed-password budget of an account (RATELIMIT_LOGIN_ACCOUNT) is counted by
# password_attempt() inside the views, not by a Flask-Limiter decorator: see its docstring.
ACCOUNT_SCOPE = "password-attempts"
IDENTIFIER_DOMAIN = "audiotricks rate-limit identifier"
UNMATCHED_ROUTE = "unmatched-route"
FALLBACK_KEY = "audiotricks.limiter_fallback"

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


def _request_identity() -> str:
    # Flask-Limiter exempts requests that match no route; /api/ ones (404, 405) share one budget.
    if request.endpoint:
        return request.endpoint
    return UNMATCHED_ROUTE if request.path.startswith("/api/") else ""


def account_key(user_id: object) -> str:
    """The failed-password budget of an account: one, whether it is named by email or username."""
    return f"user:{user_id}"


def unknown_identifier_key(field: str, identifier: str) -> str:
    """The budget of a login name that matches no account, keyed on a keyed hash of it.

    HMAC with a secret of this deployment: no address reaches the storage, and a dump of the
    storage cannot be reversed by hashing a dictionary of addresses. ``identifier`` is given in
    its stored (normalised) form, so every spelling of one name shares one budget.
    """
    secret = current_config().jwt_secret.encode()
    mac = hmac.new(secret, f"{IDENTIFIER_DOMAIN}:{field}:{identifier}".encode(), hashlib.sha256)
    return f"{field}:{mac.hexdigest()[:32]}"


@contextmanager
def password_attempt(account: str) -> Iterator[None]:
    """Count one password check against ``account``'s failure budget; 429 once it is spent.

    The attempt is counted before the password is checked, atomically (one increment that also
    answers whether the budget allows it), so parallel guesses cannot overshoot the limit; an
    attempt that succeeds gives its unit back. Anything else (a wrong password, an error) keeps
    it counted: a failure inside the guard never lets a guess through uncounted. When the storage
    is unreachable the count moves to this process's memory, as for every other limit.
    """
    limiter: Limiter | None = current_app.extensions.get(LIMITER_KEY)
    if limiter is None or not limiter.enabled:
        yield
        return
    config = current_config()
    item = parse(config.ratelimit_login_account)
    identifiers = (config.ratelimit_key_prefix, ACCOUNT_SCOPE, account)
    strategy = _hit(limiter, item, identifiers)
    yield
    try:
        strategy.storage.incr(item.key_for(*identifiers), item.get_expiry(), amount=-1)
    except Exception:  # a lost refund only makes the limit stricter
        log.debug("could not give back a password attempt", exc_info=True)


def spend(limit: str, scope: str, key: str) -> None:
    """Count one request against ``key``'s budget of ``limit`` in ``scope``; 429 once spent.

    For budgets keyed on something in the body (an address) or on the account rather than the
    client IP; counted atomically, in the same storage (and fallback) as every other limit.
    """
    limiter: Limiter | None = current_app.extensions.get(LIMITER_KEY)
    if limiter is None or not limiter.enabled:
        return
    _hit(limiter, parse(limit), (current_config().ratelimit_key_prefix, scope, key))


def _hit(limiter: Limiter, item: RateLimitItem, identifiers: tuple[str, ...]) -> RateLimiter:
    """Count one hit; 429 when over. The strategy that counted it (the fallback when the
    storage is unreachable)."""
    strategy = limiter.limiter
    try:
        allowed = strategy.hit(item, *identifiers)
    except Exception:
        log.warning("Rate limit storage unreachable - counting in memory")
        strategy = current_app.extensions[FALLBACK_KEY]
        allowed = strategy.hit(item, *identifiers)
    if not allowed:
        _refuse(strategy, item, identifiers)
    return strategy


def _refuse(strategy: RateLimiter, item: RateLimitItem, identifiers: tuple[str, ...]) -> None:
    log.warning(
        "rate limit exceeded",
        extra={"event": "rate_limited", "limit": str(item), "path": request.path},
    )
    reset_at = int(strategy.get_window_stats(item, *identifiers).reset_time)
    g.rate_limit_headers = {
        "X-RateLimit-Limit": str(item.amount),
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": str(reset_at),
        "Retry-After": str(max(1, reset_at - int(time.time()))),
    }
    raise TooManyRequests()


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
        REGISTER_PER_IP: {"limit_value": config.ratelimit_register, **post_only},
        FORGOT_PER_IP: {"limit_value": config.ratelimit_forgot, **post_only},
    }


class ApiLimiter(Limiter):
    """Flask-Limiter, consulted only for requests to /api/ (preflights excepted).

    Its request hook otherwise does its bookkeeping (exemption scopes, the request's context)
    before its filters tell it that ``/health`` is exempt.
    """

    def _check_request_limit(self, callable_name: str | None = None, in_middleware: bool = True) -> None:
        if not _not_api():
            super()._check_request_limit(callable_name, in_middleware)


def init_rate_limits(app: Flask, config: Config) -> Limiter:
    """Build this app's Limiter and apply the limits its views declare (after blueprints)."""
    storage_options = REDIS_OPTIONS if config.ratelimit_storage_uri.startswith("redis") else {}
    limiter = ApiLimiter(
        key_func=client_ip,
        default_limits=[config.ratelimit_default],
        default_limits_exempt_when=_not_api,
        headers_enabled=True,
        storage_uri=config.ratelimit_storage_uri,
        storage_options=storage_options,
        # fixed-window, counting a hit and reading its window in one storage call (see .window)
        strategy=window.NAME,
        key_prefix=config.ratelimit_key_prefix,
        swallow_errors=True,
        in_memory_fallback_enabled=True,
        on_breach=_log_breach,
        request_identifier=_request_identity,
        enabled=config.ratelimit_enabled,
    )
    # Registered before the Limiter's own hook, so they run after it (Flask runs them in reverse).
    app.after_request(_retry_after_only_when_limited)
    app.after_request(_rate_limit_headers)
    rules = _route_limits(config)
    for endpoint, view in list(app.view_functions.items()):
        wrapped: Callable[..., Any] = view
        for rule in reversed(getattr(view, "rate_limits", ())):
            wrapped = limiter.limit(**rules[rule])(wrapped)
        app.view_functions[endpoint] = wrapped
    limiter.init_app(app)
    app.extensions[LIMITER_KEY] = limiter
    app.extensions[FALLBACK_KEY] = FixedWindowRateLimiter(MemoryStorage())
    return limiter


def _retry_after_only_when_limited(response: Response) -> Response:
    # Flask-Limiter sends Retry-After with every limited response; it only means something on a 429.
    if response.status_code not in (429, 503):
        response.headers.pop("Retry-After", None)
    return response


def _rate_limit_headers(response: Response) -> Response:
    # An account's password budget, once spent, is reported on its 429 (which says as much);
    # never on other answers, where the remaining count would link an address to a username.
    refused = g.get("rate_limit_headers")
    if refused is not None and response.status_code == 429:
        for name, value in refused.items():
            response.headers[name] = value
        return response
    # Flask-Limiter reports the limit with the shortest window; on login, where two limits
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
