"""The queue's mail task: build the mail and send it; on failure try again later, with backoff.

A failure (the SMTP server down, refusing with any code, TLS failing, the database away) puts the
message back on the queue's schedule after 2, 4, 8 … seconds (at most :data:`MAX_BACKOFF_SECONDS`,
plus up to a quarter of jitter, so a recovered server is not hit by every waiting mail at once),
until the mail's deadline: ``PASSWORD_RESET_TTL`` after the request for a reset (its link would be
dead), ``MAIL_RETRY_SECONDS`` for the others. Permanent refusals (5xx) are retried too: a relay
answers them while it is misconfigured as often as for a bad mailbox, and a retry costs little.
A mail that cannot be built (a header value that would span lines) is dropped at once. The request
that asked for the mail has long been answered: an outage delays mail, never a request.

A worker killed while sending loses that message (Huey takes it off the queue when it starts);
the user asks again (forgot, resend, change of address). Mails carry no state the API depends on.
"""

from __future__ import annotations

import logging
import secrets
import time
from typing import Any

from flask import Flask
from huey.api import Huey

from audiotricks.config import Config
from audiotricks.extensions import db
from audiotricks.mail import outbox, transport

log = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 900


def backoff(attempt: int) -> float:
    """Seconds before try ``attempt + 1`` (``attempt`` tries failed so far)."""
    base = min(2.0 ** attempt, MAX_BACKOFF_SECONDS)
    return base * (1 + secrets.randbelow(250) / 1000)


def deliver(app: Flask, payload: dict[str, Any]) -> None:
    """One try: compose (minting the token) and send."""
    config: Config = app.extensions["audiotricks.config"]
    mail = outbox.compose(payload)
    if mail is None:
        log.info(
            "mail not needed",
            extra={"event": "mail_skipped", "kind": payload["kind"], "user_id": payload["user_id"]},
        )
        return
    transport.send(mail, config)
    log.info(
        "mail sent",
        extra={
            "event": "mail_sent",
            "kind": payload["kind"],
            "user_id": payload["user_id"],
            "attempt": payload["attempt"] + 1,
        },
    )


def register(app: Flask, huey: Huey, config: Config) -> None:
    """Define the mail tasks on ``huey`` for ``app`` (views enqueue through :mod:`.outbox`)."""
    from audiotricks.jobs.queue import EveryInterval

    @huey.task(name="send_mail")  # type: ignore[untyped-decorator]
    def send_mail(payload: dict[str, Any]) -> None:
        with app.app_context():
            try:
                deliver(app, payload)
            except transport.MailUnsendable:
                db.session.rollback()
                log.error(
                    "mail cannot be built (a header would span lines), dropped",
                    extra={"event": "mail_dropped", "kind": payload["kind"],
                           "user_id": payload["user_id"]},
                )
            except Exception as exc:
                db.session.rollback()
                reason = exc.reason if isinstance(exc, transport.MailNotSent) else type(exc).__name__
                _retry(send_mail, payload, reason)
            finally:
                db.session.remove()

    @huey.periodic_task(  # type: ignore[untyped-decorator]
        EveryInterval(config.sessions_prune_seconds), name="prune_email_tokens"
    )
    def prune_email_tokens() -> None:
        from audiotricks.auth.recovery_service import prune_tokens

        with app.app_context():
            try:
                deleted = prune_tokens()
            finally:
                db.session.remove()
        log.info("mail tokens pruned", extra={"event": "email_tokens_pruned", "deleted": deleted})

    app.extensions[outbox.MAIL_TASK_KEY] = send_mail


def _retry(task: Any, payload: dict[str, Any], reason: str) -> None:
    attempt = payload["attempt"] + 1
    delay = backoff(attempt)
    fields = {"kind": payload["kind"], "user_id": payload["user_id"], "attempt": attempt}
    if time.time() + delay > outbox.deadline(payload):
        log.error(
            "mail not sent, giving up: %s", reason, extra={"event": "mail_dropped", **fields}
        )
        return
    log.warning(
        "mail not sent, trying again in %.0f s: %s",
        delay,
        reason,
        extra={"event": "mail_retry", **fields},
    )
    try:
        task.schedule(args=({**payload, "attempt": attempt},), delay=delay)
    except Exception as exc:
        log.error(
            "mail retry not scheduled: %s",
            type(exc).__name__,
            extra={"event": "mail_dropped", **fields},
        )
