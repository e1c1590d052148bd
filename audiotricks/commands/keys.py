"""``flask keys``: re-encrypt stored API keys under the current encryption key, and check them.

Rotation, in short (the README has the full runbook): set ``ENCRYPTION_KEY`` to the new key and
``ENCRYPTION_OLD_KEYS`` to the old one, restart every instance, run ``flask keys rotate``, then
``flask keys check``; remove the old key only once the check says nothing is left under it.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import click
from flask.cli import AppGroup
from sqlalchemy import or_, select, update

from audiotricks.extensions import db
from audiotricks.models import PROVIDERS, UserSettings
from audiotricks.security.crypto import DecryptionError, Keyring, associated_data, parse
from audiotricks.settings.service import encrypted_column, keyring

log = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 500

keys = AppGroup("keys", help="Manage the encrypted API-key vault (rotation and checks).")


def _stored_keys_batches(batch_size: int) -> Iterator[list[tuple[uuid.UUID, str, str]]]:
    """``(user id, provider, ciphertext)`` of every stored key, a batch of rows at a time.

    Keyset pagination on the primary key: every batch is a fresh, short query, so rows written
    meanwhile are neither skipped nor read twice, and no transaction stays open between batches.
    """
    columns = [getattr(UserSettings, encrypted_column(p)) for p in PROVIDERS]
    last: uuid.UUID | None = None
    while True:
        query = (
            select(UserSettings.user_id, *columns)
            .where(or_(*(column.is_not(None) for column in columns)))
            .order_by(UserSettings.user_id)
            .limit(batch_size)
        )
        if last is not None:
            query = query.where(UserSettings.user_id > last)
        rows = db.session.execute(query).all()
        if not rows:
            return
        yield [
            (row[0], provider, row[index + 1])
            for row in rows
            for index, provider in enumerate(PROVIDERS)
            if row[index + 1] is not None
        ]
        last = rows[-1][0]


@dataclass
class RotationCounts:
    scanned: int = 0
    reencrypted: int = 0
    current: int = 0
    failed: int = 0
    changed: int = 0  # replaced by the user while the batch ran; the new value is already current

    def line(self) -> str:
        text = (
            f"scanned={self.scanned} re-encrypted={self.reencrypted} "
            f"already-current={self.current} failed={self.failed}"
        )
        return text + (f" changed-meanwhile={self.changed}" if self.changed else "")


def _rotate_one(
    ring: Keyring, user_id: uuid.UUID, provider: str, ciphertext: str, counts: RotationCounts
) -> None:
    counts.scanned += 1
    if ring.is_current(ciphertext):
        counts.current += 1
        return
    try:
        fresh = ring.reencrypt(ciphertext, associated_data(user_id, provider))
    except DecryptionError as exc:
        counts.failed += 1
        click.echo(f"  cannot decrypt: user {user_id} provider {provider} ({exc})", err=True)
        return
    column = getattr(UserSettings, encrypted_column(provider))
    # Only if the value is still the one read: a key the user replaced meanwhile stays theirs.
    result = db.session.execute(
        update(UserSettings)
        .where(UserSettings.user_id == user_id, column == ciphertext)
        .values({column: fresh, UserSettings.updated_at: UserSettings.updated_at})
    )
    if result.rowcount == 1:  # type: ignore[attr-defined]  # DML: a CursorResult
        counts.reencrypted += 1
    else:
        counts.changed += 1


@keys.command("rotate")
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=DEFAULT_BATCH_SIZE,
    show_default=True,
    help="Settings rows read and committed per batch.",
)
def rotate(batch_size: int) -> None:
    """Re-encrypt every stored API key that is not under the current ENCRYPTION_KEY.

    Keys under an old key (listed in ENCRYPTION_OLD_KEYS) are decrypted and encrypted again
    under the current one; keys already current are skipped. Each batch is committed on its
    own, so the command can be interrupted and run again safely. Exits with status 1 when a
    key could not be decrypted (its user id and provider are listed; no key material is).
    """
    ring = keyring()
    click.echo(f"Current key id: {ring.current_key_id}; keys configured: {', '.join(ring.key_ids)}")
    total = RotationCounts()
    for number, batch in enumerate(_stored_keys_batches(batch_size), start=1):
        counts = RotationCounts()
        for user_id, provider, ciphertext in batch:
            _rotate_one(ring, user_id, provider, ciphertext, counts)
        db.session.commit()
        click.echo(f"batch {number}: {counts.line()}")
        for name in ("scanned", "reencrypted", "current", "failed", "changed"):
            setattr(total, name, getattr(total, name) + getattr(counts, name))
    db.session.commit()
    log.info(
        "api keys rotated",
        extra={
            "event": "api_keys_rotated",
            "key_id": ring.current_key_id,
            "scanned": total.scanned,
            "reencrypted": total.reencrypted,
            "failed": total.failed,
        },
    )
    click.echo(f"total: {total.line()}")
    if total.failed:
        raise click.exceptions.Exit(1)


@keys.command("check")
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=DEFAULT_BATCH_SIZE,
    show_default=True,
    help="Settings rows read per batch.",
)
def check(batch_size: int) -> None:
    """Try to decrypt every stored API key with the configured keys; change nothing.

    Prints how many decrypt, how many are still under an old key (run `flask keys rotate`
    before removing that key), and the user id and provider of each key that does not
    decrypt. Exits with status 1 when any key fails.
    """
    ring = keyring()
    click.echo(f"Current key id: {ring.current_key_id}; keys configured: {', '.join(ring.key_ids)}")
    checked = current = old = 0
    failures: list[str] = []
    for batch in _stored_keys_batches(batch_size):
        for user_id, provider, ciphertext in batch:
            checked += 1
            try:
                ring.decrypt(ciphertext, associated_data(user_id, provider))
            except DecryptionError as exc:
                failures.append(f"  user {user_id} provider {provider}: {exc}")
                continue
            if parse(ciphertext)[0] == ring.current_key_id:
                current += 1
            else:
                old += 1
        db.session.commit()  # end each read transaction
    click.echo(
        f"checked={checked} ok={checked - len(failures)} "
        f"(current-key={current} old-key={old}) failed={len(failures)}"
    )
    if failures:
        click.echo("Keys that cannot be decrypted (store them again, or restore their key):")
        for line in failures:
            click.echo(line)
        raise click.exceptions.Exit(1)
