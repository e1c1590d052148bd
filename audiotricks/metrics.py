"""Prometheus metrics: request counts and latency, logins, rate-limit hits; served at ``/metrics``.

``/metrics`` is off (404) unless ``METRICS_TOKEN`` is set; then it needs ``Authorization: Bearer
<METRICS_TOKEN>`` (401 otherwise). Under gunicorn every worker writes its counters to files in
``PROMETHEUS_MULTIPROC_DIR`` (gunicorn.conf.py sets it up) and a scrape adds them all up.
"""

from __future__ import annotations

import hmac
import time

from flask import Blueprint, Flask, Response, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)

from audiotricks.errors import NotFound, Unauthorized
from audiotricks.runtime import current_config

bp = Blueprint("metrics", __name__)
# The *_created series double the output and are absent in multiprocess mode anyway.
disable_created_metrics()

# Anything else a client sends as a method is one label value, so labels stay few.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

REQUESTS = Counter(
    "audiotricks_http_requests",
    "HTTP requests answered, by endpoint, method and status.",
    ["endpoint", "method", "status"],
)
LATENCY = Histogram(
    "audiotricks_http_request_duration_seconds",
    "Time from the first request hook to the response, by endpoint and method.",
    ["endpoint", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
LOGINS = Counter(
    "audiotricks_logins",
    "Login attempts by outcome: success, or failure (wrong credentials or deactivated account).",
    ["outcome"],
)
RATE_LIMITED = Counter(
    "audiotricks_rate_limited",
    "Requests refused with 429 Too Many Requests, by endpoint.",
    ["endpoint"],
)
LOGIN_ENDPOINT = "api.auth.login"


def _start_timer() -> None:
    g.metrics_started = time.perf_counter()


# (endpoint, method, status) -> its request counter and latency histogram. labels() takes a lock
# and builds its key on every call; the label sets are few (endpoints, known methods, statuses).
_series: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}


def _request_series(endpoint: str, method: str, status: int) -> tuple[Counter, Histogram]:
    key = (endpoint, method, status)
    series = _series.get(key)
    if series is None:
        series = _series[key] = (
            REQUESTS.labels(endpoint, method, str(status)),
            LATENCY.labels(endpoint, method),
        )
    return series


def _record(response: Response) -> Response:
    # Unmatched URLs share one label: a client cannot create a time series per random path.
    endpoint = request.endpoint or "unmatched"
    method = request.method if request.method in KNOWN_METHODS else "other"
    status = response.status_code
    requests, latency = _request_series(endpoint, method, status)
    requests.inc()
    started = g.get("metrics_started")
    if started is not None:
        latency.observe(time.perf_counter() - started)
    if status == 429:
        RATE_LIMITED.labels(endpoint).inc()
    elif endpoint == LOGIN_ENDPOINT:
        if status == 200:
            LOGINS.labels("success").inc()
        elif status in (401, 403):
            LOGINS.labels("failure").inc()
    return response


@bp.get("/metrics")
def metrics() -> Response:
    """Prometheus text format; only for a scraper holding METRICS_TOKEN."""
    config = current_config()
    if not config.metrics_token:
        raise NotFound()
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        token.strip().encode(), config.metrics_token.encode()
    ):
        raise Unauthorized("Authentication required")
    if config.prometheus_multiproc_dir:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=config.prometheus_multiproc_dir)
    else:
        registry = REGISTRY
    return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)


def init_metrics(app: Flask) -> None:
    """Count every request; register early, so the count sees the final status."""
    app.before_request(_start_timer)
    app.after_request(_record)
    app.register_blueprint(bp)
