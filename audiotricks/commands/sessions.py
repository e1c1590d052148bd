"""``flask sessions …``: housekeeping of login sessions."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from audiotricks.auth import service

sessions_cli = AppGroup("sessions", help="Manage login sessions.")


@sessions_cli.command("prune")
@click.option(
    "--batch-size",
    type=click.IntRange(min=1, max=100_000),
    default=service.PRUNE_BATCH_SIZE,
    show_default=True,
    help="Rows deleted per transaction.",
)
@click.option("--quiet", "-q", is_flag=True, help="Print nothing on success (for cron).")
def prune(batch_size: int, quiet: bool) -> None:
    """Delete expired and revoked sessions.

    Rows are deleted in batches, one transaction each, so a large backlog never holds long locks.
    Safe to run at any time and as often as wanted, e.g. hourly from cron:

    \b
        flask sessions prune --quiet
    """
    result = service.prune_sessions(batch_size)
    if not quiet:
        click.echo(
            f"Deleted {result.total} sessions ({result.expired} expired, {result.revoked} revoked)"
            f" in {result.batches} batch(es)."
        )
