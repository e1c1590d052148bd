"""PUT /auth/password: the current password proves the caller; other sessions end."""

from __future__ import annotations

from datetime import datetime

import pytest

from tests.auth.bad_bodies import assert_refused, bad_bodies
from tests.conftest import PASSWORD

URL = "/api/v1/auth/password"
ME = "/api/v1/auth/me"
NEW_PASSWORD = "Fresh-Battery-77"


def parse_time(value):
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def login_status(client, password, identifier="alice@example.com"):
    return client.post(
        "/api/v1/auth/login", json={"email": identifier, "password": password}
    ).status_code


def test_change_password_keeps_only_the_current_session(client, auth):
    current = auth.signup()
    other = auth.login()
    before = client.get(ME, headers=auth.headers(current)).get_json()["data"]["user"]

    response = client.put(
        URL,
        json={"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD},
        headers=auth.headers(current),
    )

    assert response.status_code == 200
    assert response.get_json() == {"message": "Password changed", "data": {}}
    assert client.get(ME, headers=auth.headers(current)).status_code == 200
    assert client.get(ME, headers=auth.headers(other)).status_code == 401
    assert login_status(client, PASSWORD) == 401
    assert login_status(client, NEW_PASSWORD) == 200
    after = client.get(ME, headers=auth.headers(current)).get_json()["data"]["user"]
    assert parse_time(after["updatedAt"]) > parse_time(before["updatedAt"])


def test_wrong_current_password_is_400_and_changes_nothing(client, auth):
    current = auth.signup()
    other = auth.login()

    response = client.put(
        URL,
        json={"currentPassword": "Wrong-Password-1", "newPassword": NEW_PASSWORD},
        headers=auth.headers(current),
    )

    assert_refused(response, 400, ["Wrong-Password-1", NEW_PASSWORD])
    body = response.get_json()
    assert body["error"] == "Validation failed"
    assert [e["field"] for e in body["errors"]] == ["currentPassword"]
    assert client.get(ME, headers=auth.headers(other)).status_code == 200
    assert login_status(client, PASSWORD) == 200
    assert login_status(client, NEW_PASSWORD) == 401


def test_same_password_is_refused(client, auth):
    current = auth.signup()
    other = auth.login()

    response = client.put(
        URL,
        json={"currentPassword": PASSWORD, "newPassword": PASSWORD},
        headers=auth.headers(current),
    )

    assert_refused(response, 400, [PASSWORD])
    assert [e["field"] for e in response.get_json()["errors"]] == ["newPassword"]
    assert client.get(ME, headers=auth.headers(other)).status_code == 200


@pytest.mark.parametrize(
    "new_password",
    [
        "Sh0rt",
        "alllowercase123",
        "ALLUPPERCASE123",
        "NoDigitsHere",
        "Password123",
        "Aa1" + "x" * 70,
        "Aa1" + "é" * 35,
    ],
    ids=["short", "no-upper", "no-lower", "no-digit", "common", "73-bytes", "73-bytes-utf8"],
)
def test_new_password_must_meet_the_policy(client, auth, new_password):
    current = auth.signup()

    response = client.put(
        URL,
        json={"currentPassword": PASSWORD, "newPassword": new_password},
        headers=auth.headers(current),
    )

    assert_refused(response, 400, [new_password, PASSWORD])
    assert {e["field"] for e in response.get_json()["errors"]} == {"newPassword"}
    assert login_status(client, PASSWORD) == 200


def test_too_long_password_names_the_byte_limit(client, auth):
    current = auth.signup()

    response = client.put(
        URL,
        json={"currentPassword": PASSWORD, "newPassword": "Aa1" + "x" * 70},
        headers=auth.headers(current),
    )

    assert "72 bytes" in response.get_json()["errors"][0]["message"]


@pytest.mark.parametrize(
    ("case", "kwargs", "status"),
    bad_bodies({"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD}),
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_bad_bodies_are_refused(client, auth, case, kwargs, status):
    current = auth.signup()
    other = auth.login()

    response = client.put(URL, headers=auth.headers(current), **kwargs)

    assert_refused(response, status, [PASSWORD, NEW_PASSWORD])
    assert client.get(ME, headers=auth.headers(other)).status_code == 200
    assert login_status(client, PASSWORD) == 200
