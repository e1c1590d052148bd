"""History imports: the web app's local-storage items become create bodies, or a pinpointed error."""

from __future__ import annotations

import copy
import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audiotricks.history.imports import (
    DEFAULT_TITLE,
    ImportFormatError,
    local_path,
    parse_clock,
    to_create_body,
)


def whisper_segment(index: int, start: float, end: float, text: str) -> dict[str, Any]:
    """A segment as Whisper's verbose_json gives it, extra fields and all."""
    return {
        "id": index, "seek": int(start * 100), "start": start, "end": end, "text": text,
        "tokens": [50364, 1012, 257, 1365], "temperature": 0.0, "avg_logprob": -0.21,
        "compression_ratio": 1.37, "no_speech_prob": 0.012,
    }


def local_item(**overrides: Any) -> dict[str, Any]:
    """An item of ``audioTricks_history`` as the web app stored it."""
    item: dict[str, Any] = {
        "id": 1732530000000,
        "timestamp": "2024-11-25T10:20:00.123Z",
        "title": "Weekly sync",
        "duration": 7384.25,
        "wordCount": 6,
        "language": "en",
        "results": {
            "transcript": {
                "text": "Hello everyone. Let's start. Bye.",
                "language": "english",
                "duration": 7384.25,
                "segments": [
                    whisper_segment(0, 0.0, 2.5, " Hello everyone."),
                    whisper_segment(1, 2.5, 59.9996, " Let's start."),
                    whisper_segment(2, 7380.0, 7384.25, " Bye."),
                ],
            },
            "summary": {
                "summary": "A short sync.",
                "takeaways": ["Ship on Friday", "Café budget approved"],
                "key_moments": [
                    {"timestamp": "01:05", "title": "Opening", "description": "Hello.",
                     "importance": "high"},
                    {"timestamp": "2:03:00", "title": "Closing", "description": "Bye.",
                     "importance": "low"},
                ],
                "model": "gpt-4o-mini",
                "generatedAt": "2024-11-25T10:21:00Z",
            },
            "processingTime": 42.1,
        },
        "audioUrl": "blob:https://app.example/abc",
    }
    item.update(overrides)
    return item


def with_results(**changes: Any) -> dict[str, Any]:
    item = local_item()
    item["results"].update(changes)
    return item


def with_transcript(**changes: Any) -> dict[str, Any]:
    item = local_item()
    item["results"]["transcript"].update(changes)
    return item


def with_summary(**changes: Any) -> dict[str, Any]:
    item = local_item()
    item["results"]["summary"].update(changes)
    return item


def with_moment(**changes: Any) -> dict[str, Any]:
    item = local_item()
    item["results"]["summary"]["key_moments"][1].update(changes)
    return item


def error_for(raw: object) -> ImportFormatError:
    with pytest.raises(ImportFormatError) as caught:
        to_create_body(raw)
    return caught.value


# The happy path


def test_a_whisper_item_becomes_a_create_body():
    assert to_create_body(local_item()) == {
        "clientId": "1732530000000",
        "title": "Weekly sync",
        "language": "en",
        "durationSeconds": 7384.25,
        "source": None,
        "transcript": {
            "text": "Hello everyone. Let's start. Bye.",
            "segments": [
                {"start": 0.0, "end": 2.5, "text": " Hello everyone."},
                {"start": 2.5, "end": 59.9996, "text": " Let's start."},
                {"start": 7380.0, "end": 7384.25, "text": " Bye."},
            ],
        },
        "summary": {
            "text": "A short sync.",
            "takeaways": ["Ship on Friday", "Café budget approved"],
            "keyMoments": [
                {"timestamp": 65.0, "title": "Opening", "description": "Hello.",
                 "importance": "high"},
                {"timestamp": 7380.0, "title": "Closing", "description": "Bye.",
                 "importance": "low"},
            ],
        },
        "processingOptions": {},
        "createdAt": "2024-11-25T10:20:00.123Z",
    }


def test_the_item_is_not_modified_and_the_body_is_json():
    item = local_item()
    before = copy.deepcopy(item)

    body = to_create_body(item)

    assert item == before
    assert json.loads(json.dumps(body, allow_nan=False)) == body


def test_a_string_id_is_kept():
    assert to_create_body(local_item(id="abc-123"))["clientId"] == "abc-123"


def test_an_integral_float_id_is_its_digits():
    assert to_create_body(local_item(id=1732530000000.0))["clientId"] == "1732530000000"


@pytest.mark.parametrize("title", [None, "", "   ", "\n\t"])
def test_a_missing_or_blank_title_gets_the_default(title):
    assert to_create_body(local_item(title=title))["title"] == DEFAULT_TITLE == "Untitled audio"


def test_a_missing_title_key_gets_the_default():
    item = local_item()
    del item["title"]

    assert to_create_body(item)["title"] == DEFAULT_TITLE


# Timestamps


@pytest.mark.parametrize(("timestamp", "created_at"), [
    ("2024-11-25T10:20:00.123Z", "2024-11-25T10:20:00.123Z"),
    ("2024-11-25T10:20:00Z", "2024-11-25T10:20:00Z"),
    ("2024-11-25T11:20:00+01:00", "2024-11-25T10:20:00Z"),
    ("2024-11-25T05:20:00.5-05:00", "2024-11-25T10:20:00.500Z"),
    ("2024-11-25T10:20:00", "2024-11-25T10:20:00Z"),
    ("2024-11-25", "2024-11-25T00:00:00Z"),
    (1732530000000, "2024-11-25T10:20:00Z"),
    (1732530000123, "2024-11-25T10:20:00.123Z"),
    (1732530000123.0, "2024-11-25T10:20:00.123Z"),
    (0, "1970-01-01T00:00:00Z"),
])
def test_timestamp_iso_or_epoch_milliseconds(timestamp, created_at):
    assert to_create_body(local_item(timestamp=timestamp))["createdAt"] == created_at


@pytest.mark.parametrize("timestamp", [
    None, "", "yesterday", "2024-13-01T00:00:00Z", "2024-11-25T25:00:00Z", "1" * 65,
    "0001-01-01T00:00:00+01:00", True, [], {}, float("nan"), float("inf"), 10**400,
    1e300, -1e300,
])
def test_bad_timestamp(timestamp):
    error = error_for(local_item(timestamp=timestamp))

    assert error.path == "timestamp"


def test_missing_timestamp():
    item = local_item()
    del item["timestamp"]

    assert error_for(item).path == "timestamp"


# Language and duration


@pytest.mark.parametrize(("transcript_language", "item_language", "expected"), [
    ("english", "fr", "en"),
    ("French", None, "fr"),
    ("haitian creole", None, "ht"),
    (None, "de", "de"),
    ("", "DE", "de"),
    (None, None, None),
    (None, "", None),
    ("klingon", None, "klingon"),
])
def test_language(transcript_language, item_language, expected):
    item = with_transcript(language=transcript_language)
    item["language"] = item_language

    assert to_create_body(item)["language"] == expected


def test_language_absent_everywhere():
    item = local_item()
    del item["language"]
    del item["results"]["transcript"]["language"]

    assert to_create_body(item)["language"] is None


@pytest.mark.parametrize(("duration", "transcript_duration", "expected"), [
    (12.5, 99.0, 12.5),
    (None, 99.0, 99.0),
    (3, None, 3.0),
    (None, None, None),
])
def test_duration_from_item_then_transcript(duration, transcript_duration, expected):
    item = with_transcript(duration=transcript_duration)
    item["duration"] = duration

    assert to_create_body(item)["durationSeconds"] == expected


# Segments and summary


def test_segments_keep_only_start_end_and_text():
    segments = to_create_body(local_item())["transcript"]["segments"]

    assert all(set(s) == {"start", "end", "text"} for s in segments)


@pytest.mark.parametrize("segments", [None, []])
def test_no_segments(segments):
    assert to_create_body(with_transcript(segments=segments))["transcript"]["segments"] == []


def test_missing_summary_is_none():
    item = local_item()
    del item["results"]["summary"]

    assert to_create_body(item)["summary"] is None


@pytest.mark.parametrize("summary", [None, {}, {"summary": "", "takeaways": [], "key_moments": []}])
def test_an_empty_summary_is_none(summary):
    assert to_create_body(with_results(summary=summary))["summary"] is None


def test_summary_with_only_takeaways():
    body = to_create_body(with_results(summary={"takeaways": ["One"]}))

    assert body["summary"] == {"text": "", "takeaways": ["One"], "keyMoments": []}


def test_key_moment_optional_fields():
    item = local_item()
    item["results"]["summary"]["key_moments"] = [{"timestamp": 5}]

    assert to_create_body(item)["summary"]["keyMoments"] == [
        {"timestamp": 5.0, "title": None, "description": ""}
    ]


def test_a_null_importance_is_left_to_the_schema_default():
    item = local_item()
    item["results"]["summary"]["key_moments"][0]["importance"] = None

    assert "importance" not in to_create_body(item)["summary"]["keyMoments"][0]


# Key-moment timestamps


@pytest.mark.parametrize(("value", "seconds"), [
    ("00:00", 0.0),
    ("01:05", 65.0),
    ("1:05", 65.0),
    ("59:59", 3599.0),
    ("61:30", 3690.0),
    ("1:02:03", 3723.0),
    ("01:02:03", 3723.0),
    ("10:00:00", 36000.0),
    (" 1:05 ", 65.0),
    ("75", 75.0),
    (65, 65.0),
    (65.5, 65.5),
    (0, 0.0),
])
def test_parse_clock(value, seconds):
    assert parse_clock(value) == seconds
    assert to_create_body(with_moment(timestamp=value))["summary"]["keyMoments"][1][
        "timestamp"] == seconds


@pytest.mark.parametrize("value", [
    "", ":", "1:", ":30", "1:5", "1:60", "1:99", "1:60:00", "1:5:00", "1:00:60", "1:2:3:4",
    "-1:00", "1:-5", "+1:00", "1.5:00", "1:05.5", "abc", "1:0x", "\u0661:\u0660\u0665", "\u00b2:05", "1 :05",
    "99999:00", "1" * 5000, "1:" * 2000, None, True, [], {}, -1, -0.5, float("nan"),
    float("inf"), 10**400,
])
def test_bad_clock(value):
    path = "results.summary.key_moments.1.timestamp"
    error = error_for(with_moment(timestamp=value))

    assert error.path == path


def test_missing_clock():
    item = local_item()
    del item["results"]["summary"]["key_moments"][1]["timestamp"]

    assert error_for(item).path == "results.summary.key_moments.1.timestamp"


# Structural junk, each at its path


JUNK = [None, True, 0, 1.5, "text", [], [1], {"a": 1}]


def mutate(path: str, value: object) -> dict[str, Any]:
    """The valid item with ``value`` put at the dotted ``path``."""
    item = local_item()
    *parents, last = path.split(".")
    node: Any = item
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return item


# (path, junk values that are wrong there)
STRUCTURE = [
    ("id", [None, True, 1.5, [], {}, float("nan"), 10**400, 2.0**300]),
    ("title", [True, 0, [], {"a": 1}]),
    ("language", [True, 0, [], {}]),
    ("duration", [True, "12", [], {}, float("nan"), float("-inf"), 10**400]),
    ("results", [None, True, 0, "x", [], [{"transcript": {}}]]),
    ("results.transcript", [None, True, 0, "x", [], [{"text": "x"}]]),
    ("results.transcript.text", [None, True, 0, [], {}, ["x"]]),
    ("results.transcript.language", [True, 0, [], {}]),
    ("results.transcript.duration", [True, "12", [], {}, float("nan")]),
    ("results.transcript.segments", [True, 0, "x", {}, {"0": {}}]),
    ("results.transcript.segments.1", [None, True, 0, "x", [], [0.0, 1.0, "x"]]),
    ("results.transcript.segments.1.start", [None, True, "0", [], {}, float("nan"), 10**400]),
    ("results.transcript.segments.1.end", [None, False, "1", [], {}, float("inf")]),
    ("results.transcript.segments.1.text", [None, True, 0, [], {}]),
    ("results.summary", [True, 0, "text", [], ["x"]]),
    ("results.summary.summary", [True, 0, [], {}]),
    ("results.summary.takeaways", [True, 0, "one", {}]),
    ("results.summary.takeaways.1", [None, True, 0, [], {}]),
    ("results.summary.key_moments", [True, 0, "x", {}]),
    ("results.summary.key_moments.1", [None, True, 0, "1:00", [], ["1:00", "t"]]),
    ("results.summary.key_moments.1.title", [True, 0, [], {}]),
    ("results.summary.key_moments.1.description", [True, 0, [], {}]),
    ("results.summary.key_moments.1.importance", [True, 0, [], {}]),
]


@pytest.mark.parametrize(("path", "value"), [
    pytest.param(path, value, id=f"{path}={value!r:.20}")
    for path, values in STRUCTURE for value in values
])
def test_structural_junk_names_its_path(path, value):
    item = mutate(path, value)
    # A fallback field is read (and checked) only when the field it stands in for is absent.
    if path == "language":
        item["results"]["transcript"]["language"] = None
    if path == "results.transcript.duration":
        item["duration"] = None
    error = error_for(item)

    assert error.path == path
    assert error.message.endswith(".")
    assert str(error).startswith(f"{path}: ")


@pytest.mark.parametrize("raw", [None, True, 0, "item", [], [{"id": 1}]])
def test_an_item_that_is_not_an_object(raw):
    error = error_for(raw)

    assert error.path == ""
    assert error.message == "Item must be an object."


def test_missing_results_and_transcript():
    item = local_item()
    del item["results"]["transcript"]
    assert error_for(item).path == "results.transcript"
    del item["results"]
    assert error_for(item).path == "results"


def test_missing_id():
    item = local_item()
    del item["id"]

    assert error_for(item).path == "id"


SECRET = "sk-proj-SECRETSECRETSECRET"


@pytest.mark.parametrize("path", ["id", "title", "timestamp", "results.transcript.text",
                                  "results.summary.key_moments.1.timestamp"])
def test_messages_never_echo_the_value(path):
    value: object = {"key": SECRET} if path != "results.summary.key_moments.1.timestamp" else SECRET
    if path == "timestamp":
        value = SECRET
    error = error_for(mutate(path, value))

    assert SECRET not in error.message
    assert SECRET not in str(error)
    assert "SECRET" not in repr(error.args)


def test_an_unused_fallback_is_not_read():
    item = with_transcript(duration=[], language="english")
    item["language"] = {"junk": True}

    body = to_create_body(item)

    assert (body["language"], body["durationSeconds"]) == ("en", 7384.25)


def test_field_rules_are_left_to_the_schema():
    """Lengths, ranges and ordering are the create schema's job: they pass through unchanged."""
    item = local_item(title="x" * 5000, duration=-5, id="bad id with spaces")
    item["results"]["transcript"]["text"] = ""
    item["results"]["transcript"]["segments"] = [{"start": 9.0, "end": 1.0, "text": "y" * 3000}]
    item["results"]["summary"]["key_moments"][0]["importance"] = "urgent"

    body = to_create_body(item)

    assert body["title"] == "x" * 5000
    assert body["durationSeconds"] == -5.0
    assert body["clientId"] == "bad id with spaces"
    assert body["transcript"]["text"] == ""
    assert body["transcript"]["segments"] == [{"start": 9.0, "end": 1.0, "text": "y" * 3000}]
    assert body["summary"]["keyMoments"][0]["importance"] == "urgent"


# local_path


@pytest.mark.parametrize(("create_path", "expected"), [
    ("clientId", "id"),
    ("createdAt", "timestamp"),
    ("durationSeconds", "duration"),
    ("title", "title"),
    ("language", "language"),
    ("transcript", "results.transcript"),
    ("transcript.text", "results.transcript.text"),
    ("transcript.segments", "results.transcript.segments"),
    ("transcript.segments.3.end", "results.transcript.segments.3.end"),
    ("summary", "results.summary"),
    ("summary.text", "results.summary.summary"),
    ("summary.takeaways", "results.summary.takeaways"),
    ("summary.takeaways.1", "results.summary.takeaways.1"),
    ("summary.keyMoments", "results.summary.key_moments"),
    ("summary.keyMoments.0.title", "results.summary.key_moments.0.title"),
    ("summary.keyMoments.12.timestamp", "results.summary.key_moments.12.timestamp"),
    ("processingOptions", "processingOptions"),
    ("source.fileName", "source.fileName"),
    ("_schema", "_schema"),
    ("", ""),
    ("summaryText", "summaryText"),
    ("transcripts.text", "transcripts.text"),
    ("clientIdentifier", "clientIdentifier"),
])
def test_local_path(create_path, expected):
    assert local_path(create_path) == expected


# Any JSON-like input: a dict or ImportFormatError, nothing else


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=40,
)
clock_texts = st.text(alphabet="0123456789:-+. \u0661\u00b2", max_size=12)


def plausible_items() -> st.SearchStrategy[Any]:
    """Items shaped like the local format with junk in any field."""
    segment = st.fixed_dictionaries(
        {"start": json_values | st.floats(), "end": json_values, "text": json_values | st.text()},
        optional={"tokens": json_values, "id": json_values},
    )
    moment = st.fixed_dictionaries(
        {"timestamp": json_values | clock_texts, "title": json_values},
        optional={"description": json_values, "importance": json_values},
    )
    summary = st.fixed_dictionaries(
        {},
        optional={"summary": json_values | st.text(), "takeaways": st.lists(json_values) | json_values,
                  "key_moments": st.lists(moment | json_values, max_size=4) | json_values},
    )
    transcript = st.fixed_dictionaries(
        {"text": st.text() | json_values},
        optional={"segments": st.lists(segment | json_values, max_size=4) | json_values,
                  "language": json_values | st.sampled_from(["english", "EN", "klingon"]),
                  "duration": json_values},
    )
    return st.fixed_dictionaries(
        {"id": json_values | st.integers(min_value=0, max_value=2**64),
         "timestamp": json_values | st.datetimes().map(lambda d: d.isoformat())
         | st.integers(min_value=-(10**18), max_value=10**18),
         "results": st.fixed_dictionaries({"transcript": transcript | json_values},
                                          optional={"summary": summary | json_values})
         | json_values},
        optional={"title": json_values, "duration": json_values, "language": json_values},
    )


def check_any(raw: object) -> None:
    try:
        body = to_create_body(raw)
    except ImportFormatError as error:
        assert isinstance(error.path, str) and isinstance(error.message, str)
        assert error.message.endswith(".")
        return
    assert isinstance(body, dict)
    assert isinstance(body["clientId"], str)
    assert body["createdAt"].endswith("Z")
    assert all(math.isfinite(s["start"]) and math.isfinite(s["end"])
               for s in body["transcript"]["segments"])
    json.dumps(body, allow_nan=False)


@settings(max_examples=300)
@given(json_values)
def test_any_json_value_converts_or_raises_import_format_error(raw):
    check_any(raw)


@settings(max_examples=500)
@given(plausible_items())
def test_any_plausible_item_converts_or_raises_import_format_error(raw):
    check_any(raw)


@given(st.text(max_size=30))
def test_any_clock_text_parses_or_raises_import_format_error(text):
    try:
        seconds = parse_clock(text)
    except ImportFormatError as error:
        assert error.path == "timestamp"
        return
    assert seconds >= 0 and seconds.is_integer()


def test_deeply_nested_junk_in_ignored_fields_is_never_walked():
    junk: object = []
    for _ in range(50_000):
        junk = [junk]
    item = local_item(extra=junk)
    item["results"]["transcript"]["segments"][0]["tokens"] = junk

    assert to_create_body(item)["clientId"] == "1732530000000"
