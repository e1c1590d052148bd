"""Operator commands (``flask <group> <command>``); each feature keeps its group beside it here."""

from __future__ import annotations

import click
from flask import Flask

from audiotricks.commands.keys import keys as keys_cli
from audiotricks.commands.sessions import sessions_cli
from audiotricks.commands.users import users_cli

# Click groups added to the ``flask`` command; features append theirs here.
COMMAND_GROUPS: tuple[click.Group, ...] = (keys_cli, sessions_cli, users_cli)


def register_commands(app: Flask) -> None:
    for group in COMMAND_GROUPS:
        app.cli.add_command(group)
