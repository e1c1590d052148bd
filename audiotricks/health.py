"""Liveness and readiness: ``/health`` and ``/health/ready``."""

from __future__ import annotations

import logging
from collections.abc import Callable

from flask import Blueprint, Response, jsonify
from marshmallow import fields
from sqlalchemy import text

from audiotricks.extensions import db
from audiotricks.http import responds
from audiotricks.schemas.base import BaseSchema

log = logging.getLogger(__name__)
bp = Blueprint("health", __name__)


class HealthSchema(BaseSchema):
    status = fields.String(required=True, metadata={"enum": ["ok"]})


class ReadinessSchema(BaseSchema):
    status = fields.String(required=True, metadata={"enum": ["ok", "unavailable"]})
    checks = fields.Dict(
        keys=fields.String(),
        values=fields.String(metadata={"enum": ["ok", "unavailable"]}),
        required=True,
    )


def check_database() -> None:
    db.session.execute(text("SELECT 1"))
    db.session.rollback()


# Name -> check; a check raises when its dependency is unusable.
READINESS_CHECKS: dict[str, Callable[[], None]] = {"database": check_database}


@bp.get("/health")
@responds(200, HealthSchema)
def health() -> Response:
    """Liveness: the process answers; touches nothing else."""
    return jsonify({"status": "ok"})


@bp.get("/health/ready")
@responds(200, ReadinessSchema, (503, ReadinessSchema))
def ready() -> tuple[Response, int]:
    """Readiness: every dependency answers; 503 names the ones that do not."""
    checks = {}
    for name, check in READINESS_CHECKS.items():
        try:
            check()
            checks[name] = "ok"
        except Exception as exc:  # any failure means "not ready"; the detail stays in the log
            log.warning("readiness check %s failed: %s", name, type(exc).__name__)
            checks[name] = "unavailable"
    healthy = all(state == "ok" for state in checks.values())
    body = {"status": "ok" if healthy else "unavailable", "checks": checks}
    return jsonify(body), 200 if healthy else 503
