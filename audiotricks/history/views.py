"""History endpoints: thin views over :mod:`audiotricks.history.service`.

Item ids are read as plain strings, so a malformed id is the same ``404 History item not found``
as an unknown one (a ``uuid`` route converter would answer a generic 404 instead).
"""

from __future__ import annotations

from typing import Any

from flask import Response, g, request
from marshmallow import ValidationError

from audiotricks.auth.decorators import require_session
from audiotricks.errors import Conflict, ValidationFailed, field_errors
from audiotricks.history import bp, exports, imports, service
from audiotricks.http import Download, envelope, json_body, query_args, responds
from audiotricks.schemas.auth import EmptyEnvelope
from audiotricks.schemas.base import ErrorSchema
from audiotricks.schemas.dumping import compile_dumper
from audiotricks.schemas.history import (
    CreateHistorySchema,
    ExportQuery,
    HistoryItemDataSchema,
    HistoryItemEnvelope,
    HistoryItemSchema,
    HistoryListDataSchema,
    HistoryListEnvelope,
    ImportHistorySchema,
    ImportResultDataSchema,
    ImportResultEnvelope,
    ListHistoryQuery,
    UpdateHistorySchema,
)

item_data = HistoryItemDataSchema()
import_data = ImportResultDataSchema()
create_schema = CreateHistorySchema()
# The read routes answer with the same schemas' fields through a cheaper dump (see dumping).
dump_item_data = compile_dumper(HistoryItemDataSchema)
dump_item = compile_dumper(HistoryItemSchema)
dump_list_data = compile_dumper(HistoryListDataSchema)

ETAG_HEADER = {"ETag": "Strong ETag of this revision of the item (for If-Match / If-None-Match)"}
LIMIT_REACHED = (409, ErrorSchema, service.HistoryLimitReached.message)
NO_SEGMENTS = "Transcript has no timed segments"
EXPORT_TYPES = (
    "text/plain",
    "text/markdown",
    "application/json",
    "application/x-subrip",
    "text/vtt",
)


def _with_etag(response: tuple[Response, int], etag: str) -> tuple[Response, int]:
    response[0].headers["ETag"] = etag
    return response


@bp.post("")
@responds(
    201,
    HistoryItemEnvelope,
    (200, HistoryItemEnvelope, "The user already has an item with this clientId: that item"),
    LIMIT_REACHED,
    response_headers=ETAG_HEADER,
)
@require_session
@json_body(CreateHistorySchema)
def create_item(body: dict[str, Any]) -> tuple[Response, int]:
    """Save a processed recording (idempotent by clientId).

    wordCount is computed from transcript.text. createdAt may be given (imported items keep their
    date) and may be at most 5 minutes ahead of the server's clock. With a clientId the user
    already has, nothing is created and that item comes back with 200.
    """
    item, created = service.create_item(g.user, body)
    data = item_data.dump({"item": service.describe(item)})
    if created:
        return _with_etag(envelope("History item created", data, 201), item.etag)
    return _with_etag(envelope("History item already exists", data), item.etag)


@bp.get("")
@responds(200, HistoryListEnvelope)
@require_session
@query_args(ListHistoryQuery)
def list_items(query: dict[str, Any]) -> tuple[Response, int]:
    """The caller's items, newest first, or with q the best matches first; keyset pages.

    Without q, pages are keyset on (createdAt, id): items created or deleted while paging never
    make a page repeat or skip an older item. With q, the caller's newest HISTORY_SEARCH_RANKED
    matches (200 by default) come first, best match first; the older matches follow, newest
    first (ranking reads each match's whole index entry, so it is bounded). The cursor is opaque,
    bound to the caller and to q; any other value is a 400 on cursor.
    """
    if "q" in query:
        page = service.search_items(g.user_id, query["q"], query["limit"], query.get("cursor"))
    else:
        page = service.list_items(g.user_id, query["limit"], query.get("cursor"))
    data = dump_list_data({"items": page.entries, "next_cursor": page.next_cursor})
    return envelope("History", data)


@bp.post("/import")
@responds(200, ImportResultEnvelope, LIMIT_REACHED)
@require_session
@json_body(ImportHistorySchema)
def import_items(body: dict[str, Any]) -> tuple[Response, int]:
    """Import up to 100 items in the web app's local-storage format (all or nothing).

    Every problem is reported as items.<index>.<path in that format>; with any problem nothing is
    imported. Items whose id the caller already has are skipped and counted.
    """
    bodies: list[dict[str, Any]] = []
    problems: list[dict[str, str]] = []
    for index, raw in enumerate(body["items"]):
        prefix = f"items.{index}"
        try:
            candidate = imports.to_create_body(raw)
        except imports.ImportFormatError as exc:
            field = f"{prefix}.{exc.path}" if exc.path else prefix
            problems.append({"field": field, "message": exc.message})
            continue
        try:
            bodies.append(create_schema.load(candidate))
        except ValidationError as exc:
            for problem in field_errors(exc.messages):
                local = imports.local_path(problem["field"]) if problem["field"] != "body" else ""
                field = f"{prefix}.{local}" if local else prefix
                problems.append({"field": field, "message": problem["message"]})
    if problems:
        raise ValidationFailed(errors=problems)
    items, skipped = service.import_items(g.user, bodies)
    data = {"imported": len(items), "skipped": skipped, "items": service.entries_of(items)}
    return envelope("History imported", import_data.dump(data))


@bp.get("/<item_id>")
@responds(
    200,
    HistoryItemEnvelope,
    (304, None, "Not modified: If-None-Match names the current ETag"),
    request_headers=("If-None-Match",),
    response_headers=ETAG_HEADER,
)
@require_session
def get_item(item_id: str) -> tuple[Response, int] | Response:
    """One item, with its ETag (If-None-Match with it gives 304)."""
    item = service.read_item(g.user_id, item_id)
    etag = service.etag(item)
    if request.if_none_match.contains_weak(etag.strip('"')):
        response = Response(status=304)
        response.headers["ETag"] = etag
        return response
    data = dump_item_data({"item": service.describe(item)})
    return _with_etag(envelope("History item", data), etag)


@bp.put("/<item_id>")
@responds(
    200, HistoryItemEnvelope, 412, request_headers=("If-Match",), response_headers=ETAG_HEADER
)
@require_session
@json_body(UpdateHistorySchema)
def update_item(item_id: str, body: dict[str, Any]) -> tuple[Response, int]:
    """Change any non-empty subset of title, language, transcript, summary, processingOptions.

    With If-Match, only when it names the item's current ETag; otherwise 412 and nothing changes.
    The answer carries the new ETag.
    """
    if_match = request.headers.get("If-Match")
    item = service.update_item(g.user, item_id, body, if_match)
    data = item_data.dump({"item": service.describe(item)})
    return _with_etag(envelope("History item updated", data), item.etag)


@bp.delete("/<item_id>")
@responds(200, EmptyEnvelope)
@require_session
def delete_item(item_id: str) -> tuple[Response, int]:
    """Delete one item."""
    service.delete_item(g.user, item_id)
    return envelope("History item deleted", {})


@bp.get("/<item_id>/export")
@responds(
    200,
    Download(EXPORT_TYPES),
    (409, ErrorSchema, NO_SEGMENTS + " (srt and vtt)"),
)
@require_session
@query_args(ExportQuery)
def export_item(item_id: str, query: dict[str, Any]) -> Response:
    """The item as a file to download: txt, md, json, srt or vtt (not an envelope).

    Content-Disposition is an attachment with a file name made safe from the title (filename*
    for non-ASCII titles). srt and vtt need timed segments: without them, 409.
    """
    item = service.read_item(g.user_id, item_id)
    fmt = query["format"]
    dumped = dump_item(service.describe(item))
    try:
        content, content_type = exports.render_export(dumped, fmt)
    except exports.NoTimedSegments:
        raise Conflict(NO_SEGMENTS) from None
    response = Response(content, status=200, content_type=content_type)
    response.headers["Content-Disposition"] = exports.content_disposition(item.title, fmt)
    return response
