"""``flask worker``: run background jobs from the queue, and the periodic work (sweep, pruning)."""

from __future__ import annotations

import logging

import click
from flask import current_app
from flask.cli import with_appcontext

log = logging.getLogger(__name__)


@click.command("worker")
@click.option(
    "--threads",
    "-t",
    type=click.IntRange(min=1, max=64),
    default=2,
    show_default=True,
    help="Jobs this process runs at the same time (they mostly wait on the provider).",
)
@with_appcontext
def worker(threads: int) -> None:
    """Run jobs from the queue until stopped.

    Start as many of these as the work needs, on one host or several (they share the queue and
    the database). SIGTERM lets running jobs reach the end of their current step, for up to 20
    seconds; SIGINT (Ctrl-C) stops at once. Either way, a job that did not finish goes back on
    the queue for another worker, and does not count as one of its attempts.
    """
    from audiotricks.jobs import tasks
    from audiotricks.jobs.queue import create_consumer, current_queue

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    queue = current_queue()
    consumer = create_consumer(queue, threads, on_stop=tasks.stopping.set)
    log.info("worker started", extra={"event": "worker_started", "threads": threads})
    try:
        consumer.run()
    finally:
        tasks.stopping.set()
        released = tasks.release_held(app, queue)
        log.info("worker stopped", extra={"event": "worker_stopped", "released": released})
