"""Logs: JSON lines with the request id, one access line per request, security events, and no
secret ever written — whatever the level, logger or field it would have come through."""

from __future__ import annotations

import base64
import io
import json
import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask, request
from flask.testing import FlaskClient

from tests.conftest import PASSWORD, TEST_ENCRYPTION_KEY, TEST_JWT_SECRET, AuthActions

WRONG_PASSWORD = "Wrong-Horse-77"
OPENAI_KEY = "sk-test-0123456789abcdefghijklmnop"
METRICS_TOKEN = "metrics-token-0123456789abcdef"


@pytest.fixture
def config_overrides() -> dict[str, Any]:
    return {"metrics_token": METRICS_TOKEN}


def app_handler() -> logging.Handler:
    (handler,) = [h for h in logging.getLogger().handlers if getattr(h, "audiotricks", False)]
    return handler


@pytest.fixture
def log_output(app: Flask) -> Iterator[io.StringIO]:
    """What the app's own log handler writes (its filters and formatter included)."""
    handler = app_handler()
    assert isinstance(handler, logging.StreamHandler)
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    yield buffer
    handler.setStream(previous)


def records(buffer: io.StringIO) -> list[dict[str, Any]]:
    """Every line parsed as JSON: a line that is not one object fails the test."""
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


def add_failing_route(app: Flask) -> None:
    """A test-only route that fails with secrets in the exception and in a log call."""

    @app.post("/test-only/explode")
    def explode() -> str:
        secret_header = request.headers.get("Authorization", "")
        logging.getLogger("audiotricks.test").warning(
            "about to fail with %s and %s",
            secret_header,
            TEST_JWT_SECRET,
            extra={
                "password": PASSWORD,
                "payload": {"apiKey": OPENAI_KEY, "note": TEST_ENCRYPTION_KEY},
            },
        )
        raise RuntimeError(f"boom {secret_header} {PASSWORD} {TEST_ENCRYPTION_KEY} {OPENAI_KEY}")


def full_run(app: Flask, client: FlaskClient, auth: AuthActions) -> tuple[str, int]:
    """Register, log in (and fail to), use the API, fail validation, crash; return token, count."""
    requests = 0

    def count(response: Any, status: int) -> None:
        nonlocal requests
        requests += 1
        assert response.status_code == status, response.get_json()

    count(auth.register(), 201)
    token = auth.login()
    requests += 1
    headers = auth.headers(token)
    count(
        client.post(
            "/api/v1/auth/login", json={"email": "alice@example.com", "password": WRONG_PASSWORD}
        ),
        401,
    )
    count(
        client.post(
            "/api/v1/auth/login", json={"email": "nobody@example.com", "password": WRONG_PASSWORD}
        ),
        401,
    )
    count(client.get("/api/v1/auth/me", headers=headers), 200)
    if any(r.rule.startswith("/api/v1/settings/api-keys/") for r in app.url_map.iter_rules()):
        path = "/api/v1/settings/api-keys/openai"
        count(client.put(path, json={"apiKey": OPENAI_KEY}, headers=headers), 200)
        count(client.get(path, headers=headers), 200)
        count(client.delete(path, headers=headers), 200)
    count(
        client.post(
            "/api/v1/auth/register",
            json={"email": "bob@example.com", "username": "b", "password": WRONG_PASSWORD.lower()},
        ),
        400,
    )
    count(client.post("/test-only/explode", json={"password": PASSWORD}, headers=headers), 500)
    count(client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}), 200)
    count(client.post("/api/v1/auth/logout", headers=headers), 200)
    count(client.get("/api/v1/auth/me", headers=headers), 401)
    return token, requests


def test_a_full_run_writes_no_secret(
    app: Flask, client: FlaskClient, auth: AuthActions, log_output: io.StringIO
) -> None:
    add_failing_route(app)
    token, requests = full_run(app, client, auth)
    text = log_output.getvalue()
    for secret in (
        PASSWORD,
        WRONG_PASSWORD,
        WRONG_PASSWORD.lower(),
        token,
        token.split(".")[2],  # the signature alone
        f"Bearer {token}",
        TEST_JWT_SECRET,
        TEST_ENCRYPTION_KEY,
        OPENAI_KEY,
        METRICS_TOKEN,
        "alice@example.com",
        "nobody@example.com",
    ):
        assert secret not in text, f"{secret!r} was logged"
    lines = records(log_output)
    assert all({"time", "level", "logger", "message", "request_id"} <= set(r) for r in lines)
    access = [r for r in lines if r["logger"] == "audiotricks.access"]
    assert len(access) == requests
    assert "[REDACTED]" in text  # the failing route's secrets were there, and were scrubbed


def test_the_failure_is_logged_with_its_request_id_and_no_detail_reaches_the_client(
    app: Flask, client: FlaskClient, log_output: io.StringIO
) -> None:
    add_failing_route(app)
    response = client.post(
        "/test-only/explode", json={"password": PASSWORD}, headers={"X-Request-ID": "trace-me-42"}
    )
    assert response.status_code == 500
    assert response.get_json() == {"error": "Internal server error"}
    errors = [r for r in records(log_output) if r["level"] == "ERROR"]
    assert [r["request_id"] for r in errors] == ["trace-me-42"]
    assert "RuntimeError: boom" in errors[0]["exception"]
    assert PASSWORD not in errors[0]["exception"]


def test_each_request_gets_one_access_line(
    client: FlaskClient, auth: AuthActions, log_output: io.StringIO
) -> None:
    token = auth.signup()
    user_id = client.get("/api/v1/auth/me", headers=auth.headers(token)).get_json()["data"]["user"][
        "id"
    ]
    response = client.get(
        "/api/v1/auth/me",
        headers={**auth.headers(token), "X-Request-ID": "req-1", "User-Agent": "probe/1.0"},
    )
    client.get("/no/such/route")
    lines = [r for r in records(log_output) if r["logger"] == "audiotricks.access"]
    me = [r for r in lines if r["request_id"] == "req-1"]
    assert len(me) == 1
    line = me[0]
    assert line["method"] == "GET"
    assert line["path"] == "/api/v1/auth/me"
    assert line["status"] == 200 == response.status_code
    assert line["user_id"] == user_id
    assert line["client_ip"] == "127.0.0.1"
    assert line["user_agent"] == "probe/1.0"
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
    assert line["message"] == "GET /api/v1/auth/me 200"
    assert lines[-1]["status"] == 404 and lines[-1]["user_id"] is None


def test_security_events_name_the_user_id_never_the_email(
    client: FlaskClient, auth: AuthActions, log_output: io.StringIO
) -> None:
    token = auth.signup()
    user_id = client.get("/api/v1/auth/me", headers=auth.headers(token)).get_json()["data"]["user"][
        "id"
    ]
    client.post(
        "/api/v1/auth/login", json={"email": "alice@example.com", "password": WRONG_PASSWORD}
    )
    client.post("/api/v1/auth/login", json={"username": "nobody", "password": WRONG_PASSWORD})
    client.post("/api/v1/auth/logout", headers=auth.headers(token))
    events = [
        (r["event"], r.get("user_id"))
        for r in records(log_output)
        if r.get("event") in ("login_succeeded", "login_failed", "logout")
    ]
    assert events == [
        ("login_succeeded", user_id),
        ("login_failed", user_id),
        ("login_failed", None),
        ("logout", user_id),
    ]
    assert "alice@example.com" not in log_output.getvalue()
    assert "nobody" not in log_output.getvalue()


@pytest.mark.parametrize("log_format", ["json", "console"])
def test_control_characters_cannot_forge_a_line(
    app: Flask, client: FlaskClient, log_output: io.StringIO, log_format: str
) -> None:
    from audiotricks.logs import ConsoleFormatter, JsonFormatter

    app_handler().setFormatter(JsonFormatter() if log_format == "json" else ConsoleFormatter())
    forged = (
        'x\n2026-11-25T00:00:00.000Z INFO    [-] audiotricks.access: {"level": "INFO"}\r\x1b[2J'
    )
    client.get("/health", environ_overrides={"HTTP_USER_AGENT": forged})
    text = log_output.getvalue()
    assert "\x1b" not in text and "\r" not in text
    lines = text.splitlines()
    # The forged text sits inside the access line; no line of its own starts with it.
    assert not any(line.startswith(("2026-11-25T00:00:00.000Z", '{"level"')) for line in lines)
    (access,) = [line for line in lines if "audiotricks.access" in line]
    if log_format == "json":
        assert all(isinstance(json.loads(line), dict) for line in lines)
        assert json.loads(access)["user_agent"] == forged
    else:
        assert "\\n2026-11-25T00:00:00.000Z" in access


def test_console_format_is_readable(
    app: Flask, client: FlaskClient, log_output: io.StringIO
) -> None:
    from audiotricks.logs import ConsoleFormatter

    app_handler().setFormatter(ConsoleFormatter())
    client.get("/health", headers={"X-Request-ID": "abc"})
    (line,) = [x for x in log_output.getvalue().splitlines() if "audiotricks.access" in x]
    assert " INFO    [abc] audiotricks.access: GET /health 200 " in line
    assert "status=200" in line


@pytest.mark.parametrize(
    "message, args, extra, leaked",
    [
        ("token %s", ("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl",), {}, "c2lnbmF0dXJl"),
        ("header %s", ("Bearer opaque-token-value",), {}, "opaque-token-value"),
        ("got %s", ("sk-proj-abcdefghijklmnop",), {}, "abcdefghijklmnop"),
        ("body %s", ('{"password": "Hunter-22x"}',), {}, "Hunter-22x"),
        ("form %s", ("api_key=live_1234567890abcdef&x=1",), {}, "live_1234567890abcdef"),
        ("url %s", ("postgresql://app:db-pass-123@db/app",), {}, "db-pass-123"),
        ("plain", (), {"apiKey": "anything-at-all"}, "anything-at-all"),
        ("plain", (), {"headers": {"Authorization": "whatever-value"}}, "whatever-value"),
        ("plain", (), {"encryption_key": "abc-key-material"}, "abc-key-material"),
        ("plain", (), {"items": [{"secret": "nested-secret-1"}]}, "nested-secret-1"),
    ],
)
def test_redaction_rules(
    app: Flask,
    log_output: io.StringIO,
    message: str,
    args: tuple[Any, ...],
    extra: dict[str, Any],
    leaked: str,
) -> None:
    logging.getLogger("audiotricks.test").error(message, *args, extra=extra)
    assert leaked not in log_output.getvalue()
    assert "[REDACTED]" in log_output.getvalue()


def test_configured_secrets_are_redacted_at_every_level(
    app: Flask, log_output: io.StringIO
) -> None:
    logger = logging.getLogger("audiotricks.test")
    logger.setLevel(logging.DEBUG)
    logging.getLogger().setLevel(logging.DEBUG)
    try:
        for level in (
            logging.DEBUG,
            logging.INFO,
            logging.WARNING,
            logging.ERROR,
            logging.CRITICAL,
        ):
            logger.log(
                level, "config: %s / %s / %s", TEST_JWT_SECRET, TEST_ENCRYPTION_KEY, METRICS_TOKEN
            )
    finally:
        logging.getLogger().setLevel(logging.INFO)
        logger.setLevel(logging.NOTSET)
    lines = records(log_output)
    assert len(lines) == 5
    assert all(r["message"] == "config: [REDACTED] / [REDACTED] / [REDACTED]" for r in lines)


def test_counts_under_sensitive_names_stay_readable(app: Flask, log_output: io.StringIO) -> None:
    logging.getLogger("audiotricks.test").info(
        "sessions revoked", extra={"tokens_revoked": 3, "token": "abcdefgh"}
    )
    (line,) = records(log_output)
    assert line["tokens_revoked"] == 3
    assert line["token"] == "[REDACTED]"


def test_the_encryption_key_is_redacted_in_other_encodings(
    app: Flask, log_output: io.StringIO
) -> None:
    raw = bytes.fromhex(TEST_ENCRYPTION_KEY)
    logging.getLogger("audiotricks.test").error(
        "keys %s %s", base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode()
    )
    assert records(log_output)[-1]["message"] == "keys [REDACTED] [REDACTED]"


def test_ordinary_words_are_not_redacted(app: Flask, log_output: io.StringIO) -> None:
    text = "basic checks passed for the bearer of 3 sessions; task-manager ready"
    logging.getLogger("audiotricks.test").info(text)
    assert records(log_output)[-1]["message"] == text


# Text shaped to make a backtracking pattern retry at every position: each took minutes to hours
# through the old patterns at these sizes (quadratic: 16,000 letters alone took 12 s).
ADVERSARIAL = {
    "letters": "a" * 262_144,
    "eyJ runs": "eyJ" * 87_382,
    "eyJ and one dot": "eyJ." + "eyJ" * 87_381,
    "dotted words": "a." * 131_072,
    "dashed words": "a-" * 131_072,
    "scheme separators": "x://" * 65_536,
    "URL user without @": "x://u:" + "b:" * 131_069,
    "key=": "a=" * 131_072,
    "unclosed quote": 'password:"' + "x" * 262_134,
    "quoted keys": "password:'" * 26_214,
}


@pytest.mark.parametrize("name", ADVERSARIAL)
def test_redacting_adversarial_text_is_linear(name: str) -> None:
    from audiotricks.logs import REDACTED, redact_shapes

    text = ADVERSARIAL[name]
    started = time.perf_counter()
    redacted = redact_shapes(text)
    elapsed = time.perf_counter() - started
    assert elapsed < 1.5, f"{name}: {elapsed:.2f} s for {len(text)} characters"
    if name == "unclosed quote":
        assert redacted == "password:" + REDACTED
    elif name == "quoted keys":
        # Each quoted value runs from one key's quote to the next: every other one is redacted.
        assert redacted.count(REDACTED) == 13_107
    else:
        assert redacted == text  # nothing secret in them, so nothing changed


def test_redaction_keeps_its_rules_on_long_text() -> None:
    from audiotricks.logs import REDACTED, redact_shapes

    filler = "a." * 50_000
    text = (
        f"{filler} Bearer opaque-token-value {filler} eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln "
        f"{filler} postgresql://app:db-pass-123@db/app apiKey=live_1234567890 sk-proj-abcdefghij"
    )
    redacted = redact_shapes(text)
    for leaked in ("opaque-token-value", "c2ln", "db-pass-123", "live_1234567890", "abcdefghij"):
        assert leaked not in redacted
    assert redacted.count(REDACTED) == 5
    assert "Bearer [REDACTED]" in redacted and "postgresql://app:[REDACTED]@db/app" in redacted


@pytest.mark.parametrize("name", ["letters", "eyJ runs", "dotted words", "key="])
def test_a_huge_message_is_cut_and_logged_quickly(
    app: Flask, log_output: io.StringIO, name: str
) -> None:
    from audiotricks.logs import REDACT_MAX_CHARS

    text = (ADVERSARIAL[name] * 4)[:1_000_000]
    started = time.perf_counter()
    logging.getLogger("audiotricks.test").warning(
        "client sent %s", text, extra={"echo": text, "items": [text]}
    )
    assert time.perf_counter() - started < 1.0
    (line,) = records(log_output)
    cut = f"…[cut, {len('client sent ') + len(text)} chars]"
    assert line["message"] == f"client sent {text}"[:REDACT_MAX_CHARS] + cut
    assert line["echo"] == text[:REDACT_MAX_CHARS] + "…[cut, 1000000 chars]"
    assert line["items"] == [line["echo"]]


def test_a_secret_across_the_cut_leaves_no_part_of_itself(
    app: Flask, log_output: io.StringIO
) -> None:
    from audiotricks.logs import REDACT_MAX_CHARS

    text = "x" * (REDACT_MAX_CHARS - 10) + TEST_JWT_SECRET + "y" * 20_000
    logging.getLogger("audiotricks.test").warning(text)
    message = records(log_output)[0]["message"]
    assert message.startswith("x" * (REDACT_MAX_CHARS - 10) + "[REDACTED]")
    assert TEST_JWT_SECRET[:10] not in message and message.endswith("chars]")


@pytest.mark.parametrize("length", [4_000, 100_000])
def test_a_long_unknown_path_is_answered_fast_and_logged_cut(
    client: FlaskClient, log_output: io.StringIO, length: int
) -> None:
    from audiotricks.logs import PATH_LOG_MAX

    path = "/" + "a" * length
    started = time.perf_counter()
    response = client.get(path, headers={"X-Request-ID": "long-path"})
    assert time.perf_counter() - started < 1.0  # 2 s for 4,000 letters before; 100,000: minutes
    assert response.status_code == 404
    (line,) = [r for r in records(log_output) if r["request_id"] == "long-path"]
    cut = path[:PATH_LOG_MAX] + f"…[cut, {length + 1} chars]"
    assert line["path"] == cut
    assert line["message"] == f"GET {cut} 404"
    assert len(json.dumps(line)) < 3 * PATH_LOG_MAX


def test_a_long_user_agent_is_logged_cut(client: FlaskClient, log_output: io.StringIO) -> None:
    from audiotricks.logs import USER_AGENT_LOG_MAX

    agent = "probe/" + "z" * 20_000
    client.get("/health", headers={"User-Agent": agent})
    (line,) = [r for r in records(log_output) if r["logger"] == "audiotricks.access"]
    assert line["user_agent"] == agent[:USER_AGENT_LOG_MAX] + "…[cut, 20006 chars]"


def add_echo_route(app: Flask) -> None:
    """A test-only route that quotes, in a log line, the first string of its body and the
    credentials of its Authorization header, as a careless error message might."""

    @app.post("/test-only/echo")
    def echo() -> str:
        first_string = request.get_data(as_text=True).split('"')[3]
        credentials = request.headers.get("Authorization", "").partition(" ")[2]
        logging.getLogger("audiotricks.test").warning(
            "first value: %s, credentials: %s", first_string, credentials
        )
        return "ok"


def test_every_value_of_a_key_given_twice_is_redacted(
    app: Flask, client: FlaskClient, log_output: io.StringIO
) -> None:
    add_echo_route(app)
    body = '{"password": "a1b2c3d4", "password": "Hunter-22x"}'
    response = client.post("/test-only/echo", data=body, content_type="application/json")
    assert response.status_code == 200
    (line,) = [r for r in records(log_output) if r["logger"] == "audiotricks.test"]
    assert line["message"] == "first value: [REDACTED], credentials: "


def test_a_body_too_deep_to_parse_loses_no_record(
    app: Flask, client: FlaskClient, log_output: io.StringIO
) -> None:
    add_echo_route(app)
    body = '{"note": "plain-words", "x": ' + "[" * 30_000 + "]" * 30_000 + "}"
    response = client.post(
        "/test-only/echo",
        data=body,
        content_type="application/json",
        headers={"Authorization": "Bearer opaque-token-value", "X-Request-ID": "deep"},
    )
    assert response.status_code == 200
    lines = [r for r in records(log_output) if r["request_id"] == "deep"]
    assert [r["logger"] for r in lines] == ["audiotricks.test", "audiotricks.access"]
    # No secret read from the body, but the Authorization value is still known.
    assert lines[0]["message"] == "first value: plain-words, credentials: [REDACTED]"


def test_the_access_line_redacts_what_the_client_sent(
    client: FlaskClient, auth: AuthActions, log_output: io.StringIO
) -> None:
    """Only fields the app built itself skip the filter: path, user agent and message never do."""
    token = auth.signup()
    client.get(f"/api/v1/x{token}", headers={**auth.headers(token), "User-Agent": f"ua {token}"})
    (line,) = [r for r in records(log_output) if r["logger"] == "audiotricks.access"][-1:]
    assert token not in json.dumps(line)
    assert line["path"] == "/api/v1/x[REDACTED]"
    assert line["user_agent"] == "ua [REDACTED]"
    assert line["message"] == "GET /api/v1/x[REDACTED] 404"
    assert "_redaction_safe" not in line


def test_fields_marked_safe_are_left_alone_and_others_still_redacted(
    app: Flask, log_output: io.StringIO
) -> None:
    logging.getLogger("audiotricks.test").info(
        "marked",
        extra={"event": "x", "note": TEST_JWT_SECRET, "_redaction_safe": frozenset({"event"})},
    )
    (line,) = records(log_output)
    assert line["event"] == "x"
    assert line["note"] == "[REDACTED]"
    assert "_redaction_safe" not in line


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("/api/v1/x/eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl", "c2lnbmF0dXJl"),
        ("BEARER opaque-token-value", "opaque-token-value"),
        ("/keys/sk-proj-abcdefghij", "abcdefghij"),
        ("redis://:pass-word-1@cache:6379/0", "pass-word-1"),
        ("/reset?Token=abcdef123456", "abcdef123456"),
        ("/x?API-KEY=abcdef123456", "abcdef123456"),
        ("PaSsWoRd: hunter2hunter2", "hunter2hunter2"),
        ("pa\u017fsword=hunter2hunter2", "hunter2hunter2"),  # non-ASCII: every pattern is tried
    ],
)
def test_short_text_is_redacted_in_every_shape(text: str, secret: str) -> None:
    """Short strings (a path, a user agent) take a quicker first check; it misses no shape."""
    from audiotricks.logs import REDACTED, redact_shapes

    redacted = redact_shapes(text)
    assert secret not in redacted and REDACTED in redacted
    assert redact_shapes("/api/v1/history?limit=20") == "/api/v1/history?limit=20"
