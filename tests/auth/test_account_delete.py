"""DELETE /auth/me: the password confirms; the account, its sessions and settings go."""

from __future__ import annotations

import pytest

from tests.auth.bad_bodies import assert_refused, bad_bodies
from tests.conftest import PASSWORD
from tests.helpers import row_counts, user_id

URL = "/api/v1/auth/me"


def test_delete_account_removes_every_row(app, client, auth):
    token = auth.signup()
    other = auth.login()
    bob = auth.signup("bob@example.com", "bob")
    alice_id, bob_id = user_id(token), user_id(bob)
    assert row_counts(app, alice_id) == {"users": 1, "sessions": 2, "user_settings": 1}

    response = client.delete(URL, json={"password": PASSWORD}, headers=auth.headers(token))

    assert response.status_code == 200
    assert response.get_json() == {"message": "Account deleted", "data": {}}
    assert row_counts(app, alice_id) == {"users": 0, "sessions": 0, "user_settings": 0}
    assert row_counts(app, bob_id) == {"users": 1, "sessions": 1, "user_settings": 1}
    for dead in (token, other):
        denied = client.get(URL, headers=auth.headers(dead))
        assert denied.status_code == 401
        assert denied.get_json() == {"error": "Invalid or expired session"}
    login = client.post("/api/v1/auth/login", json={"username": "alice", "password": PASSWORD})
    assert login.status_code == 401
    assert login.get_json() == {"error": "Invalid credentials"}
    assert client.get(URL, headers=auth.headers(bob)).status_code == 200


def test_email_and_username_are_free_after_delete(client, auth):
    token = auth.signup()
    client.delete(URL, json={"password": PASSWORD}, headers=auth.headers(token))

    again = auth.register("Alice@Example.com", "ALICE")

    assert again.status_code == 201
    assert again.get_json()["data"]["user"]["id"] != str(user_id(token))
    assert auth.login("alice", PASSWORD)


def test_wrong_password_is_400_and_deletes_nothing(app, client, auth):
    token = auth.signup()

    response = client.delete(
        URL, json={"password": "Not-The-Password-9"}, headers=auth.headers(token)
    )

    assert_refused(response, 400, ["Not-The-Password-9"])
    body = response.get_json()
    assert body["error"] == "Validation failed"
    assert [e["field"] for e in body["errors"]] == ["password"]
    assert row_counts(app, user_id(token)) == {"users": 1, "sessions": 1, "user_settings": 1}
    assert client.get(URL, headers=auth.headers(token)).status_code == 200


@pytest.mark.parametrize(
    ("case", "kwargs", "status"),
    bad_bodies({"password": PASSWORD}),
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_bad_bodies_are_refused(app, client, auth, case, kwargs, status):
    token = auth.signup()

    response = client.delete(URL, headers=auth.headers(token), **kwargs)

    assert_refused(response, status, [PASSWORD])
    assert row_counts(app, user_id(token))["users"] == 1
