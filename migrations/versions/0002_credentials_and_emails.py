"""credentials versions on users and sessions; emails stored in their normalised form

- ``users.credentials_version`` and ``sessions.credentials_version`` (integers, 0 for existing
  rows): a session only works while it carries its user's version, which a password change or a
  deactivation bumps (see audiotricks/auth/service.py).
- Existing emails are rewritten to the form audiotricks.emails.normalise_email gives (Unicode NFC,
  IDNA domain in Unicode, lower case). A row is left exactly as it is when its normalised form
  would collide with another row (that row's stored email or another row's normalised form: no
  account is merged or lost, and each still logs in with the spelling it registered with), and
  when its stored email is not valid under today's rules (e.g. more than 64 characters before the
  @). The counts are logged, never the addresses.

Downgrade drops the two columns; emails stay normalised (the old code compares them lower-cased,
which the normalised form is, so every account still logs in).

Revision ID: 0002_credentials_and_emails
Revises: 0001_initial
Create Date: 2026-11-25
"""

import logging
import unicodedata

import sqlalchemy as sa
from alembic import op
from email_validator import EmailNotValidError, validate_email

revision = "0002_credentials_and_emails"
down_revision = "0001_initial"
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")


def _normalised(email: str) -> str | None:
    """audiotricks.emails.normalise_email as of this revision (frozen here), or None if invalid."""
    trimmed = email.strip()
    if len(trimmed) > 254:
        return None
    try:
        validated = validate_email(trimmed, check_deliverability=False)
    except EmailNotValidError:
        return None
    normalised = unicodedata.normalize("NFC", validated.normalized.lower())
    if len(normalised.rpartition("@")[0]) > 64 or len(normalised) > 254:
        return None
    return normalised


def upgrade():
    # A plain string default: SQLite then adds the columns in place (no table copy).
    for table in ("users", "sessions"):
        with op.batch_alter_table(table) as batch_op:
            batch_op.add_column(
                sa.Column("credentials_version", sa.Integer(), server_default="0", nullable=False)
            )
    _normalise_emails()


def _normalise_emails():
    users = sa.table("users", sa.column("id", sa.Uuid()), sa.column("email", sa.String(254)))
    connection = op.get_bind()
    stored = {row.id: row.email for row in connection.execute(sa.select(users.c.id, users.c.email))}
    targets = {user_id: _normalised(email) for user_id, email in stored.items()}
    wanted: dict[str, int] = {}
    for target in targets.values():
        if target is not None:
            wanted[target] = wanted.get(target, 0) + 1
    taken = set(stored.values())
    changes, collisions = [], 0
    for user_id, email in stored.items():
        target = targets[user_id]
        if target is None or target == email:
            continue
        # Every rewritten value is then unique and unused, whatever order the updates run in.
        if wanted[target] > 1 or target in taken:
            collisions += 1
            continue
        changes.append({"user_id": user_id, "new_email": target})
    if changes:
        connection.execute(
            users.update()
            .where(users.c.id == sa.bindparam("user_id"))
            .values(email=sa.bindparam("new_email")),
            changes,
        )
    invalid = sum(1 for target in targets.values() if target is None)
    log.info(
        "emails normalised: %d rewritten, %d left (would collide), %d left (not valid today)",
        len(changes),
        collisions,
        invalid,
    )


def downgrade():
    # recreate="never": SQLite drops the column in place (3.35+). Copying the users table instead
    # would drop the original, and with foreign keys on that cascades to sessions and settings.
    for table in ("sessions", "users"):
        with op.batch_alter_table(table, recreate="never") as batch_op:
            batch_op.drop_column("credentials_version")
