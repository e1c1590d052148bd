"""Preferences and the API-key vault: ``/api/v1/settings``."""

from typing import Any, ClassVar

from flask import Blueprint
from flask.sansio.blueprints import BlueprintSetupState
from werkzeug.routing import BaseConverter

from audiotricks.models.settings import PROVIDERS


class ProviderConverter(BaseConverter):
    """Matches only the known providers, so any other name is an unknown route (404)."""

    regex = "(?:" + "|".join(PROVIDERS) + ")"
    openapi_schema: ClassVar[dict[str, Any]] = {"type": "string", "enum": list(PROVIDERS)}


bp = Blueprint("settings", __name__, url_prefix="/settings")


@bp.record_once
def _register_converter(state: BlueprintSetupState) -> None:
    # Recorded before the routes below, so the converter exists when their rules are added.
    state.app.url_map.converters.setdefault("provider", ProviderConverter)


from audiotricks.settings import views  # noqa: E402,F401  (registers the routes)
