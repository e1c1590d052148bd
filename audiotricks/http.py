"""HTTP conventions: JSON bodies, the success envelope, request ids and cache headers."""

from __future__ import annotations

import functools
import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Flask, Response, g, jsonify, request
from marshmallow import Schema, ValidationError
from werkzeug.exceptions import RequestEntityTooLarge

from audiotricks.errors import MalformedJson, UnsupportedMediaType, ValidationFailed, field_errors

REQUEST_ID_HEADER = "X-Request-ID"
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")


def envelope(message: str, data: dict[str, Any], status: int = 200) -> tuple[Response, int]:
    """Every success body: ``{"message": ..., "data": {...}}``."""
    return jsonify({"message": message, "data": data}), status


# Deeper bodies are refused: no request needs them, and they only serve to exhaust a parser.
JSON_MAX_DEPTH = 32


class _DuplicateKey(ValueError):
    """Two members of one JSON object share a name: readers disagree on which one counts."""


def _reject_constant(name: str) -> None:
    # NaN and Infinity are Python extensions, not JSON.
    raise ValueError(f"invalid JSON constant {name}")


def _unique_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise _DuplicateKey()
    return obj


def json_depth_exceeds(value: Any, limit: int = JSON_MAX_DEPTH) -> bool:
    """Whether ``value`` nests objects and arrays deeper than ``limit`` (``{}`` is depth 1).

    Iterative, so no input can exhaust the stack here.
    """
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if not isinstance(item, dict | list):
            continue
        if depth > limit:
            return True
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children)
    return False


def _body_error(message: str) -> ValidationFailed:
    return ValidationFailed(errors=[{"field": "body", "message": message}])


def loads_json(raw: bytes) -> Any:
    """Parse a request body strictly: UTF-8, no NaN, no duplicate keys, at most 32 levels deep.

    Every reader of a body (the view, the logs' secret scrubbing, a rate-limit key) must see the
    same value; a duplicate key would let two readers disagree, so it is refused outright.
    """
    try:
        payload = json.loads(
            raw.decode("utf-8"),
            parse_constant=_reject_constant,
            object_pairs_hook=_unique_object,
        )
    except _DuplicateKey:
        raise _body_error("Must not contain duplicate keys.") from None
    except RecursionError:  # the parser's own stack limit: far deeper than allowed
        raise _body_error(f"Must not be nested deeper than {JSON_MAX_DEPTH} levels.") from None
    except (UnicodeDecodeError, ValueError):
        raise MalformedJson() from None
    if json_depth_exceeds(payload):
        raise _body_error(f"Must not be nested deeper than {JSON_MAX_DEPTH} levels.")
    return payload


def unstorable(text: str) -> bool:
    """True for NUL or an unpaired surrogate (JSON "\\ud800"): UTF-8 and the engines refuse both."""
    if "\x00" in text:
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _unstorable_paths(value: Any, path: str = "") -> list[str]:
    """Dotted paths of the strings (keys included) that :func:`unstorable` refuses."""
    if isinstance(value, str):
        return [path or "body"] if unstorable(value) else []
    found: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if unstorable(key):
                found.append(path or "body")
                continue
            found += _unstorable_paths(item, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _unstorable_paths(item, f"{path}.{index}" if path else str(index))
    return found


def read_body() -> bytes:
    """The raw request body, or 413 when it is larger than MAX_CONTENT_LENGTH.

    Werkzeug refuses an oversized body up front only when ``Content-Length`` announces it; a
    streamed (chunked) body is silently cut at the limit. One byte more past the limit means
    the body did not fit.
    """
    raw = request.get_data(cache=True)
    limit = request.max_content_length
    streamed = request.content_length is None
    if streamed and limit is not None and len(raw) >= limit and request.environ["wsgi.input"].read(1):
        raise RequestEntityTooLarge()
    return raw


def parse_json_object() -> dict[str, Any]:
    """The request body as a JSON object, or the contract's 415 / 400."""
    if request.mimetype != "application/json":
        raise UnsupportedMediaType()
    charset = request.mimetype_params.get("charset", "utf-8").lower()
    if charset not in ("utf-8", "utf8"):
        raise UnsupportedMediaType("Request body must be UTF-8 encoded JSON")
    payload = loads_json(read_body())
    if not isinstance(payload, dict):
        raise _body_error("Request body must be a JSON object.")
    refused = _unstorable_paths(payload)
    if refused:
        message = "Must not contain NUL characters or unpaired surrogates."
        raise ValidationFailed(
            errors=[{"field": name, "message": message} for name in dict.fromkeys(refused)]
        )
    return payload


def json_body(schema_class: type[Schema]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Validate the JSON body with ``schema_class`` and pass it to the view as ``body``.

    The schema is recorded on the view, so the OpenAPI document describes exactly what validates.
    """
    schema = schema_class()

    def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                body = schema.load(parse_json_object())
            except ValidationError as exc:
                raise ValidationFailed(errors=field_errors(exc.messages)) from None
            return view(*args, body=body, **kwargs)

        wrapper.request_schema = schema_class  # type: ignore[attr-defined]
        return wrapper

    return decorator


def query_args(schema_class: type[Schema]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Validate the query string with ``schema_class`` and pass it to the view as ``query``.

    A parameter given twice is a 400 on it (which one would count?), as is an unknown one. The
    schema is recorded on the view, so the OpenAPI document lists exactly these parameters.
    """
    schema = schema_class()

    def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            given = request.args
            problems = [
                {"field": name, "message": "Must be given once."}
                for name in given
                if len(given.getlist(name)) > 1
            ]
            problems += [
                {"field": name, "message": "Must not contain NUL characters."}
                for name in _unstorable_paths(given.to_dict())
            ]
            if problems:
                raise ValidationFailed(errors=problems)
            try:
                query = schema.load(given.to_dict())
            except ValidationError as exc:
                raise ValidationFailed(errors=field_errors(exc.messages)) from None
            return view(*args, query=query, **kwargs)

        wrapper.query_schema = schema_class  # type: ignore[attr-defined]
        return wrapper

    return decorator


@dataclass(frozen=True)
class Download:
    """A response that is a file rather than an envelope: the content types it may have."""

    content_types: tuple[str, ...]


ResponseBody = type[Schema] | Download | None  # None: no body (a 304, say)


def multipart_form(schema: type[Schema]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Document a multipart body, file parts included (OpenAPI only: the view parses it)."""

    def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
        view.request_form = schema  # type: ignore[attr-defined]
        return view

    return decorator


def responds(
    status: int,
    schema: ResponseBody,
    *errors: int | tuple[int, ResponseBody] | tuple[int, ResponseBody, str],
    request_headers: tuple[str, ...] = (),
    response_headers: dict[str, str] | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Document the view's success response and the other statuses it can give (OpenAPI only).

    An error is a status (answered with the error body), ``(status, schema)`` for another body, or
    ``(status, schema, description)`` to say what that status means on this route.
    ``request_headers`` names optional request headers the view reads (``If-Match``, say);
    ``response_headers`` maps headers of the success response to their meaning (``ETag``, say).
    """

    def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
        view.response_doc = (status, schema, errors)  # type: ignore[attr-defined]
        view.request_headers = request_headers  # type: ignore[attr-defined]
        view.response_headers = dict(response_headers or {})  # type: ignore[attr-defined]
        return view

    return decorator


def _assign_request_id() -> None:
    supplied = request.headers.get(REQUEST_ID_HEADER, "")
    g.request_id = supplied if _SANE_REQUEST_ID.fullmatch(supplied) else uuid.uuid4().hex


def _finish_response(response: Response) -> Response:
    response.headers[REQUEST_ID_HEADER] = g.get("request_id") or uuid.uuid4().hex
    if request.path.startswith("/api/"):
        # An event stream also says no-cache, the form proxies look for on streams.
        streaming = response.mimetype == "text/event-stream"
        response.headers["Cache-Control"] = "no-cache, no-store" if streaming else "no-store"
    return response


def init_http(app: Flask) -> None:
    """Install the request-id and cache-header hooks."""
    app.before_request(_assign_request_id)
    app.after_request(_finish_response)
