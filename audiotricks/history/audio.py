"""``GET /history/<id>/audio``: the speech a job made for an item, as MP3 with Range support.

Werkzeug's ``send_file(conditional=True)`` answers ``Range`` (one range: ``206`` with
``Content-Range``; unsatisfiable: ``416`` with ``Content-Range: bytes */size``), ``If-Range``,
``If-None-Match`` and ``If-Modified-Since``, so a browser's audio element can seek.
"""

from __future__ import annotations

from flask import Response, current_app, g, send_file

from audiotricks.auth.decorators import require_session
from audiotricks.errors import NotFound
from audiotricks.history import bp, service
from audiotricks.http import Download, responds
from audiotricks.jobs.speech import audio_file
from audiotricks.schemas.base import ErrorSchema


class NoAudio(NotFound):
    message = "No audio for this history item"


@bp.get("/<item_id>/audio")
@responds(
    200,
    Download(("audio/mpeg",)),
    (206, Download(("audio/mpeg",)), "Partial content: the Range asked for"),
    (404, ErrorSchema, "History item not found, or it has no audio yet"),
    (416, ErrorSchema, "Range not satisfiable (Content-Range names the size)"),
    request_headers=("Range", "If-Range", "If-None-Match"),
    response_headers={
        "Accept-Ranges": "bytes",
        "Content-Range": "On a 206: the bytes sent and the whole size",
        "ETag": "Changes when the audio is replaced",
    },
)
@require_session
def get_audio(item_id: str) -> Response:
    """The item's speech as audio/mpeg (made by POST /jobs/speech), with Range support.

    404 History item not found for an unknown item or another user's; 404 No audio for this
    history item until a speech job has succeeded.
    """
    item = service.get_item(g.user, item_id)
    path = audio_file(item.audio_path or "")
    if path is None:
        raise NoAudio()
    try:
        response = send_file(
            path,
            mimetype="audio/mpeg",
            conditional=True,
            etag=True,
            download_name=f"{item.id}.mp3",
            max_age=0,
        )
    except FileNotFoundError:  # replaced by a newer speech, or the item deleted, just now
        current_app.logger.info("audio file gone", extra={"event": "audio_missing"})
        raise NoAudio() from None
    return response
