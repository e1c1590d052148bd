"""The Flask class of the app: routing that never redirects, a bodiless answer to OPTIONS, and
JSON written by orjson (see :mod:`audiotricks.fast_json`).

- No slash merging: Werkzeug answered ``/api/v1//auth/me`` with a 308 whose ``Location`` it built
  from the request's ``Host`` header (``Host: evil.example`` sent the client to evil.example).
  Such a path is now a plain JSON 404, like any other unknown path. Slashes stay strict, and no
  route ends in a slash ("Paths have no trailing slash"), so ``/api/v1/settings/`` is a 404 too:
  the app has no redirect left at all.
- ``OPTIONS`` on a route (outside a CORS preflight, which Flask-CORS completes) is
  ``204 No Content`` with ``Allow``, not an empty ``200 text/html``.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

from flask import Flask, Response
from werkzeug.routing import Map

from audiotricks.fast_json import FastJSONProvider


class StrictMap(Map):
    """Werkzeug's URL map with slash merging off (it is on by default)."""

    def __init__(self, *args: Any, **kwargs: Any):
        kwargs["merge_slashes"] = False
        kwargs["strict_slashes"] = True
        super().__init__(*args, **kwargs)


@functools.lru_cache(maxsize=1024)  # the app's views and hooks: a fixed, small set
def _is_coroutine_function(func: Callable[..., Any]) -> bool:
    return inspect.iscoroutinefunction(func)


class AudioTricksFlask(Flask):
    url_map_class = StrictMap
    json_provider_class = FastJSONProvider

    def ensure_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        # Flask asks, for every hook and view of every request, whether it is a coroutine
        # function (a few µs each through inspect); the answer for a given function never changes.
        if _is_coroutine_function(func):
            return self.async_to_sync(func)
        return func

    def make_default_options_response(self) -> Response:
        allowed = super().make_default_options_response().allow
        response = self.response_class(status=204)
        response.allow.update(allowed)
        del response.headers["Content-Type"]  # no body, so no type
        return response
