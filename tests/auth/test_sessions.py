"""Listing and revoking sessions, and the session check's lastUsedAt bookkeeping."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import event

from audiotricks.auth.service import SESSION_TOUCH_INTERVAL
from audiotricks.extensions import SESSION_CHECK_BIND, db
from audiotricks.models import utcnow
from tests.conftest import PASSWORD
from tests.helpers import session_column, session_id, set_session

SESSIONS = "/api/v1/auth/sessions"
ME = "/api/v1/auth/me"
RFC3339_Z = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")


def me_status(client, auth, token):
    return client.get(ME, headers=auth.headers(token)).status_code


def test_list_shows_only_own_live_sessions_newest_first(app, client, auth):
    dead_by_logout = auth.signup()
    dead_by_expiry = auth.login()
    older = auth.login()
    newer = auth.login()
    auth.signup("bob@example.com", "bob")
    client.post("/api/v1/auth/logout", headers=auth.headers(dead_by_logout))
    set_session(app, session_id(dead_by_expiry), expires_at=utcnow() - timedelta(seconds=1))

    response = client.get(SESSIONS, headers=auth.headers(older))

    assert response.status_code == 200
    body = response.get_json()
    assert body["message"] == "Active sessions"
    sessions = body["data"]["sessions"]
    assert [s["id"] for s in sessions] == [str(session_id(newer)), str(session_id(older))]
    assert [s["current"] for s in sessions] == [False, True]
    for item in sessions:
        assert set(item) == {
            "id", "createdAt", "expiresAt", "lastUsedAt", "userAgent", "ipAddress", "current"
        }
        for key in ("createdAt", "expiresAt", "lastUsedAt"):
            assert RFC3339_Z.fullmatch(item[key])
        assert item["ipAddress"] == "127.0.0.1"
        assert item["userAgent"].startswith("Werkzeug")
    assert response.headers["Cache-Control"] == "no-store"


def test_revoked_session_token_fails_at_once(client, auth):
    keeper = auth.signup()
    victim = auth.login()

    response = client.delete(f"{SESSIONS}/{session_id(victim)}", headers=auth.headers(keeper))

    assert response.status_code == 200
    assert response.get_json() == {
        "message": "Session revoked",
        "data": {"sessionId": str(session_id(victim)), "current": False},
    }
    denied = client.get(ME, headers=auth.headers(victim))
    assert denied.status_code == 401
    assert denied.get_json() == {"error": "Invalid or expired session"}
    assert denied.headers["WWW-Authenticate"] == "Bearer"
    assert me_status(client, auth, keeper) == 200


def test_revoking_the_current_session_is_a_logout(client, auth):
    token = auth.signup()

    response = client.delete(f"{SESSIONS}/{session_id(token)}", headers=auth.headers(token))

    assert response.status_code == 200
    assert response.get_json()["data"]["current"] is True
    assert me_status(client, auth, token) == 401


def test_another_users_session_is_404_and_stays_live(app, client, auth):
    alice = auth.signup()
    bob = auth.signup("bob@example.com", "bob")

    response = client.delete(f"{SESSIONS}/{session_id(bob)}", headers=auth.headers(alice))

    assert response.status_code == 404
    assert set(response.get_json()) == {"error"}
    assert me_status(client, auth, bob) == 200
    assert session_column(app, session_id(bob), "revoked_at") is None


def test_unknown_and_already_revoked_sessions_are_404(client, auth):
    keeper = auth.signup()
    other = auth.login()
    url = f"{SESSIONS}/{session_id(other)}"
    assert client.delete(url, headers=auth.headers(keeper)).status_code == 200

    assert client.delete(url, headers=auth.headers(keeper)).status_code == 404
    unknown = client.delete(f"{SESSIONS}/{uuid.uuid4()}", headers=auth.headers(keeper))
    assert unknown.status_code == 404


def test_expired_session_is_404(app, client, auth):
    keeper = auth.signup()
    other = auth.login()
    set_session(app, session_id(other), expires_at=utcnow() - timedelta(seconds=1))

    response = client.delete(f"{SESSIONS}/{session_id(other)}", headers=auth.headers(keeper))

    assert response.status_code == 404


@pytest.mark.parametrize("bad_id", ["not-a-uuid", "123", "%00", "' OR 1=1 --"])
def test_malformed_session_id_is_404(client, auth, bad_id):
    token = auth.signup()

    response = client.delete(f"{SESSIONS}/{bad_id}", headers=auth.headers(token))

    assert response.status_code == 404
    assert response.get_json() == {"error": "Resource not found"}
    assert me_status(client, auth, token) == 200


def test_revoke_other_sessions(client, auth):
    current = auth.signup()
    others = [auth.login(), auth.login()]
    bob = auth.signup("bob@example.com", "bob")

    response = client.delete(SESSIONS, headers=auth.headers(current))

    assert response.status_code == 200
    assert response.get_json() == {"message": "Other sessions revoked", "data": {"revoked": 2}}
    assert [me_status(client, auth, t) for t in others] == [401, 401]
    assert me_status(client, auth, current) == 200
    assert me_status(client, auth, bob) == 200
    again = client.delete(SESSIONS, headers=auth.headers(current))
    assert again.get_json()["data"] == {"revoked": 0}
    listed = client.get(SESSIONS, headers=auth.headers(current)).get_json()["data"]["sessions"]
    assert [s["id"] for s in listed] == [str(session_id(current))]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", SESSIONS),
        ("delete", SESSIONS),
        ("delete", f"{SESSIONS}/{uuid.UUID(int=1)}"),
        ("put", "/api/v1/auth/password"),
        ("delete", ME),
    ],
)
def test_endpoints_require_a_session(client, method, path):
    response = getattr(client, method)(path)

    assert response.status_code == 401
    assert response.get_json() == {"error": "Authentication required"}
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_last_used_at_is_not_rewritten_within_the_interval(app, client, auth):
    token = auth.signup()
    sid = session_id(token)
    recent = utcnow() - SESSION_TOUCH_INTERVAL + timedelta(seconds=20)
    set_session(app, sid, last_used_at=recent)

    assert me_status(client, auth, token) == 200

    assert session_column(app, sid, "last_used_at") == recent


def test_last_used_at_is_rewritten_after_the_interval(app, client, auth):
    token = auth.signup()
    sid = session_id(token)
    stale = utcnow() - SESSION_TOUCH_INTERVAL - timedelta(seconds=1)
    set_session(app, sid, last_used_at=stale)
    before = utcnow()

    response = client.get(ME, headers=auth.headers(token))

    assert response.status_code == 200
    assert response.get_json()["data"]["user"]["settings"]["summaryQuality"] == "balanced"
    touched = session_column(app, sid, "last_used_at")
    assert before <= touched <= utcnow()
    listed = client.get(SESSIONS, headers=auth.headers(token)).get_json()["data"]["sessions"]
    assert listed[0]["lastUsedAt"] == touched.isoformat().replace("+00:00", "Z")


def test_session_check_is_one_statement(app, client, auth):
    """GET /me within the touch interval reads one joined row and writes nothing (any engine)."""
    token = auth.signup()
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    with app.app_context():
        engines = list(db.engines.values())
    for engine in engines:
        event.listen(engine, "before_cursor_execute", record)
    try:
        assert me_status(client, auth, token) == 200
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", record)

    assert len(statements) == 1, statements
    assert statements[0].lstrip().upper().startswith("SELECT")


def test_a_touch_does_not_wait_for_the_disk_and_leaves_the_connection_as_it_was(app, client, auth):
    """On PostgreSQL the touch turns synchronous_commit off for its own transaction only."""
    token = auth.signup()
    sid = session_id(token)
    set_session(app, sid, last_used_at=utcnow() - SESSION_TOUCH_INTERVAL - timedelta(seconds=1))
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    with app.app_context():
        engine = db.engines[SESSION_CHECK_BIND]
    event.listen(engine, "before_cursor_execute", record)
    try:
        assert me_status(client, auth, token) == 200
    finally:
        event.remove(engine, "before_cursor_execute", record)

    [touch] = [statement for statement in statements if statement.lstrip().upper().startswith("UPDATE")]
    assert session_column(app, sid, "last_used_at") > utcnow() - timedelta(seconds=5)
    if engine.dialect.name != "postgresql":
        assert "set_config" not in touch
        return
    assert "set_config" in touch
    with engine.connect() as connection:  # the pool's connection the touch ran on
        assert connection.exec_driver_sql("SHOW synchronous_commit").scalar() == "on"


@pytest.mark.parametrize("column", ["revoked_at", "expires_at"])
def test_dead_session_is_not_touched(app, client, auth, column):
    token = auth.signup()
    sid = session_id(token)
    stale = utcnow() - timedelta(hours=1)
    set_session(app, sid, last_used_at=stale, **{column: utcnow() - timedelta(seconds=1)})

    assert me_status(client, auth, token) == 401

    assert session_column(app, sid, "last_used_at") == stale


@pytest.mark.parametrize(
    ("path", "method", "request_schema", "response_schema"),
    [
        ("/api/v1/auth/sessions", "get", None, "SessionListEnvelope"),
        ("/api/v1/auth/sessions", "delete", None, "RevokedCountEnvelope"),
        ("/api/v1/auth/sessions/{session_id}", "delete", None, "RevokedSessionEnvelope"),
        ("/api/v1/auth/password", "put", "ChangePassword", "EmptyEnvelope"),
        ("/api/v1/auth/me", "delete", "DeleteAccount", "EmptyEnvelope"),
    ],
)
def test_openapi_documents_the_endpoints(client, path, method, request_schema, response_schema):
    document = client.get("/api/v1/openapi.json").get_json()

    operation = document["paths"][path][method]
    assert operation["security"] == [{"bearerAuth": []}]
    success = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert success == {"$ref": f"#/components/schemas/{response_schema}"}
    assert "401" in operation["responses"]
    if request_schema:
        body = operation["requestBody"]["content"]["application/json"]["schema"]
        assert body == {"$ref": f"#/components/schemas/{request_schema}"}
        assert {"400", "415"} <= set(operation["responses"])
    if "{session_id}" in path:
        assert "404" in operation["responses"]
        assert "not a UUID" in operation["description"]
    session_fields = document["components"]["schemas"]["AuthSession"]
    assert set(session_fields["required"]) == {
        "id", "createdAt", "expiresAt", "lastUsedAt", "userAgent", "ipAddress", "current"
    }


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("get", SESSIONS, None),
        ("delete", SESSIONS, None),
        ("post", "/api/v1/auth/logout", None),
        (
            "put",
            "/api/v1/auth/password",
            {"currentPassword": PASSWORD, "newPassword": "New-Pass-2468"},
        ),
        ("delete", ME, {"password": PASSWORD}),
    ],
)
def test_endpoints_work_on_the_request_that_touches_the_session(
    app, client, auth, method, path, body
):
    token = auth.signup()
    auth.login()
    set_session(app, session_id(token), last_used_at=utcnow() - timedelta(hours=1))

    response = getattr(client, method)(path, json=body, headers=auth.headers(token))

    assert response.status_code == 200, response.get_json()
