"""Accounts."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import String, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from audiotricks.models.base import Base, UtcDateTime, utcnow

if TYPE_CHECKING:
    from audiotricks.models.auth_session import AuthSession
    from audiotricks.models.history import HistoryItem
    from audiotricks.models.settings import UserSettings


class User(Base):
    __tablename__ = "users"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    # Stored in the one normalised form of audiotricks.emails.normalise_email, so the unique
    # constraint makes equivalent spellings of an address one account.
    email: Mapped[str] = mapped_column(String(254), unique=True)
    username: Mapped[str] = mapped_column(String(30))  # as typed
    # Lower-cased username: its unique constraint makes "Alice" and "alice" one name.
    username_key: Mapped[str] = mapped_column(String(30), unique=True)
    password_hash: Mapped[str] = mapped_column(String(128))
    is_active: Mapped[bool] = mapped_column(default=True)
    # Set when a mailed verification (or change-of-address) token came back; accounts from before
    # verification existed start unverified (see migrations/versions/0005_mail.py).
    email_verified: Mapped[bool] = mapped_column(default=False, server_default=false())
    # Bumped by every change that must end the sessions opened with the old credentials (a new
    # password, a deactivation); a session only works while it carries the current value, so a
    # login that read the old credentials cannot outlive the change (see auth/service.py).
    credentials_version: Mapped[int] = mapped_column(default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    sessions: Mapped[list[AuthSession]] = relationship(
        back_populates="user", cascade="all, delete-orphan", passive_deletes=True
    )
    settings: Mapped[UserSettings] = relationship(
        back_populates="user", cascade="all, delete-orphan", passive_deletes=True
    )
    # The database cascades (ON DELETE CASCADE); passive: deleting a user loads no items.
    history_items: Mapped[list[HistoryItem]] = relationship(
        back_populates="user", cascade="all, delete-orphan", passive_deletes=True
    )

    def __repr__(self) -> str:
        return f"<User {self.id}>"
