"""Opaque, tamper-evident page cursors: the last row's sort key, signed with the app's secret.

A cursor is ``base64url(payload) "." base64url(mac)``; the MAC covers the user and the scope (the
search words), so a cursor edited by hand, taken from another user or from another search is
refused like any other bad input.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
import uuid
from datetime import datetime

from audiotricks.errors import ValidationFailed
from audiotricks.history.search import Position

_DOMAIN = b"audiotricks history cursor v1\x00"
_MAC_BYTES = 16


class BadCursor(ValidationFailed):
    """400 on ``cursor``; never says what was wrong with it."""

    def __init__(self) -> None:
        super().__init__(errors=[{"field": "cursor", "message": "Invalid cursor."}])


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    if not text or len(text) % 4 == 1:
        raise BadCursor()
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise BadCursor() from None


def _mac(secret: bytes, user_id: uuid.UUID, scope: str, payload: bytes) -> bytes:
    scope_digest = hashlib.sha256(scope.encode("utf-8")).digest()
    message = _DOMAIN + user_id.bytes + scope_digest + payload
    return hmac.new(secret, message, hashlib.sha256).digest()[:_MAC_BYTES]


def _encode(secret: bytes, user_id: uuid.UUID, scope: str, key: list[object]) -> str:
    payload = json.dumps(key, separators=(",", ":")).encode("utf-8")
    return f"{_b64(payload)}.{_b64(_mac(secret, user_id, scope, payload))}"


def _decode(secret: bytes, user_id: uuid.UUID, scope: str, cursor: str) -> list[object]:
    head, dot, tail = cursor.partition(".")
    if not dot or not cursor.isascii():
        raise BadCursor()
    payload, mac = _unb64(head), _unb64(tail)
    if not hmac.compare_digest(mac, _mac(secret, user_id, scope, payload)):
        raise BadCursor()
    try:
        key = json.loads(payload)
    except ValueError:
        raise BadCursor() from None
    if not isinstance(key, list) or not key:
        raise BadCursor()
    return key


def _item_id(value: object) -> uuid.UUID:
    if not isinstance(value, str):
        raise BadCursor()
    try:
        return uuid.UUID(hex=value)
    except ValueError:
        raise BadCursor() from None


def _moment(value: object) -> datetime:
    if not isinstance(value, str):
        raise BadCursor()
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise BadCursor() from None
    if moment.tzinfo is None:
        raise BadCursor()
    return moment


def encode_list_cursor(
    secret: bytes, user_id: uuid.UUID, created_at: datetime, item_id: uuid.UUID
) -> str:
    """The cursor after the row ``(created_at, item_id)`` of the newest-first list."""
    return _encode(secret, user_id, "", ["l", created_at.isoformat(), item_id.hex])


def decode_list_cursor(
    secret: bytes, user_id: uuid.UUID, cursor: str
) -> tuple[datetime, uuid.UUID]:
    """``(created_at, id)`` of a list cursor, or BadCursor."""
    key = _decode(secret, user_id, "", cursor)
    if len(key) != 3 or key[0] != "l":
        raise BadCursor()
    return _moment(key[1]), _item_id(key[2])


def encode_search_cursor(
    secret: bytes, user_id: uuid.UUID, query: str, position: Position
) -> str:
    """The cursor after ``position`` of a search for ``query``.

    Among the ranked matches: ``["s", score, id, bound]`` (bound: the ranked set's oldest
    ``[created_at, id]``, or null); among the older ones: ``["o", created_at, id]``.
    """
    if position.score is not None:
        bound = None
        if position.bound is not None:
            bound = [position.bound[0].isoformat(), position.bound[1].hex]
        key: list[object] = ["s", position.score, position.item_id.hex, bound]
    elif position.created_at is not None:
        key = ["o", position.created_at.isoformat(), position.item_id.hex]
    else:
        raise ValueError("a position has a score or a created_at")
    return _encode(secret, user_id, query, key)


def decode_search_cursor(
    secret: bytes, user_id: uuid.UUID, query: str, cursor: str
) -> Position:
    """The position a search cursor for ``query`` holds, or BadCursor."""
    key = _decode(secret, user_id, query, cursor)
    if len(key) == 3 and key[0] == "o":
        return Position(_item_id(key[2]), created_at=_moment(key[1]))
    if len(key) != 4 or key[0] != "s":
        raise BadCursor()
    score, bound = key[1], key[3]
    if isinstance(score, bool) or not isinstance(score, int | float) or not math.isfinite(score):
        raise BadCursor()
    if bound is not None:
        if not isinstance(bound, list) or len(bound) != 2:
            raise BadCursor()
        bound = (_moment(bound[0]), _item_id(bound[1]))
    return Position(_item_id(key[2]), score=float(score), bound=bound)
