"""Speech jobs: an item's summary or transcript spoken by ElevenLabs and kept with the item.

The text is cut at sentence ends into parts of at most 5,000 characters (a longer sentence at a
space, and a run of 5,000 characters without one anywhere); each part is sent to text-to-speech
in turn, with progress per part; the MP3 parts are re-muxed with PyAV into one MP3 (packets
copied, not re-encoded, with a fresh Xing/Info header, so a browser knows the whole duration and
can seek); the file is stored in AUDIO_DIR and named by the item's ``audio_path``. A new speech of
the same item replaces the old file; deleting the item or the account deletes it.

Failure codes and retries are the transcription's (see :mod:`audiotricks.jobs.pipeline`), the
messages naming ElevenLabs. A job canceled while it runs makes no further provider call and
saves nothing.
"""

from __future__ import annotations

import bisect
import contextlib
import logging
import os
import re
import tempfile
import uuid
from typing import Any

import av
import av.error
from sqlalchemy import select, update

from audiotricks.errors import NotFound, StoredKeyUndecryptable, ValidationFailed
from audiotricks.extensions import db
from audiotricks.jobs import service
from audiotricks.jobs.pipeline import JobFailed, Run, Stopped
from audiotricks.jobs.queue import Queue
from audiotricks.models import HistoryItem, Job, User, utcnow
from audiotricks.providers.elevenlabs import TEXT_MAX_CHARS, ElevenLabsClient
from audiotricks.providers.retry import PROVIDER_UNAVAILABLE, Canceled, ProviderError
from audiotricks.runtime import current_config

log = logging.getLogger(__name__)

PART_MAX_CHARS = TEXT_MAX_CHARS
# The sentences a person reads when a speech job fails because of ElevenLabs.
MESSAGES = {
    "provider_key_missing": "No ElevenLabs API key is stored; store one and try again.",
    "provider_key_invalid": "The ElevenLabs API key was rejected; store a valid key and try again.",
    "provider_quota": "The ElevenLabs account has no credit left.",
    "provider_unavailable": "ElevenLabs could not be reached or kept failing; try again later.",
}
UNKNOWN_VOICE = "ElevenLabs does not know this voice; choose one from the voices list."
ITEM_GONE = "The history item was deleted before its speech was saved."
NOTHING_TO_SAY = "The history item has no text to speak."

_TERMINATORS = ".!?\u2026"
# Full stops that need no space after them (Chinese, Japanese, and their full-width marks).
_CLOSED_TERMINATORS = "\u3002\uff01\uff1f"
# What may follow a terminator and still belong to the sentence: quotes and brackets.
_CLOSERS = "\"')\\]}\u201d\u2019\u00bb\u300d\u300f\uff09"
# A terminator, then any run of terminators and closers: one class, one greedy repeat, nothing to
# backtrack into, so finding every run is one pass over the text.
_SENTENCE_END = re.compile(
    f"[{_TERMINATORS}{_CLOSED_TERMINATORS}][{_TERMINATORS}{_CLOSED_TERMINATORS}{_CLOSERS}]*"
)
# Where a too-long sentence may be cut (str.rfind on each: C speed, no Python loop per character).
_SPACES = (" ", "\n", "\t", "\r", "\u00a0", "\u3000", "\u2028", "\u2029", "\x0b", "\x0c")


# --- the text ------------------------------------------------------------------------------


def sentence_ends(text: str) -> list[int]:
    """Positions just after each sentence end (terminators, closing quotes), ascending: a run
    followed by whitespace or the end of the text, or starting with a full-width full stop."""
    length = len(text)
    return [
        match.end()
        for match in _SENTENCE_END.finditer(text)
        if match.end() == length
        or text[match.end()].isspace()
        or text[match.start()] in _CLOSED_TERMINATORS
    ]


def split_for_speech(text: str, limit: int = PART_MAX_CHARS) -> list[str]:
    """Cut ``text`` into parts of at most ``limit`` characters, at sentence ends when it can.

    A part ends at the last sentence end that fits; a sentence longer than ``limit`` is cut at
    its last whitespace that fits, and a run of ``limit`` characters without any is cut hard.
    Whitespace around parts is dropped; empty parts are never returned. Linear: every two parts
    advance by at least ``limit`` characters, and each scans at most its window.
    """
    ends = sentence_ends(text)
    parts: list[str] = []
    start, length = 0, len(text)
    while start < length:
        while start < length and text[start].isspace():
            start += 1
        if length - start <= limit:
            cut = length
        else:
            window_end = start + limit
            position = bisect.bisect_right(ends, window_end) - 1
            if position >= 0 and ends[position] > start:
                cut = ends[position]
            else:
                cut = _last_space(text, start, window_end) or window_end
        part = text[start:cut].strip()
        if part:
            parts.append(part)
        start = cut
    return parts


def _last_space(text: str, start: int, end: int) -> int | None:
    """The position after the last whitespace in ``text[start:end]`` (not at ``start``)."""
    found = max(text.rfind(space, start + 1, end) for space in _SPACES)
    return found + 1 if found != -1 else None


def source_text(item: HistoryItem, source: str) -> str:
    """The text a speech job speaks: the summary's prose, or the transcript."""
    if source == "summary":
        summary = item.summary or {}
        text = summary.get("text")
        return text if isinstance(text, str) else ""
    return item.transcript_text or ""


# --- where the audio lives -------------------------------------------------------------------


def audio_dir() -> str:
    from flask import current_app

    from audiotricks.config import AUDIO_DIRNAME

    return current_config().audio_dir or os.path.join(current_app.instance_path, AUDIO_DIRNAME)


def audio_file(name: str) -> str | None:
    """The path of a stored audio name; None for anything that is not one of ours."""
    if not name or os.path.basename(name) != name or not name.endswith(".mp3"):
        return None
    return os.path.join(audio_dir(), name)


def remove_audio(names: list[str | None]) -> None:
    """Delete stored audio files (those already gone are fine)."""
    for name in names:
        path = audio_file(name or "")
        if path:
            with contextlib.suppress(FileNotFoundError):
                os.remove(path)


# --- the API side ----------------------------------------------------------------------------


def create_speech(user: User, queue: Queue, body: dict[str, Any]) -> Job:
    """Check what can be checked now, then record and queue a speech job.

    409 without an ElevenLabs key, 404 for an item that is not the user's, 400 on ``source`` when
    that text is empty, 409 at the job cap.
    """
    from audiotricks.history import service as history
    from audiotricks.settings.service import user_settings
    from audiotricks.voices.service import NoElevenLabsKey

    if user_settings(user.id).elevenlabs_key_encrypted is None:
        raise NoElevenLabsKey()
    item = history.get_item(user, str(body["history_id"]))
    source = body["source"]
    if not source_text(item, source).strip():
        raise ValidationFailed(
            errors=[{"field": "source", "message": f"The item has no {source} text to speak."}]
        )
    if service.active_count(user.id) >= current_config().jobs_max_active:
        raise service.TooManyActiveJobs()
    now = utcnow()
    job = Job(
        id=uuid.uuid4(),
        user_id=user.id,
        kind="speech",
        status="queued",
        stage="queued",
        progress=0,
        history_id=item.id,
        options={"voice_id": body["voice_id"], "source": source},
        attempts=0,
        enqueued_at=now,
        created_at=now,
        updated_at=now,
    )
    return service.enqueue_new(user, queue, job)


# --- the worker side -------------------------------------------------------------------------


def run(job_run: Run) -> str:
    """Speak the item's text part by part, join the parts, store the file with the item."""
    job = job_run.job
    user = db.session.get(User, job.user_id)
    item = db.session.get(HistoryItem, job.history_id) if job.history_id else None
    if user is None or item is None or item.user_id != user.id:
        raise JobFailed("internal", ITEM_GONE)
    parts = split_for_speech(source_text(item, str(job.options.get("source"))))
    item_id = item.id
    db.session.commit()
    if not parts:
        raise JobFailed("internal", NOTHING_TO_SAY)
    job_run.progress("preparing", 2)
    folder = audio_dir()
    os.makedirs(folder, exist_ok=True)
    # In the audio folder itself: the joined file is then moved into place, never copied.
    job_run.workdir = tempfile.mkdtemp(prefix=f"job-{job.id}-", dir=folder)
    spoken = _speak(job_run, user, parts, str(job.options.get("voice_id")))
    job_run.progress("saving", 92)
    joined = os.path.join(job_run.workdir, "speech.mp3")
    try:
        join_mp3(spoken, joined)
    except (av.error.FFmpegError, ValueError, IndexError):
        log.warning("speech parts could not be joined", extra={"event": "speech_join_failed"})
        raise JobFailed(PROVIDER_UNAVAILABLE, "ElevenLabs' audio could not be read.") from None
    job_run.check()
    _save(job_run, user.id, item_id, joined, folder)
    return "succeeded"


def _client(job_run: Run, user: User) -> ElevenLabsClient:
    from audiotricks.settings.service import read_api_key

    config = current_config()
    try:
        stored = read_api_key(user.id, "elevenlabs")
    except (NotFound, StoredKeyUndecryptable):
        raise JobFailed("provider_key_missing", MESSAGES["provider_key_missing"]) from None
    job_run.key_in_use = ("elevenlabs", stored.ciphertext)
    return ElevenLabsClient(
        stored.api_key,
        base_url=config.elevenlabs_base_url,
        model=config.elevenlabs_tts_model,
        retry_seconds=config.provider_retry_seconds,
        should_continue=job_run.should_continue,
    )


def _speak(job_run: Run, user: User, parts: list[str], voice_id: str) -> list[str]:
    assert job_run.workdir is not None  # noqa: S101 - made by run()
    paths: list[str] = []
    with _client(job_run, user) as client:
        for index, part in enumerate(parts):
            job_run.progress(
                "speaking", 5 + 85 * index // len(parts), f"part {index + 1} of {len(parts)}"
            )
            job_run.check()
            path = os.path.join(job_run.workdir, f"part-{index:05d}.mp3")
            try:
                client.speak(part, voice_id, path)
            except Canceled:
                raise Stopped() from None
            except ProviderError as error:
                message = UNKNOWN_VOICE if error.status == 404 else MESSAGES.get(error.code)
                raise JobFailed(error.code, message) from None
            paths.append(path)
    return paths


def join_mp3(paths: list[str], out_path: str) -> None:
    """One MP3 from MP3 parts of the same format: packets re-muxed in order, times shifted.

    ValueError when a part is of another format than the first (never from one model and
    output format) or has no audio.
    """
    with av.open(out_path, "w", format="mp3") as output:
        target: Any = None
        first: tuple[Any, ...] | None = None
        offset = 0.0  # seconds of audio before this part
        for path in paths:
            with av.open(path) as source:
                stream = source.streams.audio[0]
                shape = (stream.codec_context.name, stream.rate, stream.codec_context.channels)
                if target is None:
                    target, first = output.add_stream_from_template(stream), shape
                elif shape != first:
                    raise ValueError("speech parts of different formats")
                time_base = stream.time_base
                if time_base is None:
                    raise ValueError("speech part without a time base")
                shift = round(offset / time_base)
                end = 0
                for packet in source.demux(stream):
                    if packet.dts is None or packet.pts is None:
                        continue  # the demuxer's final empty packet
                    packet.pts += shift
                    packet.dts += shift
                    end = max(end, packet.pts + (packet.duration or 0))
                    packet.stream = target
                    output.mux(packet)
                offset = float(end * time_base)
        if target is None:
            raise ValueError("no speech parts")


def _swap_audio(item_id: uuid.UUID, user_id: uuid.UUID, name: str) -> str | None:
    """Point the item at ``name``; the name it had. JobFailed when the item is gone.

    Compare-and-swap on the old value, so two speech jobs of one item finishing together each
    learn exactly which file they replaced (and no file is left behind). Not committed: the
    job's success commits it.
    """
    while True:
        row = db.session.execute(
            select(HistoryItem.audio_path).where(
                HistoryItem.id == item_id, HistoryItem.user_id == user_id
            )
        ).first()
        if row is None:
            raise JobFailed("internal", ITEM_GONE)
        old = row.audio_path
        same = HistoryItem.audio_path.is_(None) if old is None else HistoryItem.audio_path == old
        changed = db.session.execute(
            update(HistoryItem)
            .where(HistoryItem.id == item_id, HistoryItem.user_id == user_id, same)
            .values(audio_path=name, revision=HistoryItem.revision + 1, updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        if changed.rowcount == 1:  # type: ignore[attr-defined]
            return str(old) if old else None
        db.session.rollback()


def _save(
    job_run: Run, user_id: uuid.UUID, item_id: uuid.UUID, joined: str, folder: str
) -> None:
    """Move the file into place, point the item at it and mark the job succeeded, together; a
    job canceled meanwhile keeps nothing."""
    name = f"{item_id}.{job_run.job.id.hex}.mp3"
    final = os.path.join(folder, name)
    os.replace(joined, final)
    try:
        old = _swap_audio(item_id, user_id, name)
        done = service.succeed(job_run.job.id, job_run.token, item_id)
        if done:
            db.session.commit()
    except BaseException:
        db.session.rollback()
        remove_audio([name])
        raise
    if not done:
        db.session.rollback()
        remove_audio([name])
        raise Stopped()
    if old and old != name:
        remove_audio([old])
    log.info("speech saved", extra={"event": "speech_saved", "job_id": str(job_run.job.id)})
