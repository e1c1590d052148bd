"""What the mail settings mean: ``MAIL_URL``, ``MAIL_FROM`` and ``FRONTEND_URL`` (no Flask here).

``MAIL_URL`` names the SMTP server and how to reach it:

- ``smtp://user:password@host:587`` — STARTTLS, required: a server that does not offer it is
  not sent to (the mail waits and is retried). The default port is 587.
- ``smtps://user:password@host:465`` — TLS from the first byte (implicit TLS). Default port 465.
- ``smtp://host:25?starttls=optional`` — STARTTLS when the server offers it, plain text otherwise;
  ``?starttls=off`` never starts TLS. Both are for a relay on the same host or network and refuse
  credentials: a password never crosses the network in clear.

The user name and password are percent-decoded (``%40`` for ``@``). Certificates are checked
against the system's CAs, or ``MAIL_CA_FILE`` when set, and must name the host. No problem message
quotes the URL: it may hold a password.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.utils import getaddresses
from urllib.parse import parse_qs, unquote, urlsplit

import idna

STARTTLS_MODES = ("required", "optional", "off")
DEFAULT_PORTS = {"smtp": 587, "smtps": 465}
BAD_SENDER = "MAIL_FROM must be one address such as 'AudioTricks <no-reply@example.com>'"


@dataclass(frozen=True)
class MailServer:
    """Where and how mail is handed over; ``tls`` is ``implicit`` or a STARTTLS mode."""

    host: str
    port: int
    tls: str
    username: str = ""
    password: str = field(default="", repr=False)


def parse_mail_url(url: str) -> MailServer:
    """The server ``url`` names, or ValueError with a message that does not quote it."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise ValueError("MAIL_URL is not a valid URL") from None
    if parts.scheme not in DEFAULT_PORTS:
        raise ValueError("MAIL_URL must start with smtp:// (STARTTLS) or smtps:// (implicit TLS)")
    if not parts.hostname:
        raise ValueError("MAIL_URL must name a host")
    if parts.path not in ("", "/") or parts.fragment:
        raise ValueError("MAIL_URL must have no path")
    try:
        query = parse_qs(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
    except ValueError:
        raise ValueError("MAIL_URL has a malformed query") from None
    if set(query) - {"starttls"} or any(len(values) != 1 for values in query.values()):
        raise ValueError("MAIL_URL takes only one query parameter: starttls")
    mode = query.get("starttls", ["required"])[0]
    if mode not in STARTTLS_MODES:
        raise ValueError("MAIL_URL's starttls must be required, optional or off")
    if parts.scheme == "smtps":
        if "starttls" in query:
            raise ValueError("MAIL_URL: starttls applies to smtp://, not smtps://")
        mode = "implicit"
    username = unquote(parts.username or "")
    password = unquote(parts.password or "")
    if (username or password) and mode in ("optional", "off"):
        raise ValueError(
            "MAIL_URL with a user name or password needs TLS (smtps://, or smtp:// with STARTTLS"
            " required)"
        )
    return MailServer(
        host=parts.hostname,
        port=port or DEFAULT_PORTS[parts.scheme],
        tls=mode,
        username=username,
        password=password,
    )


def mail_url_problem(url: str) -> str | None:
    try:
        parse_mail_url(url)
    except ValueError as exc:
        return str(exc)
    return None


def sender_address(mail_from: str) -> Address:
    """``MAIL_FROM`` (``a@example.com`` or ``Name <a@example.com>``) as a header address."""
    if any(char in mail_from for char in "\r\n\0"):
        raise ValueError("MAIL_FROM must be one line")
    found = getaddresses([mail_from])
    if len(found) != 1:
        raise ValueError(BAD_SENDER)
    name, address = found[0]
    local, at, domain = address.rpartition("@")
    if not (local and at and domain) or any(char.isspace() for char in address):
        raise ValueError(BAD_SENDER)
    try:
        return Address(display_name=name, username=local, domain=domain)
    except (ValueError, HeaderParseError):
        raise ValueError(BAD_SENDER) from None


def mail_from_problem(mail_from: str) -> str | None:
    try:
        sender_address(mail_from)
    except ValueError as exc:
        return str(exc)
    return None


def frontend_url_problem(url: str) -> str | None:
    """Links are ``FRONTEND_URL`` + ``/reset-password#token=…``: a bare http(s) origin or path."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "FRONTEND_URL is not a valid URL"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "FRONTEND_URL must be an http(s):// URL"
    if parts.query or parts.fragment or "#" in url or "?" in url:
        return "FRONTEND_URL must have no query or fragment"
    if parts.username or parts.password:
        return "FRONTEND_URL must not hold credentials"
    if any(char.isspace() or not char.isprintable() for char in url):
        return "FRONTEND_URL must not contain spaces or control characters"
    return None


def wire_address(address: str) -> str:
    """``address`` as SMTP carries it: an internationalised domain in its ASCII (IDNA) form.

    Addresses are stored with the domain in Unicode (see audiotricks.emails); its ASCII form needs
    nothing of the server. A non-ASCII part before the ``@`` is sent as it is, which needs a server
    with SMTPUTF8 (a server without it refuses the mail, and it is retried then dropped).
    """
    local, at, domain = address.rpartition("@")
    if not at or domain.isascii():
        return address
    try:
        return f"{local}@{idna.encode(domain, uts46=True).decode('ascii')}"
    except idna.IDNAError:
        return address
