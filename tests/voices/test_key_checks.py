"""POST /settings/api-keys/<provider>/verify, valid / checkedAt in KeyStatus, and jobs that
record a rejected key; against the stand-in providers, on both engines."""

from __future__ import annotations

import threading
import time

import pytest

from audiotricks.extensions import db
from audiotricks.models import UserSettings
from tests.settings.helpers import elevenlabs_key, openai_key
from tests.voices.conftest import API, bearer, put_key


@pytest.fixture
def token(auth):
    return auth.signup()


@pytest.fixture
def servers(eleven, openai_standin):
    return {"elevenlabs": eleven, "openai": openai_standin}


def verify(client, token, provider):
    return client.post(f"{API}/settings/api-keys/{provider}/verify", headers=bearer(token))


def statuses(client, token):
    return client.get(f"{API}/settings/api-keys", headers=bearer(token)).get_json()["data"]["apiKeys"]


@pytest.mark.parametrize("provider", ["openai", "elevenlabs"])
def test_a_working_key_is_verified_and_the_answer_kept(client, token, servers, provider):
    status = put_key(client, token, provider, servers[provider].key)
    assert (status["valid"], status["checkedAt"]) == (None, None)

    response = verify(client, token, provider)

    assert response.status_code == 200, response.get_json()
    data = response.get_json()["data"]
    assert data["provider"] == provider and data["valid"] is True and data["checkedAt"]
    kept = statuses(client, token)[provider]
    assert kept["valid"] is True and kept["checkedAt"] == data["checkedAt"]
    endpoint = "models" if provider == "openai" else "user"
    assert servers[provider].requests_to(endpoint)[-1] is not None
    assert all(r.key_matched if provider == "elevenlabs" else r.auth_matched
               for r in servers[provider].received)


@pytest.mark.parametrize("provider", ["openai", "elevenlabs"])
def test_a_rejected_key_is_valid_false_and_a_new_key_resets_it(client, token, provider):
    wrong = openai_key() if provider == "openai" else elevenlabs_key()
    put_key(client, token, provider, wrong)

    response = verify(client, token, provider)

    assert response.status_code == 200
    assert response.get_json()["data"]["valid"] is False
    assert statuses(client, token)[provider]["valid"] is False
    put_key(client, token, provider, openai_key() if provider == "openai" else elevenlabs_key())
    reset = statuses(client, token)[provider]
    assert (reset["valid"], reset["checkedAt"]) == (None, None)
    assert wrong not in response.get_data(as_text=True)


def test_no_key_is_a_404(client, token):
    response = verify(client, token, "elevenlabs")
    assert response.status_code == 404


@pytest.mark.parametrize("kind", ["500", "429"])
def test_a_failing_provider_is_a_502_and_nothing_is_recorded(client, token, eleven, kind):
    put_key(client, token, "elevenlabs", eleven.key)
    eleven.fail("user", kind, seconds=0)

    response = verify(client, token, "elevenlabs")

    assert response.status_code == 502
    assert response.get_json() == {"error": "Provider request failed"}
    assert statuses(client, token)["elevenlabs"]["valid"] is None


@pytest.mark.parametrize("config_overrides", [{"elevenlabs_base_url": "http://127.0.0.1:9"}])
def test_an_unreachable_provider_is_a_502(client, token):
    put_key(client, token, "elevenlabs", elevenlabs_key())
    response = verify(client, token, "elevenlabs")
    assert response.status_code == 502


def test_quota_exhausted_still_means_the_key_works(client, token, eleven):
    put_key(client, token, "elevenlabs", eleven.key)
    eleven.fail("user", "quota")
    response = verify(client, token, "elevenlabs")
    assert response.get_json()["data"]["valid"] is True


def test_a_check_racing_a_key_replacement_never_marks_the_new_key(app, client, token, eleven):
    """The provider is slow to answer about the old key; meanwhile a new key is stored. The
    old key's answer must not be shown as the new key's."""
    put_key(client, token, "elevenlabs", elevenlabs_key())  # the stand-in rejects this one
    eleven.fail("user", "slow", seconds=1.5)
    answers = {}

    def check():
        answers["verify"] = app.test_client().post(
            f"{API}/settings/api-keys/elevenlabs/verify", headers=bearer(token)
        )

    thread = threading.Thread(target=check)
    thread.start()
    deadline = time.monotonic() + 5
    while not eleven.requests_to("user") and time.monotonic() < deadline:
        time.sleep(0.01)
    put_key(client, token, "elevenlabs", eleven.key)  # the new, working key
    thread.join(10)

    assert answers["verify"].status_code == 409
    assert answers["verify"].get_json()["error"] == (
        "The API key changed while it was checked; check again"
    )
    status = statuses(client, token)["elevenlabs"]
    assert (status["valid"], status["checkedAt"]) == (None, None)
    with app.app_context():
        row = db.session.scalars(db.select(UserSettings)).one()
        assert row.elevenlabs_key_valid is None
        db.session.rollback()
