"""JSON written by orjson: every response body and every JSON log line.

The standard library's encoder is the costliest step of a large answer (an item with a 20 KB
transcript and its segments: about 1.3 ms, against 0.07 ms here). The output is Flask's own
(keys sorted, compact, a final newline, dates as HTTP dates, the same ``default`` for other
types), with two differences a JSON reader does not see: non-ASCII text is written as UTF-8
rather than ``\\u`` escapes, and a non-finite float is ``null`` rather than the invalid ``NaN``.
What orjson refuses (an integer beyond 64 bits, text with a lone surrogate) is written by the
standard library instead, exactly as before, so no value fails to serialise.
"""

from __future__ import annotations

import json
from typing import Any

import orjson
from flask import Response
from flask.json.provider import DefaultJSONProvider

# Datetimes and dataclasses go to Flask's default (HTTP dates, asdict), as with its own provider.
_OPTIONS = (
    orjson.OPT_SORT_KEYS
    | orjson.OPT_NON_STR_KEYS
    | orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
)


class FastJSONProvider(DefaultJSONProvider):
    """Flask's JSON provider, encoding with orjson (reading is left to the standard library,
    whose hooks the strict request parser uses)."""

    def encode(self, obj: Any, *, indent: bool = False) -> bytes:
        options = _OPTIONS | orjson.OPT_INDENT_2 if indent else _OPTIONS
        try:
            return orjson.dumps(obj, default=self.default, option=options)
        except orjson.JSONEncodeError:
            layout: dict[str, Any] = {"indent": 2} if indent else {"separators": (",", ":")}
            return super().dumps(obj, **layout).encode("utf-8")

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        if kwargs:  # options orjson does not have (separators, ensure_ascii, ...)
            return super().dumps(obj, **kwargs)
        return self.encode(obj).decode("utf-8")

    def response(self, *args: Any, **kwargs: Any) -> Response:
        obj = self._prepare_response_obj(args, kwargs)
        # Indented in debug mode only, as Flask does.
        pretty = self.compact is False or (self.compact is None and self._app.debug)
        body = self.encode(obj, indent=pretty) + b"\n"
        # _app is typed as Flask's sans-IO base, whose response class takes no body.
        return self._app.response_class(body, mimetype=self.mimetype)  # type: ignore[return-value,arg-type]


# Other objects of a log record, datetimes and dataclasses included, are written by their text.
_LINE_OPTIONS = (
    orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
)


def dumps_line(entry: dict[str, Any]) -> str:
    """One log record as a JSON line: other objects by their text, non-ASCII as UTF-8."""
    try:
        return orjson.dumps(entry, default=str, option=_LINE_OPTIONS).decode("utf-8")
    except orjson.JSONEncodeError:
        # Escaped to ASCII, so a lone surrogate cannot fail the write either.
        return json.dumps(entry, default=str)
