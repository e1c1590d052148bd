"""The user's library of transcripts and summaries: ``/api/v1/history``."""

from flask import Blueprint, request

from audiotricks.runtime import current_config

bp = Blueprint("history", __name__, url_prefix="/history")


@bp.before_request
def _history_body_limit() -> None:
    # History bodies carry whole transcripts: HISTORY_MAX_BYTES instead of MAX_CONTENT_LENGTH.
    # Set before anything reads the body, so Werkzeug's Content-Length check and read_body's
    # check of streamed bodies both use it.
    request.max_content_length = current_config().history_max_bytes


from audiotricks.history import audio, views  # noqa: E402,F401  (registers the routes)
