"""The OpenAI client against the stand-in server, over real HTTP on loopback."""

from __future__ import annotations

import json
import logging
import os
import time
import traceback

import pytest

from audiotricks.audio import split_for_upload
from audiotricks.models.settings import SUMMARY_QUALITIES
from audiotricks.providers.openai import (
    QUALITY_GUIDANCE,
    Canceled,
    OpenAIClient,
    ProviderError,
    Segment,
    join_transcriptions,
    transcript_with_times,
)
from tests.audio_files import make_audio
from tests.providers.conftest import KEY
from tests.providers.openai_standin import OpenAIStandIn


class FakeSleep:
    """Records the waits asked for instead of sleeping, so retry tests take no time."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)

    @property
    def total(self) -> float:
        return sum(self.waits)


def make_client(standin, key=KEY, **kwargs) -> OpenAIClient:
    kwargs.setdefault("timeout", 10.0)
    return OpenAIClient(key, base_url=standin.base_url, **kwargs)


@pytest.fixture
def wav(tmp_path):
    return make_audio(str(tmp_path / "talk.wav"), seconds=25, fmt="wav")


# Transcription


def test_transcription_has_text_language_duration_and_segments(standin, wav):
    with make_client(standin) as client:
        result = client.transcribe(wav, model="whisper-1", language="en")

    assert result.language == "en"  # the provider says "english"; we keep the ISO code
    assert result.duration == pytest.approx(25.0, abs=0.01)
    assert [(s.start, s.end) for s in result.segments] == [(0.0, 10.0), (10.0, 20.0), (20.0, 25.0)]
    assert result.segments[0].text == "segment 0.0-10.0 of 25.0"
    assert result.text.startswith("segment 0.0-10.0 of 25.0 segment 10.0-20.0")
    (request,) = standin.requests_to("transcriptions")
    assert request.auth_matched
    assert request.fields["model"] == ["whisper-1"]
    assert request.fields["response_format"] == ["verbose_json"]
    assert request.fields["timestamp_granularities[]"] == ["segment"]
    assert request.fields["language"] == ["en"]
    assert request.file_name == "talk.wav"
    assert request.file_size == os.path.getsize(wav)


def test_without_a_language_none_is_sent_and_the_detected_one_is_kept(standin, wav):
    result = make_client(standin).transcribe(wav, model="whisper-1", language=None)

    assert "language" not in standin.requests_to("transcriptions")[0].fields
    assert result.language == "en"


def test_the_file_name_sent_carries_the_extension_of_its_content(standin, tmp_path):
    upload = make_audio(str(tmp_path / "3f2a9c-upload"), seconds=3, fmt="mp3")

    make_client(standin).transcribe(upload, model="whisper-1", language=None)

    assert standin.requests_to("transcriptions")[0].file_name == "3f2a9c-upload.mp3"


def test_a_long_recording_is_cut_transcribed_and_joined_with_whole_recording_times(standin, tmp_path):
    source = make_audio(str(tmp_path / "long.wav"), seconds=130, fmt="wav")
    workdir = tmp_path / "parts"
    workdir.mkdir()
    parts = split_for_upload(source, max_bytes=200_000, workdir=str(workdir))
    client = make_client(standin)

    joined = join_transcriptions(
        [(part.offset_seconds, client.transcribe(part.path, model="whisper-1", language="en"))
         for part in parts]
    )

    requests = standin.requests_to("transcriptions")
    assert len(parts) == len(requests) >= 3
    assert all(r.file_size <= 200_000 and r.file_name.endswith(".mp3") for r in requests)
    assert joined.duration == pytest.approx(130.0, abs=0.1)
    assert joined.segments[-1].end == pytest.approx(130.0, abs=0.1)
    starts = [segment.start for segment in joined.segments]
    assert starts == sorted(starts)
    # Each segment's text names its times within its part; shifted by the part's offset they
    # must give the joined times.
    offset_of = {}
    for part in parts:
        for segment in joined.segments:
            if part.offset_seconds <= segment.start < part.offset_seconds + part.duration_seconds:
                offset_of[segment] = part.offset_seconds
    for segment in joined.segments:
        local = segment.text.split()[1]
        local_start = float(local.split("-")[0])
        assert segment.start == pytest.approx(offset_of[segment] + local_start, abs=0.01)


# Failures that end at once


@pytest.mark.parametrize(("kind", "status"), [("401", 401), ("403", 403)])
def test_a_rejected_key_fails_at_once(standin, wav, kind, status):
    standin.fail("transcriptions", kind)
    sleep = FakeSleep()

    with pytest.raises(ProviderError) as caught:
        make_client(standin, sleep=sleep).transcribe(wav, model="whisper-1", language=None)

    assert caught.value.code == "provider_key_invalid"
    assert caught.value.status == status
    assert len(standin.requests_to("transcriptions")) == 1
    assert sleep.waits == []


def test_the_wrong_key_is_refused_by_the_standin_and_reported_as_invalid(standin, wav):
    with pytest.raises(ProviderError) as caught:
        make_client(standin, key="sk-some-other-key-0000000000").transcribe(
            wav, model="whisper-1", language=None
        )

    assert caught.value.code == "provider_key_invalid"
    request = standin.requests_to("transcriptions")[0]
    assert request.auth_present and not request.auth_matched


def test_insufficient_quota_fails_at_once(standin):
    standin.fail("chat", "quota")
    sleep = FakeSleep()

    with pytest.raises(ProviderError) as caught:
        make_client(standin, sleep=sleep).summarize("[0.0] hello", language="en", quality="concise",
                                                    model="gpt-4o-mini")

    assert caught.value.code == "provider_quota"
    assert caught.value.status == 429
    assert len(standin.requests_to("chat")) == 1
    assert sleep.waits == []


def test_a_file_the_provider_refuses_is_audio_unreadable(standin, wav):
    standin.fail("transcriptions", "400")

    with pytest.raises(ProviderError) as caught:
        make_client(standin).transcribe(wav, model="whisper-1", language=None)

    assert caught.value.code == "audio_unreadable"
    assert len(standin.requests_to("transcriptions")) == 1


def test_audio_the_server_cannot_decode_is_audio_unreadable(standin, tmp_path):
    junk = tmp_path / "junk.mp3"
    junk.write_bytes(b"ID3" + os.urandom(5000))

    with pytest.raises(ProviderError) as caught:
        make_client(standin).transcribe(str(junk), model="whisper-1", language=None)

    assert caught.value.code == "audio_unreadable"


def test_a_part_over_the_servers_limit_is_a_413_not_retried(tmp_path):
    small_server = OpenAIStandIn(KEY, max_bytes=50_000).start()
    try:
        path = make_audio(str(tmp_path / "big.wav"), seconds=5, fmt="wav")  # 160 kB
        with pytest.raises(ProviderError) as caught:
            make_client(small_server).transcribe(path, model="whisper-1", language=None)
    finally:
        small_server.stop()

    assert caught.value.code == "provider_unavailable"
    assert caught.value.status == 413
    assert "TRANSCRIBE_MAX_BYTES" in caught.value.message
    assert len(small_server.requests_to("transcriptions")) == 1


# Retries


def test_a_429_is_retried_after_its_retry_after(standin, wav):
    standin.fail("transcriptions", "429", seconds=1)
    started = time.monotonic()

    result = make_client(standin).transcribe(wav, model="whisper-1", language=None)

    elapsed = time.monotonic() - started
    first, second = standin.requests_to("transcriptions")
    assert 1.0 <= second.at - first.at < 2.5
    assert elapsed < 3.0
    assert len(result.segments) == 3


def test_retry_after_ms_wins_over_retry_after(standin):
    standin.fail("models", "429", seconds=30, retry_after_ms=250)
    sleep = FakeSleep()

    make_client(standin, sleep=sleep).list_models()

    assert sleep.total == pytest.approx(0.25)
    assert len(standin.requests_to("models")) == 2


def test_5xx_is_retried_with_growing_jittered_backoff(standin):
    standin.fail("models", "500", times=3)
    sleep = FakeSleep()

    make_client(standin, sleep=sleep).list_models()

    assert len(standin.requests_to("models")) == 4
    # Waits are sliced into seconds for cancellation checks; the attempts wait about 1, 2, 4 s.
    assert 0.5 + 1 + 2 <= sleep.total <= 1 + 2 + 4


def test_retries_stop_when_the_budget_is_spent(standin):
    standin.fail("chat", "500", times=100)
    sleep = FakeSleep()

    with pytest.raises(ProviderError) as caught:
        make_client(standin, sleep=sleep, retry_seconds=20).summarize(
            "[0.0] hello", language="en", quality="concise", model="gpt-4o-mini"
        )

    assert caught.value.code == "provider_unavailable"
    assert sleep.total <= 20
    attempts = len(standin.requests_to("chat"))
    assert 3 <= attempts <= 6  # 1 + 2 + 4 + 8 fits in 20 s, 16 more does not


def test_a_retry_after_beyond_the_budget_gives_up_without_waiting(standin):
    standin.fail("models", "429", seconds=3600)
    sleep = FakeSleep()

    with pytest.raises(ProviderError) as caught:
        make_client(standin, sleep=sleep, retry_seconds=600).list_models()

    assert caught.value.code == "provider_unavailable"
    assert sleep.waits == []


def test_a_timeout_is_retried(standin, wav):
    standin.fail("transcriptions", "slow", seconds=3)
    sleep = FakeSleep()

    result = make_client(standin, timeout=0.5, transcribe_timeout=0.5, sleep=sleep).transcribe(
        wav, model="whisper-1", language=None
    )

    assert len(result.segments) == 3
    assert len(standin.requests_to("transcriptions")) == 2
    assert len(sleep.waits) >= 1


def test_an_unreachable_server_ends_as_unavailable(standin):
    address = standin.base_url
    standin.stop()
    sleep = FakeSleep()

    with pytest.raises(ProviderError) as caught:
        OpenAIClient(KEY, base_url=address, timeout=2, retry_seconds=10, sleep=sleep).list_models()

    assert caught.value.code == "provider_unavailable"
    assert sleep.waits


def test_an_unreadable_answer_is_retried_then_unavailable(standin, wav):
    standin.fail("transcriptions", "malformed", times=5)

    with pytest.raises(ProviderError) as caught:
        make_client(standin, sleep=FakeSleep()).transcribe(wav, model="whisper-1", language=None)

    assert caught.value.code == "provider_unavailable"
    assert len(standin.requests_to("transcriptions")) == 3


def test_one_unreadable_answer_is_survived(standin, wav):
    standin.fail("transcriptions", "malformed")

    result = make_client(standin, sleep=FakeSleep()).transcribe(wav, model="whisper-1", language=None)

    assert len(result.segments) == 3


# Cancellation


def test_cancel_before_a_retry_makes_no_further_call(standin, wav):
    standin.fail("transcriptions", "500", times=5)
    sleep = FakeSleep()

    with pytest.raises(Canceled):
        make_client(standin, sleep=sleep, should_continue=lambda: False).transcribe(
            wav, model="whisper-1", language=None
        )

    assert len(standin.requests_to("transcriptions")) == 1
    assert sleep.waits == []


def test_cancel_during_a_long_retry_after_stops_within_a_second(standin):
    standin.fail("models", "429", seconds=30)
    started = time.monotonic()
    answers = iter([True])  # go on at the first check, stop one wait slice later

    with pytest.raises(Canceled):
        make_client(standin, should_continue=lambda: next(answers, False)).list_models()

    assert time.monotonic() - started < 2.0
    assert len(standin.requests_to("models")) == 1


def test_cancel_between_summary_chunks_makes_no_further_call(standin):
    transcript = "\n".join(f"[{n * 5}.0] sentence number {n} of a long talk" for n in range(100))
    answers = iter([True])

    with pytest.raises(Canceled):
        make_client(standin, summary_chunk_chars=1000, should_continue=lambda: next(answers, False)) \
            .summarize(transcript, language="en", quality="concise", model="gpt-4o-mini")

    assert len(standin.requests_to("chat")) == 2


# Summaries


def test_summary_is_asked_as_json_in_the_users_language(standin):
    segments = [Segment(0.0, 10.0, "Hello and welcome."), Segment(754.2, 760.0, "The main point.")]

    summary = make_client(standin).summarize(
        transcript_with_times(segments), language="de", quality="detailed", model="gpt-4o-mini"
    )

    assert summary.text.startswith("Summary in de")
    assert summary.takeaways == ["Takeaway 1 in de", "Takeaway 2 in de", "Takeaway 3 in de"]
    assert [m.timestamp for m in summary.key_moments] == [0.0, 754.2]
    assert summary.key_moments[0].importance == "high"
    (request,) = standin.requests_to("chat")
    body = request.json
    assert body["model"] == "gpt-4o-mini"
    assert body["response_format"] == {"type": "json_object"}
    system, user = body["messages"]
    assert system["role"] == "system" and user["role"] == "user"
    assert "German" in system["content"] and "JSON" in system["content"]
    assert QUALITY_GUIDANCE["detailed"] in system["content"]
    assert user["content"] == "[0.0] Hello and welcome.\n[754.2] The main point."


def test_summary_qualities_are_the_settings_values():
    assert set(QUALITY_GUIDANCE) == set(SUMMARY_QUALITIES)


def test_an_unknown_quality_is_a_programming_error(standin):
    with pytest.raises(ValueError, match="quality"):
        make_client(standin).summarize("x", language="en", quality="fast", model="gpt-4o-mini")
    assert standin.requests_to("chat") == []


def test_a_long_transcript_is_summarised_in_chunks_then_combined(standin):
    transcript = "\n".join(f"[{n * 5}.0] sentence number {n} of a long talk" for n in range(200))
    assert len(transcript) > 6_000

    summary = make_client(standin, summary_chunk_chars=2_000).summarize(
        transcript, language="fr", quality="balanced", model="gpt-4o-mini"
    )

    requests = standin.requests_to("chat")
    chunk_requests = [r for r in requests if " part " in r.json["messages"][0]["content"]]
    combine_requests = [r for r in requests if "combine" in r.json["messages"][0]["content"]]
    assert len(chunk_requests) >= 4
    assert requests[: len(chunk_requests)] == chunk_requests  # the map first, then the reduce
    for request in chunk_requests:
        assert len(request.json["messages"][1]["content"]) <= 2_000
    assert "".join(r.json["messages"][1]["content"] for r in chunk_requests) == transcript
    # The partial summaries exceed the budget too, so they are combined in groups, then once more.
    assert len(combine_requests) >= 2
    assert len(chunk_requests) + len(combine_requests) == len(requests)
    for request in combine_requests:
        assert len(request.json["messages"][1]["content"]) <= 2_000
    assert summary.text.startswith("Summary in fr")


def test_a_transcript_just_over_the_budget_is_two_parts_and_one_combination(standin):
    transcript = "\n".join(f"[{n * 5}.0] sentence number {n} of a long talk" for n in range(60))

    make_client(standin, summary_chunk_chars=len(transcript) - 100).summarize(
        transcript, language="fr", quality="balanced", model="gpt-4o-mini"
    )

    prompts = [r.json["messages"][0]["content"] for r in standin.requests_to("chat")]
    assert len(prompts) == 3
    assert "part 1 of 2" in prompts[0] and "part 2 of 2" in prompts[1] and "combine" in prompts[2]


def test_the_models_reply_is_validated_and_clamped(standin):
    standin.summary_reply = {
        "summary": "  The gist.  ",
        "takeaways": ["ok", 42, "", "x" * 2_000] + [f"t{n}" for n in range(60)],
        "key_moments": [
            {"timestamp": 90, "title": "Later", "description": "d", "importance": "HIGH"},
            {"timestamp": "01:05", "title": "Clock time", "importance": "critical"},
            {"timestamp": -5, "title": "Negative", "description": 7, "importance": "low"},
            {"timestamp": True, "title": "A boolean is no time"},
            {"timestamp": 1, "title": "   "},
            {"timestamp": 2, "title": "T" * 300, "description": "D" * 5_000},
            "not an object",
        ] + [{"timestamp": n, "title": f"m{n}"} for n in range(200)],
    }

    summary = make_client(standin).summarize("[0.0] hi", language="en", quality="balanced",
                                             model="gpt-4o-mini")

    assert summary.text == "The gist."
    assert len(summary.takeaways) == 50
    assert summary.takeaways[:2] == ["ok", "x" * 1_000]
    assert len(summary.key_moments) == 100
    by_title = {m.title: m for m in summary.key_moments}
    assert by_title["Negative"].timestamp == 0.0 and by_title["Negative"].description == ""
    assert by_title["T" * 200].description == "D" * 1_000
    assert "A boolean is no time" not in by_title
    assert all(m.importance in {"high", "medium", "low"} for m in summary.key_moments)
    stamps = [m.timestamp for m in summary.key_moments]
    assert stamps == sorted(stamps)


def test_a_reply_with_clock_time_and_bad_importance(standin):
    standin.summary_reply = {"summary": "s", "key_moments": [
        {"timestamp": "01:05", "title": "Clock time", "importance": "critical"},
        {"timestamp": 90, "title": "Later", "importance": "HIGH"},
    ]}

    summary = make_client(standin).summarize("[0.0] hi", language="en", quality="concise",
                                             model="gpt-4o-mini")

    assert [(m.timestamp, m.title, m.importance) for m in summary.key_moments] == [
        (65.0, "Clock time", "medium"),
        (90.0, "Later", "high"),
    ]
    assert summary.takeaways == []


@pytest.mark.parametrize("reply", ["Sure! Here is your summary: it was nice.", {"takeaways": ["x"]},
                                   ["summary"]])
def test_a_reply_without_a_summary_is_retried_then_unavailable(standin, reply):
    standin.summary_reply = reply if isinstance(reply, str) else json.dumps(reply)

    with pytest.raises(ProviderError) as caught:
        make_client(standin, sleep=FakeSleep()).summarize("[0.0] hi", language="en", quality="concise",
                                                          model="gpt-4o-mini")

    assert caught.value.code == "provider_unavailable"
    assert "could not be read" in caught.value.message
    assert len(standin.requests_to("chat")) == 3


# Key check


def test_list_models_accepts_a_working_key(standin):
    make_client(standin).list_models()

    (request,) = standin.requests_to("models")
    assert request.auth_matched and request.method == "GET"


def test_list_models_rejects_a_wrong_key(standin):
    with pytest.raises(ProviderError) as caught:
        make_client(standin, key="sk-wrong-wrong-wrong-wrong").list_models()

    assert caught.value.code == "provider_key_invalid"


# Secrets


def test_the_key_body_and_transcript_never_reach_logs_reprs_or_errors(standin, wav, caplog):
    caplog.set_level(logging.DEBUG)
    client = make_client(standin, sleep=FakeSleep())
    standin.fail("transcriptions", "500")
    transcription = client.transcribe(wav, model="whisper-1", language="en")
    client.summarize(transcript_with_times(transcription.segments), language="en",
                     quality="concise", model="gpt-4o-mini")
    errors = []
    for kind, endpoint in [("401", "models"), ("quota", "models"), ("400", "transcriptions")]:
        standin.fail(endpoint, kind)
        with pytest.raises(ProviderError) as caught:
            if endpoint == "models":
                client.list_models()
            else:
                client.transcribe(wav, model="whisper-1", language="en")
        errors.append(caught.value)

    assert "retrying" in caplog.text  # the retry was logged, by status and attempt
    texts = [caplog.text, repr(client), str(vars(client).get("_base_url"))]
    for error in errors:
        texts += [str(error), repr(error), error.message,
                  "".join(traceback.format_exception(error))]
    for text in texts:
        assert KEY not in text
        assert KEY[-12:] not in text
        assert "segment 0.0-10.0" not in text  # transcript text
        assert "Incorrect API key provided" not in text  # provider bodies
        assert "exceeded your current quota" not in text
        assert "Invalid file format" not in text
    assert [e.code for e in errors] == ["provider_key_invalid", "provider_quota", "audio_unreadable"]
