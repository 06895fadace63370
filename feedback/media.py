"""Recognise voice notes and photos by their bytes, never by the declared type."""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass

from feedback.i18n import N_

MAX_VOICE_BYTES = 2 * 1024 * 1024
MAX_VOICE_SECONDS = 120
MAX_PHOTO_BYTES = 2 * 1024 * 1024


@dataclass(frozen=True)
class Media:
    kind: str
    content_type: str
    content: bytes
    sha256: str
    seconds: float | None = None


class MediaRefused(Exception):
    """The file is not accepted; ``message`` is a gettext msgid."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def sniff_audio(data: bytes) -> str | None:
    """The audio content type of ``data``, or None when it is not audio we accept."""
    if data[:4] == b"\x1a\x45\xdf\xa3":
        return "audio/webm"  # Matroska/WebM (Chrome's and Firefox's MediaRecorder)
    if data[:4] == b"OggS":
        return "audio/ogg"
    if data[4:8] == b"ftyp" and data[8:12] in (b"M4A ", b"mp42", b"isom", b"iso5", b"dash", b"mp41", b"3gp4", b"3gp5"):
        return "audio/mp4"  # Safari's MediaRecorder, phones' recorders
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return "audio/wav"
    if data[:3] == b"ID3" or (len(data) > 1 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0):
        return "audio/mpeg"
    if data[:6] == b"#!AMR\n":
        return "audio/amr"
    return None


def sniff_image(data: bytes) -> str | None:
    if data[:3] == b"\xff\xd8\xff":
        return "image/jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "image/png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def wav_seconds(data: bytes) -> float | None:
    """Duration of a PCM WAV file from its header."""
    try:
        pos = 12
        byte_rate = None
        while pos + 8 <= len(data):
            chunk, size = struct.unpack("<4sI", data[pos : pos + 8])
            if chunk == b"fmt ":
                byte_rate = struct.unpack("<I", data[pos + 16 : pos + 20])[0]
            elif chunk == b"data" and byte_rate:
                return min(size, len(data) - pos - 8) / byte_rate
            pos += 8 + size + (size & 1)
    except struct.error:
        return None
    return None


def voice_note(data: bytes) -> Media:
    """Accept a voice note: real audio, at most 2 MB and 2 minutes."""
    if len(data) > MAX_VOICE_BYTES:
        raise MediaRefused(N_("The voice note is too long: it can be at most 2 minutes (2 MB)."))
    content_type = sniff_audio(data)
    if content_type is None:
        raise MediaRefused(N_("This file is not a voice recording we can play. Please record again."))
    seconds = wav_seconds(data) if content_type == "audio/wav" else None
    if seconds is not None and seconds > MAX_VOICE_SECONDS + 1:
        raise MediaRefused(N_("The voice note is too long: it can be at most 2 minutes (2 MB)."))
    return Media("voice", content_type, data, hashlib.sha256(data).hexdigest(), seconds)


def photo(data: bytes) -> Media:
    """Accept a photo (JPEG, PNG or WebP), at most 2 MB."""
    if len(data) > MAX_PHOTO_BYTES:
        raise MediaRefused(N_("The photo is too large: it can be at most 2 MB."))
    content_type = sniff_image(data)
    if content_type is None:
        raise MediaRefused(N_("This file is not a photo (JPEG, PNG or WebP)."))
    return Media("photo", content_type, data, hashlib.sha256(data).hexdigest())
