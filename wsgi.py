"""WSGI entry point for gunicorn or any other WSGI server: ``gunicorn wsgi:app``."""

import sys

from audiotricks import create_app
from audiotricks.config import ConfigError

try:
    app = create_app()
except ConfigError as exc:
    # One message naming every problem, not a traceback; the server stops with status 1.
    sys.exit(str(exc))
