"""The migrations build exactly the models' schema on both engines (``flask db check``)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Uuid, bindparam, inspect, select, text

from audiotricks.extensions import db
from audiotricks.models import HistoryItem, User, UtcDateTime, include_object, utcnow
from audiotricks.models.history import SEARCH_OBJECTS


def test_migrated_schema_has_no_drift(app):
    with app.app_context(), db.engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "include_object": include_object}
        )
        assert compare_metadata(context, db.metadata) == []


def _names(diff):
    """The object names in an autogenerate diff (nested lists for column/index changes)."""
    for entry in diff:
        if isinstance(entry, list):
            yield from _names(entry)
            continue
        for part in entry[1:]:
            name = getattr(part, "name", None)
            if isinstance(name, str):
                yield name


def test_only_the_search_objects_are_left_out_of_the_comparison(app):
    """Unfiltered, the comparison sees the search index and nothing else."""
    with app.app_context(), db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        diff = compare_metadata(context, db.metadata)
    names = set(_names(diff))
    assert names
    assert names <= SEARCH_OBJECTS


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
        for table in ("sessions", "user_settings", "history_items"):
            [fk] = inspector.get_foreign_keys(table)
            assert fk["referred_table"] == "users"
            assert fk["options"].get("ondelete") == "CASCADE"
        unique = {tuple(c["column_names"]) for c in inspector.get_unique_constraints("history_items")}
        assert ("user_id", "client_id") in unique
        indexes = {tuple(i["column_names"]) for i in inspector.get_indexes("history_items")}
        assert ("user_id", "created_at", "id") in indexes


def _search_objects(app):
    """The database-maintained search objects present, by engine."""
    with app.app_context():
        inspector = inspect(db.engine)
        if db.engine.dialect.name == "postgresql":
            columns = {c["name"] for c in inspector.get_columns("history_items")}
            found = {"search_vector"} & columns
            found |= {i["name"] for i in inspector.get_indexes("history_items")} & SEARCH_OBJECTS
            triggers = db.session.scalar(text(
                "SELECT count(*) FROM pg_trigger WHERE tgname = 'history_items_search_vector'"
            ))
        else:
            found = set(inspector.get_table_names()) & SEARCH_OBJECTS
            triggers = db.session.scalar(text(
                "SELECT count(*) FROM sqlite_master WHERE type = 'trigger'"
                " AND name LIKE 'history_items_search_%'"
            ))
        db.session.rollback()
        return found, triggers


def test_the_search_index_exists_on_each_engine(app):
    found, triggers = _search_objects(app)
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        assert found == {"search_vector", "ix_history_items_search_vector"}
        assert triggers == 1
    else:
        assert {"history_search", "history_search_keys"} <= found
        assert triggers == 3


def test_history_upgrade_keeps_existing_data_and_downgrade_removes_it_cleanly(app):
    """From the previous release's schema (0001) with a user in it, up and down again."""
    from flask_migrate import downgrade, upgrade

    user_id = uuid.uuid4()
    with app.app_context():
        downgrade(revision="0001_initial")
        assert "history_items" not in inspect(db.engine).get_table_names()
        db.session.execute(
            text(
                "INSERT INTO users (id, email, username, username_key, password_hash, is_active,"
                " created_at, updated_at) VALUES (:id, 'old@example.com', 'Old', 'old', 'x',"
                " :yes, :now, :now)"
            ).bindparams(bindparam("id", type_=Uuid()), bindparam("now", type_=UtcDateTime())),
            {"id": user_id, "now": utcnow(), "yes": True},
        )
        db.session.commit()

        upgrade()
        assert db.session.scalar(select(User.email).where(User.id == user_id)) == "old@example.com"
        db.session.add(HistoryItem(user_id=user_id, title="t", transcript_text="kept words"))
        db.session.commit()
        db.session.remove()

    found, _ = _search_objects(app)
    assert found
    with app.app_context():
        downgrade(revision="0001_initial")
        assert "history_items" not in inspect(db.engine).get_table_names()
        assert db.session.scalar(select(User.email).where(User.id == user_id)) == "old@example.com"
        db.session.remove()
    assert _search_objects_absent(app)
    with app.app_context():
        upgrade()


def _search_objects_absent(app):
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            left = db.session.scalar(text(
                "SELECT count(*) FROM pg_proc WHERE proname = 'history_items_search_vector'"
            ))
        else:
            left = db.session.scalar(text(
                "SELECT count(*) FROM sqlite_master WHERE name LIKE 'history_search%'"
                " OR name LIKE 'history_items_search_%'"
            ))
        db.session.rollback()
        return left == 0


@pytest.mark.parametrize("table", ["users", "sessions", "user_settings", "history_items"])
def test_downgrade_then_upgrade_round_trips(app, table):
    from flask_migrate import downgrade, upgrade

    with app.app_context():
        downgrade(revision="base")
        assert table not in inspect(db.engine).get_table_names()
        upgrade()
        assert table in inspect(db.engine).get_table_names()
