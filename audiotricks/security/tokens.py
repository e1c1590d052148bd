"""JWT access tokens (HS256 only) and the hash under which a session stores its token."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import jwt

ALGORITHM = "HS256"
REQUIRED_CLAIMS = ["sub", "sid", "iat", "exp"]


class InvalidToken(Exception):
    """The token is malformed, badly signed, expired or lacks a claim."""


@dataclass(frozen=True)
class TokenClaims:
    user_id: uuid.UUID
    session_id: uuid.UUID
    expires_at: datetime


def issue_token(
    user_id: uuid.UUID, session_id: uuid.UUID, secret: str, ttl_seconds: int, now: datetime
) -> tuple[str, datetime]:
    """A signed token for the session, and its expiry (whole seconds, as in ``exp``)."""
    issued = int(now.timestamp())
    expires = issued + ttl_seconds
    payload = {"sub": str(user_id), "sid": str(session_id), "iat": issued, "exp": expires}
    token = jwt.encode(payload, secret, algorithm=ALGORITHM)
    return token, datetime.fromtimestamp(expires, UTC)


def decode_token(token: str, secret: str) -> TokenClaims:
    """Verify signature (HS256 only), expiry and claims; raise InvalidToken otherwise."""
    try:
        claims = jwt.decode(
            token, secret, algorithms=[ALGORITHM], options={"require": REQUIRED_CLAIMS}
        )
        return TokenClaims(
            user_id=uuid.UUID(claims["sub"]),
            session_id=uuid.UUID(claims["sid"]),
            expires_at=datetime.fromtimestamp(claims["exp"], UTC),
        )
    except (jwt.PyJWTError, ValueError, TypeError, AttributeError, OverflowError) as exc:
        raise InvalidToken(type(exc).__name__) from None


def token_hash(token: str) -> str:
    """SHA-256 hex of the token: what the session row stores instead of the token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()

