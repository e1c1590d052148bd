"""history_items, with its search index (PostgreSQL tsvector + GIN, SQLite FTS5)

Revision ID: 0003_history
Revises: 0002_credentials_and_emails
Create Date: 2026-11-25

Self-contained: it only adds objects, so it can follow any earlier revision (change
``down_revision``). The search objects are maintained by the database (triggers) and are not
mapped by the ORM; audiotricks.models.history.SEARCH_OBJECTS keeps them out of autogenerate.

A later migration that alters history_items in batch mode on SQLite recreates the table, and
SQLite drops a table's triggers with it: such a migration must create the three
history_items_search_* triggers again (SQLITE_STATEMENTS below).
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003_history"
down_revision = "0002_credentials_and_emails"
branch_labels = None
depends_on = None

# What audiotricks.models.base.UtcDateTime stores.
Timestamp = sa.DateTime(timezone=True)
JsonValue = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")

# --- PostgreSQL -------------------------------------------------------------------------------
# A trigger rather than a generated column: a tsvector is limited to 1 MiB, and a pathological
# transcript (a million characters of distinct words) would exceed it and fail the insert. The
# trigger falls back to indexing a shorter prefix instead. 'english': stemming (meeting/meetings)
# and stop words; title weighs most (A), then the summary (B), then the transcript (D).
PG_FUNCTION = """
CREATE FUNCTION history_items_search_vector() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    summary_text text := concat_ws(' ',
        NEW.summary ->> 'text',
        (SELECT string_agg(value, ' ')
           FROM jsonb_array_elements_text(
                CASE WHEN jsonb_typeof(NEW.summary -> 'takeaways') = 'array'
                     THEN NEW.summary -> 'takeaways' ELSE '[]'::jsonb END)),
        (SELECT string_agg(concat_ws(' ', moment ->> 'title', moment ->> 'description'), ' ')
           FROM jsonb_array_elements(
                CASE WHEN jsonb_typeof(NEW.summary -> 'key_moments') = 'array'
                     THEN NEW.summary -> 'key_moments' ELSE '[]'::jsonb END) AS moment));
BEGIN
    BEGIN
        NEW.search_vector :=
            setweight(to_tsvector('english', coalesce(NEW.title, '')), 'A')
            || setweight(to_tsvector('english', coalesce(summary_text, '')), 'B')
            || setweight(to_tsvector('english', coalesce(NEW.transcript_text, '')), 'D');
    EXCEPTION WHEN program_limit_exceeded THEN
        NEW.search_vector :=
            setweight(to_tsvector('english', coalesce(NEW.title, '')), 'A')
            || setweight(to_tsvector('english', left(coalesce(summary_text, ''), 20000)), 'B')
            || setweight(to_tsvector('english', left(coalesce(NEW.transcript_text, ''), 60000)), 'D');
    END;
    RETURN NEW;
END
$$
"""
PG_TRIGGER = """
CREATE TRIGGER history_items_search_vector
BEFORE INSERT OR UPDATE OF title, transcript_text, summary ON history_items
FOR EACH ROW EXECUTE FUNCTION history_items_search_vector()
"""

# --- SQLite -----------------------------------------------------------------------------------
# An FTS5 table holding its own copy of the searchable text. Its rows are keyed by an INTEGER
# PRIMARY KEY of history_search_keys: history_items' own rowid may change (VACUUM, a batch
# migration copying the table), an INTEGER PRIMARY KEY never does. The owner column holds the
# user id, so a search intersects with the user's rows inside the index. Porter stemming.
SQLITE_SUMMARY_TEXT = """
    coalesce(json_extract({row}.summary, '$.text'), '') || ' ' ||
    coalesce((SELECT group_concat(value, ' ') FROM json_each({row}.summary, '$.takeaways')), '')
    || ' ' ||
    coalesce((SELECT group_concat(coalesce(json_extract(value, '$.title'), '') || ' ' ||
                                  coalesce(json_extract(value, '$.description'), ''), ' ')
              FROM json_each({row}.summary, '$.key_moments')), '')
"""
SQLITE_INSERT_ROW = """
    INSERT INTO history_search_keys (item_id) VALUES (NEW.id);
    INSERT INTO history_search (rowid, owner, title, transcript, summary)
    VALUES (last_insert_rowid(), NEW.user_id, NEW.title, NEW.transcript_text,
            CASE WHEN NEW.summary IS NULL THEN '' ELSE {summary} END);
""".format(summary=SQLITE_SUMMARY_TEXT.format(row="NEW"))  # noqa: S608 - constant SQL
SQLITE_DELETE_ROW = """
    DELETE FROM history_search
    WHERE rowid = (SELECT search_rowid FROM history_search_keys WHERE item_id = OLD.id);
    DELETE FROM history_search_keys WHERE item_id = OLD.id;
"""
SQLITE_STATEMENTS = (
    "CREATE TABLE history_search_keys ("
    " search_rowid INTEGER PRIMARY KEY,"
    " item_id CHAR(32) NOT NULL UNIQUE)",
    "CREATE VIRTUAL TABLE history_search USING fts5("
    "owner, title, transcript, summary, tokenize = 'porter unicode61 remove_diacritics 2')",
    "CREATE TRIGGER history_items_search_insert AFTER INSERT ON history_items BEGIN"
    + SQLITE_INSERT_ROW
    + "END",
    "CREATE TRIGGER history_items_search_update"
    " AFTER UPDATE OF title, transcript_text, summary ON history_items BEGIN"
    + SQLITE_DELETE_ROW
    + SQLITE_INSERT_ROW
    + "END",
    "CREATE TRIGGER history_items_search_delete AFTER DELETE ON history_items BEGIN"
    + SQLITE_DELETE_ROW
    + "END",
)


# The search query uses a MATERIALIZED common table expression (SQLite 3.35).
SQLITE_MIN_VERSION = (3, 35, 0)


def _check_sqlite(bind):
    """Stop with a clear message where this SQLite cannot hold the search index."""
    text = bind.exec_driver_sql("SELECT sqlite_version()").scalar()
    version = tuple(int(part) for part in text.split("."))
    fts5 = bind.exec_driver_sql("SELECT sqlite_compileoption_used('ENABLE_FTS5')").scalar()
    if version < SQLITE_MIN_VERSION or not fts5:
        raise RuntimeError(
            "History search needs SQLite 3.35 or newer with FTS5 (found "
            + ".".join(map(str, version))
            + ("" if fts5 else " without FTS5")
            + "); use a newer Python build or PostgreSQL"
        )


def upgrade():
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        _check_sqlite(bind)
    op.create_table(
        "history_items",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("client_id", sa.String(length=128), nullable=True),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("language", sa.String(length=2), nullable=True),
        sa.Column("duration_seconds", sa.Float(), nullable=True),
        sa.Column("word_count", sa.Integer(), nullable=False),
        sa.Column("source_file_name", sa.String(length=255), nullable=True),
        sa.Column("source_file_size", sa.BigInteger(), nullable=True),
        sa.Column("transcript_text", sa.Text(), nullable=False),
        sa.Column("segments", JsonValue, nullable=False),
        sa.Column("summary", JsonValue, nullable=True),
        sa.Column("processing_options", JsonValue, nullable=False),
        sa.Column("audio_path", sa.String(length=512), nullable=True),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_history_items_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_history_items")),
        sa.UniqueConstraint(
            "user_id", "client_id", name=op.f("uq_history_items_user_id_client_id")
        ),
    )
    op.create_index(
        op.f("ix_history_items_user_id_created_at_id"),
        "history_items",
        ["user_id", "created_at", "id"],
    )
    dialect = bind.dialect.name
    if dialect == "postgresql":
        op.add_column("history_items", sa.Column("search_vector", postgresql.TSVECTOR()))
        op.execute(PG_FUNCTION)
        op.execute(PG_TRIGGER)
        op.create_index(
            "ix_history_items_search_vector",
            "history_items",
            ["search_vector"],
            postgresql_using="gin",
        )
    elif dialect == "sqlite":
        for statement in SQLITE_STATEMENTS:
            op.execute(statement)


def downgrade():
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS history_items_search_vector ON history_items")
        op.execute("DROP FUNCTION IF EXISTS history_items_search_vector()")
    elif dialect == "sqlite":
        for name in ("insert", "update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS history_items_search_{name}")
        op.execute("DROP TABLE IF EXISTS history_search")
        op.execute("DROP TABLE IF EXISTS history_search_keys")
    op.drop_index(op.f("ix_history_items_user_id_created_at_id"), table_name="history_items")
    # The GIN index and the tsvector column go with the table.
    op.drop_table("history_items")
