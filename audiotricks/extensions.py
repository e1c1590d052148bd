"""Extension instances, created bare and bound to an app in :func:`audiotricks.create_app`."""

import sqlite3

from flask_cors import CORS
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import event
from sqlalchemy.engine import Engine

from audiotricks.models.base import Base

# A second engine on the same database, for the session check (see flask_settings).
SESSION_CHECK_BIND = "session_check"
# expire_on_commit off: a view that commits can still read what it just wrote without a query.
db = SQLAlchemy(model_class=Base, session_options={"expire_on_commit": False})
migrate = Migrate()
cors = CORS()
# The rate limiter is built per app (Flask-Limiter keeps storage state on the instance):
# see audiotricks.ratelimits.


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    """SQLite: enforce foreign keys (cascades) and use WAL so readers do not block the writer."""
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.close()
