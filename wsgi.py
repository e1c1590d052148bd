"""WSGI entry point for gunicorn or any other WSGI server: ``gunicorn wsgi:app``."""

from audiotricks import create_app
from audiotricks.config import ConfigError

try:
    app = create_app()
except ConfigError as exc:
    # One clear message naming every problem, not a traceback.
    raise SystemExit(str(exc)) from None
