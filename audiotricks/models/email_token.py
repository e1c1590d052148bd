"""Tokens sent by mail: password resets, address verifications and changes of address.

Only the SHA-256 of a token is stored, as for sessions. A row records the address the mail went
to (``email``): the token only works while the account still has that address, so a change of
address kills the tokens mailed to the old one. A reset token also records the user's
``credentials_version`` when it was made: a password change (or a reset, or a deactivation)
bumps it and so kills every older reset token.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from audiotricks.models.base import Base, UtcDateTime, utcnow

PURPOSES = ("reset", "verify", "email_change")


class EmailToken(Base):
    __tablename__ = "email_tokens"
    __table_args__ = (
        CheckConstraint(
            "purpose IN (" + ", ".join(f"'{p}'" for p in PURPOSES) + ")", name="purpose"
        ),
        # The live tokens of one purpose of a user: superseded when a newer one is made.
        Index("ix_email_tokens_user_id_purpose", "user_id", "purpose"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    purpose: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)  # SHA-256 hex; never the token
    email: Mapped[str] = mapped_column(String(254))  # the address the mail went to
    new_email: Mapped[str | None] = mapped_column(String(254))  # email_change: the address to set
    credentials_version: Mapped[int] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)  # spent or superseded

    def __repr__(self) -> str:
        return f"<EmailToken {self.id} {self.purpose} user={self.user_id}>"
