"""Full-text search over a user's history, on the engine's own index.

- PostgreSQL: the ``search_vector`` tsvector (trigger-maintained, 'english' configuration: stemming
  and stop words, GIN index), queried with ``websearch_to_tsquery`` — it never raises on user input
  (quotes, minus signs, ``or``), ranked by ``ts_rank``, snippets from ``ts_headline``.
- SQLite: the FTS5 table ``history_search`` (porter stemming). The user's words never reach FTS5's
  query syntax: each becomes a quoted FTS5 string (inner quotes doubled), all of them required;
  ranked by ``bm25``, snippets from ``snippet``.

Both return one page as ``(item id, score)`` pairs, best first, after an optional ``(score, id)``
keyset position; a higher score is a better match.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import BindParameter, bindparam, text
from sqlalchemy.types import Float, Uuid

from audiotricks.extensions import db

# Snippets are passages, never the whole text: the engines cut at words, this caps the characters
# (one "word" may be a very long run of letters).
SNIPPET_MAX = 240
_SPACES = re.compile(r"\s+")
# ts_headline re-reads the text; a passage within its first part is enough for a preview.
_HEADLINE_SOURCE_MAX = 100_000


@dataclass(frozen=True)
class Hit:
    item_id: uuid.UUID
    score: float


def _dialect() -> str:
    return db.engine.dialect.name


def fts5_query(user_id: uuid.UUID, words: str) -> str | None:
    """The FTS5 MATCH expression for ``words``: every word required, none of it FTS5 syntax.

    None when no word has a letter or digit (such a query can match nothing).
    """
    terms = [word for word in words.split() if any(char.isalnum() for char in word)]
    if not terms:
        return None
    quoted = " AND ".join('"' + term.replace('"', '""') + '"' for term in terms)
    # The owner column holds the user id: FTS5 intersects with the user's rows itself.
    return f'owner : "{user_id.hex}" AND {{title transcript summary}} : ({quoted})'


def search_page(
    user_id: uuid.UUID, words: str, limit: int, after: tuple[float, uuid.UUID] | None
) -> list[Hit]:
    """Up to ``limit`` best matches of ``words`` after ``after`` (the previous page's last hit)."""
    if _dialect() == "postgresql":
        return _postgres_page(user_id, words, limit, after)
    return _sqlite_page(user_id, words, limit, after)


def snippets(user_id: uuid.UUID, words: str, item_ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
    """A short passage of each item's transcript around the match."""
    if not item_ids:
        return {}
    if _dialect() == "postgresql":
        found = _postgres_snippets(user_id, words, item_ids)
    else:
        found = _sqlite_snippets(user_id, words, item_ids)
    return {item_id: tidy_snippet(passage) for item_id, passage in found.items()}


def tidy_snippet(passage: str) -> str:
    """One line, at most SNIPPET_MAX characters."""
    flat = _SPACES.sub(" ", passage).strip()
    if len(flat) > SNIPPET_MAX:
        flat = flat[: SNIPPET_MAX - 1].rstrip() + "…"
    return flat


# float8: ts_rank's real would come back as its shortest float4 text, which parses to a
# different double, and the cursor's "score < :score" would then skip or repeat rows.
_PG_SCORE = "ts_rank(h.search_vector, websearch_to_tsquery('english', :words))::float8"
_PG_PAGE = f"""
SELECT h.id AS id, {_PG_SCORE} AS score
FROM history_items AS h
WHERE h.user_id = :user_id
  AND h.search_vector @@ websearch_to_tsquery('english', :words)
  {{after}}
ORDER BY score DESC, h.id DESC
LIMIT :limit
"""  # noqa: S608 - constant SQL; every value is a bound parameter
_PG_AFTER = f"AND ({_PG_SCORE} < :score OR ({_PG_SCORE} = :score AND h.id < :after_id))"


def _postgres_page(
    user_id: uuid.UUID, words: str, limit: int, after: tuple[float, uuid.UUID] | None
) -> list[Hit]:
    binds: list[BindParameter[Any]] = [bindparam("user_id", type_=Uuid())]
    params: dict[str, object] = {"user_id": user_id, "words": words, "limit": limit}
    if after:
        binds += [bindparam("after_id", type_=Uuid()), bindparam("score", type_=Float())]
        params.update(score=after[0], after_id=after[1])
    statement = text(_PG_PAGE.format(after=_PG_AFTER if after else "")).bindparams(*binds)
    rows = db.session.execute(statement, params).all()
    return [Hit(row.id, float(row.score)) for row in rows]


# StartSel/StopSel empty: plain text. MaxFragments/MaxWords bound the passage.
_PG_HEADLINE = """
SELECT h.id AS id, ts_headline('english', left(h.transcript_text, :source_max),
       websearch_to_tsquery('english', :words),
       'MaxFragments=2, MaxWords=16, MinWords=6, StartSel="", StopSel="", FragmentDelimiter=" … "')
       AS passage
FROM history_items AS h
WHERE h.user_id = :user_id AND h.id IN :item_ids
"""


def _postgres_snippets(
    user_id: uuid.UUID, words: str, item_ids: list[uuid.UUID]
) -> dict[uuid.UUID, str]:
    statement = text(_PG_HEADLINE).bindparams(
        bindparam("user_id", type_=Uuid()),
        bindparam("item_ids", type_=Uuid(), expanding=True),
    )
    rows = db.session.execute(
        statement,
        {
            "user_id": user_id,
            "words": words,
            "item_ids": item_ids,
            "source_max": _HEADLINE_SOURCE_MAX,
        },
    ).all()
    return {row.id: row.passage or "" for row in rows}


# MATERIALIZED keeps bm25() inside the FTS5 query, where auxiliary functions work.
_SQLITE_PAGE = """
WITH matches AS MATERIALIZED (
    SELECT k.item_id AS id, -bm25(history_search, 0.0, 10.0, 1.0, 4.0) AS score
    FROM history_search JOIN history_search_keys AS k ON k.search_rowid = history_search.rowid
    WHERE history_search MATCH :match
)
SELECT m.id AS id, m.score AS score
FROM matches AS m JOIN history_items AS h ON h.id = m.id
WHERE h.user_id = :user_id {after}
ORDER BY m.score DESC, m.id DESC
LIMIT :limit
"""
_SQLITE_AFTER = "AND (m.score < :score OR (m.score = :score AND m.id < :after_id))"


def _sqlite_page(
    user_id: uuid.UUID, words: str, limit: int, after: tuple[float, uuid.UUID] | None
) -> list[Hit]:
    match = fts5_query(user_id, words)
    if match is None:
        return []
    binds: list[BindParameter[Any]] = [bindparam("user_id", type_=Uuid())]
    params: dict[str, object] = {"match": match, "user_id": user_id, "limit": limit}
    if after:
        binds += [bindparam("after_id", type_=Uuid()), bindparam("score", type_=Float())]
        params.update(score=after[0], after_id=after[1])
    statement = text(_SQLITE_PAGE.format(after=_SQLITE_AFTER if after else "")).bindparams(*binds)
    rows = db.session.execute(statement, params).all()
    return [Hit(uuid.UUID(hex=row.id), float(row.score)) for row in rows]


_SQLITE_SNIPPETS = """
SELECT k.item_id AS id, snippet(history_search, 2, '', '', ' … ', 16) AS passage
FROM history_search JOIN history_search_keys AS k ON k.search_rowid = history_search.rowid
WHERE history_search MATCH :match AND k.item_id IN :item_ids
"""


def _sqlite_snippets(
    user_id: uuid.UUID, words: str, item_ids: list[uuid.UUID]
) -> dict[uuid.UUID, str]:
    match = fts5_query(user_id, words)
    if match is None:
        return {}
    statement = text(_SQLITE_SNIPPETS).bindparams(
        bindparam("item_ids", type_=Uuid(), expanding=True)
    )
    rows = db.session.execute(statement, {"match": match, "item_ids": item_ids}).all()
    return {uuid.UUID(hex=row.id): row.passage or "" for row in rows}
