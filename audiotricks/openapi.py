"""The OpenAPI 3 document, generated from the routes and the schemas that validate them, and its docs page.

Views declare their contract with :func:`audiotricks.http.json_body` (request schema),
:func:`audiotricks.http.responds` (response schema and statuses) and
:func:`audiotricks.auth.decorators.require_session` (bearer auth); this module only reads those marks.
"""

from __future__ import annotations

import re
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Blueprint, Flask, Response, current_app, jsonify, send_from_directory
from swagger_ui_bundle import swagger_ui_path
from werkzeug.routing import Rule

from audiotricks import __version__
from audiotricks.errors import HTTP_MESSAGES
from audiotricks.http import Download
from audiotricks.schemas.base import ErrorSchema
from audiotricks.security_headers import docs_headers

bp = Blueprint("docs", __name__)

STATUS_TEXT = {
    304: "Not modified: If-None-Match names the current ETag",
    400: "Validation failed or malformed JSON body",
    401: "Authentication required, or the session is invalid or expired",
    403: "Account is deactivated",
    404: HTTP_MESSAGES[404],
    409: "Email or username already in use",
    412: "Precondition failed: If-Match does not name the current ETag",
    413: HTTP_MESSAGES[413],
    415: HTTP_MESSAGES[415],
    429: "Too many requests (see Retry-After)",
    500: "Internal server error",
    503: "Service temporarily unavailable",
}
_PATH_ARGUMENT = re.compile(r"<(?:(?P<converter>[a-z]+):)?(?P<name>\w+)>")


def _statuses(rule: Rule, view: Any) -> dict[int, Any]:
    """The error statuses every route of this kind can give, by the marks on its view."""
    statuses: dict[int, Any] = {500: ErrorSchema}
    if rule.rule.startswith("/api/"):
        statuses.update({429: ErrorSchema, 503: ErrorSchema})
    if getattr(view, "request_schema", None) or getattr(view, "request_form", None):
        statuses.update({400: ErrorSchema, 413: ErrorSchema, 415: ErrorSchema})
    if getattr(view, "query_schema", None):
        statuses[400] = ErrorSchema
    if getattr(view, "requires_auth", False):
        statuses.update({401: ErrorSchema, 403: ErrorSchema})
    if rule.arguments:
        statuses[404] = ErrorSchema
    return statuses


def _operation(rule: Rule, view: Any) -> dict[str, Any]:
    status, schema, declared = view.response_doc
    statuses = _statuses(rule, view)
    descriptions: dict[int, str] = {}
    for item in declared:
        code, body, *text = item if isinstance(item, tuple) else (item, ErrorSchema)
        statuses[code] = body
        if text:
            descriptions[code] = text[0]
    if getattr(view, "requires_verified_email", False):
        descriptions.setdefault(
            403, "Account is deactivated, or Email not verified (REQUIRE_VERIFIED_EMAIL=true)"
        )

    doc = (view.__doc__ or "").strip()
    operation: dict[str, Any] = {
        "operationId": rule.endpoint.replace(".", "_"),
        "summary": doc.splitlines()[0] if doc else rule.endpoint,
        "tags": [rule.endpoint.split(".")[-2] if "." in rule.endpoint else "service"],
        "responses": {
            str(status): _response("Success", schema),
            **{
                str(code): _response(descriptions.get(code) or STATUS_TEXT.get(code, "Error"), body)
                for code, body in sorted(statuses.items())
            },
        },
    }
    documented_headers = {
        name: {"description": text, "schema": {"type": "string"}}
        for name, text in getattr(view, "response_headers", {}).items()
    }
    for code, response in operation["responses"].items():
        if code.startswith("2") or code == "304":
            response.update({"headers": documented_headers} if documented_headers else {})
    details = doc.partition("\n")[2].strip()
    if details:  # the docstring after its first line: decisions a client needs to know
        operation["description"] = " ".join(details.split())
    if getattr(view, "request_schema", None):
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": view.request_schema}},
        }
    if getattr(view, "request_form", None):
        operation["requestBody"] = {
            "required": True,
            "content": {"multipart/form-data": {"schema": view.request_form}},
        }
    if getattr(view, "requires_auth", False):
        operation["security"] = [{"bearerAuth": []}]
    parameters = [
        {
            "name": match["name"],
            "in": "path",
            "required": True,
            "schema": {"type": "string", "format": "uuid"}
            if match["converter"] == "uuid"
            # A converter may describe its values itself (the settings provider lists its names).
            else dict(
                getattr(rule.map.converters.get(match["converter"] or ""), "openapi_schema", None)
                or {"type": "string"}
            ),
        }
        for match in _PATH_ARGUMENT.finditer(rule.rule)
    ]
    if getattr(view, "query_schema", None):
        # apispec's marshmallow plugin turns the schema into one parameter per field.
        parameters.append({"in": "query", "schema": view.query_schema})
    parameters += [
        {"name": name, "in": "header", "required": False, "schema": {"type": "string"}}
        for name in getattr(view, "request_headers", ())
    ]
    if parameters:
        operation["parameters"] = parameters
    return operation


def _response(description: str, schema: Any) -> dict[str, Any]:
    if schema is None:
        return {"description": description}
    if isinstance(schema, Download):
        return {
            "description": description,
            "content": {
                # A JSON download is any JSON; the others are text of their type.
                kind: {"schema": {} if kind.endswith("json") else {"type": "string"}}
                for kind in schema.content_types
            },
        }
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def build_spec(app: Flask) -> dict[str, Any]:
    """The OpenAPI document for every documented route of ``app``."""
    spec = APISpec(
        title="AudioTricks API",
        version=__version__,
        openapi_version="3.0.3",
        plugins=[MarshmallowPlugin()],
        info={"description": "Accounts, sessions, settings and the API-key vault of AudioTricks."},
    )
    spec.components.security_scheme(
        "bearerAuth", {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    )
    paths: dict[str, dict[str, Any]] = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        view = app.view_functions[rule.endpoint]
        if not hasattr(view, "response_doc"):
            continue
        path = _PATH_ARGUMENT.sub(lambda m: "{" + m["name"] + "}", rule.rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            paths.setdefault(path, {})[method.lower()] = _operation(rule, view)
    for path, operations in paths.items():
        spec.path(path=path, operations=operations)
    return spec.to_dict()


@bp.get("/openapi.json")
def openapi_json() -> Response:
    """The OpenAPI 3 document (built once per app: routes do not change after start-up)."""
    extensions = current_app.extensions
    if "audiotricks.openapi" not in extensions:
        extensions["audiotricks.openapi"] = build_spec(current_app)
    return jsonify(extensions["audiotricks.openapi"])


DOCS_PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>AudioTricks API</title>
  <link rel="stylesheet" href="docs/assets/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="docs/assets/swagger-ui-bundle.js"></script>
  <script src="docs/docs.js"></script>
</body>
</html>
"""


@bp.get("/docs")
def docs_page() -> Response:
    """Interactive docs (Swagger UI), every asset served from this app."""
    return docs_headers(Response(DOCS_PAGE, mimetype="text/html"))


@bp.get("/docs/docs.js")
def docs_script() -> Response:
    return send_from_directory(current_app.static_folder or "static", "docs.js", max_age=3600)


@bp.get("/docs/assets/<path:filename>")
def docs_assets(filename: str) -> Response:
    """Swagger UI's own files, from the pinned swagger-ui-bundle package."""
    return send_from_directory(swagger_ui_path, filename, max_age=86400)
