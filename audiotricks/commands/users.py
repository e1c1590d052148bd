"""``flask users …``: create accounts, (de)activate them and make reset links from the command line."""

from __future__ import annotations

import logging
import sys

import click
from flask.cli import AppGroup
from marshmallow import ValidationError

from audiotricks.auth import recovery_service, service
from audiotricks.errors import Conflict, field_errors
from audiotricks.models import User
from audiotricks.schemas.auth import RegisterSchema

log = logging.getLogger(__name__)
users_cli = AppGroup("users", help="Manage user accounts.")


def _lookup(identifier: str) -> User:
    user = service.find_user_by_login(identifier)
    if user is None:
        raise click.ClickException(f"No user with the email or username {identifier!r}.")
    return user


@users_cli.command("create")
@click.option("--email", required=True, help="The new user's email address.")
@click.option("--username", required=True, help="3-30 characters of letters, digits, _ and -.")
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from the first line of standard input instead of prompting.",
)
def create(email: str, username: str, password_stdin: bool) -> None:
    """Create an account (with default settings) and print its id.

    The password is prompted for twice, hidden; it is never taken from the command line, where
    it would end up in the shell history and the process list. Scripts pipe it in:

    \b
        printf '%s\\n' "$PASSWORD" |
          flask users create --email a@example.com --username alice --password-stdin

    The register endpoint's rules apply to all three values.
    """
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        data = RegisterSchema().load({"email": email, "username": username, "password": password})
    except ValidationError as exc:
        for problem in field_errors(exc.messages):
            click.echo(f"{problem['field']}: {problem['message']}", err=True)
        raise click.ClickException("Invalid account details; nothing was created.") from None
    try:
        user = service.register_user(data["email"], data["username"], data["password"])
    except Conflict as exc:
        raise click.ClickException(exc.message) from None
    click.echo(str(user.id))


@users_cli.command("deactivate")
@click.argument("identifier")
def deactivate(identifier: str) -> None:
    """Deactivate the account IDENTIFIER (email or username) and revoke all its sessions.

    Its tokens stop working at once; logging in with the right password then answers 403.
    """
    user = _lookup(identifier)
    user_id = user.id
    revoked = service.set_user_active(user, active=False)
    click.echo(f"Deactivated user {user_id}; revoked {revoked} session(s).")


@users_cli.command("activate")
@click.argument("identifier")
def activate(identifier: str) -> None:
    """Reactivate the account IDENTIFIER (email or username) so it can log in again."""
    user = _lookup(identifier)
    user_id = user.id
    service.set_user_active(user, active=True)
    click.echo(f"Activated user {user_id}.")


@users_cli.command("reset-link")
@click.argument("email")
def reset_link(email: str) -> None:
    """Print a password reset link for the account EMAIL (or username), for an operator.

    For a user who cannot receive mail: hand them the link over a channel you trust. It is
    printed once and logged nowhere (the log says only that one was made); it works once, for
    PASSWORD_RESET_TTL seconds, and any older reset link of the account stops working.
    """
    user = _lookup(email)
    if not user.is_active:
        raise click.ClickException("The account is deactivated; activate it first.")
    user_id = user.id
    token = recovery_service.mint_token(user, "reset")
    log.info(
        "reset link made by an operator",
        extra={"event": "reset_link_made", "user_id": str(user_id)},
    )
    click.echo(recovery_service.link(recovery_service.RESET_PATH, token))
