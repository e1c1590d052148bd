"""Trusted reverse proxies: believe their ``X-Forwarded-For`` only when it names a real address.

Werkzeug's ProxyFix copies the chosen ``X-Forwarded-For`` entry into ``REMOTE_ADDR`` as it is,
so a client behind a proxy that appends (rather than replaces) the header could make its "IP" 100
letters or ``<script>``: text that reached the rate-limit key, the access log and the session row
(a VARCHAR(45) on PostgreSQL, where it failed the login with a 500). Here the entry must parse as
an IPv4 or IPv6 address; it is stored in one canonical spelling, and anything else leaves the
socket peer in place.
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING

from werkzeug.middleware.proxy_fix import ProxyFix

if TYPE_CHECKING:
    from collections.abc import Iterable

    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment


def canonical_ip(text: str | None) -> str | None:
    """``text`` as a canonical IP address, or None when it is not one.

    IPv6 is compressed and lower-case, its scope id (``fe80::1%eth0``) dropped: a zone names an
    interface of the proxy's host, not the client, and may be any length. An IPv4-mapped IPv6
    address (``::ffff:192.0.2.1``) is the IPv4 client it stands for, so both spellings of one
    client share one rate-limit counter.
    """
    if not text:
        return None
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Address(int(address)))  # rebuilt from the number: no scope id
    return str(address)


class TrustedProxyFix(ProxyFix):
    """ProxyFix for ``proxies`` trusted hops that accepts only a valid client address.

    Every consumer of ``request.remote_addr`` (rate-limit key, session row, access log) sees the
    same checked value, because it is settled here before the app runs.
    """

    def __init__(self, app: WSGIApplication, proxies: int):
        self.checked_app = app
        # ProxyFix rewrites the environ, then calls its app: that is where the values are checked.
        super().__init__(self._check, x_for=proxies, x_proto=proxies)

    def _check(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        original = environ["werkzeug.proxy_fix.orig"]
        forwarded = environ.get("REMOTE_ADDR")
        if forwarded != original["REMOTE_ADDR"]:
            environ["REMOTE_ADDR"] = canonical_ip(forwarded) or original["REMOTE_ADDR"]
        return self.checked_app(environ, start_response)
