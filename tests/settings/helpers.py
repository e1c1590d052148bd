"""Helpers for the settings tests: fresh API keys (remembered for the log check) and raw rows."""

from __future__ import annotations

import secrets
from typing import Any

from flask import Flask
from sqlalchemy import text

from audiotricks.extensions import db

# Every key the tests send, so the log check can look for each of them.
ISSUED_KEYS: set[str] = set()


def remember(key: str) -> str:
    ISSUED_KEYS.add(key)
    return key


def openai_key() -> str:
    """A random key in OpenAI's shape (``sk-`` + 40 URL-safe characters)."""
    return remember("sk-" + secrets.token_urlsafe(30))


def elevenlabs_key() -> str:
    return remember(secrets.token_hex(16))


def key_for(provider: str) -> str:
    return openai_key() if provider == "openai" else elevenlabs_key()


def raw_settings_rows(app: Flask) -> list[dict[str, Any]]:
    """Every ``user_settings`` row exactly as stored, read with plain SQL."""
    with app.app_context():
        rows = db.session.execute(text("SELECT * FROM user_settings")).mappings().all()
        db.session.commit()
        return [dict(row) for row in rows]


def windows(value: str, size: int = 8) -> set[str]:
    """Every ``size``-character slice of ``value``."""
    return {value[i:i + size] for i in range(len(value) - size + 1)}
