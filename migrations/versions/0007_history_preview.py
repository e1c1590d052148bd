"""history_items.preview: the transcript's first 400 characters, computed by the database

A list page showed each entry's preview by reading ``substr(transcript_text, 1, 400)``: on
PostgreSQL that decompresses the beginning of every transcript from TOAST (about 11 µs a row, ten
times the rest of the page's read). A generated column keeps it beside the row instead, written by
the database with every write of the transcript, so no code path can leave it stale.

- PostgreSQL: a STORED generated column. Adding it rewrites the table and its indexes (each row's
  preview is computed once), with the table locked meanwhile: 29 s for 20,000 items (575 MB) on a
  2-core machine, so tens of minutes for a million.
- SQLite: a VIRTUAL generated column (SQLite cannot add a stored one to an existing table, and
  has no TOAST: reading it costs what the expression cost before). Instant.

Revision ID: 0007_history_preview
Revises: 0006_voices
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_history_preview"
down_revision = "0006_voices"
branch_labels = None
depends_on = None

PREVIEW_SQL = "substr(transcript_text, 1, 400)"  # as audiotricks.models.history declares it


def upgrade():
    stored = op.get_bind().dialect.name == "postgresql"
    op.add_column(
        "history_items",
        sa.Column("preview", sa.Text(), sa.Computed(PREVIEW_SQL, persisted=stored)),
    )


def downgrade():
    op.drop_column("history_items", "preview")
