"""Hand a mail to the SMTP server of ``MAIL_URL``, or write it to the log when there is none.

The log is the development mailer (``MAIL_URL`` unset; production refuses to start without it)
and the only place a token may appear in a log line: the mail's links go in the ``links`` field,
which the redacting log filter is told to leave alone.

An SMTP failure raises :class:`MailNotSent` naming what failed (the exception type and the SMTP
code), never the server's text, which may quote the address, nor the URL, which may hold the
password. The caller (the queue's task) retries.
"""

from __future__ import annotations

import logging
import smtplib
import ssl

from audiotricks.config import Config
from audiotricks.logs import SAFE_FIELDS_ATTR
from audiotricks.mail.messages import Mail
from audiotricks.mail.settings import MailServer, parse_mail_url, sender_address, wire_address

log = logging.getLogger(__name__)

# Seconds one SMTP command (connect, each reply) may take before the attempt fails and is retried.
SMTP_TIMEOUT_SECONDS = 20


class MailNotSent(Exception):
    """The server could not be reached or did not take the mail; ``reason`` is safe to log."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class MailUnsendable(Exception):
    """The mail cannot be built (a header value that would span lines): no retry can help."""


def send(mail: Mail, config: Config) -> None:
    """Deliver ``mail`` to its one recipient (or log it, with no ``MAIL_URL``)."""
    try:
        message = mail.message(config.mail_from)
    except ValueError:  # a CR or LF in a header value: refused, never sent
        raise MailUnsendable() from None
    if not config.mail_url:
        log.info(
            "mail written to the log (MAIL_URL is not set)",
            extra={
                "event": "mail_logged",
                "to": mail.to,
                "subject": mail.subject,
                "links": list(mail.links),
                "text": mail.text(),
                SAFE_FIELDS_ATTR: frozenset({"to", "subject", "links", "text"}),
            },
        )
        return
    server = parse_mail_url(config.mail_url)
    sender = sender_address(config.mail_from)
    try:
        with _connect(server, config) as client:
            # The envelope: MAIL_FROM's address and the one recipient, never taken from headers.
            recipient = wire_address(mail.to)
            client.send_message(message, from_addr=sender.addr_spec, to_addrs=[recipient])
    except smtplib.SMTPRecipientsRefused as exc:
        codes = sorted({code for code, _ in exc.recipients.values()})
        raise MailNotSent(f"recipient refused ({', '.join(map(str, codes))})") from None
    except smtplib.SMTPResponseException as exc:
        raise MailNotSent(f"{type(exc).__name__} ({exc.smtp_code})") from None
    except (smtplib.SMTPException, OSError) as exc:  # refused, reset, timed out, TLS failed
        raise MailNotSent(type(exc).__name__) from None


def _connect(server: MailServer, config: Config) -> smtplib.SMTP:
    """A connected, greeted client: TLS as the URL says, logged in when it names a user."""
    context = ssl.create_default_context(cafile=config.mail_ca_file or None)
    # EHLO with the sender's domain: looking up this host's own name can hang where DNS is slow.
    helo = sender_address(config.mail_from).domain
    client: smtplib.SMTP
    if server.tls == "implicit":
        client = smtplib.SMTP_SSL(
            server.host, server.port, local_hostname=helo, timeout=SMTP_TIMEOUT_SECONDS,
            context=context,
        )
    else:
        client = smtplib.SMTP(
            server.host, server.port, local_hostname=helo, timeout=SMTP_TIMEOUT_SECONDS
        )
    try:
        client.ehlo()
        if server.tls in ("required", "optional"):
            if client.has_extn("starttls"):
                client.starttls(context=context)
                client.ehlo()
            elif server.tls == "required":
                raise MailNotSent("the server does not offer STARTTLS")
        if server.username:
            client.login(server.username, server.password)
    except BaseException:
        client.close()
        raise
    return client
