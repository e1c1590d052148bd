"""voices: the result of the last check of each stored API key

``<provider>_key_valid`` (NULL: never checked) and ``<provider>_key_checked_at`` on
``user_settings``, for openai and elevenlabs. Written by ``POST
/settings/api-keys/<provider>/verify`` and by a job the provider refused the key to; cleared
whenever a key is stored or removed. Speech audio needs no schema change: ``history_items.audio_path``
exists since 0003.

Revision ID: 0006_voices
Revises: 0005_mail
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_voices"
down_revision = "0005_mail"
branch_labels = None
depends_on = None

PROVIDERS = ("openai", "elevenlabs")


def upgrade():
    with op.batch_alter_table("user_settings") as batch:
        for provider in PROVIDERS:
            batch.add_column(sa.Column(f"{provider}_key_valid", sa.Boolean(), nullable=True))
            batch.add_column(
                sa.Column(f"{provider}_key_checked_at", sa.DateTime(timezone=True), nullable=True)
            )


def downgrade():
    with op.batch_alter_table("user_settings") as batch:
        for provider in reversed(PROVIDERS):
            batch.drop_column(f"{provider}_key_checked_at")
            batch.drop_column(f"{provider}_key_valid")
