"""The mails, each in plain text and HTML, built with the standard library's ``EmailMessage``.

Its default policy refuses a CR or LF in any header value, so no address or name can add a
header or a recipient; the envelope's one recipient is given to SMTP separately (see
:mod:`audiotricks.mail.transport`), never read back from the headers. Every value put into the
HTML is escaped.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from audiotricks.mail.settings import sender_address, wire_address
from audiotricks.models import utcnow

PRODUCT = "AudioTricks"


@dataclass(frozen=True)
class Mail:
    """One mail to one address; ``links`` are the links it carries (the development log shows them)."""

    to: str
    subject: str
    paragraphs: tuple[str, ...]
    links: tuple[str, ...] = field(default=(), repr=False)  # they hold tokens
    action: str = ""  # the label of the button for links[0]

    def text(self) -> str:
        parts = list(self.paragraphs)
        if self.links:
            parts.insert(1, self.links[0])
        return "\n\n".join(parts) + f"\n\n-- \n{PRODUCT}\n"

    def html(self) -> str:
        body = [f"<p>{html.escape(p)}</p>" for p in self.paragraphs]
        if self.links:
            href = html.escape(self.links[0], quote=True)
            label = html.escape(self.action or self.links[0])
            button = f'<p><a href="{href}">{label}</a></p>'
            fallback = f"<p>Or paste this link into your browser: {html.escape(self.links[0])}</p>"
            body[1:1] = [button, fallback]
        return (
            '<!DOCTYPE html><html><head><meta charset="utf-8">'
            f"<title>{html.escape(self.subject)}</title></head><body>"
            + "".join(body)
            + f"<p>&mdash; {PRODUCT}</p></body></html>"
        )

    def message(self, mail_from: str) -> EmailMessage:
        """The MIME message: multipart/alternative, text first, HTML second.

        Raises ValueError when a header value would span lines (CR or LF in ``to``).
        """
        sender = sender_address(mail_from)
        message = EmailMessage()
        message["From"] = sender
        message["To"] = wire_address(self.to)
        message["Subject"] = self.subject
        message["Date"] = format_datetime(utcnow())
        message["Message-ID"] = make_msgid(domain=sender.domain)
        message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies
        message.set_content(self.text())
        message.add_alternative(self.html(), subtype="html")
        return message


def greeting(username: str) -> str:
    return f"Hi {username},"


def password_reset(to: str, username: str, link: str, ttl_seconds: int) -> Mail:
    minutes = max(1, ttl_seconds // 60)
    return Mail(
        to=to,
        subject=f"Reset your {PRODUCT} password",
        paragraphs=(
            f"{greeting(username)} someone (hopefully you) asked to reset the password of your"
            f" {PRODUCT} account. Open this link to choose a new one:",
            f"The link works once, for {minutes} minutes. Setting a new password signs you out"
            " everywhere.",
            "If you did not ask for this, ignore this mail: your password stays as it is.",
        ),
        links=(link,),
        action="Choose a new password",
    )


def verify_address(to: str, username: str, link: str) -> Mail:
    return Mail(
        to=to,
        subject=f"Confirm your email address for {PRODUCT}",
        paragraphs=(
            f"{greeting(username)} please confirm that this is your address by opening this link:",
            "The link works for 48 hours.",
            f"If you did not create a {PRODUCT} account, ignore this mail.",
        ),
        links=(link,),
        action="Confirm my address",
    )


def confirm_new_address(to: str, username: str, link: str) -> Mail:
    return Mail(
        to=to,
        subject=f"Confirm your new email address for {PRODUCT}",
        paragraphs=(
            f"{greeting(username)} you asked to use this address for your {PRODUCT} account."
            " Open this link to confirm it:",
            "The link works for 48 hours. Your account keeps its current address until then.",
            "If you did not ask for this, ignore this mail.",
        ),
        links=(link,),
        action="Confirm my new address",
    )


def password_changed(to: str, username: str) -> Mail:
    return Mail(
        to=to,
        subject=f"Your {PRODUCT} password was changed",
        paragraphs=(
            f"{greeting(username)} the password of your {PRODUCT} account was just changed.",
            "If you did this, there is nothing more to do. If you did not, reset your password"
            " at once with \"Forgot password\" on the sign-in page: that signs out everyone"
            " using your account.",
        ),
    )


def email_changed(to: str, username: str) -> Mail:
    return Mail(
        to=to,
        subject=f"Your {PRODUCT} email address was changed",
        paragraphs=(
            f"{greeting(username)} your {PRODUCT} account no longer uses this address: another"
            " one was confirmed for it, and mail for the account now goes there.",
            "If you did not do this, someone else may control your account: contact us by"
            " replying to this mail.",
        ),
    )
