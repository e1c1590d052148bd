"""The user's library: one row per processed recording (transcript, segments, summary).

The search index is kept by the database itself, so the ORM does not map it: on PostgreSQL a
``search_vector`` tsvector column filled by a trigger, with a GIN index; on SQLite an FTS5 table
kept in sync by triggers. :data:`SEARCH_OBJECTS` names them, so that autogenerate (``flask db
check``) does not report them as drift (see :func:`include_object`).
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Computed,
    Float,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from audiotricks.models.base import Base, UtcDateTime, utcnow

if TYPE_CHECKING:
    from audiotricks.models.user import User

# JSON on SQLite, JSONB on PostgreSQL; Python None is SQL NULL (not the JSON value null).
JsonValue = JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")

CLIENT_ID_CONSTRAINT = "uq_history_items_user_id_client_id"
# A list entry's preview: the transcript's first characters, kept by the database beside the row.
PREVIEW_CHARS = 400
PREVIEW_SQL = f"substr(transcript_text, 1, {PREVIEW_CHARS})"
LIST_INDEX = "ix_history_items_user_id_created_at_id"

# Database-maintained search objects the models do not declare (created by the migration).
SEARCH_OBJECTS = frozenset(
    {
        "search_vector",  # PostgreSQL: tsvector column of history_items
        "ix_history_items_search_vector",  # PostgreSQL: its GIN index
        "history_search",  # SQLite: the FTS5 table ...
        "history_search_data",  # ... and the shadow tables FTS5 creates for it
        "history_search_idx",
        "history_search_content",
        "history_search_docsize",
        "history_search_config",
        "history_search_keys",  # SQLite: stable integer keys of the FTS5 rows
    }
)


def etag_of(item_id: uuid.UUID, revision: int) -> str:
    """The strong ETag of an item's revision (also for rows read without the ORM)."""
    digest = hashlib.sha256(f"{item_id}:{revision}".encode()).hexdigest()[:32]
    return f'"{digest}"'


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """Alembic's filter: leave the database-maintained search objects out of autogenerate."""
    return not (reflected and compare_to is None and name in SEARCH_OBJECTS)


class HistoryItem(Base):
    __tablename__ = "history_items"
    __table_args__ = (
        # NULL client ids never collide: items created without one are all distinct.
        UniqueConstraint("user_id", "client_id", name=CLIENT_ID_CONSTRAINT),
        # Newest first, keyset on (created_at, id): read backwards, the same index serves
        # ORDER BY created_at DESC, id DESC, and the per-user count of the item cap.
        Index(LIST_INDEX, "user_id", "created_at", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    # Indexed by the list index (user_id leads it).
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    client_id: Mapped[str | None] = mapped_column(String(128))
    title: Mapped[str] = mapped_column(String(200))
    language: Mapped[str | None] = mapped_column(String(2))
    duration_seconds: Mapped[float | None] = mapped_column(Float)
    word_count: Mapped[int] = mapped_column(default=0)
    source_file_name: Mapped[str | None] = mapped_column(String(255))
    source_file_size: Mapped[int | None] = mapped_column(BigInteger)
    transcript_text: Mapped[str] = mapped_column(Text)
    # Computed by the database on every write of transcript_text (never written by the app). On
    # PostgreSQL it is stored, so a list page reads a short column instead of decompressing the
    # beginning of each transcript from TOAST; on SQLite (no TOAST) it is computed when read.
    preview: Mapped[str] = mapped_column(Text, Computed(PREVIEW_SQL, persisted=True))
    segments: Mapped[list[dict[str, Any]]] = mapped_column(JsonValue, default=list)
    summary: Mapped[dict[str, Any] | None] = mapped_column(JsonValue)
    processing_options: Mapped[dict[str, Any]] = mapped_column(JsonValue, default=dict)
    # Where the item's stored audio lives (speech jobs); None: no audio.
    audio_path: Mapped[str | None] = mapped_column(String(512))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    # Incremented by every update; the ETag is derived from it (see etag()).
    revision: Mapped[int] = mapped_column(default=1)

    user: Mapped[User] = relationship(back_populates="history_items")

    @property
    def etag(self) -> str:
        """The strong ETag of this revision: opaque, quoted, changes with every update."""
        return etag_of(self.id, self.revision)

    def __repr__(self) -> str:  # never the title or the transcript: user content
        return f"<HistoryItem {self.id} user={self.user_id}>"
