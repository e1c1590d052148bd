"""Equivalent spellings of an address are one account: stored normalised, looked up the same way."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from audiotricks.extensions import db
from audiotricks.models import User
from tests.conftest import PASSWORD

REGISTER = "/api/v1/auth/register"
LOGIN = "/api/v1/auth/login"
NFC_JOSE = "jos\u00e9@example.com"
NFD_JOSE = "jose\u0301@example.com"


def register(client, email: str, username: str = "first"):
    return client.post(REGISTER, json={"email": email, "username": username, "password": PASSWORD})


@pytest.mark.parametrize(
    ("first", "second", "stored"),
    [
        (NFC_JOSE, NFD_JOSE, NFC_JOSE),
        (NFD_JOSE, NFC_JOSE, NFC_JOSE),
        ("a@b\u00fccher.de", "a@xn--bcher-kva.de", "a@b\u00fccher.de"),
        ("a@xn--bcher-kva.de", "A@B\u00dcCHER.DE", "a@b\u00fccher.de"),
        ("a@example.com", "a@\uff45\uff58\uff41\uff4d\uff50\uff4c\uff45.com", "a@example.com"),
    ],
)
def test_equivalent_spellings_are_one_account(app, client, first, second, stored):
    created = register(client, first)
    assert created.status_code == 201
    assert created.get_json()["data"]["user"]["email"] == stored

    duplicate = register(client, second, username="second")
    assert duplicate.status_code == 409
    assert duplicate.get_json() == {"error": "Email already registered"}
    with app.app_context():
        assert db.session.scalars(select(User.email)).all() == [stored]


def test_full_width_local_part_is_a_different_mailbox(client):
    """Only the domain is folded (as DNS does): the local part belongs to the mail server."""
    assert register(client, "abc@example.com").status_code == 201
    other = register(client, "\uff41\uff42\uff43@example.com", username="second")
    assert other.status_code == 201
    assert other.get_json()["data"]["user"]["email"] == "\uff41\uff42\uff43@example.com"


@pytest.mark.parametrize(
    ("registered", "typed"),
    [
        (NFD_JOSE, NFC_JOSE),
        (NFC_JOSE, NFD_JOSE),
        ("a@xn--bcher-kva.de", "a@b\u00fccher.de"),
        ("a@b\u00fccher.de", " A@XN--BCHER-KVA.DE "),
    ],
)
def test_login_accepts_any_equivalent_spelling(client, registered, typed):
    assert register(client, registered).status_code == 201

    response = client.post(LOGIN, json={"email": typed, "password": PASSWORD})

    assert response.status_code == 200


def test_local_part_over_64_characters_is_a_400_on_email(client):
    response = register(client, "a" * 65 + "@example.com")

    assert response.status_code == 400
    assert response.get_json() == {
        "error": "Validation failed",
        "errors": [
            {"field": "email", "message": "The part before the @ must be at most 64 characters."}
        ],
    }
    assert register(client, "a" * 64 + "@example.com").status_code == 201


def test_cli_finds_the_account_by_an_equivalent_spelling(app, client, runner):
    assert register(client, NFC_JOSE).status_code == 201

    result = runner.invoke(args=["users", "deactivate", NFD_JOSE])

    assert result.exit_code == 0, result.output
    with app.app_context():
        assert db.session.scalar(select(User.is_active)) is False


def test_cli_create_stores_the_normalised_form(app, runner):
    result = runner.invoke(
        args=["users", "create", "--email", "A@XN--BCHER-KVA.DE", "--username", "bo",
              "--password-stdin"],
        input=PASSWORD + "\n",
    )
    assert result.exit_code == 1  # "bo" is too short: nothing was created
    result = runner.invoke(
        args=["users", "create", "--email", "A@XN--BCHER-KVA.DE", "--username", "bob",
              "--password-stdin"],
        input=PASSWORD + "\n",
    )
    assert result.exit_code == 0, result.output
    with app.app_context():
        assert db.session.scalars(select(User.email)).all() == ["a@b\u00fccher.de"]
