"""OpenAI client for jobs: transcription with segment times, JSON summaries, and a key check.

A plain class over the official SDK, built from plain parameters (base URL, timeouts, retry budget),
returning our own dataclasses and raising our own errors, so the worker never handles SDK types.

Errors and retries. The SDK's own retries are off (``max_retries=0``); this module decides:

- 401 and 403: ``provider_key_invalid`` at once.
- 429 whose error code or type is ``insufficient_quota``: ``provider_quota`` at once.
- Other 429, 408, 409, 5xx, timeouts, connection errors, and a 200 whose body cannot be read:
  retried with exponential backoff and jitter, or after exactly the ``retry-after-ms`` /
  ``Retry-After`` the provider asked for, while the time spent (in requests and waiting) stays
  within ``retry_seconds``; then ``provider_unavailable``. Before every retry, and every second of a
  wait, ``should_continue()`` is asked; ``False`` raises Canceled, so a canceled job makes no
  further call.
- 400 on a transcription about the file (no ``param``, or ``param`` "file"): ``audio_unreadable``,
  since the provider could not decode what it was sent; a 400 about another parameter (a model or
  language it does not know) is configuration, so ``provider_unavailable``, like every other 4xx.
- 413: ``provider_unavailable`` naming the likely cause (TRANSCRIBE_MAX_BYTES above what the server
  accepts).

ProviderError is raised ``from None``: the SDK's exception carries the provider's body, and a
chained cause would put it into any traceback that is logged. Log lines here hold only the
operation, status codes, attempt numbers and durations; never the key, a body or transcript text.

Long transcripts (more than ``summary_chunk_chars`` characters, 100,000 by default, about 25,000
tokens) are summarised map-reduce: cut at line ends into chunks within the budget, each chunk
summarised on its own, then the partial summaries (as JSON) combined into one by a last call; if
the partial summaries themselves exceed the budget they are combined in groups first.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import openai

from audiotricks.audio.formats import EXTENSIONS, SNIFF_BYTES, sniff_format
from audiotricks.providers.languages import code_for_name, language_name

# Re-exported: the jobs and the tests import them from here.
from audiotricks.providers.retry import PROVIDER_UNAVAILABLE as PROVIDER_UNAVAILABLE  # noqa: PLC0414
from audiotricks.providers.retry import Canceled as Canceled  # noqa: PLC0414
from audiotricks.providers.retry import (
    Malformed,
    ProviderClient,
    Retry,
    retry_after,
)
from audiotricks.providers.retry import ProviderError as ProviderError  # noqa: PLC0414

log = logging.getLogger(__name__)

# The SDK logs request options (file parts and chat messages, so transcript text) at DEBUG: never
# let that through, whatever level the application runs at.
logging.getLogger("openai").setLevel(logging.INFO)

PROVIDER_KEY_INVALID = "provider_key_invalid"
PROVIDER_QUOTA = "provider_quota"
AUDIO_UNREADABLE = "audio_unreadable"

# Summary qualities, as stored in user settings (audiotricks.models.settings.SUMMARY_QUALITIES).
QUALITY_GUIDANCE = {
    "concise": (
        "Keep it short: a summary of 2 to 4 sentences, 3 to 5 takeaways and 3 to 5 key moments."
    ),
    "balanced": (
        "A summary of one to three paragraphs, 5 to 8 takeaways and 5 to 10 key moments."
    ),
    "detailed": (
        "Be thorough: a summary of several paragraphs covering every topic in order, 8 to 15 "
        "takeaways and 10 to 20 key moments."
    ),
}

# Bounds on what a model's reply may put into a summary; beyond them entries are cut or dropped.
SUMMARY_TEXT_MAX = 20_000
TAKEAWAYS_MAX = 50
TAKEAWAY_MAX_CHARS = 1_000
KEY_MOMENTS_MAX = 100
TITLE_MAX_CHARS = 200
DESCRIPTION_MAX_CHARS = 1_000
IMPORTANCE_LEVELS = ("high", "medium", "low")


T = TypeVar("T")


@dataclass(frozen=True)
class Segment:
    """A stretch of the transcript with its times in seconds."""

    start: float
    end: float
    text: str


@dataclass(frozen=True)
class Transcription:
    """A transcription: the text, the language heard (ISO 639-1 when known), segments with times."""

    text: str
    language: str | None
    duration: float | None
    segments: list[Segment]


@dataclass(frozen=True)
class KeyMoment:
    """A moment worth jumping to, at ``timestamp`` seconds; ``importance`` is high, medium or low."""

    timestamp: float
    title: str
    description: str
    importance: str


@dataclass(frozen=True)
class Summary:
    """A summary of a transcript: prose, takeaways and key moments."""

    text: str
    takeaways: list[str]
    key_moments: list[KeyMoment]


def join_transcriptions(pieces: Sequence[tuple[float, Transcription]]) -> Transcription:
    """One transcription from parts transcribed separately, each given with its offset in seconds.

    Segment times are shifted by their part's offset; the language is the first one reported.
    """
    segments = [
        Segment(start=seg.start + offset, end=seg.end + offset, text=seg.text)
        for offset, piece in pieces
        for seg in piece.segments
    ]
    texts = [piece.text.strip() for _, piece in pieces if piece.text.strip()]
    ends = [offset + piece.duration for offset, piece in pieces if piece.duration is not None]
    return Transcription(
        text=" ".join(texts),
        language=next((piece.language for _, piece in pieces if piece.language), None),
        duration=max(ends) if ends else None,
        segments=segments,
    )


def transcript_with_times(segments: Iterable[Segment]) -> str:
    """Render segments as ``[12.3] text`` lines: the form ``summarize`` reads timestamps from."""
    return "\n".join(f"[{seg.start:.1f}] {seg.text.strip()}" for seg in segments if seg.text.strip())


class OpenAIClient(ProviderClient):
    """One user's OpenAI key, bound to a base URL, with one method per provider call."""

    def __init__(  # noqa: PLR0913 - every knob is a keyword the worker sets from config
        self,
        api_key: str,
        *,
        base_url: str,
        timeout: float = 120.0,
        retry_seconds: float = 600.0,
        should_continue: Callable[[], bool] = lambda: True,
        sleep: Callable[[float], None] = time.sleep,
        transcribe_timeout: float = 600.0,
        summary_chunk_chars: int = 100_000,
        malformed_attempts: int = 3,
    ) -> None:
        super().__init__(
            "OpenAI",
            api_key,
            base_url,
            retry_seconds=retry_seconds,
            should_continue=should_continue,
            sleep=sleep,
            malformed_attempts=malformed_attempts,
            log=log,
        )
        # A 25 MB part can take minutes to transcribe: the default timeout would cut it off.
        self._transcribe_timeout = max(timeout, transcribe_timeout)
        self._chunk_chars = summary_chunk_chars
        self._client = openai.OpenAI(
            api_key=api_key, base_url=base_url, timeout=timeout, max_retries=0
        )

    def close(self) -> None:
        self._client.close()

    # Calls

    def list_models(self) -> None:
        """Ask for the model list; raises ProviderError when the key does not work."""

        def call() -> None:
            response = self._client.models.with_raw_response.list()
            data = _json_body(response.content)
            if not isinstance(data, dict) or not isinstance(data.get("data"), list):
                raise Malformed

        self._with_retries("models", call)

    def transcribe(self, path: str, *, model: str, language: str | None) -> Transcription:
        """Transcribe the audio file at ``path`` (at most one request's worth) with segment times.

        The file is streamed from disk; its name on the wire carries the extension of the format
        recognised from its content, which is how the provider picks a decoder.
        """
        filename = _upload_name(path)

        def call() -> Transcription:
            extra: dict[str, Any] = {"language": language} if language else {}
            with open(path, "rb") as handle:
                response = self._client.audio.transcriptions.with_raw_response.create(
                    file=(filename, handle),
                    model=model,
                    response_format="verbose_json",
                    timestamp_granularities=["segment"],
                    timeout=self._transcribe_timeout,
                    **extra,
                )
            return _parse_transcription(_json_body(response.content))

        return self._with_retries("transcription", call, bad_request_code=AUDIO_UNREADABLE)

    def summarize(self, transcript: str, *, language: str, quality: str, model: str) -> Summary:
        """Summarise ``transcript`` in ``language`` (ISO 639-1) at ``quality``.

        Timestamps of key moments come from ``[seconds]`` marks at line starts (see
        ``transcript_with_times``). Transcripts over the chunk budget are summarised map-reduce.
        """
        if quality not in QUALITY_GUIDANCE:
            raise ValueError(f"quality must be one of {sorted(QUALITY_GUIDANCE)}")
        chunks = split_text(transcript, self._chunk_chars)
        if len(chunks) <= 1:
            prompt = _system_prompt(language, quality, scope="whole")
            return self._summary_call(prompt, transcript, model)
        partials: list[Summary] = []
        for index, chunk in enumerate(chunks):
            if index:
                self._check_continue()
            scope = f"part {index + 1} of {len(chunks)}"
            partials.append(self._summary_call(_system_prompt(language, quality, scope=scope), chunk, model))
        return self._combine(partials, language=language, quality=quality, model=model)

    # Summaries

    def _combine(self, partials: list[Summary], *, language: str, quality: str, model: str) -> Summary:
        """Reduce partial summaries to one, in groups while they exceed the chunk budget."""
        rendered = [_render_summary(summary) for summary in partials]
        while sum(len(text) + 2 for text in rendered) > self._chunk_chars and len(rendered) > 1:
            groups = _group_within(rendered, self._chunk_chars)
            if len(groups) == len(rendered):  # each partial alone fills the budget: cut them
                share = max(1, self._chunk_chars // len(rendered) - 2)
                rendered = [text[:share] for text in rendered]
                break
            merged: list[str] = []
            for group in groups:
                self._check_continue()
                combined = self._summary_call(
                    _system_prompt(language, quality, scope="combine"), "\n\n".join(group), model
                )
                merged.append(_render_summary(combined))
            rendered = merged
        self._check_continue()
        prompt = _system_prompt(language, quality, scope="combine")
        return self._summary_call(prompt, "\n\n".join(rendered), model)

    def _summary_call(self, system_prompt: str, content: str, model: str) -> Summary:
        def call() -> Summary:
            response = self._client.chat.completions.with_raw_response.create(
                model=model,
                messages=[
                    {"role": "system", "content": system_prompt},
                    {"role": "user", "content": content},
                ],
                response_format={"type": "json_object"},
            )
            return _parse_summary_reply(_json_body(response.content))

        return self._with_retries("summary", call)

    # Retries

    def _check_continue(self) -> None:
        self._retrier.check_continue()

    def _with_retries(
        self, operation: str, call: Callable[[], T], *, bad_request_code: str = PROVIDER_UNAVAILABLE
    ) -> T:
        def classify(exc: Exception) -> Retry | None:
            if isinstance(exc, openai.APIStatusError):
                return Retry(
                    f"status {exc.status_code}", _classify_status(exc, operation, bad_request_code)
                )
            if isinstance(exc, openai.APITimeoutError):
                return Retry("timeout")
            if isinstance(exc, openai.APIConnectionError):
                return Retry("connection error")
            return None

        return self._retrier.run(operation, call, classify)


def _classify_status(exc: openai.APIStatusError, operation: str, bad_request_code: str) -> float | None:
    """Raise ProviderError for a final status; for a retryable one return the wait it asked for."""
    status = exc.status_code
    if status in {401, 403}:
        log.warning("openai %s: key rejected with status %d", operation, status)
        message = (
            "OpenAI rejected the API key." if status == 401 else "OpenAI refused access with this API key."
        )
        raise ProviderError(PROVIDER_KEY_INVALID, message, status=status) from None
    if status == 429 and "insufficient_quota" in {exc.code, exc.type}:
        log.warning("openai %s: quota exhausted (status 429)", operation)
        raise ProviderError(
            PROVIDER_QUOTA,
            "The OpenAI account has no credit left (insufficient quota).",
            status=status,
        ) from None
    if status in {408, 409, 429} or status >= 500:
        return retry_after(exc.response.headers)
    log.warning("openai %s: request refused with status %d", operation, status)
    if status == 400 and bad_request_code == AUDIO_UNREADABLE and exc.param in {None, "file"}:
        raise ProviderError(
            AUDIO_UNREADABLE, "OpenAI could not read the audio it was sent.", status=status
        ) from None
    if status == 413:
        raise ProviderError(
            PROVIDER_UNAVAILABLE,
            "The transcription server refused an audio part as too large "
            "(TRANSCRIBE_MAX_BYTES may be above what it accepts).",
            status=status,
        ) from None
    raise ProviderError(
        PROVIDER_UNAVAILABLE,
        f"OpenAI refused the request (HTTP {status}); check the model names and base URL.",
        status=status,
    ) from None


def _json_body(content: bytes) -> Any:
    try:
        return json.loads(content)
    except (ValueError, UnicodeDecodeError):
        raise Malformed from None


def _upload_name(path: str) -> str:
    with open(path, "rb") as handle:
        fmt = sniff_format(handle.read(SNIFF_BYTES))
    stem = os.path.splitext(os.path.basename(path))[0] or "audio"
    return f"{stem}.{EXTENSIONS.get(fmt or '', 'bin')}"


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _parse_transcription(data: Any) -> Transcription:
    if not isinstance(data, dict) or not isinstance(data.get("text"), str):
        raise Malformed
    text: str = data["text"]
    duration = _number(data.get("duration"))
    segments: list[Segment] = []
    raw_segments = data.get("segments")
    for item in raw_segments if isinstance(raw_segments, list) else []:
        if not isinstance(item, dict) or not isinstance(item.get("text"), str):
            continue
        start, end = _number(item.get("start")), _number(item.get("end"))
        if start is None or end is None:
            continue
        start = max(0.0, start)
        segments.append(Segment(start=start, end=max(start, end), text=item["text"].strip()))
    if not segments and text.strip() and duration is not None:
        # A compatible server that ignores timestamp_granularities: one segment for all of it.
        segments.append(Segment(start=0.0, end=duration, text=text.strip()))
    raw_language = data.get("language")
    language = None
    if isinstance(raw_language, str) and raw_language.strip():
        language = code_for_name(raw_language) or raw_language.strip().lower()
    return Transcription(text=text.strip(), language=language, duration=duration, segments=segments)


# Prompts

_SCHEMA_TEXT = (
    'Answer with one JSON object and nothing else, of the form {"summary": string, '
    '"takeaways": [string], "key_moments": [{"timestamp": number, "title": string, '
    '"description": string, "importance": "high" | "medium" | "low"}]}. "timestamp" is in seconds '
    "from the start of the recording, read from the [seconds] marks at the start of transcript "
    "lines; without marks, estimate it from the position in the text. Titles are short (at most "
    "a dozen words). Order key moments by time."
)


def _system_prompt(language: str, quality: str, *, scope: str) -> str:
    """The system prompt for the whole transcript, one part of it, or combining partial summaries."""
    name = language_name(language)
    target = f"Write everything in {name} (ISO 639-1 code: {language}), whatever the transcript's language."
    if scope == "whole":
        task = "You summarise transcripts of audio recordings. The user message is the transcript."
    elif scope == "combine":
        task = (
            "You combine partial summaries of consecutive parts of one recording, given as JSON "
            "objects in order, into one summary of the whole recording. Merge the takeaways, and "
            "keep the most important key moments with their timestamps unchanged."
        )
    else:
        task = (
            f"You summarise transcripts of audio recordings. The user message is {scope} of a long "
            "transcript; summarise this part only."
        )
    return " ".join((task, QUALITY_GUIDANCE[quality], target, _SCHEMA_TEXT))


def split_text(text: str, budget: int) -> list[str]:
    """Cut ``text`` into pieces of at most ``budget`` characters, at line ends or spaces if it can."""
    if len(text) <= budget:
        return [text]
    pieces: list[str] = []
    start = 0
    while start < len(text):
        end = min(len(text), start + budget)
        if end < len(text):
            cut = text.rfind("\n", start + budget // 2, end)
            if cut == -1:
                cut = text.rfind(" ", start + budget // 2, end)
            if cut != -1:
                end = cut + 1
        pieces.append(text[start:end])
        start = end
    return pieces


def _group_within(texts: list[str], budget: int) -> list[list[str]]:
    groups: list[list[str]] = [[]]
    size = 0
    for text in texts:
        if groups[-1] and size + len(text) + 2 > budget:
            groups.append([])
            size = 0
        groups[-1].append(text)
        size += len(text) + 2
    return groups


def _render_summary(summary: Summary) -> str:
    return json.dumps(
        {
            "summary": summary.text,
            "takeaways": summary.takeaways,
            "key_moments": [
                {
                    "timestamp": moment.timestamp,
                    "title": moment.title,
                    "description": moment.description,
                    "importance": moment.importance,
                }
                for moment in summary.key_moments
            ],
        },
        ensure_ascii=False,
    )


# Reading a model's reply


def _parse_summary_reply(data: Any) -> Summary:
    """The summary in a chat completion body; Malformed when there is none to be had."""
    try:
        content = data["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        raise Malformed from None
    if not isinstance(content, str):
        raise Malformed
    return summary_from_json(_json_body(content.encode("utf-8")))


def summary_from_json(value: Any) -> Summary:
    """Validate a model's summary object, cutting or dropping what is out of bounds.

    Raises Malformed only when there is no usable summary text at all.
    """
    if not isinstance(value, dict):
        raise Malformed
    text = value.get("summary")
    if not isinstance(text, str) or not text.strip():
        raise Malformed
    raw_takeaways = value.get("takeaways")
    takeaways = [
        item.strip()[:TAKEAWAY_MAX_CHARS]
        for item in (raw_takeaways if isinstance(raw_takeaways, list) else [])
        if isinstance(item, str) and item.strip()
    ][:TAKEAWAYS_MAX]
    raw_moments = value.get("key_moments", value.get("keyMoments"))
    moments = [
        moment
        for moment in map(_key_moment, raw_moments if isinstance(raw_moments, list) else [])
        if moment is not None
    ]
    moments.sort(key=lambda moment: moment.timestamp)
    return Summary(
        text=text.strip()[:SUMMARY_TEXT_MAX],
        takeaways=takeaways,
        key_moments=moments[:KEY_MOMENTS_MAX],
    )


def _key_moment(item: Any) -> KeyMoment | None:
    if not isinstance(item, dict):
        return None
    timestamp = _timestamp(item.get("timestamp"))
    title = item.get("title")
    if timestamp is None or not isinstance(title, str) or not title.strip():
        return None
    description = item.get("description")
    importance = item.get("importance")
    importance = importance.strip().lower() if isinstance(importance, str) else ""
    return KeyMoment(
        timestamp=timestamp,
        title=title.strip()[:TITLE_MAX_CHARS],
        description=description.strip()[:DESCRIPTION_MAX_CHARS] if isinstance(description, str) else "",
        importance=importance if importance in IMPORTANCE_LEVELS else "medium",
    )


def _timestamp(value: Any) -> float | None:
    """Seconds from a number, or from "ss", "mm:ss" or "hh:mm:ss"; negative clamps to 0."""
    number = _number(value)
    if number is None and isinstance(value, str) and 0 < len(value) <= 16:
        parts = value.strip().split(":")
        if len(parts) <= 3:
            try:
                values = [float(part) for part in parts]
            except ValueError:
                return None
            number = 0.0
            for part in values:
                number = number * 60 + part
            if not math.isfinite(number):
                return None
    if number is None:
        return None
    return max(0.0, number)
