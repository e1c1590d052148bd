"""Open a recording with FFmpeg (PyAV) and tell its duration, container and codec."""

from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction

import av
import av.error

from audiotricks.audio.formats import SNIFF_BYTES, sniff_format

# Packets decoded to prove the audio is really decodable before believing the header.
_DECODE_CHECK_PACKETS = 50


class AudioUnreadable(Exception):
    """The file is not audio FFmpeg can decode: garbage, truncated, or without an audio stream."""


@dataclass
class AudioInfo:
    """What probe found out about a recording."""

    duration_seconds: float
    container: str
    codec: str | None
    size_bytes: int


def read_head(path: str) -> bytes:
    """The first ``SNIFF_BYTES`` bytes of a file, for sniff_format."""
    with open(path, "rb") as handle:
        return handle.read(SNIFF_BYTES)


def probe(path: str) -> AudioInfo:
    """Open ``path`` with PyAV and describe its first audio stream, or raise AudioUnreadable.

    The duration comes from the container or stream headers when they carry one; files that lack it
    (WebM written live by a browser's MediaRecorder has no Duration element) are demuxed to the end
    and the last packet's end time is taken. Packets are read, not decoded, so that stays fast.
    """
    size = os.path.getsize(path)
    container_name = sniff_format(read_head(path))
    try:
        with av.open(path, mode="r") as container:
            if not container.streams.audio:
                raise AudioUnreadable("The file has no audio stream.")
            stream = container.streams.audio[0]
            codec = stream.codec_context.codec.canonical_name or None
            _check_decodable(container, stream)
            duration = _header_duration(container, stream)
            if duration is None:
                duration = _demuxed_duration(container, stream)
            format_name = container.format.name.split(",")[0]
    except av.error.FFmpegError as exc:
        raise AudioUnreadable("FFmpeg cannot read the file as audio.") from exc
    if duration is None or duration <= 0:
        raise AudioUnreadable("The recording has no measurable duration.")
    return AudioInfo(
        duration_seconds=duration,
        container=container_name or format_name,
        codec=codec,
        size_bytes=size,
    )


def _check_decodable(container: av.container.InputContainer, stream: av.AudioStream) -> None:
    """Decode the first few packets; a header with nothing decodable after it is unreadable."""
    for count, packet in enumerate(container.demux(stream)):
        if count >= _DECODE_CHECK_PACKETS:
            break
        try:
            if packet.decode():
                container.seek(0)
                return
        except av.error.InvalidDataError:
            continue
    raise AudioUnreadable("No audio could be decoded from the file.")


def _header_duration(container: av.container.InputContainer, stream: av.AudioStream) -> float | None:
    if stream.duration is not None and stream.time_base is not None and stream.duration > 0:
        return float(stream.duration * stream.time_base)
    if container.duration is not None and container.duration > 0:
        return container.duration / av.time_base
    return None


def _demuxed_duration(container: av.container.InputContainer, stream: av.AudioStream) -> float | None:
    """End time of the last packet, reading every packet once (no decoding)."""
    container.seek(0)
    time_base = stream.time_base or Fraction(1, stream.rate or 1)
    first: int | None = None
    last_end: int | None = None
    for packet in container.demux(stream):
        if packet.pts is None:
            continue
        if first is None:
            first = packet.pts
        end = packet.pts + (packet.duration or 0)
        if last_end is None or end > last_end:
            last_end = end
    if first is None or last_end is None:
        return None
    return float((last_end - min(first, 0)) * time_base)
