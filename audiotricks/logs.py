"""Logging: JSON lines or console text, request ids, redacted secrets, one access line a request."""

from __future__ import annotations

import base64
import json
import logging
import re
import sys
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from flask import Flask, Response, g, has_request_context, request

from audiotricks.config import Config, parse_key

_STANDARD_ATTRS = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "request_id"}

REDACTED = "[REDACTED]"
# Field names whose values are secrets, compared without case, "_" or "-" (apiKey == api_key).
SENSITIVE_KEY_PARTS = (
    "password",
    "passwd",
    "secret",
    "token",
    "apikey",
    "authorization",
    "encryptionkey",
    "cookie",
    "privatekey",
)
# Value shapes that are secrets wherever they appear.
_VALUE_PATTERNS = (
    # A JWT: three base64url parts, the first a JSON header ("eyJ" is '{"').
    (re.compile(r"eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*"), REDACTED),
    (re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]{6,}"), r"\1 " + REDACTED),
    # Provider keys: OpenAI's sk-… and the like.
    (re.compile(r"\bsk-[A-Za-z0-9_-]{6,}"), REDACTED),
    # The password of a URL such as postgresql://user:password@host/db.
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^\s:/@]+):[^\s@/]+@"), r"\1:" + REDACTED + "@"),
    # key=value / "key": "value" pairs of sensitive names inside free text.
    (
        re.compile(
            r"(?i)([\"']?[a-z_-]*(?:password|passwd|secret|token|api[_-]?key|authorization"
            r"|encryption[_-]?key)[\"']?\s*[:=]\s*)(\"[^\"]*\"|'[^']*'|[^\s,;}&]+)"
        ),
        r"\1" + REDACTED,
    ),
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u0085\u2028\u2029]")
_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def is_sensitive_key(name: str) -> bool:
    """Whether a field called ``name`` holds a secret (password, token, api key, ...)."""
    key = name.lower().replace("_", "").replace("-", "")
    return any(part in key for part in SENSITIVE_KEY_PARTS)


def _escape(match: re.Match[str]) -> str:
    char = match[0]
    if char in _ESCAPES:
        return _ESCAPES[char]
    return f"\\x{ord(char):02x}" if ord(char) < 256 else f"\\u{ord(char):04x}"


def escape_control(text: str) -> str:
    """``text`` with control characters written as escapes, so it cannot start a new line."""
    return _CONTROL.sub(_escape, text)


REQUEST_SECRET_MIN = 6  # shorter values would redact ordinary words


def _sensitive_values(value: Any, found: list[str], depth: int = 0) -> None:
    """Collect the strings held under sensitive keys anywhere in a JSON value."""
    if depth > 8:
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if is_sensitive_key(str(key)) and isinstance(item, str):
                found.append(item)
            else:
                _sensitive_values(item, found, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _sensitive_values(item, found, depth + 1)


def request_secrets() -> list[str]:
    """What the current request sent as secrets: its Authorization value and the passwords and
    keys of its JSON body. Whatever quotes them later (an exception message, say) is scrubbed."""
    if not has_request_context():
        return []
    cached = g.get("_log_secrets")
    if cached is not None:
        return list(cached)
    found: list[str] = []
    try:
        authorization = request.headers.get("Authorization", "")
        found += [authorization, authorization.partition(" ")[2].strip()]
        if request.mimetype == "application/json":
            # cache=True: the view still reads the same body; silent: a bad body is not our problem.
            _sensitive_values(request.get_json(silent=True, cache=True), found)
    except Exception:  # noqa: S110 - a body too large, a closed stream: log the record all the same
        pass
    secrets = [s for s in found if len(s) >= REQUEST_SECRET_MIN]
    g._log_secrets = secrets
    return secrets


class RedactingFilter(logging.Filter):
    """Scrub secrets from a record's message, arguments, extra fields and traceback, in place.

    Installed on the handler, so every record it writes passes here, whatever logger made it.
    Scrubbed: the configured secrets given here, the secrets the current request sent, values
    under sensitive field names, and anything shaped like a token or key.
    """

    def __init__(self, secrets: Iterable[str] = ()):
        super().__init__()
        # Short values would redact ordinary words, and no configured secret is that short.
        self.secrets = {s for s in secrets if s and len(s) >= 8}

    def redact_text(self, text: str, secrets: Iterable[str] = ()) -> str:
        # Longest first, so a secret containing another is replaced whole.
        for secret in sorted(self.secrets.union(secrets), key=len, reverse=True):
            if secret in text:
                text = text.replace(secret, REDACTED)
        for pattern, replacement in _VALUE_PATTERNS:
            text = pattern.sub(replacement, text)
        return text

    def redact_value(self, value: Any, secrets: Iterable[str] = (), depth: int = 0) -> Any:
        if isinstance(value, str):
            return self.redact_text(value, secrets)
        if value is None or isinstance(value, bool | int | float):
            return value
        if depth > 8:
            return "[TRUNCATED]"
        if isinstance(value, dict):
            return {
                key: self.redact_field(str(key), item, secrets, depth + 1)
                for key, item in value.items()
            }
        if isinstance(value, list | tuple | set | frozenset):
            return [self.redact_value(item, secrets, depth + 1) for item in value]
        # Any other object is logged by its text, which is scrubbed like any string.
        return self.redact_text(str(value), secrets)

    def redact_field(self, name: str, value: Any, secrets: Iterable[str], depth: int = 0) -> Any:
        # A number under a sensitive name is a count ("tokens_revoked": 3), not a secret.
        if is_sensitive_key(name) and not (value is None or isinstance(value, bool | int | float)):
            return REDACTED
        return self.redact_value(value, secrets, depth)

    def filter(self, record: logging.LogRecord) -> bool:
        secrets = request_secrets()
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not lose the record, nor leak its args
            message = str(record.msg)
        record.msg = self.redact_text(message, secrets)
        record.args = None
        if isinstance(getattr(record, "request_id", None), str):
            record.request_id = self.redact_text(record.request_id, secrets)  # type: ignore[attr-defined]
        for key, value in list(vars(record).items()):
            if key in _STANDARD_ATTRS or key.startswith("_"):
                continue
            setattr(record, key, self.redact_field(key, value, secrets))
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact_text(record.exc_text, secrets)
        record.exc_info = None  # the scrubbed text above is what gets written
        if record.stack_info:
            record.stack_info = self.redact_text(record.stack_info, secrets)
        return True


class DevServerAccessFilter(logging.Filter):
    """Drop the development server's own request lines: the app writes one access line itself."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (
            record.name == "werkzeug"
            and isinstance(record.msg, str)
            and record.msg.endswith('"%s" %s %s\n')
        )


class RequestIdFilter(logging.Filter):
    """Stamp each record with the id of the request it belongs to (or ``-``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = g.get("request_id", "-") if has_request_context() else "-"
        return True


def _timestamp(record: logging.LogRecord) -> str:
    return (
        datetime.fromtimestamp(record.created, UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


def _extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    return {
        key: value
        for key, value in vars(record).items()
        if key not in _STANDARD_ATTRS and not key.startswith("_")
    }


class JsonFormatter(logging.Formatter):
    """One JSON object per line; extra fields given with ``extra=`` are included."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": _timestamp(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
        }
        entry.update(_extra_fields(record))
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = record.stack_info
        # json escapes every control character, so a value can never end the line.
        return json.dumps(entry, default=str, ensure_ascii=False)


class ConsoleFormatter(logging.Formatter):
    """One readable line per record; control characters escaped so none can forge a line."""

    def format(self, record: logging.LogRecord) -> str:
        line = "{} {:<7} [{}] {}: {}".format(
            _timestamp(record),
            record.levelname,
            escape_control(str(getattr(record, "request_id", "-"))),
            record.name,
            escape_control(record.getMessage()),
        )
        fields = " ".join(
            f"{escape_control(str(key))}={escape_control(json.dumps(value, default=str))}"
            for key, value in _extra_fields(record).items()
        )
        if fields:
            line += " " + fields
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        extra_text = "\n".join(t for t in (record.exc_text, record.stack_info) if t)
        if extra_text:
            # Indented, so no traceback line (which may quote input) looks like a record.
            indented = ("    | " + escape_control(part) for part in extra_text.splitlines())
            line += "\n" + "\n".join(indented)
        return line


def secrets_of(config: Config) -> list[str]:
    """The configured secret values that must never be written, as given and re-encoded."""
    values = [config.jwt_secret, config.metrics_token]
    for key in (config.encryption_key, *config.encryption_old_keys):
        values.append(key)
        try:
            raw = parse_key(key)
        except ValueError:  # validate() reports it; the text as given is still redacted
            continue
        values += [
            raw.hex(),
            base64.b64encode(raw).decode(),
            base64.urlsafe_b64encode(raw).decode(),
        ]
    return [v for v in values if v]


def configure_logging(config: Config) -> None:
    """Install one stderr handler on the root logger (idempotent across app instances)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "audiotricks", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.audiotricks = True  # type: ignore[attr-defined]
    handler.addFilter(DevServerAccessFilter())
    handler.addFilter(RequestIdFilter())
    handler.addFilter(RedactingFilter(secrets_of(config)))
    handler.setFormatter(JsonFormatter() if config.log_format == "json" else ConsoleFormatter())
    root.addHandler(handler)
    known = config.log_level in logging.getLevelNamesMapping()
    root.setLevel(config.log_level if known else "INFO")  # validate() reports a bad one
    # Alembic announces each of its plugins at INFO whenever Flask-Migrate loads it.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)


access_log = logging.getLogger("audiotricks.access")
USER_AGENT_LOG_MAX = 256


def _start_timer() -> None:
    g.request_started = time.perf_counter()


def _log_access(response: Response) -> Response:
    started = g.get("request_started")
    duration_ms = round((time.perf_counter() - started) * 1000, 1) if started else None
    user_id = g.get("user_id")
    access_log.info(
        "%s %s %s",
        request.method,
        request.path,
        response.status_code,
        extra={
            "event": "request",
            "method": request.method,
            "path": request.path,
            "status": response.status_code,
            "duration_ms": duration_ms,
            "user_id": str(user_id) if user_id is not None else None,
            "client_ip": request.remote_addr,
            "user_agent": request.user_agent.string[:USER_AGENT_LOG_MAX] or None,
        },
    )
    return response


def init_access_log(app: Flask) -> None:
    """Log one line per request; register early, so it runs after the other response hooks."""
    app.before_request(_start_timer)
    app.after_request(_log_access)
