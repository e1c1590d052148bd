"""The contract's error table: typed exceptions and the one place that turns them into JSON."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from flask import Flask, Response, jsonify
from marshmallow import ValidationError
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An error the client caused or must know about; ``message`` is safe to show."""

    status = 500
    message = "Internal server error"

    def __init__(
        self,
        message: str | None = None,
        *,
        errors: list[dict[str, str]] | None = None,
        headers: Mapping[str, str] | None = None,
    ):
        super().__init__(message or self.message)
        self.message = message or self.message
        self.errors = errors
        self.headers = dict(headers or {})


class BadRequest(ApiError):
    status = 400
    message = "Bad request"


class ValidationFailed(BadRequest):
    message = "Validation failed"


class MalformedJson(BadRequest):
    message = "Malformed JSON body"


class Unauthorized(ApiError):
    status = 401

    def __init__(self, message: str | None = None, **kwargs: Any):
        super().__init__(message, **kwargs)
        self.headers.setdefault("WWW-Authenticate", "Bearer")


class AuthRequired(Unauthorized):
    message = "Authentication required"


class InvalidSession(Unauthorized):
    message = "Invalid or expired session"


class InvalidCredentials(Unauthorized):
    message = "Invalid credentials"


class AccountDeactivated(ApiError):
    status = 403
    message = "Account is deactivated"


class EmailNotVerified(ApiError):
    """REQUIRE_VERIFIED_EMAIL is on and the account's address was never confirmed."""

    status = 403
    message = "Email not verified"


class NotFound(ApiError):
    status = 404
    message = "Resource not found"


class Conflict(ApiError):
    status = 409
    message = "Conflict"


class StoredKeyUndecryptable(Conflict):
    """A stored API key no longer decrypts (tampered, moved, or its encryption key is gone).

    409: the stored state conflicts with the request, and the client resolves it by storing the
    key again. The cause goes to the server log only.
    """

    message = "Stored API key cannot be decrypted; store it again"


class UnsupportedMediaType(ApiError):
    status = 415
    message = "Request body must be JSON (Content-Type: application/json)"


class TooManyRequests(ApiError):
    status = 429
    message = "Too many requests"


class ServiceUnavailable(ApiError):
    status = 503
    message = "Service temporarily unavailable"


# Texts for the framework's own errors (routing, body size), in the contract's words.
HTTP_MESSAGES = {
    404: "Resource not found",
    405: "Method not allowed",
    413: "Request body too large",
    415: UnsupportedMediaType.message,
    429: TooManyRequests.message,
}


def field_errors(messages: Any, prefix: str = "") -> list[dict[str, str]]:
    """Flatten marshmallow's nested messages into ``[{field, message}]`` with dotted paths."""
    if isinstance(messages, str):
        return [{"field": prefix or "body", "message": messages}]
    if isinstance(messages, list):
        out: list[dict[str, str]] = []
        for item in messages:
            out += field_errors(item, prefix)
        return out
    out = []
    for key, value in messages.items():
        name = "" if key == "_schema" else str(key)
        path = ".".join(p for p in (prefix, name) if p)
        out += field_errors(value, path)
    return out


def error_response(
    status: int,
    message: str,
    errors: list[dict[str, str]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """The contract's error body: ``{"error": ...}``, plus ``errors`` for validation."""
    body: dict[str, Any] = {"error": message}
    if errors is not None:
        body["errors"] = errors
    response = jsonify(body)
    response.status_code = status
    response.headers.update(headers or {})
    return response


def _rollback() -> None:
    from audiotricks.extensions import db

    try:
        db.session.rollback()
    except Exception:  # the connection may be gone; the session is discarded anyway
        log.debug("rollback after error failed", exc_info=True)


def register_error_handlers(app: Flask) -> None:
    """Answer every failure with the contract's JSON shape and never a traceback."""

    @app.errorhandler(ApiError)
    def handle_api_error(exc: ApiError) -> Response:
        return error_response(exc.status, exc.message, exc.errors, exc.headers)

    @app.errorhandler(ValidationError)
    def handle_validation_error(exc: ValidationError) -> Response:
        return error_response(400, ValidationFailed.message, field_errors(exc.messages))

    @app.errorhandler(HTTPException)
    def handle_http_exception(exc: HTTPException) -> Response:
        # Start from Werkzeug's response so headers such as Allow survive.
        response = exc.get_response()
        status = exc.code or 500
        message = HTTP_MESSAGES.get(status) or exc.name
        body = error_response(status, message)
        for name, value in response.headers.items():
            if name.lower() not in ("content-type", "content-length"):
                body.headers[name] = value
        return body

    @app.errorhandler(OperationalError)
    @app.errorhandler(PoolTimeoutError)
    def handle_database_unavailable(exc: Exception) -> Response:
        _rollback()
        log.error("database unavailable: %s", type(exc).__name__)
        return error_response(503, ServiceUnavailable.message)

    @app.errorhandler(StaleDataError)
    def handle_vanished_row(exc: StaleDataError) -> Response:
        # The row changed under us was deleted meanwhile: the account (and its sessions) went
        # away by another request, so this session is no longer valid.
        _rollback()
        log.info("row deleted by a concurrent request: %s", type(exc).__name__)
        return error_response(401, InvalidSession.message, headers={"WWW-Authenticate": "Bearer"})

    @app.errorhandler(DBAPIError)
    def handle_database_error(exc: DBAPIError) -> Response:
        _rollback()
        if exc.connection_invalidated:
            log.error("database connection lost: %s", type(exc.orig).__name__)
            return error_response(503, ServiceUnavailable.message)
        log.exception("database error")
        return error_response(500, ApiError.message)

    @app.errorhandler(Exception)
    def handle_unexpected(exc: Exception) -> Response:
        _rollback()
        log.exception("unhandled exception")
        return error_response(500, ApiError.message)
