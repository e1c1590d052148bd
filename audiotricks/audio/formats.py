"""Recognise an audio container by its first bytes, never by the file name."""

from __future__ import annotations

# Leading bytes sniff_format needs: enough for an EBML header with its DocType, and for the first
# Ogg page up to the codec's identification packet.
SNIFF_BYTES = 64

# Containers the transcription provider takes as they are (OpenAI: flac, m4a, mp3, mp4, mpeg, mpga,
# oga, ogg, wav, webm). Anything else sniff_format names (Matroska) is re-encoded before upload.
PROVIDER_FORMATS = frozenset({"mp3", "mp4", "wav", "webm", "ogg", "flac"})

# File name extension to send with each format: the provider decides how to decode by it.
EXTENSIONS = {
    "mp3": "mp3",
    "mp4": "mp4",
    "wav": "wav",
    "webm": "webm",
    "ogg": "ogg",
    "flac": "flac",
    "matroska": "mka",
}

# ISO base media files that are pictures, not recordings.
_IMAGE_BRANDS = frozenset({b"heic", b"heix", b"hevc", b"heim", b"heis", b"mif1", b"msf1", b"avif", b"avis"})
_EBML_MAGIC = b"\x1a\x45\xdf\xa3"
_EBML_DOCTYPE_ID = 0x4282


def sniff_format(head: bytes) -> str | None:
    """Name the container of a file from its first ``SNIFF_BYTES`` bytes, or None if unknown.

    Answers one of ``mp3``, ``mp4`` (MP4 and M4A), ``wav``, ``webm``, ``matroska``, ``ogg``
    (Opus, Vorbis or FLAC inside) and ``flac``.
    """
    for recognise in (_simple_magic, _iso_media, _ogg, _ebml):
        name = recognise(head)
        if name is not None:
            return name
    return None


def _simple_magic(head: bytes) -> str | None:
    if head.startswith(b"fLaC"):
        return "flac"
    if head.startswith(b"ID3") or _is_mpeg_layer3_frame(head):
        return "mp3"
    if len(head) >= 12 and head.startswith(b"RIFF") and head[8:12] == b"WAVE":
        return "wav"
    return None


def _iso_media(head: bytes) -> str | None:
    if len(head) >= 12 and head[4:8] == b"ftyp" and head[8:12] not in _IMAGE_BRANDS:
        return "mp4"
    return None


def _ogg(head: bytes) -> str | None:
    if head.startswith(b"OggS") and _ogg_codec(head) in {"opus", "vorbis", "flac"}:
        return "ogg"
    return None


def _ebml(head: bytes) -> str | None:
    if head.startswith(_EBML_MAGIC):
        doctype = _ebml_doctype(head)
        if doctype in {"webm", "matroska"}:
            return doctype
    return None


def _is_mpeg_layer3_frame(head: bytes) -> bool:
    """An MPEG audio frame header of Layer III with valid version, bitrate and rate fields."""
    if len(head) < 4 or head[0] != 0xFF or head[1] & 0xE0 != 0xE0:
        return False
    version = (head[1] >> 3) & 0b11
    layer = (head[1] >> 1) & 0b11
    bitrate_index = head[2] >> 4
    rate_index = (head[2] >> 2) & 0b11
    return version != 0b01 and layer == 0b01 and bitrate_index not in {0, 0xF} and rate_index != 0b11


def _ogg_codec(head: bytes) -> str | None:
    """The codec named by the identification packet on the first Ogg page."""
    if len(head) < 27:
        return None
    payload_start = 27 + head[26]  # header, then one lacing byte per segment
    payload = head[payload_start : payload_start + 8]
    if payload.startswith(b"OpusHead"):
        return "opus"
    if payload.startswith(b"\x01vorbis"):
        return "vorbis"
    if payload.startswith(b"\x7fFLAC"):
        return "flac"
    return None


def _read_vint(data: bytes, pos: int, *, keep_marker: bool) -> tuple[int, int] | None:
    """Read an EBML variable-length integer at ``pos``: (value, next position), or None."""
    if pos >= len(data) or data[pos] == 0:
        return None
    first = data[pos]
    length = 1
    while not first & (0x80 >> (length - 1)):
        length += 1
    if pos + length > len(data):
        return None
    value = first if keep_marker else first & (0xFF >> length)
    for byte in data[pos + 1 : pos + length]:
        value = (value << 8) | byte
    return value, pos + length


def _ebml_doctype(head: bytes) -> str | None:
    """The DocType string of the EBML header at the start of ``head``, if it lies within it."""
    element = _read_vint(head, 4, keep_marker=False)
    if element is None:
        return None
    header_size, pos = element
    end = min(len(head), pos + header_size)
    while pos < end:
        child_id = _read_vint(head, pos, keep_marker=True)
        if child_id is None:
            return None
        child_size = _read_vint(head, child_id[1], keep_marker=False)
        if child_size is None:
            return None
        size, start = child_size
        if child_id[0] == _EBML_DOCTYPE_ID:
            value = head[start : start + size]
            return value.rstrip(b"\x00").decode("ascii", "replace") if len(value) == size else None
        pos = start + size
    return None
