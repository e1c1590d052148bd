"""Operator commands: ``flask sessions prune`` and ``flask users …``."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from audiotricks.extensions import db
from audiotricks.models import AuthSession, User, utcnow
from tests.conftest import PASSWORD
from tests.helpers import row_counts, scalar, session_column, session_id, user_id

ME = "/api/v1/auth/me"
LOGIN = "/api/v1/auth/login"


def add_dead_sessions(app, uid, expired, revoked):
    """Insert session rows directly: ``expired`` past their expiry, ``revoked`` revoked."""
    now = utcnow()
    day = timedelta(days=1)
    with app.app_context():
        for index in range(expired + revoked):
            db.session.add(
                AuthSession(
                    user_id=uid,
                    token_hash=f"{index:064x}",
                    created_at=now - timedelta(days=8),
                    expires_at=now - day if index < expired else now + day,
                    last_used_at=now - timedelta(days=2),
                    revoked_at=None if index < expired else now - timedelta(hours=1),
                )
            )
        db.session.commit()


def session_count(app):
    return scalar(app, select(func.count()).select_from(AuthSession))


def login(client, password=PASSWORD, **identifier):
    identifier = identifier or {"username": "alice"}
    return client.post(LOGIN, json={**identifier, "password": password})


@pytest.mark.parametrize(
    "args",
    [["sessions", "--help"], ["sessions", "prune", "--help"], ["users", "--help"],
     ["users", "create", "--help"], ["users", "deactivate", "--help"],
     ["users", "activate", "--help"], ["users", "reset-link", "--help"]],
)
def test_every_command_has_help(runner, args):
    result = runner.invoke(args=args)

    assert result.exit_code == 0
    assert "Usage:" in result.output


def test_prune_deletes_only_expired_and_revoked_sessions(app, client, auth, runner):
    live = auth.signup()
    logged_out = auth.login()
    client.post("/api/v1/auth/logout", headers=auth.headers(logged_out))
    add_dead_sessions(app, user_id(live), expired=3, revoked=1)
    assert session_count(app) == 6

    result = runner.invoke(args=["sessions", "prune", "--batch-size", "2"])

    assert result.exit_code == 0, result.output
    assert result.output == "Deleted 5 sessions (3 expired, 2 revoked) in 3 batch(es).\n"
    assert session_count(app) == 1
    assert session_column(app, session_id(live), "id") == session_id(live)
    assert client.get(ME, headers=auth.headers(live)).status_code == 200


def test_prune_quiet_prints_nothing_and_is_idempotent(app, auth, runner):
    token = auth.signup()
    add_dead_sessions(app, user_id(token), expired=2, revoked=0)

    first = runner.invoke(args=["sessions", "prune", "--quiet"])
    second = runner.invoke(args=["sessions", "prune"])

    assert (first.exit_code, first.output) == (0, "")
    assert second.exit_code == 0
    assert second.output == "Deleted 0 sessions (0 expired, 0 revoked) in 0 batch(es).\n"
    assert session_count(app) == 1


@pytest.mark.parametrize("batch_size", ["0", "-1", "many"])
def test_prune_refuses_a_bad_batch_size(app, auth, runner, batch_size):
    token = auth.signup()
    add_dead_sessions(app, user_id(token), expired=1, revoked=0)

    result = runner.invoke(args=["sessions", "prune", "--batch-size", batch_size])

    assert result.exit_code == 2
    assert session_count(app) == 2


@pytest.mark.parametrize("identifier", ["alice", "ALICE", "Alice@Example.com"])
def test_deactivate_revokes_sessions_and_blocks_login(app, client, auth, runner, identifier):
    tokens = [auth.signup(), auth.login()]

    result = runner.invoke(args=["users", "deactivate", identifier])

    assert result.exit_code == 0, result.output
    assert result.output == f"Deactivated user {user_id(tokens[0])}; revoked 2 session(s).\n"
    for token in tokens:
        assert client.get(ME, headers=auth.headers(token)).status_code == 401
        assert session_column(app, session_id(token), "revoked_at") is not None
    blocked = login(client)
    assert blocked.status_code == 403
    assert blocked.get_json() == {"error": "Account is deactivated"}
    wrong = login(client, "Wrong-Password-1")
    assert wrong.status_code == 401
    assert wrong.get_json() == {"error": "Invalid credentials"}


def test_activate_allows_login_again(client, auth, runner):
    auth.signup()
    assert runner.invoke(args=["users", "deactivate", "alice"]).exit_code == 0

    result = runner.invoke(args=["users", "activate", "alice@example.com"])

    assert result.exit_code == 0, result.output
    assert result.output.startswith("Activated user ")
    response = login(client)
    assert response.status_code == 200
    assert response.get_json()["data"]["user"]["isActive"] is True


@pytest.mark.parametrize("command", ["deactivate", "activate"])
def test_unknown_user_is_an_error(auth, runner, command):
    auth.signup()

    result = runner.invoke(args=["users", command, "nobody"])

    assert result.exit_code == 1
    assert "No user with the email or username 'nobody'" in result.output


def test_create_reads_the_password_from_stdin(app, client, runner):
    result = runner.invoke(
        args=["users", "create", "--email", " Carol@Example.com ", "--username", "Carol",
              "--password-stdin"],
        input=f"{PASSWORD}\n",
    )

    assert result.exit_code == 0, result.output
    new_id = uuid.UUID(result.output.strip())
    assert row_counts(app, new_id) == {"users": 1, "sessions": 0, "user_settings": 1}
    response = login(client, email="carol@example.com")
    assert response.status_code == 200
    assert response.get_json()["data"]["user"]["username"] == "Carol"


def test_create_prompts_for_a_hidden_confirmed_password(client, runner):
    result = runner.invoke(
        args=["users", "create", "--email", "dave@example.com", "--username", "dave"],
        input=f"{PASSWORD}\n{PASSWORD}\n",
    )

    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output  # hidden input is not echoed
    assert "Repeat for confirmation" in result.output
    assert login(client, email="dave@example.com").status_code == 200


def test_create_never_takes_the_password_from_argv(runner):
    result = runner.invoke(
        args=["users", "create", "--email", "e@example.com", "--username", "eve",
              "--password", PASSWORD],
    )

    assert result.exit_code == 2
    assert "No such option" in result.output


@pytest.mark.parametrize(
    ("email", "username", "password", "fields"),
    [
        ("not-an-email", "erin", PASSWORD, {"email"}),
        ("erin@example.com", "e", PASSWORD, {"username"}),
        ("erin@example.com", "erin", "short", {"password"}),
        ("erin@example.com", "erin", "Password123", {"password"}),
        ("bad", "x!", "", {"email", "username", "password"}),
    ],
)
def test_create_applies_the_register_rules(app, runner, email, username, password, fields):
    result = runner.invoke(
        args=["users", "create", "--email", email, "--username", username, "--password-stdin"],
        input=f"{password}\n",
    )

    assert result.exit_code == 1
    reported = set(re.findall(r"^([a-z]\w*): ", result.stderr, re.MULTILINE))
    assert reported == fields
    assert "nothing was created" in result.stderr
    if password:
        assert password not in result.output
    assert scalar(app, select(func.count()).select_from(User)) == 0


@pytest.mark.parametrize(
    ("email", "username", "message"),
    [("ALICE@example.com", "other", "Email already registered"),
     ("other@example.com", "Alice", "Username already taken")],
)
def test_create_refuses_taken_names(auth, runner, email, username, message):
    auth.signup()

    result = runner.invoke(
        args=["users", "create", "--email", email, "--username", username, "--password-stdin"],
        input=f"{PASSWORD}\n",
    )

    assert result.exit_code == 1
    assert message in result.output


# --- flask users reset-link ---


def test_reset_link_prints_a_working_link_once_and_logs_only_that_one_was_made(
    app, client, auth, runner, caplog
):
    token = auth.signup()

    with caplog.at_level("INFO"):
        result = runner.invoke(args=["users", "reset-link", "Alice@Example.com"])

    assert result.exit_code == 0, result.output
    link = result.output.strip()
    assert re.fullmatch(r"http://localhost:5173/reset-password#token=[A-Za-z0-9_-]{43}", link)
    secret = link.partition("#token=")[2]
    assert secret not in caplog.text
    made = [r for r in caplog.records if getattr(r, "event", None) == "reset_link_made"]
    assert [r.user_id for r in made] == [str(user_id(token))]
    response = client.post(
        "/api/v1/auth/password/reset", json={"token": secret, "newPassword": "Operator-Gave-1"}
    )
    assert response.status_code == 200
    assert client.get(ME, headers=auth.headers(token)).status_code == 401
    assert login(client, "Operator-Gave-1").status_code == 200


def test_a_second_reset_link_kills_the_first(client, auth, runner):
    auth.signup()
    first = runner.invoke(args=["users", "reset-link", "alice"]).output.strip()
    second = runner.invoke(args=["users", "reset-link", "alice"]).output.strip()

    def reset(link):
        return client.post(
            "/api/v1/auth/password/reset",
            json={"token": link.partition("#token=")[2], "newPassword": "Operator-Gave-1"},
        ).status_code

    assert (reset(first), reset(second)) == (400, 200)


def test_reset_link_refuses_unknown_and_deactivated_accounts(auth, runner):
    auth.signup()
    unknown = runner.invoke(args=["users", "reset-link", "nobody@example.com"])
    assert unknown.exit_code == 1
    assert "No user" in unknown.output
    runner.invoke(args=["users", "deactivate", "alice"])
    deactivated = runner.invoke(args=["users", "reset-link", "alice@example.com"])
    assert deactivated.exit_code == 1
    assert "deactivated" in deactivated.output
    assert "#token=" not in deactivated.output
