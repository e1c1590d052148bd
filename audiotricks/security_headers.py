"""Security headers on every response: Helmet's defaults, tightened for a JSON API.

flask-talisman was considered and not used: its last release is from 2023, it has no
Cross-Origin-Opener/Resource-Policy, and it redirects to HTTPS and rewrites cookie flags, which
belong to the reverse proxy and to an app that has cookies. The whole policy fits in one hook.
"""

from __future__ import annotations

import sys

from flask import Flask, Response, request

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
DOCS_ENDPOINT = "api.docs.docs_page"

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


def response_headers(production: bool, docs: bool = False) -> dict[str, str]:
    """The security headers of one response (also used for gunicorn's own error answers)."""
    headers = {**COMMON_HEADERS, "Content-Security-Policy": DOCS_CSP if docs else API_CSP}
    if production:
        # Only over TLS (at the proxy) does HSTS mean anything; in development it would pin
        # localhost to HTTPS in the developer's browser.
        headers["Strict-Transport-Security"] = HSTS
    return headers


def init_security_headers(app: Flask, config: Config) -> None:
    """Add the headers to every response, errors included; HSTS only in production."""
    # Built once: the same two header sets serve every response.
    api_headers = response_headers(config.is_production)
    docs_headers = response_headers(config.is_production, docs=True)

    @app.after_request
    def add_security_headers(response: Response) -> Response:
        response.headers.update(docs_headers if request.endpoint == DOCS_ENDPOINT else api_headers)
        response.headers.pop("X-Powered-By", None)
        return response

    neutralise_server_header()


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
