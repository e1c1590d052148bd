"""Security headers on every response: Helmet's defaults, tightened for a JSON API.

flask-talisman was considered and not used: its last release is from 2023, it has no
Cross-Origin-Opener/Resource-Policy, and it redirects to HTTPS and rewrites cookie flags, which
belong to the reverse proxy and to an app that has cookies. The whole policy fits in one small
WSGI middleware.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from flask import Flask, Response

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

from audiotricks.config import Config

# The JSON API renders nothing, so a browser may load nothing on its behalf.
API_CSP = "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

# Swagger UI: its bundle and stylesheet come from this app; it fetches openapi.json from here too
# and draws its icons as data: images. React sets inline styles through the CSSOM, which CSP allows.
DOCS_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)

HSTS = "max-age=31536000; includeSubDomains"

# A neutral Server value: the stack and its version are nobody's business.
SERVER_NAME = "audiotricks"

COMMON_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    # same-origin stops other sites embedding a response (no-cors); CORS fetches are unaffected.
    "Cross-Origin-Resource-Policy": "same-origin",
    "Origin-Agent-Cluster": "?1",
    "X-DNS-Prefetch-Control": "off",
    "X-Download-Options": "noopen",
    "X-Permitted-Cross-Domain-Policies": "none",
    # The legacy XSS auditor did more harm than good; 0 turns it off where it still exists.
    "X-XSS-Protection": "0",
}


def response_headers(production: bool) -> dict[str, str]:
    """The security headers of every response (also used for gunicorn's own error answers)."""
    headers = {**COMMON_HEADERS, "Content-Security-Policy": API_CSP}
    if production:
        # Only over TLS (at the proxy) does HSTS mean anything; in development it would pin
        # localhost to HTTPS in the developer's browser.
        headers["Strict-Transport-Security"] = HSTS
    return headers


class SecurityHeaders:
    """WSGI middleware adding the security headers to every response the app sends, errors included.

    Each is added only when the response lacks it (the docs page sets its own policy), and any
    ``X-Powered-By`` is dropped. Done on the header list the app hands to the server, once per
    response: a Flask response hook setting them one by one cost about ten times as much.
    """

    def __init__(self, app: WSGIApplication, headers: dict[str, str]):
        self.app = app
        self.headers = [(name.lower(), name, value) for name, value in headers.items()]

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            present = {name.lower() for name, _ in headers}
            if "x-powered-by" in present:
                headers[:] = [h for h in headers if h[0].lower() != "x-powered-by"]
            headers.extend((name, value) for key, name, value in self.headers if key not in present)
            return start_response(status, headers, exc_info)

        return self.app(environ, start)


def init_security_headers(app: Flask, config: Config) -> None:
    """Add the headers to every response, errors included; HSTS only in production."""
    app.wsgi_app = SecurityHeaders(  # type: ignore[method-assign]
        app.wsgi_app, response_headers(config.is_production)
    )
    neutralise_server_header()


def docs_headers(response: Response) -> Response:
    """The docs page's own policy (it loads a script and styles), which the middleware keeps."""
    response.headers["Content-Security-Policy"] = DOCS_CSP
    return response


def _server_name(_handler: object) -> str:
    return SERVER_NAME


def neutralise_server_header() -> None:
    """Make gunicorn and Werkzeug's development server send ``Server: audiotricks``.

    Both write the header themselves, after the app, from a module or class attribute (neither has
    a setting for it), so the attribute is replaced; an app-set Server would only be a duplicate.
    """
    from werkzeug.serving import WSGIRequestHandler

    # Werkzeug sends "Werkzeug/<version> Python/<version>" otherwise.
    WSGIRequestHandler.version_string = _server_name  # type: ignore[method-assign,assignment]
    if "gunicorn" in sys.modules:
        from gunicorn.http import wsgi as gunicorn_wsgi

        gunicorn_wsgi.SERVER = SERVER_NAME  # read for every response's Server header
