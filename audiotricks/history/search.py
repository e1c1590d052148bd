"""Full-text search over a user's history, on the engine's own index.

- PostgreSQL: the ``search_vector`` tsvector (trigger-maintained, 'english' configuration: stemming
  and stop words, GIN index), queried with ``websearch_to_tsquery`` — it never raises on user input
  (quotes, minus signs, ``or``), ranked by ``ts_rank``, snippets from ``ts_headline`` over a window
  of the transcript around the first occurrence of a query word.
- SQLite: the FTS5 table ``history_search`` (porter stemming). The user's words never reach FTS5's
  query syntax: each becomes a quoted FTS5 string (inner quotes doubled), all of them required;
  ranked by ``bm25``, snippets from ``snippet``.

Order of the results, the same on both engines: the newest ``HISTORY_SEARCH_RANKED`` matches
(200 by default) come first, best match first (ties by ``id``); the older matches follow,
newest first. Ranking needs each candidate's whole index entry (on PostgreSQL a tsvector of about
10 KB for an 8 KB transcript, read from TOAST), so ranking every match of a common word (9,000 of a
10,000-item library) cost a quarter of a second a page; the bound keeps a search page's cost flat,
and every match is still reached by paging.

Pages are keyset: the cursor of a page among the ranked matches holds ``(score, id)`` and the
ranked set's bound (the oldest ranked match, fixed by the first page), so items saved while a
client pages never push a ranked match out; the cursor of a page among the older matches holds
``(created_at, id)``.
"""

from __future__ import annotations

import contextlib
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import BindParameter, Connection, Row, bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.types import Float, Integer, Text, Uuid

from audiotricks.models import UtcDateTime

# Snippets are passages, never the whole text: the engines cut at words, this caps the characters
# (one "word" may be a very long run of letters).
SNIPPET_MAX = 240
_WORDS = re.compile(r"\w+")
# Where the first query word is looked for (characters from the transcript's start)...
_HEADLINE_SOURCE_MAX = 100_000
# ... and the window from there that ts_headline reads: about 10 words before it, 50 after.
_WINDOW_BEFORE = 60
_WINDOW = 400


@dataclass(frozen=True)
class Position:
    """Where a page ends: among the ranked matches (``score`` set; ``bound`` the ranked set's
    oldest match, None when every match is ranked) or among the older ones (``created_at``)."""

    item_id: uuid.UUID
    score: float | None = None
    created_at: datetime | None = None
    bound: tuple[datetime, uuid.UUID] | None = None


@dataclass
class Found:
    """One page of matches: their list entries' columns and passage (``preview`` and
    ``passage``, untidied), in order, and where the page ends."""

    rows: list[Row[Any]] = field(default_factory=list)
    last: Position | None = None  # of the page's last match, when another page follows


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


def tidy_snippet(passage: str) -> str:
    """One line, at most SNIPPET_MAX characters."""
    flat = " ".join(passage.split())
    if len(flat) > SNIPPET_MAX:
        flat = flat[: SNIPPET_MAX - 1].rstrip() + "…"
    return flat


def search_page(  # noqa: PLR0913 - the page's whole description
    connection: Connection, user_id: uuid.UUID, words: str, *,
    limit: int, after: Position | None, ranked: int,
) -> Found:
    """Up to ``limit`` matches of ``words`` after ``after``, in the module's order.

    ``ranked`` is how many of the newest matches are ranked (HISTORY_SEARCH_RANKED). Runs
    read-only statements on ``connection``.
    """
    engine = _PostgresSearch if connection.dialect.name == "postgresql" else _SqliteSearch
    search = engine(connection, user_id, words)
    if not search.possible():
        return Found()
    return _page(search, limit, after, ranked)


@contextlib.contextmanager
def planned_per_statement(connection: Connection) -> Iterator[None]:
    """PostgreSQL: no statement prepared while the search runs; each is planned for its values.

    psycopg prepares a statement run five times, and PostgreSQL may then reuse a generic plan,
    made without the values. The best plans of a search depend on them: for a word in most
    items, walk the user's items newest first and test each; for a rare word, ask the GIN index
    (a rare word on the common word's plan reads every item's tsvector, 0.2 s). And a generic
    plan for "this user's items with these ids" walks all the user's items instead of looking up
    the ids (10 ms for a user with 10,000 items).
    """
    if connection.dialect.name != "postgresql":
        yield
        return
    driver = connection.connection.driver_connection
    threshold = driver.prepare_threshold  # type: ignore[union-attr]
    driver.prepare_threshold = None  # type: ignore[union-attr]
    try:
        yield
    finally:
        driver.prepare_threshold = threshold  # type: ignore[union-attr]


def _page(search: _Search, limit: int, after: Position | None, ranked: int) -> Found:
    rows: list[Row[Any]] = []
    bound = older_than = None
    if after is None or after.score is not None:  # the ranked matches first
        rows, bound = search.ranked(limit + 1, after, ranked)
        older_than = bound
    elif after.created_at is not None:  # a page among the older matches
        older_than = (after.created_at, after.item_id)
    if len(rows) <= limit and older_than is not None:
        rows += search.older(limit + 1 - len(rows), older_than)
    page = rows[:limit]
    entries = {row.id: row for row in search.entries(page)}
    # An item deleted between the two statements is left out.
    found = Found(rows=[entries[row.id] for row in page if row.id in entries])
    if len(rows) > limit:
        last = page[-1]
        if last.score is not None:
            found.last = Position(last.id, score=float(last.score), bound=bound)
        else:
            found.last = Position(last.id, created_at=last.created_at)
    return found


class _Search:
    """One search on one connection: the engine's statements for each part of a page."""

    def __init__(self, connection: Connection, user_id: uuid.UUID, words: str):
        self.connection = connection
        self.user_id = user_id
        self.words = words

    def possible(self) -> bool:
        return True

    def ranked(
        self, limit: int, after: Position | None, ranked: int
    ) -> tuple[list[Row[Any]], tuple[datetime, uuid.UUID] | None]:
        """Ranked matches after ``after`` (best first), and the ranked set's bound."""
        raise NotImplementedError

    def older(self, limit: int, before: tuple[datetime, uuid.UUID]) -> list[Row[Any]]:
        """Matches older than ``before``, newest first (score None)."""
        raise NotImplementedError

    def entries(self, rows: list[Row[Any]]) -> list[Row[Any]]:
        """The list-entry columns and the passage of the matches ``rows``, in any order."""
        raise NotImplementedError

    def _rows(self, sql: str, binds: list[BindParameter[Any]], params: dict[str, Any],
              **columns: Any) -> list[Row[Any]]:
        statement = text(sql).bindparams(*binds).columns(**columns)
        return list(self.connection.execute(statement, params).all())


_HIT_COLUMNS = {"id": Uuid(), "score": Float(), "created_at": UtcDateTime()}
# A HistoryEntry's columns, as audiotricks.history.service reads them for the plain list.
_ENTRY_SQL = """h.id AS id, h.title AS title, h.language AS language,
    h.duration_seconds AS duration_seconds, h.word_count AS word_count,
    h.summary IS NOT NULL AS has_summary, h.audio_path IS NOT NULL AS has_audio,
    h.preview AS preview,
    h.created_at AS created_at, h.updated_at AS updated_at"""
_ENTRY_COLUMNS = {"id": Uuid(), "created_at": UtcDateTime(), "updated_at": UtcDateTime()}


def _ranked_params(
    user_id: uuid.UUID, words: str, after: Position | None, ranked: int
) -> tuple[dict[str, str], list[BindParameter[Any]], dict[str, Any]]:
    """The parts of a ranked page's statement that depend on the cursor (both engines)."""
    clauses = {"since": "", "cap": "", "after": ""}
    binds: list[BindParameter[Any]] = [bindparam("user_id", type_=Uuid())]
    params: dict[str, Any] = {"user_id": user_id, "words": words}
    if after is None:  # the first page fixes the ranked set: the newest `ranked` matches
        clauses["cap"] = "LIMIT :ranked"
        params["ranked"] = ranked
    else:
        if after.bound is not None:  # later pages: the same set (and items saved since)
            clauses["since"] = "AND (h.created_at > :since_at OR (h.created_at = :since_at"
            clauses["since"] += " AND h.id >= :since_id))"
            binds += [bindparam("since_at", type_=UtcDateTime()),
                      bindparam("since_id", type_=Uuid())]
            params.update(since_at=after.bound[0], since_id=after.bound[1])
        clauses["after"] = "WHERE r.score < :score OR (r.score = :score AND r.id < :after_id)"
        binds += [bindparam("score", type_=Float()), bindparam("after_id", type_=Uuid())]
        params.update(score=after.score, after_id=after.item_id)
    return clauses, binds, params


def _bound(rows: list[Row[Any]], after: Position | None, ranked: int
           ) -> tuple[datetime, uuid.UUID] | None:
    """The ranked set's oldest match when the set is full (older matches then exist or may)."""
    if after is not None:
        return after.bound
    if not rows or rows[0].ranked_count < ranked:
        return None
    return rows[0].oldest_at, rows[0].oldest_id


_OLDER_CLAUSE = (
    "AND (h.created_at < :before_at OR (h.created_at = :before_at AND h.id < :before_id))"
)


def _older_params(
    user_id: uuid.UUID, words: str, limit: int, before: tuple[datetime, uuid.UUID]
) -> tuple[list[BindParameter[Any]], dict[str, Any]]:
    binds: list[BindParameter[Any]] = [
        bindparam("user_id", type_=Uuid()),
        bindparam("before_at", type_=UtcDateTime()),
        bindparam("before_id", type_=Uuid()),
    ]
    params = {"user_id": user_id, "words": words, "limit": limit,
              "before_at": before[0], "before_id": before[1]}
    return binds, params


# --- PostgreSQL ---------------------------------------------------------------------------------

_PG_QUERY = "websearch_to_tsquery('english', :words)"
# float8: ts_rank's real would come back as its shortest float4 text, which parses to a
# different double, and the cursor's "score < :score" would then skip or repeat rows.
_PG_RANKED = f"""
WITH recent AS MATERIALIZED (
    SELECT h.id, h.created_at, ts_rank(h.search_vector, {_PG_QUERY})::float8 AS score
    FROM history_items AS h
    WHERE h.user_id = :user_id AND h.search_vector @@ {_PG_QUERY} {{since}}
    ORDER BY h.created_at DESC, h.id DESC
    {{cap}}
), oldest AS (
    SELECT r.created_at, r.id, count(*) OVER () AS ranked_count
    FROM recent AS r ORDER BY r.created_at, r.id LIMIT 1
)
SELECT p.id, p.score, p.created_at, o.ranked_count, o.created_at AS oldest_at, o.id AS oldest_id
FROM (SELECT * FROM recent AS r {{after}} ORDER BY r.score DESC, r.id DESC LIMIT :limit) AS p
CROSS JOIN oldest AS o
ORDER BY p.score DESC, p.id DESC
"""  # noqa: S608 - constant SQL; every value is a bound parameter
_PG_OLDER = f"""
SELECT h.id, NULL::float8 AS score, h.created_at
FROM history_items AS h
WHERE h.user_id = :user_id AND h.search_vector @@ {_PG_QUERY} {_OLDER_CLAUSE}
ORDER BY h.created_at DESC, h.id DESC
LIMIT :limit
"""  # noqa: S608 - constant SQL; every value is a bound parameter
# ts_headline parses all the text it is given (about 1 µs a character), so it gets a window of the
# transcript from a little before the first occurrence of a query word: a stem or a word as typed,
# in lower case, capitalised or in capitals, at the start of a word if it occurs there, else
# anywhere (inside a longer word: the window is wide enough to reach the real match, most of the
# time); without one (the title or the summary matched), the transcript's beginning. A window
# that starts inside a word loses that word's end. The transcript's head is read once per item
# (OFFSET 0 keeps the planner from repeating the expression at each use). When the window holds
# no passage with every word, ts_headline would show its first six words: it is given any of the
# words instead (the typed words joined by "or"; being words only, they hold no other syntax).
# StartSel/StopSel empty: plain text. MaxFragments/MaxWords bound the passage.
_PG_PASSAGES = f"""
WITH variants AS MATERIALIZED (
    SELECT DISTINCT v.variant
    FROM unnest(tsvector_to_array(to_tsvector('english', :words)) || CAST(:typed AS text[]))
         AS t(term)
    CROSS JOIN LATERAL unnest(ARRAY[t.term, initcap(t.term), upper(t.term)]) AS v(variant)
)
SELECT {_ENTRY_SQL}, ts_headline('english',
    CASE WHEN s.start = 1 THEN substr(t.head, 1, :window)
         ELSE regexp_replace(substr(t.head, s.start, :window), '^[^[:space:]]*[[:space:]]', '') END,
    websearch_to_tsquery('english', :any_word),
    'MaxFragments=2, MaxWords=16, MinWords=6, StartSel="", StopSel="", FragmentDelimiter=" … "')
    AS passage
FROM history_items AS h
CROSS JOIN LATERAL (SELECT left(h.transcript_text, :source_max) AS head OFFSET 0) AS t
CROSS JOIN LATERAL (SELECT greatest(1, coalesce(
    (SELECT min(nullif(strpos(t.head, ' ' || v.variant), 0)) + 1 FROM variants AS v),
    (SELECT min(nullif(strpos(t.head, v.variant), 0)) FROM variants AS v),
    1) - :before) AS start OFFSET 0) AS s
WHERE h.user_id = :user_id AND h.id IN :item_ids
"""  # noqa: S608 - constant SQL; every value is a bound parameter


class _PostgresSearch(_Search):
    def ranked(
        self, limit: int, after: Position | None, ranked: int
    ) -> tuple[list[Row[Any]], tuple[datetime, uuid.UUID] | None]:
        clauses, binds, params = _ranked_params(self.user_id, self.words, after, ranked)
        params["limit"] = limit
        rows = self._rows(_PG_RANKED.format(**clauses), binds, params, **_HIT_COLUMNS,
                          ranked_count=Integer(), oldest_at=UtcDateTime(), oldest_id=Uuid())
        return rows, _bound(rows, after, ranked)

    def older(self, limit: int, before: tuple[datetime, uuid.UUID]) -> list[Row[Any]]:
        binds, params = _older_params(self.user_id, self.words, limit, before)
        return self._rows(_PG_OLDER, binds, params, **_HIT_COLUMNS)

    def entries(self, rows: list[Row[Any]]) -> list[Row[Any]]:
        if not rows:
            return []
        typed = sorted({word.lower() for word in _WORDS.findall(self.words)})
        return self._rows(
            _PG_PASSAGES,
            [bindparam("user_id", type_=Uuid()),
             bindparam("item_ids", type_=Uuid(), expanding=True),
             bindparam("typed", type_=ARRAY(Text()))],
            {"user_id": self.user_id, "words": self.words, "typed": typed,
             "any_word": " or ".join(typed),
             "item_ids": [row.id for row in rows], "source_max": _HEADLINE_SOURCE_MAX,
             "before": _WINDOW_BEFORE, "window": _WINDOW},
            **_ENTRY_COLUMNS,
        )


# --- SQLite -------------------------------------------------------------------------------------

# MATERIALIZED keeps bm25() inside the FTS5 query, where auxiliary functions work.
_SQLITE_MATCHES = """
WITH matches AS MATERIALIZED (
    SELECT k.item_id AS id, -bm25(history_search, 0.0, 10.0, 1.0, 4.0) AS score
    FROM history_search JOIN history_search_keys AS k ON k.search_rowid = history_search.rowid
    WHERE history_search MATCH :match
)"""
_SQLITE_RANKED = _SQLITE_MATCHES + """, recent AS MATERIALIZED (
    SELECT h.id AS id, h.created_at AS created_at, m.score AS score
    FROM matches AS m JOIN history_items AS h ON h.id = m.id
    WHERE h.user_id = :user_id {since}
    ORDER BY h.created_at DESC, h.id DESC
    {cap}
), oldest AS (
    SELECT r.created_at AS created_at, r.id AS id, count(*) OVER () AS ranked_count
    FROM recent AS r ORDER BY r.created_at, r.id LIMIT 1
)
SELECT p.id AS id, p.score AS score, p.created_at AS created_at, o.ranked_count AS ranked_count,
       o.created_at AS oldest_at, o.id AS oldest_id
FROM (SELECT * FROM recent AS r {after} ORDER BY r.score DESC, r.id DESC LIMIT :limit) AS p
CROSS JOIN oldest AS o
ORDER BY p.score DESC, p.id DESC
"""  # noqa: S608 - constant SQL; every value is a bound parameter
_SQLITE_OLDER = _SQLITE_MATCHES + f"""
SELECT h.id AS id, NULL AS score, h.created_at AS created_at
FROM matches AS m JOIN history_items AS h ON h.id = m.id
WHERE h.user_id = :user_id {_OLDER_CLAUSE}
ORDER BY h.created_at DESC, h.id DESC
LIMIT :limit
"""  # noqa: S608 - constant SQL; every value is a bound parameter
_SQLITE_ENTRIES = f"""
SELECT {_ENTRY_SQL}, snippet(history_search, 2, '', '', ' … ', 16) AS passage
FROM history_search JOIN history_search_keys AS k ON k.search_rowid = history_search.rowid
JOIN history_items AS h ON h.id = k.item_id
WHERE history_search MATCH :match AND k.item_id IN :item_ids
"""  # noqa: S608 - constant SQL; every value is a bound parameter


class _SqliteSearch(_Search):
    def __init__(self, connection: Connection, user_id: uuid.UUID, words: str):
        super().__init__(connection, user_id, words)
        self.match = fts5_query(user_id, words)

    def possible(self) -> bool:
        return self.match is not None

    def ranked(
        self, limit: int, after: Position | None, ranked: int
    ) -> tuple[list[Row[Any]], tuple[datetime, uuid.UUID] | None]:
        clauses, binds, params = _ranked_params(self.user_id, self.words, after, ranked)
        params.update(limit=limit, match=self.match)
        rows = self._rows(_SQLITE_RANKED.format(**clauses), binds, params, **_HIT_COLUMNS,
                          ranked_count=Integer(), oldest_at=UtcDateTime(), oldest_id=Uuid())
        return rows, _bound(rows, after, ranked)

    def older(self, limit: int, before: tuple[datetime, uuid.UUID]) -> list[Row[Any]]:
        binds, params = _older_params(self.user_id, self.words, limit, before)
        params["match"] = self.match
        return self._rows(_SQLITE_OLDER, binds, params, **_HIT_COLUMNS)

    def entries(self, rows: list[Row[Any]]) -> list[Row[Any]]:
        if not rows:
            return []
        return self._rows(
            _SQLITE_ENTRIES,
            [bindparam("item_ids", type_=Uuid(), expanding=True)],
            {"match": self.match, "item_ids": [row.id for row in rows]},
            **_ENTRY_COLUMNS,
        )
