"""0006_voices: the key-check columns go on and off again without touching the stored keys, on
both engines."""

from __future__ import annotations

from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect, text

from audiotricks.extensions import db
from tests.settings.helpers import elevenlabs_key
from tests.voices.conftest import API, bearer, put_key

COLUMNS = {"openai_key_valid", "openai_key_checked_at", "elevenlabs_key_valid",
           "elevenlabs_key_checked_at"}


def columns(app):
    with app.app_context():
        found = {c["name"] for c in inspect(db.engine).get_columns("user_settings")}
        db.session.remove()
        return found


def test_0006_round_trips_and_keeps_the_stored_keys(app, client, auth):
    token = auth.signup()
    key = elevenlabs_key()
    put_key(client, token, "elevenlabs", key)
    assert columns(app) >= COLUMNS

    with app.app_context():
        downgrade(revision="0004_jobs")
        db.session.remove()
    assert not COLUMNS & columns(app)
    with app.app_context():
        stored = db.session.execute(
            text("SELECT elevenlabs_key_last4 FROM user_settings")
        ).scalar_one()
        db.session.remove()
    assert stored == key[-4:]

    with app.app_context():
        upgrade()
        db.session.remove()
    assert columns(app) >= COLUMNS
    status = client.get(f"{API}/settings/api-keys", headers=bearer(token)).get_json()
    assert status["data"]["apiKeys"]["elevenlabs"]["last4"] == key[-4:]
    assert status["data"]["apiKeys"]["elevenlabs"]["valid"] is None
    revealed = client.get(f"{API}/settings/api-keys/elevenlabs", headers=bearer(token))
    assert revealed.get_json()["data"]["apiKey"] == key
