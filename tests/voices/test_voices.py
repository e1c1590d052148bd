"""GET /voices: the user's ElevenLabs voices through the stored key, cached per user for 10
minutes (in process, or on Redis shared by instances), dropped when the key changes."""

from __future__ import annotations

import uuid

import pytest
import redis

from audiotricks import create_app
from tests import services
from tests.conftest import dispose_engines, make_config
from tests.settings.helpers import elevenlabs_key
from tests.voices.conftest import API, bearer, put_key


def voices(client, token):
    return client.get(f"{API}/voices", headers=bearer(token))


@pytest.fixture
def token(auth):
    return auth.signup()


def test_the_voices_come_from_elevenlabs_with_the_stored_key(client, token, eleven):
    put_key(client, token, "elevenlabs", eleven.key)

    response = voices(client, token)

    assert response.status_code == 200, response.get_json()
    listed = response.get_json()["data"]["voices"]
    assert listed[0] == {
        "voiceId": "21m00Tcm4TlvDq8ikWAM",
        "name": "Rachel",
        "category": "premade",
        "previewUrl": "https://storage.example/voices/21m00Tcm4TlvDq8ikWAM/preview.mp3",
    }
    assert [v["voiceId"] for v in listed] == [v["voice_id"] for v in eleven.voices]
    assert listed[2]["previewUrl"] is None
    [request] = eleven.requests_to("voices")
    assert request.key_matched


def test_the_list_is_cached_until_the_key_changes(client, token, eleven):
    put_key(client, token, "elevenlabs", eleven.key)
    first = voices(client, token).get_json()
    eleven.voices = eleven.voices[:1]
    assert voices(client, token).get_json() == first  # from the cache
    assert len(eleven.requests_to("voices")) == 1

    put_key(client, token, "elevenlabs", eleven.key)  # stored again: the list is dropped
    assert len(voices(client, token).get_json()["data"]["voices"]) == 1
    assert len(eleven.requests_to("voices")) == 2

    client.delete(f"{API}/settings/api-keys/elevenlabs", headers=bearer(token))
    assert voices(client, token).status_code == 409
    put_key(client, token, "elevenlabs", eleven.key)
    voices(client, token)
    assert len(eleven.requests_to("voices")) == 3


def test_each_user_has_their_own_list(client, auth, token, eleven):
    put_key(client, token, "elevenlabs", eleven.key)
    voices(client, token)
    other = auth.signup("bob@example.com", "bob")
    assert voices(client, other).status_code == 409  # no key: never alice's cached list
    put_key(client, other, "elevenlabs", elevenlabs_key())  # a key the provider rejects
    assert voices(client, other).status_code == 502


def test_no_key_is_a_409(client, token, eleven):
    response = voices(client, token)
    assert response.status_code == 409
    assert response.get_json() == {"error": "No ElevenLabs API key stored"}
    assert eleven.received == []


@pytest.mark.parametrize("kind", ["500", "429", "malformed"])
def test_a_failing_provider_is_a_502_and_not_cached(client, token, eleven, kind):
    put_key(client, token, "elevenlabs", eleven.key)
    eleven.fail("voices", kind, seconds=0)
    response = voices(client, token)
    assert response.status_code == 502
    assert response.get_json() == {"error": "Provider request failed"}
    assert voices(client, token).status_code == 200


def test_a_rejected_key_is_a_502_and_shown_invalid(client, token):
    put_key(client, token, "elevenlabs", elevenlabs_key())
    assert voices(client, token).status_code == 502
    statuses = client.get(f"{API}/settings/api-keys", headers=bearer(token)).get_json()
    assert statuses["data"]["apiKeys"]["elevenlabs"]["valid"] is False


@pytest.mark.parametrize("config_overrides", [{"elevenlabs_base_url": "http://127.0.0.1:9"}])
def test_an_unreachable_provider_is_a_502(client, token):
    put_key(client, token, "elevenlabs", elevenlabs_key())
    assert voices(client, token).status_code == 502


@pytest.fixture
def shared_cache(redis_url):
    if redis_url is None:
        services.unavailable("no Redis (set TEST_REDIS_URL or install redis-server)")
    yield redis_url
    connection = redis.Redis.from_url(redis_url)
    for key in connection.scan_iter("audiotricks:cache:voices:*"):
        connection.delete(key)
    connection.close()


def test_two_instances_on_redis_share_the_list_and_its_drop(
    database_url, provider_settings, shared_cache, eleven, tmp_path
):
    def instance(name):
        config = make_config(
            database_url,
            **provider_settings,
            cache_url=shared_cache,
            queue_url=f"sqlite:///{tmp_path}/{name}-queue.db",
        )
        return create_app(config)

    one, two = instance("one"), instance("two")
    try:
        first, second = one.test_client(), two.test_client()
        email = f"{uuid.uuid4().hex[:8]}@example.com"
        first.post(f"{API}/auth/register", json={
            "email": email, "username": email[:8], "password": "Correct-Horse-42"})
        token = first.post(f"{API}/auth/login", json={
            "email": email, "password": "Correct-Horse-42"}).get_json()["data"]["token"]
        put_key(first, token, "elevenlabs", eleven.key)

        listed = voices(first, token).get_json()
        assert voices(second, token).get_json() == listed  # served from the shared cache
        assert len(eleven.requests_to("voices")) == 1
        stored = redis.Redis.from_url(shared_cache).keys("audiotricks:cache:voices:*")
        assert len(stored) == 1
        value = redis.Redis.from_url(shared_cache).get(stored[0])
        assert value.startswith(b"{") and eleven.key.encode() not in stored[0] + value  # JSON

        eleven.voices = eleven.voices[:1]
        put_key(second, token, "elevenlabs", eleven.key)  # stored on the other instance
        assert len(voices(first, token).get_json()["data"]["voices"]) == 1
        assert len(eleven.requests_to("voices")) == 2
    finally:
        dispose_engines(one)
        dispose_engines(two)
