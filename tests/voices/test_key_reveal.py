"""API_KEY_REVEAL=false: GET /settings/api-keys/<provider> is a 403, and no answer of any endpoint
carries a stored key."""

from __future__ import annotations

import re

import pytest

from tests.voices.conftest import API, bearer, put_key

ITEM = {"title": "Weekly sync", "transcript": {"text": "Hello there. The budget."},
        "summary": {"text": "A sync about the budget."}}


@pytest.fixture
def config_overrides(provider_settings):
    return {**provider_settings, "api_key_reveal": False}


@pytest.mark.parametrize("provider", ["openai", "elevenlabs"])
def test_reading_a_key_is_forbidden_stored_or_not(client, auth, eleven, openai_standin, provider):
    token = auth.signup()
    response = client.get(f"{API}/settings/api-keys/{provider}", headers=bearer(token))
    assert response.status_code == 403
    assert response.get_json() == {"error": "Key reveal is disabled"}
    key = eleven.key if provider == "elevenlabs" else openai_standin.key
    put_key(client, token, provider, key)
    response = client.get(f"{API}/settings/api-keys/{provider}", headers=bearer(token))
    assert response.status_code == 403
    assert key not in response.get_data(as_text=True)


def test_the_default_still_reveals(app, client, auth, eleven):
    assert app.extensions["audiotricks.config"].api_key_reveal is False
    from audiotricks.config import Config

    assert Config.from_env({}, instance_path="/nonexistent").api_key_reveal is True
    assert Config.from_env({"API_KEY_REVEAL": "false"}, instance_path="/x").api_key_reveal is False


def text_of(response) -> str:
    """The body as text; the response closed (a file answer holds its file open until then)."""
    try:
        return str(response.get_data(as_text=True))
    finally:
        response.close()


def _fill(rule: str, values: dict[str, str]) -> str:
    other = "00000000-0000-4000-8000-000000000000"  # any other id: a 404 is an answer too
    return re.sub(r"<(?:[a-z]+:)?(\w+)>", lambda m: values.get(m.group(1), other), rule)


def test_no_answer_of_any_endpoint_contains_a_key(app, client, auth, eleven, openai_standin):
    token = auth.signup()
    keys = [eleven.key, openai_standin.key]
    answers = [put_key(client, token, "elevenlabs", eleven.key),
               put_key(client, token, "openai", openai_standin.key)]
    created = client.post(f"{API}/history", json=ITEM, headers=bearer(token))
    item_id = created.get_json()["data"]["item"]["id"]
    job = client.post(
        f"{API}/jobs/speech",
        json={"historyId": item_id, "voiceId": "21m00Tcm4TlvDq8ikWAM", "source": "summary"},
        headers=bearer(token),
    )
    bodies = [str(answers), created.get_data(as_text=True), job.get_data(as_text=True)]
    values = {"item_id": item_id, "job_id": job.get_json()["data"]["job"]["id"]}
    called = set()
    for rule in app.url_map.iter_rules():
        # Streams stay open until their job ends; their events are Job objects, shown above.
        if not rule.rule.startswith(API) or "docs/assets" in rule.rule or "events" in rule.rule:
            continue
        methods = rule.methods or set()
        for provider in ("openai", "elevenlabs"):
            path = _fill(rule.rule, {**values, "provider": provider})
            if "GET" in methods:
                bodies.append(text_of(client.get(path, headers=bearer(token))))
                called.add(rule.rule)
            if rule.rule.endswith("/verify"):
                bodies.append(client.post(path, headers=bearer(token)).get_data(as_text=True))
                called.add(rule.rule)
    assert {f"{API}/voices", f"{API}/settings", f"{API}/settings/api-keys",
            f"{API}/settings/api-keys/<provider:provider>", f"{API}/jobs",
            f"{API}/history/<item_id>", f"{API}/openapi.json"} <= called
    everything = "\n".join(bodies)
    for key in keys:
        assert key not in everything
        assert key[-12:] not in everything
