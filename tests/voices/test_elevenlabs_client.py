"""The ElevenLabs client over real HTTP against the stand-in: what it sends, what it reads, how
it maps and retries failures. No database: these run once."""

from __future__ import annotations

import logging
import os

import av
import pytest

from audiotricks.providers.elevenlabs import TEXT_MAX_CHARS, ElevenLabsClient
from audiotricks.providers.retry import Canceled, ProviderError


class FakeClock:
    """Collects the waits instead of sleeping them."""

    def __init__(self) -> None:
        self.waited: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waited.append(seconds)


def client_for(server, key=None, **options):
    return ElevenLabsClient(key or server.key, base_url=server.base_url, **options)


def test_voices_are_read_with_the_key_in_its_header(eleven):
    with client_for(eleven) as client:
        voices = client.voices()
    assert [voice.voice_id for voice in voices] == [v["voice_id"] for v in eleven.voices]
    assert voices[0].name == "Rachel" and voices[0].category == "premade"
    assert voices[0].preview_url.startswith("https://")
    assert voices[2].preview_url is None
    [request] = eleven.requests_to("voices")
    assert request.key_matched


def test_voices_without_id_or_name_or_with_odd_links_are_dropped_or_cleaned(eleven):
    eleven.voices = [
        {"voice_id": "", "name": "No id"},
        {"voice_id": "x" * 65, "name": "Too long an id"},
        {"voice_id": "ok1", "name": None},
        {"voice_id": "ok2", "name": "Fine", "preview_url": "javascript:alert(1)", "category": 7},
        "not an object",
    ]
    with client_for(eleven) as client:
        [voice] = client.voices()
    assert (voice.voice_id, voice.name, voice.category, voice.preview_url) == (
        "ok2", "Fine", None, None,
    )


def test_speech_is_real_mp3_written_to_the_file(eleven, tmp_path):
    path = str(tmp_path / "part.mp3")
    with client_for(eleven, model="eleven_turbo_v2_5") as client:
        size = client.speak("Hello there. " * 20, "21m00Tcm4TlvDq8ikWAM", path)
    assert size == os.path.getsize(path) > 0
    with av.open(path) as container:
        assert container.streams.audio[0].codec_context.name.startswith("mp3")
    [request] = eleven.requests_to("speech")
    assert request.path == "/v1/text-to-speech/21m00Tcm4TlvDq8ikWAM"
    assert request.query == {"output_format": "mp3_44100_128"}
    assert request.json == {"text": "Hello there. " * 20, "model_id": "eleven_turbo_v2_5"}


def test_text_beyond_one_request_is_refused_before_sending(eleven, tmp_path):
    with client_for(eleven) as client, pytest.raises(ValueError):
        client.speak("a" * (TEXT_MAX_CHARS + 1), "21m00Tcm4TlvDq8ikWAM", str(tmp_path / "x.mp3"))
    assert eleven.requests_to("speech") == []


def test_a_wrong_key_is_provider_key_invalid_at_once(eleven):
    wrong = client_for(eleven, key="wrong-key-0123456789abcdef")
    with wrong as client, pytest.raises(ProviderError) as caught:
        client.read_user()
    assert caught.value.code == "provider_key_invalid"
    assert len(eleven.requests_to("user")) == 1


def test_quota_exceeded_is_provider_quota_not_a_bad_key(eleven, tmp_path):
    eleven.fail("speech", "quota")
    with client_for(eleven) as client, pytest.raises(ProviderError) as caught:
        client.speak("Hello.", "21m00Tcm4TlvDq8ikWAM", str(tmp_path / "x.mp3"))
    assert caught.value.code == "provider_quota"
    assert "credits" not in caught.value.message  # our sentence, not the provider's


def test_an_unknown_voice_is_a_final_refusal(eleven, tmp_path):
    with client_for(eleven) as client, pytest.raises(ProviderError) as caught:
        client.speak("Hello.", "nope", str(tmp_path / "x.mp3"))
    assert (caught.value.code, caught.value.status) == ("provider_unavailable", 404)
    assert len(eleven.requests_to("speech")) == 1


def test_a_429_is_retried_after_exactly_its_retry_after(eleven, tmp_path):
    eleven.fail("speech", "429", seconds=7)
    clock = FakeClock()
    with client_for(eleven, sleep=clock) as client:
        client.speak("Hello.", "21m00Tcm4TlvDq8ikWAM", str(tmp_path / "x.mp3"))
    assert sum(clock.waited) == pytest.approx(7)
    assert len(eleven.requests_to("speech")) == 2


def test_5xx_is_retried_until_the_budget_is_spent(eleven):
    eleven.fail("voices", "500", times=50)
    clock = FakeClock()
    with client_for(eleven, sleep=clock, retry_seconds=20) as client, pytest.raises(
        ProviderError
    ) as caught:
        client.voices()
    assert caught.value.code == "provider_unavailable"
    assert sum(clock.waited) <= 20
    assert len(eleven.requests_to("voices")) >= 3


def test_an_answer_that_is_not_mp3_is_retried_then_given_up(eleven, tmp_path):
    eleven.fail("speech", "malformed", times=3)
    with client_for(eleven, sleep=FakeClock()) as client, pytest.raises(ProviderError) as caught:
        client.speak("Hello.", "21m00Tcm4TlvDq8ikWAM", str(tmp_path / "x.mp3"))
    assert caught.value.code == "provider_unavailable"
    assert not os.path.exists(tmp_path / "x.mp3")


def test_a_timeout_is_retried(eleven):
    eleven.fail("user", "slow", seconds=2)
    with client_for(eleven, timeout=0.5, sleep=FakeClock()) as client:
        client.read_user()
    assert len(eleven.requests_to("user")) == 2


def test_an_unreachable_server_is_provider_unavailable(tmp_path):
    client = ElevenLabsClient("k" * 32, base_url="http://127.0.0.1:9", retry_seconds=0)
    with client, pytest.raises(ProviderError) as caught:
        client.voices()
    assert caught.value.code == "provider_unavailable"


def test_a_cancel_during_a_wait_makes_no_further_call(eleven, tmp_path):
    eleven.fail("speech", "429", seconds=30)
    answers = iter([True, True, False])
    clock = FakeClock()
    canceling = client_for(eleven, sleep=clock, should_continue=lambda: next(answers, False))
    with canceling as client, pytest.raises(Canceled):
        client.speak("Hello.", "21m00Tcm4TlvDq8ikWAM", str(tmp_path / "x.mp3"))
    assert len(eleven.requests_to("speech")) == 1
    assert sum(clock.waited) <= 2


def test_the_key_is_in_no_log_line_nor_repr(eleven, caplog, tmp_path):
    caplog.set_level(logging.DEBUG)
    eleven.fail("speech", "500")
    with client_for(eleven, sleep=FakeClock()) as client:
        client.speak("Secret words.", "21m00Tcm4TlvDq8ikWAM", str(tmp_path / "x.mp3"))
        assert eleven.key not in repr(client)
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert eleven.key not in logged
    assert "Secret words" not in logged
    assert "elevenlabs speech succeeded on attempt 2" in logged
