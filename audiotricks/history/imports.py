"""Convert the web app's local-storage history (``audioTricks_history``) into ``POST /history`` bodies.

Pure functions, no Flask, no database. :func:`to_create_body` does the structural conversion of
one item; the create schema then applies the field rules (lengths, ranges, ordering), and
:func:`local_path` maps its error paths back to the names the web app used. Decisions:

- ``id`` is required (it becomes ``clientId``, which makes a retried import idempotent): a string
  is kept as is, an integral number (``Date.now()``) becomes its decimal digits.
- ``timestamp`` is required: an ISO 8601 string (a value without an offset is taken as UTC) or a
  number of milliseconds since the Unix epoch (what ``Date.now()`` gives; never seconds). It
  becomes RFC 3339 UTC with ``Z``, milliseconds kept when present.
- Key-moment timestamps: ``"M:SS"`` (minutes may exceed 59, up to 4 digits: ``"61:30"`` is
  3,690 s), ``"H:MM:SS"`` (minutes 0-59), plain digits (seconds) or a non-negative number.
  Seconds are always 0-59; only ASCII digits count; signs, fractions in strings and anything
  else are refused.
- Language: Whisper reports a name (``"english"``); known names become their ISO 639-1 code and
  a two-letter code is lower-cased. Anything else is passed on for the create schema to judge.
- ``summary`` is ``None`` when the item has none, or when its summary object holds no text,
  takeaways or key moments (a failed summarisation).
- Optional strings (``title``, summary text, descriptions) read missing or ``null`` as empty;
  a key moment's missing ``title`` is passed on as ``None`` for the schema (which refuses it),
  and a missing or ``null`` ``importance`` is left out, so the schema's default (``medium``)
  applies, as it does for a key moment created through the API.
- Fields of the local format that the API does not keep (``wordCount``, Whisper's segment
  ``tokens``, ``avg_logprob``..., anything else) are ignored.

Every problem is an :class:`ImportFormatError`, whatever the input: its ``path`` is relative to
the item (``""`` is the item itself) and its message never quotes the submitted value.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

DEFAULT_TITLE = "Untitled audio"
# Bounds that keep conversion cheap and exact; the schema enforces the real field rules.
MAX_ID_BITS = 256
MAX_TIMESTAMP_CHARS = 64
MAX_CLOCK_DIGITS = 4

# Whisper's language names (its verbose_json ``language``) for languages with a 639-1 code.
WHISPER_LANGUAGES: dict[str, str] = {
    "afrikaans": "af", "albanian": "sq", "amharic": "am", "arabic": "ar", "armenian": "hy",
    "assamese": "as", "azerbaijani": "az", "bashkir": "ba", "basque": "eu", "belarusian": "be",
    "bengali": "bn", "bosnian": "bs", "breton": "br", "bulgarian": "bg", "burmese": "my",
    "castilian": "es", "catalan": "ca", "chinese": "zh", "croatian": "hr", "czech": "cs",
    "danish": "da", "dutch": "nl", "english": "en", "estonian": "et", "faroese": "fo",
    "finnish": "fi", "flemish": "nl", "french": "fr", "galician": "gl", "georgian": "ka",
    "german": "de", "greek": "el", "gujarati": "gu", "haitian": "ht", "haitian creole": "ht",
    "hausa": "ha", "hebrew": "he", "hindi": "hi", "hungarian": "hu", "icelandic": "is",
    "indonesian": "id", "italian": "it", "japanese": "ja", "javanese": "jv", "kannada": "kn",
    "kazakh": "kk", "khmer": "km", "korean": "ko", "lao": "lo", "latin": "la", "latvian": "lv",
    "letzeburgesch": "lb", "lingala": "ln", "lithuanian": "lt", "luxembourgish": "lb",
    "macedonian": "mk", "malagasy": "mg", "malay": "ms", "malayalam": "ml", "maltese": "mt",
    "maori": "mi", "marathi": "mr", "moldavian": "ro", "moldovan": "ro", "mongolian": "mn",
    "myanmar": "my", "nepali": "ne", "norwegian": "no", "nynorsk": "nn", "occitan": "oc",
    "panjabi": "pa", "pashto": "ps", "persian": "fa", "polish": "pl", "portuguese": "pt",
    "punjabi": "pa", "pushto": "ps", "romanian": "ro", "russian": "ru", "sanskrit": "sa",
    "serbian": "sr", "shona": "sn", "sindhi": "sd", "sinhala": "si", "sinhalese": "si",
    "slovak": "sk", "slovenian": "sl", "somali": "so", "spanish": "es", "sundanese": "su",
    "swahili": "sw", "swedish": "sv", "tagalog": "tl", "tajik": "tg", "tamil": "ta",
    "tatar": "tt", "telugu": "te", "thai": "th", "tibetan": "bo", "turkish": "tr",
    "turkmen": "tk", "ukrainian": "uk", "urdu": "ur", "uzbek": "uz", "valencian": "ca",
    "vietnamese": "vi", "welsh": "cy", "yiddish": "yi", "yoruba": "yo",
}

# Create-schema path -> local-format path, matched on whole leading components.
_PATH_PREFIXES: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = (
    (("clientId",), ("id",)),
    (("createdAt",), ("timestamp",)),
    (("durationSeconds",), ("duration",)),
    (("transcript",), ("results", "transcript")),
    (("summary", "text"), ("results", "summary", "summary")),
    (("summary", "keyMoments"), ("results", "summary", "key_moments")),
    (("summary",), ("results", "summary")),
)


class ImportFormatError(Exception):
    """One local-format item cannot be converted; ``path`` names the field, relative to the item."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path
        self.message = message


def to_create_body(raw: object) -> dict[str, Any]:
    """The ``POST /history`` body (camelCase) for one item of the web app's local history."""
    item = _object(raw, "", "Item")
    results = _object(item.get("results"), "results", "results")
    transcript = _object(results.get("transcript"), "results.transcript", "The transcript")
    return {
        "clientId": _client_id(item.get("id")),
        "title": _title(item.get("title")),
        "language": _language(transcript, item),
        "durationSeconds": _duration(item, transcript),
        "source": None,
        "transcript": {
            "text": _string(transcript.get("text"), "results.transcript.text", required=True),
            "segments": _segments(transcript.get("segments")),
        },
        "summary": _summary(results.get("summary")),
        "processingOptions": {},
        "createdAt": _created_at(item.get("timestamp")),
    }


def local_path(create_path: str) -> str:
    """Map an error path of the create schema (``summary.keyMoments.0.title``) to the local format."""
    parts = tuple(create_path.split("."))
    for prefix, replacement in _PATH_PREFIXES:
        if parts[: len(prefix)] == prefix:
            return ".".join(replacement + parts[len(prefix):])
    return create_path


# Readers: each checks the one type it needs and names the path when it is wrong.


def _object(value: object, path: str, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ImportFormatError(path, f"{what} must be an object.")
    return value


def _string(value: object, path: str, *, required: bool = False) -> str:
    """A string; missing or null is empty unless ``required``."""
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise ImportFormatError(path, "Must be a string.")
    return value


def _optional_string(value: object, path: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise ImportFormatError(path, "Must be a string.")


def _number(value: object, path: str) -> float:
    """A finite number as a float (``true`` is not a number, nor is an int too big for a float)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ImportFormatError(path, "Must be a number.")
    try:
        number = float(value)
    except OverflowError:
        raise ImportFormatError(path, "Must be a finite number.") from None
    if not math.isfinite(number):
        raise ImportFormatError(path, "Must be a finite number.")
    return number


def _list(value: object, path: str) -> list[Any]:
    """A list; missing or null is empty."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise ImportFormatError(path, "Must be a list.")
    return value


# Item fields


def _client_id(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() <= MAX_ID_BITS:
        return str(value)
    if isinstance(value, float) and math.isfinite(value) and value.is_integer() \
            and abs(value) < 2.0 ** MAX_ID_BITS:
        return str(int(value))
    raise ImportFormatError("id", "The id must be a string or a whole number.")


def _title(value: object) -> str:
    title = _string(value, "title")
    return title if title.strip() else DEFAULT_TITLE


def _language(transcript: Mapping[str, Any], item: Mapping[str, Any]) -> str | None:
    path = "results.transcript.language"
    value = _optional_string(transcript.get("language"), path)
    if not value:
        path = "language"
        value = _optional_string(item.get("language"), path)
    if not value:
        return None
    key = value.strip().lower()
    if key in WHISPER_LANGUAGES:
        return WHISPER_LANGUAGES[key]
    if len(key) == 2 and key.isascii() and key.isalpha():
        return key
    return value


def _duration(item: Mapping[str, Any], transcript: Mapping[str, Any]) -> float | None:
    if item.get("duration") is not None:
        return _number(item["duration"], "duration")
    if transcript.get("duration") is not None:
        return _number(transcript["duration"], "results.transcript.duration")
    return None


def _segments(value: object) -> list[dict[str, Any]]:
    base = "results.transcript.segments"
    segments = []
    for index, raw in enumerate(_list(value, base)):
        path = f"{base}.{index}"
        segment = _object(raw, path, "A segment")
        segments.append({
            "start": _number(segment.get("start"), f"{path}.start"),
            "end": _number(segment.get("end"), f"{path}.end"),
            "text": _string(segment.get("text"), f"{path}.text", required=True),
        })
    return segments


def _summary(value: object) -> dict[str, Any] | None:
    if value is None:
        return None
    base = "results.summary"
    summary = _object(value, base, "The summary")
    text = _string(summary.get("summary"), f"{base}.summary")
    takeaways = [
        _string(t, f"{base}.takeaways.{i}", required=True)
        for i, t in enumerate(_list(summary.get("takeaways"), f"{base}.takeaways"))
    ]
    moments = [
        _key_moment(m, f"{base}.key_moments.{i}")
        for i, m in enumerate(_list(summary.get("key_moments"), f"{base}.key_moments"))
    ]
    if not (text or takeaways or moments):
        return None
    return {"text": text, "takeaways": takeaways, "keyMoments": moments}


def _key_moment(value: object, path: str) -> dict[str, Any]:
    moment = _object(value, path, "A key moment")
    converted = {
        "timestamp": parse_clock(moment.get("timestamp"), f"{path}.timestamp"),
        "title": _optional_string(moment.get("title"), f"{path}.title"),
        "description": _string(moment.get("description"), f"{path}.description"),
    }
    importance = _optional_string(moment.get("importance"), f"{path}.importance")
    if importance is not None:
        converted["importance"] = importance
    return converted


def parse_clock(value: object, path: str = "timestamp") -> float:
    """Seconds from ``"M:SS"``, ``"H:MM:SS"``, plain digits or a non-negative number."""
    if not isinstance(value, str):
        number = _number(value, path)
        if number < 0:
            raise ImportFormatError(path, "Must not be negative.")
        return number
    parts = value.strip().split(":")
    bad = ImportFormatError(path, 'Must be a time as "MM:SS" or "H:MM:SS", or seconds.')
    if len(parts) > 3 or not all(
        0 < len(p) <= MAX_CLOCK_DIGITS and p.isascii() and p.isdigit() for p in parts
    ):
        raise bad
    numbers = [int(p) for p in parts]
    if len(numbers) >= 2 and (len(parts[-1]) != 2 or numbers[-1] > 59):
        raise bad
    if len(numbers) == 3 and (len(parts[1]) != 2 or numbers[1] > 59):
        raise bad
    seconds = 0
    for number in numbers:
        seconds = seconds * 60 + number
    return float(seconds)


def _created_at(value: object) -> str:
    path = "timestamp"
    if value is None:
        raise ImportFormatError(path, "The timestamp is required.")
    if isinstance(value, str):
        if len(value) > MAX_TIMESTAMP_CHARS:
            raise ImportFormatError(path, "Must be an ISO 8601 date and time.")
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ImportFormatError(path, "Must be an ISO 8601 date and time.") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
    else:
        millis = _number(value, path)
        try:
            moment = datetime.fromtimestamp(millis / 1000, tz=UTC)
        except (OverflowError, OSError, ValueError):
            raise ImportFormatError(path, "Must be a date within the supported range.") from None
    try:
        moment = moment.astimezone(UTC)
    except (OverflowError, ValueError):
        # A date next to year 1 or 9999 with an offset can leave datetime's range.
        raise ImportFormatError(path, "Must be a date within the supported range.") from None
    spec = "milliseconds" if moment.microsecond else "seconds"
    return moment.replace(tzinfo=None).isoformat(timespec=spec) + "Z"
