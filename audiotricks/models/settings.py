"""Per-user preferences and the encrypted provider API keys."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, Boolean, CheckConstraint, ForeignKey, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from audiotricks.models.base import Base, UtcDateTime, utcnow

if TYPE_CHECKING:
    from audiotricks.models.user import User

SUMMARY_QUALITIES = ("concise", "balanced", "detailed")
PROVIDERS = ("openai", "elevenlabs")


class UserSettings(Base):
    __tablename__ = "user_settings"
    __table_args__ = (
        CheckConstraint(
            "summary_quality IN ('concise', 'balanced', 'detailed')", name="summary_quality"
        ),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    preferred_language: Mapped[str] = mapped_column(String(2), default="en")
    summary_quality: Mapped[str] = mapped_column(String(16), default="balanced")
    settings_json: Mapped[dict[str, Any]] = mapped_column(
        JSON().with_variant(JSONB(), "postgresql"), default=dict
    )
    # Per provider: the ciphertext, its last four characters, when it was stored, and the last
    # check with the provider (valid: None = never checked; reset when a new key is stored).
    # Ciphertexts in the vault's versioned text format (see audiotricks.security.crypto).
    openai_key_encrypted: Mapped[str | None] = mapped_column(Text)
    openai_key_last4: Mapped[str | None] = mapped_column(String(4))
    openai_key_updated_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    openai_key_valid: Mapped[bool | None] = mapped_column(Boolean)
    openai_key_checked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    elevenlabs_key_encrypted: Mapped[str | None] = mapped_column(Text)
    elevenlabs_key_last4: Mapped[str | None] = mapped_column(String(4))
    elevenlabs_key_updated_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    elevenlabs_key_valid: Mapped[bool | None] = mapped_column(Boolean)
    elevenlabs_key_checked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)

    user: Mapped[User] = relationship(back_populates="settings")

    def __repr__(self) -> str:
        return f"<UserSettings user={self.user_id}>"
