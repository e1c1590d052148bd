"""History: create (idempotent by client id), list and search by keyset, read, update under an
ETag precondition, delete and import — always within the caller's own items.

The item cap holds exactly under concurrent requests: every create and import first locks the
user's row (``SELECT … FOR UPDATE`` on PostgreSQL; on SQLite a first write takes the database's
single write lock), so the count and the insert of one request cannot interleave with another's.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import (
    Connection,
    Executable,
    Row,
    bindparam,
    delete,
    func,
    select,
    tuple_,
    update,
)
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.types import Uuid

from audiotricks.errors import ApiError, Conflict, InvalidSession, NotFound
from audiotricks.extensions import SESSION_CHECK_BIND, db
from audiotricks.history import cursors, search
from audiotricks.models import HistoryItem, User, UtcDateTime, utcnow
from audiotricks.models.history import CLIENT_ID_CONSTRAINT, etag_of
from audiotricks.runtime import current_config

log = logging.getLogger(__name__)
T = TypeVar("T")


class HistoryItemNotFound(NotFound):
    message = "History item not found"


class HistoryLimitReached(Conflict):
    message = "History limit reached"


class PreconditionFailed(ApiError):
    status = 412
    message = "Precondition failed"


def read(work: Callable[[Connection], T]) -> T:
    """Run read-only ``work`` on a connection of the autocommit engine (the session check's).

    A read needs no transaction of its own: this spares it the ORM session's pool ping,
    ``BEGIN`` and ``ROLLBACK`` (three round trips). As in the session check, a connection the
    database dropped fails the first statement, and the work runs once more on a fresh one.
    """
    engine = db.engines[SESSION_CHECK_BIND]
    for attempt in (1, 2):
        try:
            with engine.connect() as connection:
                return work(connection)
        except DBAPIError as exc:
            if attempt == 2 or not exc.connection_invalidated:
                raise
    raise AssertionError("unreachable")


def read_rows(statement: Executable, params: dict[str, Any] | None = None) -> list[Row[Any]]:
    """The rows of one read-only statement (see :func:`read`)."""
    return read(lambda connection: list(connection.execute(statement, params).all()))


def word_count(text: str) -> int:
    """Words of a transcript: runs of non-space characters."""
    return len(text.split())


def _cursor_secret() -> bytes:
    return current_config().jwt_secret.encode("utf-8")


def _item_fields(body: dict[str, Any]) -> dict[str, Any]:
    """Column values from a (create or update) body as the schemas load it."""
    values: dict[str, Any] = {}
    for name in ("title", "language", "processing_options", "summary"):
        if name in body:
            values[name] = body[name]
    if "transcript" in body:
        values["transcript_text"] = body["transcript"]["text"]
        values["segments"] = body["transcript"]["segments"]
        values["word_count"] = word_count(body["transcript"]["text"])
    return values


def _new_item(user_id: uuid.UUID, body: dict[str, Any], now: datetime) -> HistoryItem:
    source = body.get("source")
    return HistoryItem(
        user_id=user_id,
        client_id=body.get("client_id"),
        duration_seconds=body.get("duration_seconds"),
        source_file_name=source["file_name"] if source else None,
        source_file_size=source["file_size_bytes"] if source else None,
        created_at=body.get("created_at") or now,
        updated_at=now,
        revision=1,
        **_item_fields(body),
    )


def _lock_user(user_id: uuid.UUID) -> None:
    """Serialise this user's creates until the transaction ends (see the module docstring)."""
    if db.engine.dialect.name == "postgresql":
        locked = db.session.scalar(select(User.id).where(User.id == user_id).with_for_update())
    else:
        # A no-op write: SQLite has one writer at a time, and this makes us it, before the count.
        result = db.session.execute(
            # Sets updated_at to itself: an explicit value, so its onupdate does not fire.
            update(User).where(User.id == user_id).values(updated_at=User.updated_at),
            execution_options={"synchronize_session": False},
        )
        locked = user_id if result.rowcount else None  # type: ignore[attr-defined]
    if locked is None:  # the account was deleted meanwhile
        db.session.rollback()
        raise InvalidSession()


def _item_count(user_id: uuid.UUID) -> int:
    count = db.session.scalar(
        select(func.count()).select_from(HistoryItem).where(HistoryItem.user_id == user_id)
    )
    return int(count or 0)


def _by_client_id(user_id: uuid.UUID, client_id: str) -> HistoryItem | None:
    return db.session.scalar(
        select(HistoryItem).where(
            HistoryItem.user_id == user_id, HistoryItem.client_id == client_id
        )
    )


def _violated_constraint(exc: IntegrityError) -> str | None:
    """The constraint an insert broke, by name (never by the message, which may quote values)."""
    diag = getattr(exc.orig, "diag", None)  # PostgreSQL names it
    if diag is not None:
        return getattr(diag, "constraint_name", None)
    # SQLite: "UNIQUE constraint failed: history_items.user_id, history_items.client_id".
    if str(exc.orig) == "UNIQUE constraint failed: history_items.user_id, history_items.client_id":
        return CLIENT_ID_CONSTRAINT
    return None


def create_item(user: User, body: dict[str, Any]) -> tuple[HistoryItem, bool]:
    """Create an item; with a client id the user already has, return that item instead.

    Returns ``(item, created)``. HistoryLimitReached when the user holds HISTORY_MAX_ITEMS.
    """
    client_id = body.get("client_id")
    _lock_user(user.id)
    if client_id is not None:
        existing = _by_client_id(user.id, client_id)
        if existing is not None:
            db.session.rollback()
            return existing, False
    if _item_count(user.id) >= current_config().history_max_items:
        db.session.rollback()
        raise HistoryLimitReached()
    item = _new_item(user.id, body, utcnow())
    db.session.add(item)
    try:
        db.session.commit()
    except IntegrityError as exc:
        # The unique constraint decides between racing creates with one client id.
        db.session.rollback()
        if client_id is None or _violated_constraint(exc) != CLIENT_ID_CONSTRAINT:
            raise
        existing = _by_client_id(user.id, client_id)
        if existing is None:
            raise
        return existing, False
    log.info("history item created", extra={"event": "history_created", "item_id": str(item.id)})
    return item, True


def import_items(user: User, bodies: list[dict[str, Any]]) -> tuple[list[HistoryItem], int]:
    """Create every item of ``bodies`` in one transaction; skip client ids the user already has.

    Returns ``(created items, skipped count)``. All or nothing: HistoryLimitReached when the new
    items do not all fit under HISTORY_MAX_ITEMS.
    """
    _lock_user(user.id)
    client_ids = [body["client_id"] for body in bodies if body.get("client_id") is not None]
    taken: set[str] = set()
    if client_ids:
        taken = set(
            db.session.scalars(
                select(HistoryItem.client_id).where(
                    HistoryItem.user_id == user.id, HistoryItem.client_id.in_(client_ids)
                )
            )
        )
    fresh: list[dict[str, Any]] = []
    for body in bodies:
        client_id = body.get("client_id")
        if client_id is not None:
            if client_id in taken:
                continue
            taken.add(client_id)  # the same id twice in one import: the first one counts
        fresh.append(body)
    skipped = len(bodies) - len(fresh)
    if fresh and _item_count(user.id) + len(fresh) > current_config().history_max_items:
        db.session.rollback()
        raise HistoryLimitReached()
    now = utcnow()
    items = [_new_item(user.id, body, now) for body in fresh]
    db.session.add_all(items)
    db.session.commit()
    log.info(
        "history imported",
        extra={"event": "history_imported", "imported": len(items), "skipped": skipped},
    )
    return items, skipped


def delete_all_items(user_id: uuid.UUID) -> list[str | None]:
    """Delete every item of the user, in the caller's transaction; their stored audio names,
    for the caller to remove once it committed (an account deletion)."""
    deleted = db.session.execute(
        delete(HistoryItem).where(HistoryItem.user_id == user_id).returning(HistoryItem.audio_path),
        execution_options={"synchronize_session": False},
    ).all()
    return [row.audio_path for row in deleted if row.audio_path]


def parse_item_id(raw: str) -> uuid.UUID:
    """The id in a URL; a malformed one names no item (404, as an unknown one)."""
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise HistoryItemNotFound() from None


def get_item(user: User, raw_id: str) -> HistoryItem:
    """One of the user's items; HistoryItemNotFound for unknown, malformed or others' ids."""
    item = db.session.scalar(
        select(HistoryItem).where(
            HistoryItem.id == parse_item_id(raw_id), HistoryItem.user_id == user.id
        )
    )
    if item is None:
        raise HistoryItemNotFound()
    return item


# Every mapped column: what a read of a whole item needs (the search vector is not mapped).
_READ_ITEM = select(*HistoryItem.__table__.columns).where(
    HistoryItem.id == bindparam("item_id", type_=Uuid()),
    HistoryItem.user_id == bindparam("user_id", type_=Uuid()),
)


def read_item(user_id: uuid.UUID, raw_id: str) -> Row[Any]:
    """One of the user's items as a row (no ORM object, no transaction), for the read routes.

    The row has the model's attribute names, so :func:`describe` and :func:`etag` take it.
    """
    rows = read_rows(_READ_ITEM, {"item_id": parse_item_id(raw_id), "user_id": user_id})
    if not rows:
        raise HistoryItemNotFound()
    return rows[0]


def etag(item: HistoryItem | Row[Any]) -> str:
    """The ETag of an item or of an item's row."""
    return etag_of(item.id, item.revision)


def etag_matches(header: str, item: HistoryItem) -> bool:
    """Whether an ``If-Match`` value names ``item``'s current ETag (strong comparison).

    Strict: ``*`` or a list of quoted tags; a weak (``W/``) or unquoted tag never matches.
    """
    tags = {tag.strip() for tag in header.split(",")}
    return "*" in tags or item.etag in tags


def update_item(
    user: User, raw_id: str, changes: dict[str, Any], if_match: str | None
) -> HistoryItem:
    """Apply ``changes``; with ``If-Match`` only when it names the current ETag.

    The check is part of the UPDATE (``WHERE revision = :seen``), so of two clients holding the
    same ETag exactly one wins; the other gets PreconditionFailed and nothing changes.
    """
    item = get_item(user, raw_id)
    if if_match is not None and not etag_matches(if_match, item):
        db.session.rollback()
        raise PreconditionFailed()
    statement = update(HistoryItem).where(
        HistoryItem.id == item.id, HistoryItem.user_id == user.id
    )
    if if_match is not None:
        statement = statement.where(HistoryItem.revision == item.revision)
    statement = statement.values(
        **_item_fields(changes), revision=HistoryItem.revision + 1, updated_at=utcnow()
    )
    result = db.session.execute(statement, execution_options={"synchronize_session": False})
    if result.rowcount == 0:  # type: ignore[attr-defined]
        db.session.rollback()
        get_item(user, raw_id)  # deleted meanwhile: 404
        raise PreconditionFailed()  # changed meanwhile by another client
    db.session.commit()
    db.session.refresh(item)
    log.info("history item updated", extra={"event": "history_updated", "item_id": str(item.id)})
    return item


def replace_summary(user: User, item_id: uuid.UUID, summary: dict[str, Any]) -> bool:
    """Set an item's summary as a new revision (its ETag changes, so a client editing it with
    ``If-Match`` sees the change); False when the item is gone. Not committed: a job commits it
    with its own success, or rolls both back."""
    result = db.session.execute(
        update(HistoryItem)
        .where(HistoryItem.id == item_id, HistoryItem.user_id == user.id)
        .values(summary=summary, revision=HistoryItem.revision + 1, updated_at=utcnow()),
        execution_options={"synchronize_session": False},
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def delete_item(user: User, raw_id: str) -> None:
    """Delete one of the user's items (with it goes the row's search index entry, and after
    the commit its stored audio)."""
    from audiotricks.jobs.speech import remove_audio

    deleted = db.session.execute(
        delete(HistoryItem)
        .where(HistoryItem.id == parse_item_id(raw_id), HistoryItem.user_id == user.id)
        .returning(HistoryItem.audio_path),
        execution_options={"synchronize_session": False},
    ).all()
    if not deleted:
        db.session.rollback()
        raise HistoryItemNotFound()
    db.session.commit()
    remove_audio([row.audio_path for row in deleted])
    log.info("history item deleted", extra={"event": "history_deleted"})


# --- reading lists ------------------------------------------------------------------------------

_ENTRY_COLUMNS = (
    HistoryItem.id,
    HistoryItem.title,
    HistoryItem.language,
    HistoryItem.duration_seconds,
    HistoryItem.word_count,
    HistoryItem.summary.is_not(None).label("has_summary"),
    HistoryItem.audio_path.is_not(None).label("has_audio"),
    HistoryItem.preview,
    HistoryItem.created_at,
    HistoryItem.updated_at,
)


def _entry(row: Any, snippet: str | None) -> dict[str, Any]:  # a row of _ENTRY_COLUMNS
    return {
        "id": row.id,
        "title": row.title,
        "language": row.language,
        "duration_seconds": row.duration_seconds,
        "word_count": row.word_count,
        "has_summary": bool(row.has_summary),
        "has_audio": bool(row.has_audio),
        "snippet": snippet,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }


def entries_of(items: list[HistoryItem]) -> list[dict[str, Any]]:
    """HistoryEntry dicts of freshly written items, in the given order."""
    ids = [item.id for item in items]
    if not ids:
        return []
    rows = {row.id: row for row in db.session.execute(
        select(*_ENTRY_COLUMNS).where(HistoryItem.id.in_(ids))
    )}
    return [_entry(rows[i], search.tidy_snippet(rows[i].preview or "")) for i in ids]


@dataclass(frozen=True)
class Page:
    entries: list[dict[str, Any]]
    next_cursor: str | None


# Built once: a list page is the commonest read.
_LIST_PAGE = (
    select(*_ENTRY_COLUMNS)
    .where(HistoryItem.user_id == bindparam("user_id", type_=Uuid()))
    .order_by(HistoryItem.created_at.desc(), HistoryItem.id.desc())
    .limit(bindparam("limit"))
)
_LIST_PAGE_AFTER = _LIST_PAGE.where(
    tuple_(HistoryItem.created_at, HistoryItem.id)
    < tuple_(bindparam("after_at", type_=UtcDateTime()), bindparam("after_id", type_=Uuid()))
)


def list_items(user_id: uuid.UUID, limit: int, cursor: str | None) -> Page:
    """The user's items, newest ``created_at`` first, by keyset on ``(created_at, id)``."""
    params: dict[str, Any] = {"user_id": user_id, "limit": limit + 1}
    statement = _LIST_PAGE
    if cursor is not None:
        created_at, item_id = cursors.decode_list_cursor(_cursor_secret(), user_id, cursor)
        statement = _LIST_PAGE_AFTER
        params.update(after_at=created_at, after_id=item_id)
    rows = read_rows(statement, params)
    page, more = rows[:limit], len(rows) > limit
    next_cursor = None
    if more:
        last = page[-1]
        next_cursor = cursors.encode_list_cursor(
            _cursor_secret(), user_id, last.created_at, last.id
        )
    return Page([_entry(row, search.tidy_snippet(row.preview or "")) for row in page], next_cursor)


def search_items(user_id: uuid.UUID, words: str, limit: int, cursor: str | None) -> Page:
    """The user's items matching every word of ``words``: the newest HISTORY_SEARCH_RANKED
    matches best first, then the older ones newest first (see :mod:`search`); keyset pages."""
    after = None
    if cursor is not None:
        after = cursors.decode_search_cursor(_cursor_secret(), user_id, words, cursor)
    ranked = current_config().history_search_ranked

    def find(connection: Connection) -> search.Found:
        with search.planned_per_statement(connection):
            return search.search_page(
                connection, user_id, words, limit=limit, after=after, ranked=ranked
            )

    found = read(find)
    entries = [
        _entry(row, search.tidy_snippet(row.passage or "") or search.tidy_snippet(row.preview or ""))
        for row in found.rows
    ]
    next_cursor = None
    if found.last is not None:
        next_cursor = cursors.encode_search_cursor(_cursor_secret(), user_id, words, found.last)
    return Page(entries, next_cursor)


def describe(item: HistoryItem | Row[Any]) -> dict[str, Any]:
    """The HistoryItem object of the contract, in the shape ``HistoryItemSchema`` dumps."""
    source = None
    if item.source_file_name is not None:
        source = {"file_name": item.source_file_name, "file_size_bytes": item.source_file_size}
    return {
        "id": item.id,
        "client_id": item.client_id,
        "title": item.title,
        "language": item.language,
        "duration_seconds": item.duration_seconds,
        "word_count": item.word_count,
        "source": source,
        "transcript": {"text": item.transcript_text, "segments": item.segments},
        "summary": item.summary,
        "processing_options": item.processing_options,
        "has_audio": item.audio_path is not None,
        "created_at": item.created_at,
        "updated_at": item.updated_at,
    }
