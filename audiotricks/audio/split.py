"""Cut a recording by time into parts that each fit one transcription request.

A file that already fits and is in a container the provider accepts is sent as it is. Anything else
is decoded and re-encoded, streaming, to MP3: mono, 16 kHz, constant 32 kbit/s. MP3 is the format
every OpenAI-compatible transcription server takes; 16 kHz mono is what speech models listen at
anyway (Whisper resamples to it); and a constant bit rate makes the size of a part a known function
of its length (4,000 bytes a second, 14.4 MB an hour), so four hours fit in three 25 MB parts.

Parts are cut at exact sample counts of the 16 kHz stream, so a part's offset is
``samples before it / 16000`` and segment times shifted by it line up with the whole recording.
Decoding, resampling and encoding go packet by packet: memory stays flat whatever the length.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass

import av
import av.error
from av.audio.fifo import AudioFifo
from av.audio.frame import AudioFrame
from av.audio.resampler import AudioResampler
from av.audio.stream import AudioStream
from av.container import OutputContainer

from audiotricks.audio.formats import PROVIDER_FORMATS, sniff_format
from audiotricks.audio.probe import AudioUnreadable, probe, read_head

SAMPLE_RATE = 16_000
BIT_RATE = 32_000
BYTES_PER_SECOND = BIT_RATE // 8
# Room left under max_bytes for the muxer's headers (ID3 and Xing frames) and the encoder's last
# padded frame, on top of a 3% margin.
_HEADER_ALLOWANCE = 4_096
_SIZE_MARGIN = 0.97
# OpenAI counts the whole request body against its limit, so a file sent as it is leaves room
# for the multipart framing and form fields around it.
REQUEST_OVERHEAD = 16_384
# Below this a part would hold under two seconds of audio: refuse rather than make hundreds.
MIN_MAX_BYTES = _HEADER_ALLOWANCE + 2 * BYTES_PER_SECOND * 2
# Samples handed to the encoder at a time (a multiple of MPEG-2 Layer III's 576-sample frame).
_CHUNK = 576 * 16


@dataclass
class AudioPart:
    """One piece of a recording to transcribe: where it is and where it starts in the whole."""

    path: str
    offset_seconds: float
    duration_seconds: float


def part_samples_for(max_bytes: int) -> int:
    """How many 16 kHz samples fit in ``max_bytes`` of 32 kbit/s MP3, with the safety margin."""
    seconds = (max_bytes * _SIZE_MARGIN - _HEADER_ALLOWANCE) / BYTES_PER_SECOND
    return max(SAMPLE_RATE, int(seconds) * SAMPLE_RATE)


def split_for_upload(path: str, *, max_bytes: int, workdir: str) -> list[AudioPart]:
    """The parts to transcribe ``path`` in, each at most ``max_bytes``, in order.

    Returns ``[AudioPart(path, 0, duration)]`` when the file fits (with ``REQUEST_OVERHEAD`` to
    spare for the request around it) and the provider takes its
    container; otherwise writes ``part-001.mp3``, ``part-002.mp3``… into ``workdir`` (which the
    caller creates and removes). Raises AudioUnreadable for a file FFmpeg cannot decode, and
    ValueError for a ``max_bytes`` too small to hold two seconds.
    """
    if max_bytes < MIN_MAX_BYTES:
        raise ValueError(f"max_bytes must be at least {MIN_MAX_BYTES}.")
    info = probe(path)
    if info.size_bytes <= max_bytes - REQUEST_OVERHEAD and sniff_format(read_head(path)) in PROVIDER_FORMATS:
        return [AudioPart(path=path, offset_seconds=0.0, duration_seconds=info.duration_seconds)]

    part_samples = part_samples_for(max_bytes)
    while True:
        parts = _encode_parts(path, part_samples, workdir)
        largest = max(os.path.getsize(part.path) for part in parts)
        if largest <= max_bytes:
            return parts
        # Constant bit rate makes this unlikely; if an encoder overshoots, cut shorter and redo.
        for part in parts:
            os.remove(part.path)
        smaller = int(part_samples * (max_bytes / largest) * 0.9)
        part_samples = max(SAMPLE_RATE, smaller - smaller % SAMPLE_RATE)


def _decoded_frames(path: str) -> Iterator[AudioFrame]:
    """The first audio stream of ``path`` as 16 kHz mono 16-bit frames, decoded as read."""
    resampler = AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
    try:
        with av.open(path, mode="r") as container:
            if not container.streams.audio:
                raise AudioUnreadable("The file has no audio stream.")
            stream = container.streams.audio[0]
            for packet in container.demux(stream):
                try:
                    frames = packet.decode()
                except av.error.InvalidDataError:
                    continue  # one damaged packet: skip it, as the ffmpeg tool does
                for frame in frames:
                    frame.pts = None  # resampler and FIFO count samples, not the source's clock
                    yield from resampler.resample(frame)
            yield from resampler.resample(None)
    except av.error.FFmpegError as exc:
        raise AudioUnreadable("FFmpeg cannot read the file as audio.") from exc


class _PartWriter:
    """One MP3 part being written, with the number of samples encoded into it."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.samples = 0
        self._container: OutputContainer = av.open(path, mode="w", format="mp3")
        stream = self._container.add_stream("libmp3lame", rate=SAMPLE_RATE, layout="mono")
        assert isinstance(stream, AudioStream)  # noqa: S101 - narrows the type for mypy
        stream.bit_rate = BIT_RATE
        self._stream = stream

    def write(self, frame: AudioFrame) -> None:
        frame.pts = self.samples
        self.samples += frame.samples
        for packet in self._stream.encode(frame):
            self._container.mux(packet)

    def close(self) -> None:
        for packet in self._stream.encode(None):
            self._container.mux(packet)
        self._container.close()

    def abort(self) -> None:
        with contextlib.suppress(av.error.FFmpegError):
            self._container.close()
        with contextlib.suppress(FileNotFoundError):
            os.remove(self.path)


def _encode_parts(path: str, part_samples: int, workdir: str) -> list[AudioPart]:
    """Re-encode ``path`` into consecutive MP3 parts of exactly ``part_samples`` (the last shorter)."""
    parts: list[AudioPart] = []
    fifo = AudioFifo()
    total = 0
    writer: _PartWriter | None = None

    def finish() -> None:
        nonlocal writer, total
        if writer is None:
            return
        writer.close()
        parts.append(
            AudioPart(
                path=writer.path,
                offset_seconds=total / SAMPLE_RATE,
                duration_seconds=writer.samples / SAMPLE_RATE,
            )
        )
        total += writer.samples
        writer = None

    def drain(*, final: bool) -> None:
        nonlocal writer
        while fifo.samples >= _CHUNK or (final and fifo.samples > 0):
            if writer is None:
                writer = _PartWriter(os.path.join(workdir, f"part-{len(parts) + 1:03d}.mp3"))
            wanted = min(_CHUNK, part_samples - writer.samples, fifo.samples)
            frame = fifo.read(wanted)
            if frame is None:
                break
            writer.write(frame)
            if writer.samples >= part_samples:
                finish()

    try:
        for frame in _decoded_frames(path):
            fifo.write(frame)
            drain(final=False)
        drain(final=True)
        finish()
    except BaseException:
        if writer is not None:
            writer.abort()
        for part in parts:
            with contextlib.suppress(FileNotFoundError):
                os.remove(part.path)
        raise
    if not parts:
        raise AudioUnreadable("No audio could be decoded from the file.")
    return parts
