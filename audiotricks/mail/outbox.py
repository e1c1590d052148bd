"""What goes on the queue for a mail, and what a worker makes of it.

The queue message says what to send to whom — ``{"kind", "user_id" | "email", "new_email",
"requested_at", "attempt"}`` — and never carries a token: the worker mints the token when it
builds the mail (storing its SHA-256), so a token exists in clear only in the mail itself (and
on the development log). When a send fails, the retry mints a fresh token, which supersedes the
one that never left. Queue messages are signed (see :func:`audiotricks.jobs.queue.build_huey`),
so whoever can write to the queue's storage cannot make a worker mail a token for an account.

A request that asks for a mail does the same work whether or not the account exists: a password
reset is enqueued by address and looked up by the worker, so ``POST /auth/password/forgot``
answers in the same time for any address.

Kinds: ``reset`` (by address), ``verify``, ``email_change``, ``password_changed`` and
``email_changed`` (the notice to the old address, which the message carries).
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

from flask import current_app

from audiotricks.auth.recovery_service import RESET_PATH, VERIFY_PATH, link, mint_token
from audiotricks.auth.service import find_user
from audiotricks.extensions import db
from audiotricks.mail import messages
from audiotricks.mail.messages import Mail
from audiotricks.models import User
from audiotricks.runtime import current_config

log = logging.getLogger(__name__)

MAIL_TASK_KEY = "audiotricks.mail_task"


class MailNotQueued(Exception):
    """The queue's storage did not take the message."""


def send_later(
    kind: str,
    *,
    user_id: uuid.UUID | None = None,
    email: str | None = None,
    new_email: str | None = None,
) -> None:
    """Put "send this kind of mail" on the queue; MailNotQueued when the queue is unreachable."""
    from audiotricks.jobs.queue import current_queue

    if kind not in KINDS:
        raise ValueError(f"unknown mail kind {kind!r}")
    payload = {
        "kind": kind,
        "user_id": str(user_id) if user_id else None,
        "email": email,
        "new_email": new_email,
        "requested_at": time.time(),
        "attempt": 0,
    }
    try:
        huey = current_queue().huey  # builds the queue and registers the task on first use
        huey.enqueue(current_app.extensions[MAIL_TASK_KEY].s(payload))
    except Exception as exc:
        log.error(
            "mail not queued: %s",
            type(exc).__name__,
            extra={"event": "mail_not_queued", "kind": kind, "user_id": payload["user_id"]},
        )
        raise MailNotQueued() from None


def send_later_or_log(kind: str, **fields: Any) -> None:
    """As :func:`send_later`, for a mail that must not fail the request that asks for it (a
    notice, the verification after registration): a queue outage is logged, nothing more."""
    with contextlib.suppress(MailNotQueued):  # send_later logged it
        send_later(kind, **fields)


def deadline(payload: dict[str, Any]) -> float:
    """When to give up: a reset is useless after its link would have expired."""
    config = current_config()
    window = config.password_reset_ttl if payload["kind"] == "reset" else config.mail_retry_seconds
    return float(payload["requested_at"]) + window


def compose(payload: dict[str, Any]) -> Mail | None:
    """The mail for ``payload``, minting its token; None when there is nothing (any more) to send.

    Nothing is sent for an unknown or deactivated account, an address already verified, or a
    change of address asked for by an account whose address changed since.
    """
    kind = payload["kind"]
    if kind == "reset":
        user = find_user(email=payload["email"])
    else:
        user = db.session.get(User, uuid.UUID(payload["user_id"]))
    mail = _COMPOSERS[kind](user, payload) if user is not None and user.is_active else None
    db.session.commit()  # end the read (a minted token is already committed)
    return mail


def _reset(user: User, _payload: dict[str, Any]) -> Mail:
    token = mint_token(user, "reset")
    ttl = current_config().password_reset_ttl
    return messages.password_reset(user.email, user.username, link(RESET_PATH, token), ttl)


def _verify(user: User, _payload: dict[str, Any]) -> Mail | None:
    if user.email_verified:
        return None
    token = mint_token(user, "verify")
    return messages.verify_address(user.email, user.username, link(VERIFY_PATH, token))


def _email_change(user: User, payload: dict[str, Any]) -> Mail | None:
    if user.email != payload["email"]:  # changed since the request: that request is void
        return None
    new_email = payload["new_email"]
    token = mint_token(user, "email_change", new_email=new_email)
    return messages.confirm_new_address(new_email, user.username, link(VERIFY_PATH, token))


def _password_changed(user: User, _payload: dict[str, Any]) -> Mail:
    return messages.password_changed(user.email, user.username)


def _email_changed(user: User, payload: dict[str, Any]) -> Mail:
    return messages.email_changed(payload["email"], user.username)  # the old address


_COMPOSERS: dict[str, Callable[[User, dict[str, Any]], Mail | None]] = {
    "reset": _reset,
    "verify": _verify,
    "email_change": _email_change,
    "password_changed": _password_changed,
    "email_changed": _email_changed,
}
KINDS = tuple(_COMPOSERS)
