"""WSGI entry point for gunicorn or any other WSGI server: ``gunicorn wsgi:app``."""

import sys

from audiotricks import create_app
from audiotricks.security_headers import SERVER_NAME

if "gunicorn" in sys.modules:
    # gunicorn always sends "Server: gunicorn" and has no setting for it; name no software.
    from gunicorn.http import wsgi as _gunicorn_wsgi

    _gunicorn_wsgi.SERVER = SERVER_NAME

app = create_app()
