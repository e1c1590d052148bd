"""Recognising, probing and cutting real audio files made by the tests."""

from __future__ import annotations

import os
import struct

import av
import pytest

from audiotricks.audio import (
    PROVIDER_FORMATS,
    SNIFF_BYTES,
    AudioUnreadable,
    probe,
    sniff_format,
    split_for_upload,
)
from audiotricks.audio.split import BYTES_PER_SECOND, SAMPLE_RATE
from tests.audio_files import make_audio

EXPECTED = {
    "wav": ("wav", "pcm_s16le"),
    "mp3": ("mp3", "mp3"),
    "m4a": ("mp4", "aac"),
    "mp4": ("mp4", "aac"),
    "ogg": ("ogg", "opus"),
    "webm": ("webm", "opus"),
    "mka": ("matroska", "opus"),
    "flac": ("flac", "flac"),
}


def head(path: str) -> bytes:
    with open(path, "rb") as handle:
        return handle.read(SNIFF_BYTES)


@pytest.mark.parametrize("fmt", sorted(EXPECTED))
def test_every_format_is_recognised_by_content_and_probed(tmp_path, fmt):
    path = make_audio(str(tmp_path / "recording.bin"), seconds=3, fmt=fmt)

    info = probe(path)

    assert sniff_format(head(path)) == EXPECTED[fmt][0]
    assert info.container == EXPECTED[fmt][0]
    assert info.codec == EXPECTED[fmt][1]
    assert info.duration_seconds == pytest.approx(3.0, abs=0.05)
    assert info.size_bytes == os.path.getsize(path)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"hello world, this is text and not audio at all" * 2,
        b"%PDF-1.7\n" + bytes(60),
        b"\x89PNG\r\n\x1a\n" + bytes(60),
        b"\x00\x00\x00\x18ftypheic" + bytes(60),  # a photo in an ISO media box
        b"RIFF\x00\x00\x00\x00AVI LIST" + bytes(60),  # RIFF, but a video
        b"OggS\x00\x02" + bytes(20) + b"\x01\x80theora" + bytes(30),  # Ogg, but Theora video
        b"\x1a\x45\xdf\xa3\x88\x42\x82\x84mkv!" + bytes(60),  # EBML with an unknown DocType
        b"\xff\xfb\xf0\x00" + bytes(60),  # frame sync with the reserved bitrate index 15
        b"\xff\xf1\x50\x80" + bytes(60),  # an AAC ADTS header (layer bits 00), not MP3
        bytes(64),
    ],
)
def test_other_content_is_not_recognised(data):
    assert sniff_format(data[:SNIFF_BYTES]) is None


def test_raw_mpeg_frames_without_id3_are_mp3():
    # MPEG-1 Layer III, 128 kbit/s, 44.1 kHz, as a stream cut mid-file begins.
    assert sniff_format(b"\xff\xfb\x90\x64" + bytes(60)) == "mp3"


def test_matroska_is_recognised_but_not_sent_as_it_is():
    assert "matroska" not in PROVIDER_FORMATS
    assert {"mp3", "mp4", "wav", "webm", "ogg", "flac"} == PROVIDER_FORMATS


def test_browser_webm_without_duration_is_measured_by_demuxing(tmp_path):
    path = make_audio(str(tmp_path / "live.webm"), seconds=12, fmt="webm", live=True)
    with av.open(path) as container:  # the premise: nothing in the headers says how long it is
        assert container.duration is None
        assert container.streams.audio[0].duration is None

    info = probe(path)

    assert info.container == "webm"
    assert info.duration_seconds == pytest.approx(12.0, abs=0.05)


def test_garbage_is_unreadable(tmp_path):
    path = tmp_path / "junk.mp3"
    path.write_bytes(os.urandom(4096))

    with pytest.raises(AudioUnreadable):
        probe(str(path))


def test_empty_file_is_unreadable(tmp_path):
    path = tmp_path / "empty.wav"
    path.write_bytes(b"")

    with pytest.raises(AudioUnreadable):
        probe(str(path))


@pytest.mark.parametrize("fmt", ["wav", "flac", "m4a", "ogg"])
def test_file_cut_after_its_header_is_unreadable(tmp_path, fmt):
    full = make_audio(str(tmp_path / f"full.{fmt}"), seconds=2, fmt=fmt)
    with open(full, "rb") as handle:
        start = handle.read(40)
    truncated = tmp_path / f"truncated.{fmt}"
    truncated.write_bytes(start)

    with pytest.raises(AudioUnreadable):
        probe(str(truncated))


def test_wav_header_with_no_samples_is_unreadable(tmp_path):
    fmt_chunk = struct.pack("<4sIHHIIHH", b"fmt ", 16, 1, 1, 16000, 32000, 2, 16)
    data_chunk = struct.pack("<4sI", b"data", 0)
    body = b"WAVE" + fmt_chunk + data_chunk
    path = tmp_path / "nothing.wav"
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)

    with pytest.raises(AudioUnreadable):
        probe(str(path))


def test_file_without_an_audio_stream_is_unreadable(tmp_path):
    path = str(tmp_path / "video.webm")
    with av.open(path, mode="w", format="webm") as container:
        stream = container.add_stream("libvpx", rate=5)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        for index in range(5):
            frame = av.VideoFrame(32, 32, "yuv420p")
            frame.pts = index
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)

    assert sniff_format(head(path)) == "webm"
    with pytest.raises(AudioUnreadable):
        probe(path)
    with pytest.raises(AudioUnreadable):
        split_for_upload(path, max_bytes=10_000_000, workdir=str(tmp_path))


@pytest.mark.parametrize("fmt", ["mp3", "m4a", "wav", "webm", "ogg", "flac"])
def test_a_file_that_fits_is_sent_as_it_is(tmp_path, fmt):
    path = make_audio(str(tmp_path / f"small.{fmt}"), seconds=4, fmt=fmt)
    workdir = tmp_path / "parts"
    workdir.mkdir()

    parts = split_for_upload(path, max_bytes=10_000_000, workdir=str(workdir))

    assert len(parts) == 1
    assert parts[0].path == path
    assert parts[0].offset_seconds == 0
    assert parts[0].duration_seconds == pytest.approx(4.0, abs=0.05)
    assert os.listdir(workdir) == []


def test_a_small_matroska_file_is_re_encoded(tmp_path):
    path = make_audio(str(tmp_path / "small.mka"), seconds=4, fmt="mka")

    parts = split_for_upload(path, max_bytes=10_000_000, workdir=str(tmp_path))

    assert len(parts) == 1
    assert parts[0].path != path
    assert sniff_format(head(parts[0].path)) == "mp3"
    assert parts[0].duration_seconds == pytest.approx(4.0, abs=1 / SAMPLE_RATE)


@pytest.mark.parametrize("fmt", ["wav", "webm"])
def test_a_long_recording_is_cut_by_time_into_parts_that_fit(tmp_path, fmt):
    seconds = 150.0
    source = make_audio(str(tmp_path / f"long.{fmt}"), seconds=seconds, fmt=fmt, live=fmt == "webm")
    max_bytes = 200_000
    workdir = tmp_path / "parts"
    workdir.mkdir()

    parts = split_for_upload(source, max_bytes=max_bytes, workdir=str(workdir))

    assert len(parts) >= 3
    expected_offset = 0.0
    for part in parts:
        assert os.path.dirname(part.path) == str(workdir)
        assert os.path.getsize(part.path) <= max_bytes
        assert sniff_format(head(part.path)) == "mp3"
        # Offsets are sample counts of the 16 kHz stream: each starts exactly where the last ended.
        assert part.offset_seconds == pytest.approx(expected_offset, abs=1e-9)
        assert probe(part.path).duration_seconds == pytest.approx(part.duration_seconds, abs=0.05)
        expected_offset += part.duration_seconds
    assert expected_offset == pytest.approx(probe(source).duration_seconds, abs=0.05)
    # Every part but the last is full: its length is what the budget allows at the fixed bit rate.
    assert all(p.duration_seconds == parts[0].duration_seconds for p in parts[:-1])
    assert parts[0].duration_seconds * BYTES_PER_SECOND <= max_bytes


def test_a_budget_too_small_for_two_seconds_is_refused(tmp_path):
    path = make_audio(str(tmp_path / "a.wav"), seconds=3)

    with pytest.raises(ValueError, match="max_bytes"):
        split_for_upload(path, max_bytes=5_000, workdir=str(tmp_path))


def test_unreadable_input_leaves_no_parts_behind(tmp_path):
    path = tmp_path / "junk.wav"
    path.write_bytes(b"RIFF" + os.urandom(10_000))
    workdir = tmp_path / "parts"
    workdir.mkdir()

    with pytest.raises(AudioUnreadable):
        split_for_upload(str(path), max_bytes=50_000, workdir=str(workdir))
    assert os.listdir(workdir) == []


def test_a_file_that_fits_only_without_room_for_the_request_is_re_encoded(tmp_path):
    path = make_audio(str(tmp_path / "edge.wav"), seconds=3, fmt="wav")
    size = os.path.getsize(path)

    parts = split_for_upload(path, max_bytes=size + 100, workdir=str(tmp_path))

    assert len(parts) == 1
    assert parts[0].path != path
    assert os.path.getsize(parts[0].path) < size
