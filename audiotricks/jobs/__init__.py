"""Background jobs: ``/api/v1/jobs`` (start, follow, cancel) and the queue that runs them."""

from flask import Blueprint

bp = Blueprint("jobs", __name__, url_prefix="/jobs")

from audiotricks.jobs import speech_views, views  # noqa: E402,F401,I001  (registers the routes)
from audiotricks.jobs import events  # noqa: E402,F401  (GET /jobs/<id>/events; after views)
