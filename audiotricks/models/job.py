"""Background jobs: the state of one piece of work, owned by a user, read by the API.

The queue carries only a job's id; everything else (status, progress, the claim that says which
worker runs it and until when) lives here, and every change of state is a conditional UPDATE, so
two workers, or a worker and a cancel, can never both win.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, Integer, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from audiotricks.models.base import Base, UtcDateTime, utcnow

JOB_KINDS = ("transcription", "summary", "speech")
JOB_STATUSES = ("queued", "running", "succeeded", "failed", "canceled")
ACTIVE_STATUSES = ("queued", "running")
FINISHED_STATUSES = ("succeeded", "failed", "canceled")
JOB_STAGES = ("queued", "preparing", "transcribing", "summarizing", "speaking", "saving", "done")


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        CheckConstraint(
            "status IN ('queued', 'running', 'succeeded', 'failed', 'canceled')", name="status"
        ),
        # A user's newest jobs first: scanned backwards, so the ascending index serves it.
        Index("ix_jobs_user_id_created_at", "user_id", "created_at"),
        # The sweep looks for running jobs whose lease ran out and queued jobs never picked up.
        Index("ix_jobs_status_lease_expires_at", "status", "lease_expires_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="queued")
    progress: Mapped[int] = mapped_column(Integer, default=0)
    stage: Mapped[str] = mapped_column(String(16), default="queued")
    detail: Mapped[str | None] = mapped_column(String(200))
    error_code: Mapped[str | None] = mapped_column(String(32))
    error_message: Mapped[str | None] = mapped_column(String(500))
    # The history item the job created; deleting the item leaves the job's record.
    history_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("history_items.id", ondelete="SET NULL")
    )
    upload_path: Mapped[str | None] = mapped_column(String(1024))
    upload_name: Mapped[str | None] = mapped_column(String(255))
    upload_size: Mapped[int | None] = mapped_column(Integer)
    # What the user asked for (title, language, summarize); never a key.
    options: Mapped[dict[str, Any]] = mapped_column(
        JSON().with_variant(JSONB(), "postgresql"), default=dict
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # The current claim: a token naming the worker, valid until lease_expires_at.
    worker: Mapped[str | None] = mapped_column(String(128))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # When the job's id was last put on the queue (the sweep sends a lost one again).
    enqueued_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED_STATUSES

    def __repr__(self) -> str:
        return f"<Job {self.id} {self.kind} {self.status}>"
