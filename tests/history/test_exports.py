"""History exports: every format on a realistic item, cue timing, escaping and safe file names."""

from __future__ import annotations

import copy
import json
import unicodedata
from email.message import Message
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from werkzeug.http import parse_options_header

from audiotricks.history.exports import (
    EXPORT_FORMATS,
    NoTimedSegments,
    content_disposition,
    cue_time,
    render_export,
)


def make_item(**overrides: Any) -> dict[str, Any]:
    """A HistoryItem as the API dumps it: a three-hour meeting with unicode and odd floats."""
    item: dict[str, Any] = {
        "id": "5b0f6c1e-8a4e-4c53-9f0e-3f1d2c9a7b11",
        "clientId": "1732530000000",
        "title": "Réunion hebdo — 会議 🎙",
        "language": "fr",
        "durationSeconds": 10834.5,
        "wordCount": 9,
        "source": {"fileName": "réunion.m4a", "fileSizeBytes": 18234112},
        "transcript": {
            "text": "Bonjour à tous.\n\nOn commence ?\nOui.",
            "segments": [
                {"start": 0.0, "end": 4.2, "text": " Bonjour à tous."},
                {"start": 4.2, "end": 59.9996, "text": "On commence ?\n\n\nOui."},
                {"start": 3599.9995, "end": 10834.5, "text": "Fin — 終わり"},
            ],
        },
        "summary": {
            "text": "Une réunion courte.",
            "takeaways": ["Tout va bien", "Prochaine réunion lundi"],
            "keyMoments": [
                {"timestamp": 65.0, "title": "Ouverture", "description": "On dit bonjour.",
                 "importance": "high"},
                {"timestamp": 3723.0, "title": "Fin", "description": "", "importance": "low"},
            ],
        },
        "processingOptions": {"model": "whisper-1", "chunk": {"seconds": 600}},
        "hasAudio": False,
        "createdAt": "2026-11-25T10:30:00Z",
        "updatedAt": "2026-11-25T11:00:00.123Z",
    }
    item.update(overrides)
    return item


def render(item: dict[str, Any], fmt: str) -> str:
    body, _ = render_export(item, fmt)
    return body.decode("utf-8")


# Content types and the common contract


@pytest.mark.parametrize(("fmt", "content_type"), [
    ("txt", "text/plain; charset=utf-8"),
    ("md", "text/markdown; charset=utf-8"),
    ("json", "application/json"),
    ("srt", "application/x-subrip; charset=utf-8"),
    ("vtt", "text/vtt; charset=utf-8"),
])
def test_every_format_has_its_content_type_and_utf8_body(fmt, content_type):
    body, got = render_export(make_item(), fmt)

    assert got == content_type
    assert isinstance(body, bytes)
    assert not body.startswith(b"\xef\xbb\xbf")
    body.decode("utf-8")


def test_export_formats_are_the_documented_five():
    assert EXPORT_FORMATS == ("txt", "md", "json", "srt", "vtt")


@pytest.mark.parametrize("fmt", ["pdf", "", "TXT", "json ", "../txt"])
def test_unknown_format_is_a_value_error(fmt):
    with pytest.raises(ValueError, match="Unknown export format"):
        render_export(make_item(), fmt)


@pytest.mark.parametrize("fmt", EXPORT_FORMATS)
def test_rendering_does_not_modify_the_item(fmt):
    item = make_item()
    before = copy.deepcopy(item)

    render_export(item, fmt)

    assert item == before


# txt


def test_txt_has_header_summary_and_transcript_in_order():
    text = render(make_item(), "txt")

    assert text.startswith("Réunion hebdo — 会議 🎙\n")
    assert "Date: 2026-11-25 10:30 UTC\n" in text
    assert "Language: fr\n" in text
    assert "Duration: 3:00:34\n" in text
    assert "Source: réunion.m4a\n" in text
    assert "- Tout va bien\n- Prochaine réunion lundi\n" in text
    assert "- [1:05] Ouverture (high): On dit bonjour.\n" in text
    assert "- [1:02:03] Fin (low)\n" in text
    order = [text.index(s) for s in ("Summary", "Key takeaways", "Key moments", "Transcript")]
    assert order == sorted(order)
    assert text.endswith("Bonjour à tous.\nOn commence ?\nOui.\n")
    assert "\r" not in text


def test_txt_without_summary_language_duration_or_source():
    text = render(
        make_item(summary=None, language=None, durationSeconds=None, source=None), "txt"
    )

    for absent in ("Summary", "Key takeaways", "Key moments", "Language:", "Duration:", "Source:"):
        assert absent not in text
    assert "Transcript\n----------\nBonjour à tous." in text


def test_txt_title_on_one_line():
    text = render(make_item(title="Line one\r\nLine two\u2028three"), "txt")

    assert text.splitlines()[0] == "Line one Line two three"


# Markdown


def test_md_structure():
    text = render(make_item(), "md")
    headings = [line for line in text.splitlines() if line.startswith("#")]

    assert headings == [
        "# Réunion hebdo — 会議 🎙", "## Summary", "### Key takeaways", "### Key moments",
        "## Transcript",
    ]
    assert "- **Duration:** 3:00:34" in text
    assert "- **1:05** Ouverture (high): On dit bonjour." in text


@pytest.mark.parametrize(("title", "expected"), [
    ("# Heading", "# \\# Heading"),
    ("## Not a heading ##", "# \\#\\# Not a heading \\#\\#"),
    ("<script>alert(1)</script>", "# &lt;script&gt;alert(1)&lt;/script&gt;"),
    ("*bold* _it_ `code` [link](http://x) ~~s~~ a|b", (
        "# \\*bold\\* \\_it\\_ \\`code\\` \\[link\\](http://x) \\~\\~s\\~\\~ a\\|b")),
    ("back\\slash & co", "# back\\\\slash &amp; co"),
    ("- not a list", "# \\- not a list"),
    ("1. not a list", "# 1\\. not a list"),
    ("Title\n===", "# Title ==="),
])
def test_md_title_is_escaped(title, expected):
    assert render(make_item(title=title), "md").splitlines()[0] == expected


@pytest.mark.parametrize(("line", "expected"), [
    ("# shout", "\\# shout"),
    ("> quote", "&gt; quote"),
    ("- item", "\\- item"),
    ("+ item", "\\+ item"),
    ("===", "\\==="),
    ("---", "\\---"),
    ("***", "\\*\\*\\*"),
    ("12) item", "12\\) item"),
    ("3. item", "3\\. item"),
    ("2026 was a year", "2026 was a year"),
    ("    indented code", "indented code"),
    ("```python", "\\`\\`\\`python"),
    ("<img src=x onerror=alert(1)>", "&lt;img src=x onerror=alert(1)&gt;"),
    ("trailing break  ", "trailing break"),
])
def test_md_transcript_lines_stay_plain_text(line, expected):
    text = render(make_item(transcript={"text": f"Before\n{line}\nAfter", "segments": []}), "md")
    body = text.split("## Transcript\n\n", 1)[1]

    assert body == f"Before\n\n{expected}\n\nAfter\n"


def test_md_never_contains_a_raw_angle_bracket_from_user_text():
    hostile = "<script>x</script>"
    item = make_item(
        title=hostile,
        transcript={"text": hostile, "segments": []},
        summary={"text": hostile, "takeaways": [hostile],
                 "keyMoments": [{"timestamp": 1.0, "title": hostile, "description": hostile,
                                 "importance": hostile}]},
    )

    assert "<" not in render(item, "md")


# JSON


def test_json_is_the_item_in_documented_key_order():
    item = make_item()
    shuffled = dict(reversed(list(item.items())))
    text = render(shuffled, "json")

    assert json.loads(text) == item
    assert list(json.loads(text)) == [
        "id", "clientId", "title", "language", "durationSeconds", "wordCount", "source",
        "transcript", "summary", "processingOptions", "hasAudio", "createdAt", "updatedAt",
    ]
    assert "会議 🎙" in text  # UTF-8, not \u escapes
    assert text.endswith("}\n")


def test_json_is_stable_whatever_the_input_order():
    item = make_item(processingOptions={"b": 1, "a": {"d": 2, "c": 3}})
    reordered = make_item(processingOptions={"a": {"c": 3, "d": 2}, "b": 1})
    reordered["transcript"] = {"segments": [dict(reversed(list(s.items())))
                                            for s in item["transcript"]["segments"]],
                               "text": item["transcript"]["text"]}

    assert render(item, "json") == render(reordered, "json")
    first_segment = json.loads(render(reordered, "json"))["transcript"]["segments"][0]
    assert list(first_segment) == ["start", "end", "text"]


def test_json_keeps_null_summary():
    assert json.loads(render(make_item(summary=None), "json"))["summary"] is None


# Cue times


@pytest.mark.parametrize(("seconds", "srt"), [
    (0, "00:00:00,000"),
    (4.2, "00:00:04,200"),
    (59.9996, "00:01:00,000"),
    (59.9994, "00:00:59,999"),
    (0.0005, "00:00:00,001"),
    (3599.9995, "01:00:00,000"),
    (3661.001, "01:01:01,001"),
    (86400.0, "24:00:00,000"),
    (360000.0, "100:00:00,000"),
    (1234567.891, "342:56:07,891"),
    (-3.0, "00:00:00,000"),
    (float("nan"), "00:00:00,000"),
    (float("inf"), "00:00:00,000"),
])
def test_cue_time_rounds_to_the_millisecond(seconds, srt):
    assert cue_time(seconds, ",") == srt
    assert cue_time(seconds, ".") == srt.replace(",", ".")


@given(st.floats(min_value=0, max_value=10**7, allow_nan=False))
def test_cue_time_fields_never_overflow(seconds):
    hours, minutes, rest = cue_time(seconds, ",").split(":")
    secs, millis = rest.split(",")

    assert len(hours) >= 2 and int(minutes) < 60 and int(secs) < 60
    assert len(millis) == 3
    assert abs(int(hours) * 3600 + int(minutes) * 60 + int(secs) + int(millis) / 1000
               - seconds) <= 0.0005 + 1e-9 * seconds


# SRT


def test_srt_cues_numbered_with_crlf_and_collapsed_text():
    body, _ = render_export(make_item(), "srt")

    assert body.decode("utf-8") == (
        "1\r\n00:00:00,000 --> 00:00:04,200\r\nBonjour à tous.\r\n\r\n"
        "2\r\n00:00:04,200 --> 00:01:00,000\r\nOn commence ?\r\nOui.\r\n\r\n"
        "3\r\n01:00:00,000 --> 03:00:34,500\r\nFin — 終わり\r\n"
    )
    assert b"\n" not in body.replace(b"\r\n", b"")


def test_srt_blank_segments_are_skipped_and_numbering_stays_dense():
    segments = [
        {"start": 0.0, "end": 1.0, "text": "one"},
        {"start": 1.0, "end": 2.0, "text": "  \n\t "},
        {"start": 2.0, "end": 3.0, "text": "two"},
    ]
    text = render(make_item(transcript={"text": "one two", "segments": segments}), "srt")

    assert [block.split("\r\n")[0] for block in text.strip().split("\r\n\r\n")] == ["1", "2"]
    assert "two" in text


def test_srt_neutralises_arrows_in_text():
    segments = [{"start": 0.0, "end": 1.0, "text": "a --> b\n2\n00:00:01,000 --> 00:00:02,000"}]
    text = render(make_item(transcript={"text": "x", "segments": segments}), "srt")

    assert text.count("-->") == 1


def test_srt_end_before_start_is_shown_as_start():
    segments = [{"start": 5.0, "end": 4.0, "text": "x"}]
    text = render(make_item(transcript={"text": "x", "segments": segments}), "srt")

    assert "00:00:05,000 --> 00:00:05,000" in text


# VTT


def test_vtt_header_and_cues():
    text = render(make_item(), "vtt")

    assert text == (
        "WEBVTT\n\n"
        "00:00:00.000 --> 00:00:04.200\nBonjour à tous.\n\n"
        "00:00:04.200 --> 00:01:00.000\nOn commence ?\nOui.\n\n"
        "01:00:00.000 --> 03:00:34.500\nFin — 終わり\n"
    )


def test_vtt_escapes_markup_and_arrows():
    segments = [{"start": 0.0, "end": 1.0, "text": "a --> b <c.red>x</c> & y\n\n\nNOTE z"}]
    text = render(make_item(transcript={"text": "x", "segments": segments}), "vtt")
    cue = text.split("\n\n")[1].rstrip("\n")

    assert cue == "00:00:00.000 --> 00:00:01.000\na --&gt; b &lt;c.red&gt;x&lt;/c&gt; &amp; y\nNOTE z"
    assert text.count("-->") == 1


@pytest.mark.parametrize("fmt", ["srt", "vtt"])
@pytest.mark.parametrize("transcript", [
    {"text": "no timing", "segments": []},
    {"text": "blank timing", "segments": [{"start": 0.0, "end": 1.0, "text": " \n "}]},
])
def test_subtitles_need_timed_segments(fmt, transcript):
    with pytest.raises(NoTimedSegments):
        render_export(make_item(transcript=transcript), fmt)


@pytest.mark.parametrize("fmt", ["txt", "md", "json"])
def test_other_formats_do_not_need_segments(fmt):
    render_export(make_item(transcript={"text": "words", "segments": []}), fmt)


# Content-Disposition


HOSTILE_TITLES = [
    "../../etc/passwd",
    "..\\..\\windows\\system32",
    "..",
    ".",
    "...",
    "",
    "   \t\n ",
    ".hidden",
    'say "hi"',
    "back\\slash",
    "line\r\nX-Injected: yes",
    "nul\x00byte\x07bell\x1b[31m\x7fdel",
    "semi;colon; filename=evil.exe",
    "100% done %0d%0a",
    "emoji 🎙🔥 only",
    "🎙🔥",
    "\u202egnp.exe",
    "zero\u200bwidth\ufeffbom",
    "a" * 500,
    "会議" * 200,
    "CON",
    "nul",
    "Com1",
    "LPT9.notes",
    "aux ",
    "COM\u00b9",
    "C:\\Users\\x",
    "a/b/c",
    "tab\there",
    "\ud800lone surrogate",
    "fi ligature \ufb01 and \uff26\uff55\uff4c\uff4c width",
    "é" * 150,
]


def filenames(header: str) -> tuple[str, str]:
    """(filename, filename*) as the standard library and werkzeug decode them."""
    message = Message()
    message["Content-Disposition"] = header
    plain = message.get_param("filename", header="content-disposition")
    assert isinstance(plain, str)
    # The email package keeps the first ``filename``; decode ``filename*`` on its own too.
    extended = Message()
    extended["Content-Disposition"] = "attachment; " + header.rsplit("; ", maxsplit=1)[-1]
    decoded = extended.get_filename()
    assert isinstance(decoded, str)
    disposition, options = parse_options_header(header)
    assert disposition == "attachment"
    assert options["filename"] == decoded  # werkzeug prefers filename*, as browsers do
    return plain, decoded


def assert_harmless(name: str, extension: str) -> None:
    assert name.endswith(f".{extension}")
    assert name != f".{extension}"
    assert not name.startswith((".", " "))
    assert "/" not in name and "\\" not in name
    assert not any(unicodedata.category(c) in {"Cc", "Cf", "Cs", "Zl", "Zp"} for c in name)
    assert not any(c in name for c in '"*:<>?|')
    stem = name[: -len(extension) - 1]
    assert 0 < len(stem) <= 100
    assert len(stem.encode("utf-8")) <= 200
    device = unicodedata.normalize("NFKD", stem.split(".")[0]).strip().upper()
    assert device not in {"CON", "PRN", "AUX", "NUL"} | {f"COM{i}" for i in range(10)} | {
        f"LPT{i}" for i in range(10)}


@pytest.mark.parametrize("title", HOSTILE_TITLES)
def test_content_disposition_is_harmless_for_hostile_titles(title):
    header = content_disposition(title, "txt")

    assert header.startswith("attachment; ")
    assert header.isascii()
    assert not any(c in header for c in "\r\n\x00")
    plain, decoded = filenames(header)
    assert plain.isascii()
    assert ";" not in plain and "%" not in plain
    assert_harmless(plain, "txt")
    assert_harmless(decoded, "txt")


@pytest.mark.parametrize(("title", "ascii_name", "unicode_name"), [
    ("Weekly sync", "Weekly sync.md", "Weekly sync.md"),
    ("Réunion d'équipe", "Reunion d'equipe.md", "Réunion d'équipe.md"),
    ("会議", "transcript.md", "会議.md"),
    ("", "transcript.md", "transcript.md"),
    ("../../etc/passwd", "etc_passwd.md", "etc_passwd.md"),
    ("CON", "CON_.md", "CON_.md"),
    ("con.txt", "_con.txt.md", "_con.txt.md"),
    ("\u202egnp.exe", "gnp.exe.md", "gnp.exe.md"),
    ("  many   spaces  ", "many spaces.md", "many spaces.md"),
])
def test_content_disposition_names(title, ascii_name, unicode_name):
    plain, decoded = filenames(content_disposition(title, "md"))

    assert (plain, decoded) == (ascii_name, unicode_name)


def test_content_disposition_exact_value():
    assert content_disposition("Café 50%", "txt") == (
        "attachment; filename=\"Cafe 50_.txt\"; filename*=UTF-8''Caf%C3%A9%2050%25.txt"
    )


def test_content_disposition_caps_long_titles():
    plain, decoded = filenames(content_disposition("x" * 500, "srt"))

    assert plain == decoded == "x" * 100 + ".srt"


def test_content_disposition_caps_by_bytes_on_a_character_boundary():
    _, decoded = filenames(content_disposition("会議" * 200, "vtt"))

    stem = decoded.removesuffix(".vtt")
    assert stem == "会議" * 33  # 66 characters, 198 bytes: a 67th would make 201
    assert len(stem.encode("utf-8")) <= 200


@pytest.mark.parametrize("extension", ["", "t/x", "../txt", "tx t", "é"])
def test_content_disposition_refuses_a_bad_extension(extension):
    with pytest.raises(ValueError, match="Extension"):
        content_disposition("x", extension)


@given(st.text(max_size=300), st.sampled_from(EXPORT_FORMATS))
def test_content_disposition_any_title(title, extension):
    header = content_disposition(title, extension)

    plain, decoded = filenames(header)
    assert_harmless(plain, extension)
    assert_harmless(decoded, extension)


@given(st.text(max_size=200))
def test_md_any_title_gives_one_heading_line(title):
    first, second = render(make_item(title=title), "md").split("\n", 2)[:2]

    assert first.startswith("# ")
    assert "<" not in first
    assert second == ""
