"""The migrations build exactly the models' schema on both engines (``flask db check``), and
upgrade a database of the previous release without losing data."""

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
from audiotricks.models import (
    EmailToken,
    HistoryItem,
    User,
    UtcDateTime,
    include_object,
    utcnow,
)
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
        token_unique = {
            tuple(c["column_names"]) for c in inspector.get_unique_constraints("email_tokens")
        }
        assert ("token_hash",) in token_unique
        indexes = {tuple(i["column_names"]) for i in inspector.get_indexes("sessions")}
        assert {("user_id",), ("expires_at",)} <= indexes
        for table in ("sessions", "user_settings", "history_items", "email_tokens"):
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
    """From the previous release's schema (0002) with a user in it, up and down again."""
    from flask_migrate import downgrade, upgrade

    user_id = uuid.uuid4()
    with app.app_context():
        downgrade(revision="0002_credentials_and_emails")
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
        downgrade(revision="0002_credentials_and_emails")
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


@pytest.mark.parametrize(
    "table", ["users", "sessions", "user_settings", "history_items", "email_tokens"]
)
def test_downgrade_then_upgrade_round_trips(app, table):
    from flask_migrate import downgrade, upgrade

    with app.app_context():
        downgrade(revision="base")
        assert table not in inspect(db.engine).get_table_names()
        upgrade()
        assert table in inspect(db.engine).get_table_names()


def test_0005_leaves_existing_addresses_unverified_and_downgrades_cleanly(app):
    """From 0004 with a user in it: the user is kept, unverified; down again drops only mail."""
    from flask_migrate import downgrade, upgrade

    user_id = uuid.uuid4()
    with app.app_context():
        downgrade(revision="0004_jobs")
        assert "email_tokens" not in inspect(db.engine).get_table_names()
        db.session.execute(
            text(
                "INSERT INTO users (id, email, username, username_key, password_hash, is_active,"
                " credentials_version, created_at, updated_at)"
                " VALUES (:id, 'old@example.com', 'Old', 'old', 'x', :yes, 0, :now, :now)"
            ).bindparams(bindparam("id", type_=Uuid()), bindparam("now", type_=UtcDateTime())),
            {"id": user_id, "now": utcnow(), "yes": True},
        )
        db.session.commit()

        upgrade()
        assert db.session.scalar(select(User.email_verified).where(User.id == user_id)) is False
        db.session.add(
            EmailToken(
                user_id=user_id, purpose="verify", token_hash="0" * 64, email="old@example.com",
                credentials_version=0, expires_at=utcnow(),
            )
        )
        db.session.commit()

        downgrade(revision="0004_jobs")
        inspector = inspect(db.engine)
        assert "email_tokens" not in inspector.get_table_names()
        assert "email_verified" not in {c["name"] for c in inspector.get_columns("users")}
        kept = db.session.execute(text("SELECT email FROM users")).scalars().all()
        assert kept == ["old@example.com"]
        db.session.commit()
        upgrade()


def test_0007_computes_the_preview_of_existing_items_and_keeps_it_current(app):
    """Items written under 0006 get their preview on upgrade; a transcript rewritten later
    rewrites it; down again drops only the column."""
    from flask_migrate import downgrade, upgrade

    user_id, item_id = uuid.uuid4(), uuid.uuid4()
    transcript = "é" + "word " * 200  # longer than the preview, not only ASCII
    with app.app_context():
        downgrade(revision="0006_voices")
        assert "preview" not in {c["name"] for c in inspect(db.engine).get_columns("history_items")}
        db.session.add(User(id=user_id, email="p@example.com", username="P", username_key="p",
                            password_hash="x"))
        db.session.flush()
        db.session.execute(
            text(
                "INSERT INTO history_items (id, user_id, title, word_count, transcript_text,"
                " segments, processing_options, created_at, updated_at, revision)"
                " VALUES (:id, :user_id, 't', 200, :text, '[]', '{}', :now, :now, 1)"
            ).bindparams(bindparam("id", type_=Uuid()), bindparam("user_id", type_=Uuid()),
                         bindparam("now", type_=UtcDateTime())),
            {"id": item_id, "user_id": user_id, "text": transcript, "now": utcnow()},
        )
        db.session.commit()

        upgrade()
        preview = select(HistoryItem.preview).where(HistoryItem.id == item_id)
        assert db.session.scalar(preview) == transcript[:400]
        db.session.execute(
            text("UPDATE history_items SET transcript_text = 'new words' WHERE id = :id")
            .bindparams(bindparam("id", type_=Uuid())), {"id": item_id},
        )
        db.session.commit()
        assert db.session.scalar(preview) == "new words"
        db.session.rollback()  # its read lock would hold up the downgrade's ALTER TABLE

        downgrade(revision="0006_voices")
        assert "preview" not in {c["name"] for c in inspect(db.engine).get_columns("history_items")}
        kept = db.session.execute(text("SELECT transcript_text FROM history_items")).scalars()
        assert kept.all() == ["new words"]
        db.session.commit()
        upgrade()


# --- 0002: credentials versions and normalised emails, on a database of the previous release ---

NFD_JOSE = "jose\u0301@example.com"  # "josé" with a combining accent
NFC_ZOE, NFD_ZOE = "zo\u00e9@example.com", "zoe\u0301@example.com"  # a pair that collides
LONG_LOCAL = "a" * 65 + "@example.com"  # accepted before the 64-character limit
# Stored email before the upgrade -> after it.
PREVIOUS_RELEASE_EMAILS = {
    NFD_JOSE: "jos\u00e9@example.com",
    "a@xn--bcher-kva.de": "a@b\u00fccher.de",
    "c@\uff45\uff58\uff41\uff4d\uff50\uff4c\uff45.org": "c@example.org",  # full-width domain
    NFC_ZOE: NFC_ZOE,  # already normalised
    NFD_ZOE: NFD_ZOE,  # its normalised form is the row above's: left as it is
    LONG_LOCAL: LONG_LOCAL,  # not valid today: left as it is
    "bob@example.com": "bob@example.com",
}


@pytest.fixture
def previous_release_url(engine: str, tmp_path, postgres_url_or_none):
    """An empty database of the engine under test, not migrated."""
    if engine == "sqlite":
        yield f"sqlite:///{tmp_path / 'previous.db'}"
        return
    from tests import services

    if postgres_url_or_none is None:
        services.unavailable("no PostgreSQL (set TEST_DATABASE_URL or install PostgreSQL)")
    with services.scratch_database(postgres_url_or_none) as url:
        yield url


@pytest.fixture
def postgres_url_or_none(engine: str, request: pytest.FixtureRequest):
    return request.getfixturevalue("postgres_url") if engine == "postgresql" else None


def _seed_previous_release(app) -> dict[str, dict]:
    """Users (one session each) written with the 0001 schema, as the previous release did."""
    from datetime import timedelta

    import sqlalchemy as sa

    from audiotricks.models import utcnow
    from audiotricks.security.passwords import hash_password
    from audiotricks.security.tokens import issue_token, token_hash
    from tests.conftest import TEST_JWT_SECRET

    users = sa.table(*_columns("users", "id email username username_key password_hash "
                                        "is_active created_at updated_at"))
    sessions = sa.table(*_columns("sessions", "id user_id token_hash created_at expires_at "
                                              "last_used_at"))
    now, seeded = utcnow(), {}
    with app.app_context(), db.engine.begin() as connection:
        for number, email in enumerate(PREVIOUS_RELEASE_EMAILS):
            user_id, session_id = uuid.uuid4(), uuid.uuid4()
            password = f"Previous-Release-{number}"
            connection.execute(users.insert().values(
                id=user_id, email=email, username=f"user{number}", username_key=f"user{number}",
                password_hash=hash_password(password, 4), is_active=True,
                created_at=now, updated_at=now,
            ))
            token, expires_at = issue_token(user_id, session_id, TEST_JWT_SECRET, 3600, now)
            connection.execute(sessions.insert().values(
                id=session_id, user_id=user_id, token_hash=token_hash(token), created_at=now,
                expires_at=expires_at, last_used_at=now - timedelta(hours=1),
            ))
            seeded[email] = {"id": str(user_id), "password": password, "token": token}
    return seeded


def _columns(table: str, names: str) -> list:
    import sqlalchemy as sa

    from audiotricks.models import UtcDateTime

    types = {"id": sa.Uuid(), "user_id": sa.Uuid(), "is_active": sa.Boolean()}
    stamps = {"created_at", "updated_at", "expires_at", "last_used_at"}
    return [table] + [
        sa.column(name, UtcDateTime() if name in stamps else types.get(name, sa.String()))
        for name in names.split()
    ]


def _rows(app) -> tuple[dict[str, str], int]:
    from sqlalchemy import text

    with app.app_context(), db.engine.connect() as connection:
        rows = connection.execute(text("SELECT id, email FROM users"))
        emails = {str(uuid.UUID(str(user_id))): email for user_id, email in rows}
        sessions = connection.execute(text("SELECT count(*) FROM sessions")).scalar_one()
    return emails, sessions


def _assert_no_drift(app) -> None:
    with app.app_context(), db.engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "include_object": include_object}
        )
        assert compare_metadata(context, db.metadata) == []


def test_0002_upgrades_a_previous_release_database_without_loss(previous_release_url):
    from flask_migrate import downgrade, upgrade

    from audiotricks import create_app
    from tests.conftest import dispose_engines, make_config

    app = create_app(make_config(previous_release_url))
    try:
        with app.app_context():
            upgrade(revision="0001_initial")
        seeded = _seed_previous_release(app)
        with app.app_context():
            upgrade()
        _assert_no_drift(app)

        emails, sessions = _rows(app)
        assert sessions == len(seeded)
        assert emails == {seeded[old]["id"]: new for old, new in PREVIOUS_RELEASE_EMAILS.items()}
        with app.app_context():
            versions = db.session.execute(
                text("SELECT credentials_version FROM users UNION ALL "
                     "SELECT credentials_version FROM sessions")
            ).scalars().all()
        assert versions == [0] * (2 * len(seeded))

        client = app.test_client()
        for old, user in seeded.items():
            # A token of the previous release keeps working after the upgrade.
            headers = {"Authorization": f"Bearer {user['token']}"}
            me = client.get("/api/v1/auth/me", headers=headers)
            assert me.status_code == 200, old
            assert me.get_json()["data"]["user"]["email"] == PREVIOUS_RELEASE_EMAILS[old]
            # Every account logs in with the spelling it registered with...
            body = {"email": old, "password": user["password"]}
            login = client.post("/api/v1/auth/login", json=body)
            assert login.status_code == 200, old
            assert login.get_json()["data"]["user"]["id"] == user["id"]
        # ...and a normalised one with any equivalent spelling.
        for spelling in ("jos\u00e9@example.com", "JOSE\u0301@Example.COM"):
            login = client.post(
                "/api/v1/auth/login",
                json={"email": spelling, "password": seeded[NFD_JOSE]["password"]},
            )
            assert login.get_json()["data"]["user"]["id"] == seeded[NFD_JOSE]["id"]
        idn = seeded["a@xn--bcher-kva.de"]
        login = client.post(
            "/api/v1/auth/login", json={"email": "a@B\u00dcCHER.de", "password": idn["password"]}
        )
        assert login.get_json()["data"]["user"]["id"] == idn["id"]

        # Downgrade keeps every row (emails stay normalised); upgrading again changes nothing.
        before = _rows(app)
        assert before[1] > sessions  # the logins above added theirs
        with app.app_context():
            downgrade(revision="0001_initial")
            columns = {c["name"] for c in inspect(db.engine).get_columns("users")}
        assert "credentials_version" not in columns
        assert _rows(app) == before
        with app.app_context():
            upgrade()
        _assert_no_drift(app)
        assert _rows(app) == before
    finally:
        dispose_engines(app)
