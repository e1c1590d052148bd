"""Helpers for the job tests: a user with a stored key, real audio, multipart bodies, rows."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import select

from audiotricks.extensions import db
from audiotricks.models import Job
from tests.audio_files import make_audio
from tests.settings.helpers import openai_key

API = "/api/v1"
AUDIO_CACHE: dict[tuple[float, str], bytes] = {}


def audio_bytes(tmp_path: Path, seconds: float = 2.0, fmt: str = "wav") -> bytes:
    """A real recording's bytes (made once per length and format per test run)."""
    if (seconds, fmt) not in AUDIO_CACHE:
        path = make_audio(str(tmp_path / f"clip-{seconds}.{fmt}"), seconds=seconds, fmt=fmt)
        AUDIO_CACHE[(seconds, fmt)] = Path(path).read_bytes()
    return AUDIO_CACHE[(seconds, fmt)]


def store_key(client: Any, token: str, key: str | None = None) -> str:
    key = key or openai_key()
    response = client.put(
        f"{API}/settings/api-keys/openai",
        json={"apiKey": key},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200, response.get_json()
    return key


def jobs_rows(app: Flask, user_id: uuid.UUID | None = None) -> list[Job]:
    with app.app_context():
        query = select(Job).order_by(Job.created_at)
        if user_id is not None:
            query = query.where(Job.user_id == user_id)
        rows = list(db.session.scalars(query))
        db.session.expunge_all()
        return rows


def upload_files(app: Flask) -> list[str]:
    """Files under UPLOAD_DIR (the test's own folder)."""
    folder = app.extensions["audiotricks.config"].upload_dir
    if not os.path.isdir(folder):
        return []
    return sorted(
        os.path.join(root, name) for root, _, names in os.walk(folder) for name in names
    )


def scratch_left(app: Flask, job_id: uuid.UUID) -> list[str]:
    """Scratch folders of the job's runs still on disk (beside the uploads, or with the audio)."""
    from audiotricks.jobs.service import scratch_folders

    uploads = app.extensions["audiotricks.config"].upload_dir
    with app.app_context():
        return scratch_folders(job_id, os.path.join(uploads, "any.upload"))


def multipart(
    fields: dict[str, str], audio: bytes, name: str, boundary: str = "b0und4ry"
) -> tuple[bytes, str]:
    """A multipart body with a ``file`` part and text fields, as bytes.

    Bytes rather than the test client's own encoding: for bodies over 500 KB that one spools to a
    temporary file which an early answer (a 413) leaves open.
    """
    out = b""
    for key, value in fields.items():
        out += (
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"{key}\"\r\n\r\n{value}\r\n"
        ).encode()
    out += (
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n"
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    out += audio + f"\r\n--{boundary}--\r\n".encode()
    return out, f"multipart/form-data; boundary={boundary}"
