"""Real audio files for tests, synthesised with FFmpeg's own sources through PyAV.

``speechlike`` is a 220 Hz tone mixed with pink noise, amplitude-modulated at a syllable rate and
gated into four-second "phrases" with one-second pauses, so encoders and decoders do real work on
it; ``tone`` is a plain sine; ``silence`` is digital silence. Generation itself is cheap (a
10-minute file: well under a second of filtering), so the time goes to the encoder: WAV and FLAC
take a fraction of a second for ten minutes, the lossy codecs a few seconds.
"""

from __future__ import annotations

from collections.abc import Iterator

import av
import av.error
from av.audio.frame import AudioFrame
from av.audio.stream import AudioStream
from av.filter import Graph

# fmt -> (muxer, encoder)
FORMATS: dict[str, tuple[str, str]] = {
    "wav": ("wav", "pcm_s16le"),
    "mp3": ("mp3", "libmp3lame"),
    "m4a": ("ipod", "aac"),
    "mp4": ("mp4", "aac"),
    "ogg": ("ogg", "libopus"),
    "webm": ("webm", "libopus"),
    "mka": ("matroska", "libopus"),
    "flac": ("flac", "flac"),
}
KINDS = ("speechlike", "tone", "silence")
_FRAME = 1024


def _frames(seconds: float, kind: str, rate: int) -> Iterator[AudioFrame]:
    graph = Graph()
    common = f"sample_rate={rate}:duration={seconds}"
    if kind == "speechlike":
        tone = graph.add("sine", f"frequency=220:{common}:samples_per_frame={_FRAME}")
        noise = graph.add("anoisesrc", f"color=pink:amplitude=0.4:seed=7:{common}:nb_samples={_FRAME}")
        mix = graph.add("amix", "inputs=2:duration=shortest")
        syllables = graph.add("tremolo", "f=4:d=0.8")
        phrases = graph.add("volume", r"volume=if(lt(mod(t\,5)\,4)\,1\,0.03):eval=frame")
        tone.link_to(mix, 0, 0)
        noise.link_to(mix, 0, 1)
        mix.link_to(syllables)
        syllables.link_to(phrases)
        last = phrases
    elif kind == "tone":
        last = graph.add("sine", f"frequency=440:{common}:samples_per_frame={_FRAME}")
    elif kind == "silence":
        last = graph.add("aevalsrc", f"exprs=0:s={rate}:d={seconds}:n={_FRAME}")
    else:
        raise ValueError(f"kind must be one of {KINDS}")
    sink = graph.add("abuffersink")
    last.link_to(sink)
    graph.configure()
    while True:
        try:
            frame = sink.pull()
        except (av.error.EOFError, av.error.BlockingIOError):
            return
        assert isinstance(frame, AudioFrame)
        yield frame


def make_audio(
    path: str,
    *,
    seconds: float,
    fmt: str = "wav",
    kind: str = "speechlike",
    sample_rate: int = 16_000,
    live: bool = False,
) -> str:
    """Write ``seconds`` of synthetic audio to ``path`` in ``fmt`` and return ``path``.

    ``fmt`` is a key of FORMATS. ``live=True`` (WebM and Matroska) writes the file as a browser's
    MediaRecorder does, as a live stream: no Duration element and no cues.
    """
    muxer, encoder = FORMATS[fmt]
    options = {"live": "1"} if live else {}
    with av.open(path, mode="w", format=muxer, options=options) as container:
        stream = container.add_stream(encoder, rate=sample_rate, layout="mono")
        assert isinstance(stream, AudioStream)
        if encoder not in {"pcm_s16le", "flac"}:  # lossless ones have no bit rate to set
            stream.bit_rate = 32_000
        samples = 0
        for frame in _frames(seconds, kind, sample_rate):
            frame.pts = samples
            samples += frame.samples
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path
