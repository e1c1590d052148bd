"""mail: tokens sent by mail, and whether an account's address is verified

``email_tokens`` holds the SHA-256 of each reset, verification and change-of-address token with
the address it was mailed to, its expiry and when it was spent. ``users.email_verified`` is false
for every existing account: nothing ever proved those addresses, so with
REQUIRE_VERIFIED_EMAIL=true their owners verify once (POST /auth/email/verify/resend).

Revision ID: 0005_mail
Revises: 0004_jobs
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_mail"
down_revision = "0004_jobs"
branch_labels = None
depends_on = None

Timestamp = sa.DateTime(timezone=True)


def upgrade():
    # recreate="never": SQLite adds and drops the column in place. Copying the users table instead
    # would drop the original, and with foreign keys on that cascades to every table under it.
    with op.batch_alter_table("users", recreate="never") as batch:
        batch.add_column(
            sa.Column("email_verified", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    op.create_table(
        "email_tokens",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("new_email", sa.String(length=254), nullable=True),
        sa.Column("credentials_version", sa.Integer(), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("expires_at", Timestamp, nullable=False),
        sa.Column("used_at", Timestamp, nullable=True),
        sa.CheckConstraint(
            "purpose IN ('reset', 'verify', 'email_change')",
            name=op.f("ck_email_tokens_purpose"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_email_tokens_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_email_tokens_token_hash")),
    )
    op.create_index("ix_email_tokens_user_id_purpose", "email_tokens", ["user_id", "purpose"])
    op.create_index(op.f("ix_email_tokens_expires_at"), "email_tokens", ["expires_at"])


def downgrade():
    op.drop_index(op.f("ix_email_tokens_expires_at"), table_name="email_tokens")
    op.drop_index("ix_email_tokens_user_id_purpose", table_name="email_tokens")
    op.drop_table("email_tokens")
    with op.batch_alter_table("users", recreate="never") as batch:
        batch.drop_column("email_verified")
