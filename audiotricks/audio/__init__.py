"""Audio handling for jobs: recognise, probe and cut recordings with FFmpeg (PyAV wheels)."""

from audiotricks.audio.formats import PROVIDER_FORMATS, SNIFF_BYTES, sniff_format
from audiotricks.audio.probe import AudioInfo, AudioUnreadable, probe
from audiotricks.audio.split import AudioPart, split_for_upload

__all__ = [
    "PROVIDER_FORMATS",
    "SNIFF_BYTES",
    "AudioInfo",
    "AudioPart",
    "AudioUnreadable",
    "probe",
    "sniff_format",
    "split_for_upload",
]
