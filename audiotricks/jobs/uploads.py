"""Streaming an uploaded audio file to ``UPLOAD_DIR`` without holding it in memory.

Werkzeug's multipart parser reads the body in small chunks and writes each file part to the
stream our factory hands it: a file opened directly in ``UPLOAD_DIR``. Whatever goes wrong
(too large, malformed, refused), every file this request created is removed.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from types import TracebackType
from typing import IO, Any

from flask import Request
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.formparser import FormDataParser

# Werkzeug bounds both a text part and its read buffer (64 KiB chunks) with this: far above any
# text field of the form (a title, a language code, a flag), and still small in memory.
FORM_FIELD_MAX_BYTES = 256 * 1024
# A few parts are all a client sends.
FORM_MAX_PARTS = 16


class UploadFiles:
    """Creates the files of one request's file parts; removes them unless kept."""

    def __init__(self, directory: str):
        self.directory = directory
        self.paths: list[str] = []
        self.handles: list[IO[bytes]] = []
        self.kept: set[str] = set()

    def __enter__(self) -> UploadFiles:
        os.makedirs(self.directory, exist_ok=True)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
        for path in self.paths:
            if path not in self.kept:
                with contextlib.suppress(FileNotFoundError):
                    os.remove(path)

    def stream_factory(
        self,
        total_content_length: int | None,
        content_type: str | None,
        filename: str | None,
        content_length: int | None = None,
    ) -> IO[bytes]:
        # Our own name, never the client's: nothing of theirs reaches the file system.
        path = os.path.join(self.directory, f"{uuid.uuid4().hex}.upload")
        self.paths.append(path)
        handle = open(path, "wb+")  # noqa: SIM115 - closed by close(), also on errors
        self.handles.append(handle)
        return handle

    def close(self) -> None:
        """Close every file written so far (the worker reopens the kept one by path)."""
        for handle in self.handles:
            handle.close()

    def keep(self, path: str) -> None:
        self.kept.add(path)


def parse_upload(
    request: Request, files: UploadFiles
) -> tuple[MultiDict[str, str], MultiDict[str, FileStorage]]:
    """The form fields and file parts of a multipart request; file parts written to disk.

    Raises ValueError for a malformed body and RequestEntityTooLarge past the request's
    ``max_content_length`` (or a text field past FORM_FIELD_MAX_BYTES).
    """
    parser = FormDataParser(
        stream_factory=files.stream_factory,
        max_form_memory_size=FORM_FIELD_MAX_BYTES,
        max_content_length=request.max_content_length,
        max_form_parts=FORM_MAX_PARTS,
        silent=False,
    )
    options: dict[str, Any] = dict(request.mimetype_params)
    _, form, uploaded = parser.parse(
        request.stream, request.mimetype, request.content_length, options
    )
    files.close()
    return form, uploaded


def path_of(storage: FileStorage) -> str:
    return str(storage.stream.name)
