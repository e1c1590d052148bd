"""Operator commands (``flask <group> <command>``); each feature keeps its group beside it here."""

from __future__ import annotations

import click
from flask import Flask

from audiotricks.commands.keys import keys as keys_cli
from audiotricks.commands.sessions import sessions_cli
from audiotricks.commands.users import users_cli
from audiotricks.commands.worker import worker

# Click groups added to the ``flask`` command; features append theirs here.
COMMAND_GROUPS: tuple[click.Group, ...] = (keys_cli, sessions_cli, users_cli)
COMMANDS: tuple[click.Command, ...] = (worker,)


def register_commands(app: Flask) -> None:
    for command in (*COMMAND_GROUPS, *COMMANDS):
        app.cli.add_command(command)
