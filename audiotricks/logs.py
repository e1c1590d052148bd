"""Logging: JSON lines or console text, request ids, redacted secrets, one access line a request."""

from __future__ import annotations

import base64
import contextlib
import functools
import json
import logging
import re
import sys
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from flask import Flask, Response, g, has_request_context, request

from audiotricks.config import Config, parse_key
from audiotricks.fast_json import dumps_line

_STANDARD_ATTRS = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "request_id"}

REDACTED = "[REDACTED]"
# A record attribute naming extra fields whose values the app built itself from nothing a client
# or a secret can put there (a status code, an id from the database): the filter skips them.
SAFE_FIELDS_ATTR = "_redaction_safe"
# The access line's fields of that kind (the client's address is the socket's, or one a trusted
# proxy gave that parsed as an address); method, path, user agent and the message are redacted.
_ACCESS_SAFE_FIELDS = frozenset({"event", "status", "duration_ms", "user_id", "client_ip"})
# Longest text of one field (message, extra value, traceback) that is scrubbed and written; the rest
# is cut. No log line needs more, and it bounds the work a huge client-controlled value can cause.
REDACT_MAX_CHARS = 8192
# Client-controlled parts of the access line, cut shorter still.
PATH_LOG_MAX = 512
USER_AGENT_LOG_MAX = 256
METHOD_LOG_MAX = 16
CLIENT_IP_LOG_MAX = 64  # an IPv6 address is at most 45 characters
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
# Value shapes that are secrets wherever they appear. Each runs on client-controlled text, so each
# is linear: it starts on a fixed word or character (no open-ended scan before it), and its runs are
# possessive (``*+``), so a failed match gives no characters back for another try.
_JWT = re.compile(
    # A JWT: three base64url parts, the first a JSON header ("eyJ" is '{"'). The first run is taken
    # whole even when no JWT follows, so the search resumes after it rather than at the next "eyJ"
    # inside it (which would scan the same run again).
    r"eyJ[A-Za-z0-9_-]*+(?P<rest>\.[A-Za-z0-9_-]*+\.[A-Za-z0-9_-]*+)?"
)
# Each pattern with the words one of its matches must contain (lowercase), looked for first: a
# substring search is many times cheaper than trying the pattern at every position.
_VALUE_PATTERNS = (
    (("bearer",), re.compile(r"(?i)\b(bearer)\s++[A-Za-z0-9._~+/=-]{6,}+"), r"\1 " + REDACTED),
    # Provider keys: OpenAI's sk-… and the like.
    (("sk-",), re.compile(r"\bsk-[A-Za-z0-9_-]{6,}+"), REDACTED),
    # The password of a URL such as postgresql://user:password@host/db (or redis://:password@host:
    # no user), whatever the scheme.
    (("://",), re.compile(r"://([^\s:/@]*+):[^\s@/]++@"), r"://\1:" + REDACTED + "@"),
    # key=value / "key": "value" pairs of sensitive names inside free text. What comes before the
    # name (api_key's "api_", a quote) is kept as it is, so the match starts at the name itself.
    (
        ("passw", "secret", "token", "key", "authorization"),
        re.compile(
            r"(?i)((?:password|passwd|secret|token|api[_-]?key|authorization|encryption[_-]?key)"
            r"[\"']?\s*+[:=]\s*+)(\"[^\"]*+\"|'[^']*+'|[^\s,;}&]++)"
        ),
        r"\1" + REDACTED,
    ),
)
# Any word of the patterns above, in lowercase ASCII text: most strings logged (a method, a path, a
# user agent) hold none, and one search settles that for all the patterns at once. Literal
# alternatives only, so the search is linear too; on longer text the regex engine trying each word
# at each position is slower than a plain substring search per word, so it is not used there.
_QUICK_CHECK_MAX = 512
_ANY_WORD = re.compile(
    "|".join(re.escape(word) for word in ("eyj", *(w for ws, _, _ in _VALUE_PATTERNS for w in ws)))
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u0085\u2028\u2029]")
_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def cut_text(text: str, limit: int, secrets: Sequence[str] = ()) -> str:
    """``text`` cut to ``limit`` characters plus a marker saying it was cut (and from how many).

    ``secrets`` (longest first) are replaced before the cut, so none straddling it leaves its start.
    """
    if len(text) <= limit:
        return text
    head = text[: limit + max(map(len, secrets), default=0)]
    for secret in secrets:
        if secret in head:
            head = head.replace(secret, REDACTED)
    return f"{head[:limit]}…[cut, {len(text)} chars]"


def redact_shapes(text: str) -> str:
    """``text`` with JWTs, Bearer credentials, ``sk-`` keys, URL passwords and ``key=value`` secrets
    replaced; linear in the length of ``text``."""
    if len(text) <= _QUICK_CHECK_MAX and text.isascii() and not _ANY_WORD.search(text.lower()):
        return text
    if "eyJ" in text:
        text = _JWT.sub(lambda match: REDACTED if match["rest"] else match[0], text)
    # Only ASCII text is checked first: ignoring case, a pattern also matches a few non-ASCII
    # letters (U+017F, a long s, for "s"), which a search of the lowered text would miss.
    lowered = text.lower() if text.isascii() else None
    for words, pattern, replacement in _VALUE_PATTERNS:
        if lowered is None or any(word in lowered for word in words):
            text = pattern.sub(replacement, text)
            lowered = text.lower() if lowered is not None else None
    return text


@functools.lru_cache(maxsize=1024)  # the same few field names on every line; bounded all the same
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


def _strings_within(value: Any, found: set[str], seen: set[int]) -> None:
    """Add every string in ``value`` (a string, or lists and objects of them at any depth)."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            found.add(item)
        elif isinstance(item, dict | list) and id(item) not in seen:
            seen.add(id(item))  # walked once, however many sensitive keys hold it
            pending.extend(item.values() if isinstance(item, dict) else item)


def body_secrets(body: bytes | str) -> set[str]:
    """The strings a JSON body holds under sensitive keys, every one of them: a key given twice
    gives both values. A body that does not parse (not JSON, nested too deep) gives only what the
    objects completed before the parser stopped hold, usually nothing."""
    found: set[str] = set()
    seen: set[int] = set()

    def gather(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        for key, value in pairs:
            if is_sensitive_key(key):
                _strings_within(value, found, seen)
        return dict(pairs)

    # Not JSON, or nested too deep: the view answers 400, and the record is still written.
    with contextlib.suppress(ValueError, RecursionError):
        json.loads(body, object_pairs_hook=gather)
    return found


def request_secrets() -> list[str]:
    """What the current request sent as secrets, longest first: its Authorization value and the
    passwords and keys of its JSON body. Whatever quotes them later (an exception message, say) is
    scrubbed."""
    if not has_request_context():
        return []
    cached = g.get("_log_secrets")
    if cached is not None:
        return list(cached)
    found: set[str] = set()
    try:
        authorization = request.headers.get("Authorization", "")
        found |= {authorization, authorization.partition(" ")[2].strip()}
        # No Content-Type, no body to look into (and its parsing is skipped on every GET).
        if "Content-Type" in request.headers and request.mimetype == "application/json":
            # Already read and cached by the time anything logs; Flask bounds it by
            # MAX_CONTENT_LENGTH, and the view reads the same cached bytes.
            found |= body_secrets(request.get_data(cache=True))
    except Exception:  # noqa: S110 - a body too large, a closed stream: log the record all the same
        pass
    secrets = sorted((s for s in found if len(s) >= REQUEST_SECRET_MIN), key=len, reverse=True)
    g._log_secrets = secrets
    return list(secrets)


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
        self._ordered = sorted(self.secrets, key=len, reverse=True)

    def ordered_secrets(self, secrets: Iterable[str] = ()) -> list[str]:
        """The configured secrets and ``secrets``, longest first, so that a secret containing
        another is replaced whole."""
        extra = set(secrets) - self.secrets
        return sorted([*self._ordered, *extra], key=len, reverse=True) if extra else self._ordered

    def redact_text(self, text: str, secrets: Iterable[str] = ()) -> str:
        return self._redact_text(text, self.ordered_secrets(secrets))

    def _redact_text(self, text: str, secrets: Sequence[str]) -> str:
        if len(text) > REDACT_MAX_CHARS:
            text = cut_text(text, REDACT_MAX_CHARS, secrets)
        for secret in secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return redact_shapes(text)

    def redact_value(self, value: Any, secrets: Iterable[str] = ()) -> Any:
        return self._redact_value(value, self.ordered_secrets(secrets))

    def _redact_value(self, value: Any, secrets: Sequence[str], depth: int = 0) -> Any:
        if isinstance(value, str):
            return self._redact_text(value, secrets)
        if value is None or isinstance(value, bool | int | float):
            return value
        if depth > 8:
            return "[TRUNCATED]"
        if isinstance(value, dict):
            return {
                key: self._redact_field(str(key), item, secrets, depth + 1)
                for key, item in value.items()
            }
        if isinstance(value, list | tuple | set | frozenset):
            return [self._redact_value(item, secrets, depth + 1) for item in value]
        # Any other object is logged by its text, which is scrubbed like any string.
        return self._redact_text(str(value), secrets)

    def _redact_field(self, name: str, value: Any, secrets: Sequence[str], depth: int = 0) -> Any:
        # A number under a sensitive name is a count ("tokens_revoked": 3), not a secret.
        if is_sensitive_key(name) and not (value is None or isinstance(value, bool | int | float)):
            return REDACTED
        return self._redact_value(value, secrets, depth)

    def filter(self, record: logging.LogRecord) -> bool:
        secrets = self.ordered_secrets(request_secrets())
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not lose the record, nor leak its args
            message = str(record.msg)
        record.msg = self._redact_text(message, secrets)
        record.args = None
        if isinstance(getattr(record, "request_id", None), str):
            record.request_id = self._redact_text(record.request_id, secrets)  # type: ignore[attr-defined]
        # Fields the app itself wrote and vouches for (no client text, no secret) are left alone.
        safe = getattr(record, SAFE_FIELDS_ATTR, ())
        for key, value in list(vars(record).items()):
            if key in _STANDARD_ATTRS or key.startswith("_") or key in safe:
                continue
            setattr(record, key, self._redact_field(key, value, secrets))
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self._redact_text(record.exc_text, secrets)
        record.exc_info = None  # the scrubbed text above is what gets written
        if record.stack_info:
            record.stack_info = self._redact_text(record.stack_info, secrets)
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
        # Every control character is escaped, so a value can never end the line.
        return dumps_line(entry)


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
    if config.mail_url:  # the SMTP password, as given and decoded
        from urllib.parse import unquote, urlsplit

        with contextlib.suppress(ValueError):
            password = urlsplit(config.mail_url).password or ""
            values += [password, unquote(password)]
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
    # No formatter here writes where a record was made (file, line, function), nor its thread or
    # process: the logging module's documented switches spare it finding them for every record
    # (a walk up the stack, among others), which the access line would pay on every request.
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    # Alembic announces each of its plugins at INFO whenever Flask-Migrate loads it.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)


access_log = logging.getLogger("audiotricks.access")


def _start_timer() -> None:
    g.request_started = time.perf_counter()


def _log_access(response: Response) -> Response:
    started = g.get("request_started")
    duration_ms = round((time.perf_counter() - started) * 1000, 1) if started else None
    user_id = g.get("user_id")
    # Cut before logging: the line, and the work of scrubbing it, stay small whatever was sent.
    secrets = request_secrets()
    method = cut_text(request.method, METHOD_LOG_MAX, secrets)
    path = cut_text(request.path, PATH_LOG_MAX, secrets)
    access_log.info(
        "%s %s %s",
        method,
        path,
        response.status_code,
        extra={
            "event": "request",
            "method": method,
            "path": path,
            "status": response.status_code,
            "duration_ms": duration_ms,
            "user_id": str(user_id) if user_id is not None else None,
            "client_ip": cut_text(request.remote_addr or "", CLIENT_IP_LOG_MAX) or None,
            "user_agent": cut_text(request.user_agent.string, USER_AGENT_LOG_MAX, secrets) or None,
            SAFE_FIELDS_ATTR: _ACCESS_SAFE_FIELDS,
        },
    )
    return response


def init_access_log(app: Flask) -> None:
    """Log one line per request; register early, so it runs after the other response hooks."""
    app.before_request(_start_timer)
    app.after_request(_log_access)
