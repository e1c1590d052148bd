"""The user's ElevenLabs voices: ``/api/v1/voices``, read with the stored key and cached."""

from flask import Blueprint

bp = Blueprint("voices", __name__, url_prefix="/voices")

from audiotricks.voices import views  # noqa: E402,F401  (registers the routes)
