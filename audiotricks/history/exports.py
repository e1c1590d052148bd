"""Render a history item as a downloadable file: txt, md, json, srt or vtt.

Pure functions over the ``HistoryItem`` dict as the API dumps it (camelCase keys); no Flask, no
database. Decisions the contract leaves open:

- Every body is UTF-8 without a byte-order mark. Every content type carries ``charset=utf-8``
  except ``application/json`` (JSON is UTF-8 by definition, RFC 8259). SRT is text even though its
  registered-by-usage type is ``application/x-subrip``, so it gets ``charset=utf-8`` too: players
  that guess encodings otherwise mangle non-ASCII subtitles.
- SRT lines end with CRLF (SubRip's native form, read by every player); txt, md, json and vtt use
  LF (WebVTT allows either; LF is what browsers' own examples use).
- Cue times are rounded to the nearest millisecond before being split into fields, so 59.9996 s
  is ``00:01:00,000``, never ``00:00:59,1000``. Hours have at least two digits and grow past 99
  rather than wrapping. A negative or non-finite time is shown as zero; an end before its start
  is shown as the start.
- Cue text: each line is stripped and blank lines are dropped (a blank line ends a cue). A segment
  whose text is blank gives no cue; cues are numbered after that. If no cue is left, the export
  raises :class:`NoTimedSegments` like a transcript without segments.
- VTT cue text escapes ``&``, ``<`` and ``>`` (its markup characters), which also turns ``-->``
  into ``--&gt;``. SRT has no escapes, so ``-->`` in SRT text becomes ``->`` (some parsers would
  take the line for a timing line).
- Markdown escapes the characters that make structure: backslash, backtick, ``*``, ``_``, ``[``,
  ``]``, ``#``, ``|``, ``~`` everywhere; ``&``, ``<`` and ``>`` as entities so user text never
  becomes live HTML; a leading ``+``, ``-``, ``=`` or ``1.``/``1)`` on a line; leading and
  trailing spaces are dropped so text never turns into a code block or a hard break. Each
  non-blank line of the summary or transcript is its own paragraph.
- JSON is the item itself, keys in the documented ``HistoryItem`` order (then any others sorted),
  indented, non-ASCII kept as is.
"""

from __future__ import annotations

import json
import math
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

EXPORT_FORMATS = ("txt", "md", "json", "srt", "vtt")

CONTENT_TYPES = {
    "txt": "text/plain; charset=utf-8",
    "md": "text/markdown; charset=utf-8",
    "json": "application/json",
    "srt": "application/x-subrip; charset=utf-8",
    "vtt": "text/vtt; charset=utf-8",
}

DEFAULT_FILE_NAME = "transcript"
MAX_NAME_CHARS = 100
# ext4 and most file systems cap a name at 255 bytes; leave room for the extension.
MAX_NAME_BYTES = 200

# Documented key orders, so the JSON export reads the same whatever order the dump used.
_KEY_ORDERS: dict[str, tuple[str, ...]] = {
    "item": ("id", "clientId", "title", "language", "durationSeconds", "wordCount", "source",
             "transcript", "summary", "processingOptions", "hasAudio", "createdAt", "updatedAt"),
    "source": ("fileName", "fileSizeBytes"),
    "transcript": ("text", "segments"),
    "segments": ("start", "end", "text"),
    "summary": ("text", "takeaways", "keyMoments"),
    "keyMoments": ("timestamp", "title", "description", "importance"),
}

# Reserved device names on Windows, whatever the extension ("con.txt" is the console).
_WINDOWS_RESERVED = frozenset(
    ["CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"]
    + [f"COM{i}" for i in range(10)]
    + [f"LPT{i}" for i in range(10)]
)
# Characters no file name may hold on common systems, replaced in both name forms.
_NAME_UNSAFE = frozenset('/\\:*?"<>|')
# Also replaced in the ASCII fallback: ';' and '%' confuse naive header parsers and browsers
# that percent-decode ``filename=``.
_ASCII_UNSAFE = _NAME_UNSAFE | frozenset(";%`")

_MD_INLINE = str.maketrans({
    "\\": "\\\\", "`": "\\`", "*": "\\*", "_": "\\_", "[": "\\[", "]": "\\]", "#": "\\#",
    "|": "\\|", "~": "\\~", "&": "&amp;", "<": "&lt;", ">": "&gt;",
})
_VTT_TEXT = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})


class NoTimedSegments(Exception):
    """The transcript has no segment with text, so subtitles cannot be made."""


def render_export(item: Mapping[str, Any], fmt: str) -> tuple[bytes, str]:
    """The file body for ``item`` in format ``fmt`` and its content type."""
    if fmt not in CONTENT_TYPES:
        raise ValueError(f"Unknown export format; expected one of {', '.join(EXPORT_FORMATS)}.")
    if fmt == "txt":
        text = _render_txt(item)
    elif fmt == "md":
        text = _render_md(item)
    elif fmt == "json":
        text = _render_json(item)
    elif fmt == "srt":
        text = _render_srt(item)
    else:
        text = _render_vtt(item)
    return text.encode("utf-8"), CONTENT_TYPES[fmt]


def content_disposition(title: str, extension: str) -> str:
    """A complete ``Content-Disposition: attachment`` value with a file name made safe from ``title``.

    ``filename`` is a quoted ASCII fallback (NFKD-folded) and ``filename*`` the RFC 5987
    percent-encoded UTF-8 form. Neither holds path separators, control or bidi-format characters,
    quotes, a leading dot, a Windows device name or more than 100 characters before the extension;
    a title with nothing usable left gives ``transcript``.
    """
    ext = extension.lstrip(".")
    if not (ext and ext.isascii() and ext.isalnum()):
        raise ValueError("Extension must be ASCII letters and digits.")
    ext = ext.lower()
    unicode_stem = _safe_stem(_clean_unicode(title if isinstance(title, str) else ""))
    folded = unicodedata.normalize("NFKD", unicode_stem).encode("ascii", "ignore").decode("ascii")
    ascii_stem = _safe_stem("".join(_ascii_char(c) for c in folded))
    unicode_name = f"{unicode_stem}.{ext}"
    return (
        f'attachment; filename="{ascii_stem}.{ext}"; '
        f"filename*=UTF-8''{quote(unicode_name, safe='')}"
    )


# File names


def _clean_unicode(title: str) -> str:
    """The title with unsafe characters replaced and invisible or control ones removed."""
    out = []
    for char in title:
        category = unicodedata.category(char)
        if category in {"Cf", "Cs", "Co", "Cn"}:
            # Format (bidi overrides, zero-width), lone surrogates, private and unassigned code
            # points: invisible or unencodable, so they are dropped.
            continue
        if category in {"Cc", "Zl", "Zp"} or char.isspace():
            out.append(" ")
        elif char in _NAME_UNSAFE:
            out.append("_")
        else:
            out.append(char)
    return "".join(out)


def _ascii_char(char: str) -> str:
    """One character of the ASCII fallback: printable and harmless inside a quoted string."""
    if not " " <= char <= "~":
        return ""
    return "_" if char in _ASCII_UNSAFE else char


def _safe_stem(name: str) -> str:
    """Collapse spaces, trim, cap the length, refuse dot names and Windows device names."""
    name = " ".join(name.split())
    name = _truncate(name.lstrip(" ._"), MAX_NAME_CHARS, MAX_NAME_BYTES).rstrip(" .")
    if not name:
        return DEFAULT_FILE_NAME
    # NFKD so that "COM\u00b9" (superscript one) is caught like "COM1".
    device = unicodedata.normalize("NFKD", name.split(".", 1)[0]).rstrip(" ").upper()
    if device in _WINDOWS_RESERVED:
        name = f"{name}_" if "." not in name else f"_{name}"
    return name


def _truncate(name: str, max_chars: int, max_bytes: int) -> str:
    """At most ``max_chars`` characters and ``max_bytes`` UTF-8 bytes, cut on a character."""
    size = 0
    for index, char in enumerate(name[:max_chars]):
        size += len(char.encode("utf-8", "surrogatepass"))
        if size > max_bytes:
            return name[:index]
    return name[:max_chars]


# Shared formatting


def _clock(seconds: object) -> str:
    """``H:MM:SS`` (or ``M:SS`` under an hour) for durations and key moments."""
    total = int(_finite(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _finite(value: object) -> float:
    """A non-negative finite number, or zero for anything else."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0.0
    try:
        number = float(value)
    except OverflowError:
        return 0.0
    return number if math.isfinite(number) and number > 0 else 0.0


def _date(value: Any) -> str:
    """``2026-11-25 10:30 UTC`` from an RFC 3339 string; the string as is if it does not parse."""
    if not isinstance(value, str):
        return ""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return value
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC)
    return parsed.strftime("%Y-%m-%d %H:%M UTC")


def _one_line(value: Any) -> str:
    """Text on a single line: runs of whitespace, newlines included, become one space."""
    return " ".join(value.split()) if isinstance(value, str) else ""


def _lines(value: Any) -> list[str]:
    """The non-blank lines of ``value``, each stripped."""
    if not isinstance(value, str):
        return []
    return [line.strip() for line in value.splitlines() if line.strip()]


def _dict(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _header_fields(item: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(label, value) pairs shown under the title in txt and md."""
    fields = [("Date", _date(item.get("createdAt")))]
    if isinstance(item.get("language"), str) and item["language"]:
        fields.append(("Language", item["language"]))
    if item.get("durationSeconds") is not None:
        fields.append(("Duration", _clock(item["durationSeconds"])))
    source = _dict(item.get("source"))
    if isinstance(source.get("fileName"), str):
        fields.append(("Source", _one_line(source["fileName"])))
    return [(label, value) for label, value in fields if value]


def _title(item: Mapping[str, Any]) -> str:
    return _one_line(item.get("title")) or "Untitled audio"


# txt


def _render_txt(item: Mapping[str, Any]) -> str:
    title = _title(item)
    out = [title, "=" * min(len(title), 80)]
    out += [f"{label}: {value}" for label, value in _header_fields(item)]
    summary = _dict(item.get("summary"))
    if item.get("summary") is not None:
        out += ["", "Summary", "-------", *_lines(summary.get("text"))]
        takeaways = [_one_line(t) for t in _list(summary.get("takeaways"))]
        if any(takeaways):
            out += ["", "Key takeaways"]
            out += [f"- {t}" for t in takeaways if t]
        moments = [_dict(m) for m in _list(summary.get("keyMoments"))]
        if moments:
            out += ["", "Key moments"]
            out += [_txt_moment(m) for m in moments]
    out += ["", "Transcript", "----------", *_lines(_dict(item.get("transcript")).get("text"))]
    return "\n".join(out) + "\n"


def _txt_moment(moment: Mapping[str, Any]) -> str:
    line = f"- [{_clock(moment.get('timestamp'))}] {_one_line(moment.get('title'))}"
    if _one_line(moment.get("importance")):
        line += f" ({_one_line(moment.get('importance'))})"
    if _one_line(moment.get("description")):
        line += f": {_one_line(moment.get('description'))}"
    return line


# Markdown


def _md_inline(value: Any) -> str:
    """One line of user text, escaped so it stays plain text in a Markdown renderer."""
    text = _one_line(value).translate(_MD_INLINE)
    return _md_line_start(text)


def _md_line_start(text: str) -> str:
    """Escape a marker that would make a list item, quote or heading underline at line start."""
    if text[:1] in {"+", "-", "="}:
        return "\\" + text
    digits = 0
    while digits < len(text) and digits < 10 and "0" <= text[digits] <= "9":
        digits += 1
    if digits and text[digits:digits + 1] in {".", ")"}:
        return f"{text[:digits]}\\{text[digits:]}"
    return text


def _md_paragraphs(value: Any) -> list[str]:
    """Each non-blank line as its own escaped paragraph (blank lines between)."""
    out: list[str] = []
    for line in _lines(value):
        out += [_md_line_start(line.translate(_MD_INLINE)), ""]
    return out


def _render_md(item: Mapping[str, Any]) -> str:
    out = [f"# {_md_inline(_title(item))}", ""]
    out += [f"- **{label}:** {_md_inline(value)}" for label, value in _header_fields(item)]
    out.append("")
    if item.get("summary") is not None:
        summary = _dict(item.get("summary"))
        out += ["## Summary", "", *_md_paragraphs(summary.get("text"))]
        takeaways = [_md_inline(t) for t in _list(summary.get("takeaways"))]
        if any(takeaways):
            out += ["### Key takeaways", ""]
            out += [f"- {t}" for t in takeaways if t]
            out.append("")
        moments = [_dict(m) for m in _list(summary.get("keyMoments"))]
        if moments:
            out += ["### Key moments", ""]
            out += [_md_moment(m) for m in moments]
            out.append("")
    out += ["## Transcript", "", *_md_paragraphs(_dict(item.get("transcript")).get("text"))]
    return "\n".join(out).rstrip("\n") + "\n"


def _md_moment(moment: Mapping[str, Any]) -> str:
    line = f"- **{_clock(moment.get('timestamp'))}** {_md_inline(moment.get('title'))}"
    if _one_line(moment.get("importance")):
        line += f" ({_md_inline(moment.get('importance'))})"
    if _one_line(moment.get("description")):
        line += f": {_md_inline(moment.get('description'))}"
    return line


# JSON


def _ordered(value: Any, kind: str) -> Any:
    """``value`` with object keys in the documented order for ``kind``, others sorted after."""
    if isinstance(value, Mapping):
        order = _KEY_ORDERS.get(kind, ())
        keys = [k for k in order if k in value]
        keys += sorted((k for k in value if k not in order), key=str)
        # processingOptions is free-form: its keys are only sorted.
        return {k: _ordered(value[k], k if kind != "processingOptions" else kind) for k in keys}
    if isinstance(value, list):
        return [_ordered(v, kind) for v in value]
    return value


def _render_json(item: Mapping[str, Any]) -> str:
    # allow_nan=False: an out-of-range float must fail loudly, not produce invalid JSON.
    return json.dumps(_ordered(item, "item"), ensure_ascii=False, indent=2, allow_nan=False) + "\n"


# Subtitles


def cue_time(seconds: float, decimal: str) -> str:
    """``HH:MM:SS<decimal>mmm``, rounded to the millisecond first so no field overflows."""
    # Half up, not Python's half-to-even: 0.0005 s is 1 ms like every subtitle tool says.
    millis = math.floor(_finite(seconds) * 1000 + 0.5)
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{decimal}{millis:03d}"


def _cues(item: Mapping[str, Any]) -> Iterator[tuple[float, float, list[str]]]:
    """(start, end, lines) for every segment with visible text."""
    for segment in _list(_dict(item.get("transcript")).get("segments")):
        seg = _dict(segment)
        lines = _lines(seg.get("text"))
        if lines:
            start = _finite(seg.get("start"))
            yield start, max(start, _finite(seg.get("end"))), lines


def _subtitles(cues: Iterable[str]) -> list[str]:
    blocks = list(cues)
    if not blocks:
        raise NoTimedSegments("Transcript has no timed segments")
    return blocks


def _render_srt(item: Mapping[str, Any]) -> str:
    blocks = _subtitles(
        f"{number}\r\n{cue_time(start, ',')} --> {cue_time(end, ',')}\r\n"
        + "\r\n".join(line.replace("-->", "->") for line in lines)
        for number, (start, end, lines) in enumerate(_cues(item), start=1)
    )
    return "\r\n\r\n".join(blocks) + "\r\n"


def _render_vtt(item: Mapping[str, Any]) -> str:
    blocks = _subtitles(
        f"{cue_time(start, '.')} --> {cue_time(end, '.')}\n"
        + "\n".join(line.translate(_VTT_TEXT) for line in lines)
        for start, end, lines in _cues(item)
    )
    return "WEBVTT\n\n" + "\n\n".join(blocks) + "\n"
