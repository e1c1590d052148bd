"""Small helpers shared by the API and CLI tests: direct SQL and token inspection."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from flask import Flask
from sqlalchemy import func, select, update

from audiotricks.extensions import db
from audiotricks.models import AuthSession, User, UserSettings
from audiotricks.security.tokens import decode_token
from tests.conftest import TEST_JWT_SECRET


def session_id(token: str) -> uuid.UUID:
    """The session id (``sid``) a token names."""
    return decode_token(token, TEST_JWT_SECRET).session_id


def user_id(token: str) -> uuid.UUID:
    return decode_token(token, TEST_JWT_SECRET).user_id


def scalar(app: Flask, statement: Any) -> Any:
    """Run one SELECT in a fresh app context and return its first column."""
    with app.app_context():
        return db.session.scalar(statement)


def execute(app: Flask, statement: Any) -> None:
    """Run one statement (UPDATE, INSERT, DELETE) and commit it."""
    with app.app_context():
        db.session.execute(statement)
        db.session.commit()


def session_column(app: Flask, sid: uuid.UUID, column: str) -> Any:
    return scalar(app, select(getattr(AuthSession, column)).where(AuthSession.id == sid))


def set_session(app: Flask, sid: uuid.UUID, **values: datetime | None) -> None:
    execute(app, update(AuthSession).where(AuthSession.id == sid).values(**values))


def row_counts(app: Flask, uid: uuid.UUID) -> dict[str, int]:
    """How many rows of each table belong to the user."""
    return {
        "users": scalar(app, select(func.count()).select_from(User).where(User.id == uid)),
        "sessions": scalar(
            app, select(func.count()).select_from(AuthSession).where(AuthSession.user_id == uid)
        ),
        "user_settings": scalar(
            app,
            select(func.count()).select_from(UserSettings).where(UserSettings.user_id == uid),
        ),
    }
