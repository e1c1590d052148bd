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
    if not isinstance(key, list) or len(key) != 3:
        raise BadCursor()
    return key


def _item_id(value: object) -> uuid.UUID:
    if not isinstance(value, str):
        raise BadCursor()
    try:
        return uuid.UUID(hex=value)
    except ValueError:
        raise BadCursor() from None


def encode_list_cursor(
    secret: bytes, user_id: uuid.UUID, created_at: datetime, item_id: uuid.UUID
) -> str:
    """The cursor after the row ``(created_at, item_id)`` of the newest-first list."""
    return _encode(secret, user_id, "", ["l", created_at.isoformat(), item_id.hex])


def decode_list_cursor(
    secret: bytes, user_id: uuid.UUID, cursor: str
) -> tuple[datetime, uuid.UUID]:
    """``(created_at, id)`` of a list cursor, or BadCursor."""
    kind, created_at, item_id = _decode(secret, user_id, "", cursor)
    if kind != "l" or not isinstance(created_at, str):
        raise BadCursor()
    try:
        moment = datetime.fromisoformat(created_at)
    except ValueError:
        raise BadCursor() from None
    if moment.tzinfo is None:
        raise BadCursor()
    return moment, _item_id(item_id)


def encode_search_cursor(
    secret: bytes, user_id: uuid.UUID, query: str, score: float, item_id: uuid.UUID
) -> str:
    """The cursor after the row ``(score, item_id)`` of a search for ``query``."""
    return _encode(secret, user_id, query, ["s", score, item_id.hex])


def decode_search_cursor(
    secret: bytes, user_id: uuid.UUID, query: str, cursor: str
) -> tuple[float, uuid.UUID]:
    """``(score, id)`` of a search cursor for ``query``, or BadCursor."""
    kind, score, item_id = _decode(secret, user_id, query, cursor)
    if kind != "s" or isinstance(score, bool) or not isinstance(score, int | float):
        raise BadCursor()
    if not math.isfinite(score):
        raise BadCursor()
    return float(score), _item_id(item_id)
