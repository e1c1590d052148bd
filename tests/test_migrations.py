"""The migrations build exactly the models' schema on both engines (``flask db check``)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from audiotricks.extensions import db


def test_migrated_schema_has_no_drift(app):
    with app.app_context(), db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, db.metadata) == []


def test_flask_db_check_reports_no_drift(app):
    """The operator's own command, run as a process against the migrated database."""
    env = {**os.environ, "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"], "APP_ENV": "test"}
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "audiotricks:create_app", "db", "check"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert "No new upgrade operations detected" in result.stdout


def test_constraints_and_indexes_of_the_design(app):
    with app.app_context():
        inspector = inspect(db.engine)
        unique = {tuple(c["column_names"]) for c in inspector.get_unique_constraints("users")}
        assert {("email",), ("username_key",)} <= unique
        indexes = {tuple(i["column_names"]) for i in inspector.get_indexes("sessions")}
        assert {("user_id",), ("expires_at",)} <= indexes
        for table in ("sessions", "user_settings"):
            [fk] = inspector.get_foreign_keys(table)
            assert fk["referred_table"] == "users"
            assert fk["options"].get("ondelete") == "CASCADE"


@pytest.mark.parametrize("table", ["users", "sessions", "user_settings"])
def test_downgrade_then_upgrade_round_trips(app, table):
    from flask_migrate import downgrade, upgrade

    with app.app_context():
        downgrade(revision="base")
        assert table not in inspect(db.engine).get_table_names()
        upgrade()
        assert table in inspect(db.engine).get_table_names()
