"""Accounts and sessions: ``/api/v1/auth``."""

from flask import Blueprint

bp = Blueprint("auth", __name__, url_prefix="/auth")

from audiotricks.auth import recovery_views, views  # noqa: E402,F401  (registers the routes)
