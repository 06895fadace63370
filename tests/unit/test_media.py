"""Voice notes and photos are recognised by their bytes, and limited in size and length."""

from __future__ import annotations

import struct

import pytest

from feedback import media


def wav(seconds: float, rate: int = 8000) -> bytes:
    data = b"\x00\x00" * int(seconds * rate)
    fmt = struct.pack("<HHIIHH", 1, 1, rate, rate * 2, 2, 16)
    return (b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt
            + b"data" + struct.pack("<I", len(data)) + data)


@pytest.mark.parametrize(
    ("head", "content_type"),
    [
        (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81", "audio/webm"),
        (b"OggS\x00\x02\x00\x00", "audio/ogg"),
        (b"\x00\x00\x00\x20ftypM4A \x00\x00", "audio/mp4"),
        (b"\x00\x00\x00\x1cftypisom\x00\x00", "audio/mp4"),
        (b"ID3\x04\x00\x00\x00\x00", "audio/mpeg"),
        (b"\xff\xfb\x90\x64\x00\x00", "audio/mpeg"),
        (b"#!AMR\n\x3c\x00", "audio/amr"),
    ],
)
def test_audio_is_recognised_by_its_bytes(head: bytes, content_type: str) -> None:
    note = media.voice_note(head + b"\x00" * 100)
    assert (note.kind, note.content_type) == ("voice", content_type)
    assert len(note.sha256) == 64


def test_wav_duration_is_read_from_the_header() -> None:
    note = media.voice_note(wav(3.0))
    assert note.content_type == "audio/wav"
    assert note.seconds == pytest.approx(3.0)


@pytest.mark.parametrize(
    "data",
    [b"", b"<html><body>hi</body></html>", b"%PDF-1.7\n", b"\x89PNG\r\n\x1a\n" + b"\x00" * 20, b"MZ\x90\x00"],
    ids=["empty", "html", "pdf", "png", "exe"],
)
def test_anything_else_is_refused(data: bytes) -> None:
    with pytest.raises(media.MediaRefused) as refused:
        media.voice_note(data)
    assert "not a voice recording" in refused.value.message


def test_more_than_2_mb_is_refused() -> None:
    with pytest.raises(media.MediaRefused) as refused:
        media.voice_note(b"OggS" + b"\x00" * media.MAX_VOICE_BYTES)
    assert "at most 2 minutes (2 MB)" in refused.value.message
    media.voice_note(b"OggS" + b"\x00" * (media.MAX_VOICE_BYTES - 4))  # exactly 2 MB is fine


def test_more_than_2_minutes_is_refused() -> None:
    media.voice_note(wav(120.0, rate=4000))
    with pytest.raises(media.MediaRefused):
        media.voice_note(wav(125.0, rate=4000))


def test_photos_are_sniffed_too() -> None:
    assert media.photo(b"\xff\xd8\xff\xe0" + b"\x00" * 10).content_type == "image/jpeg"
    assert media.photo(b"\x89PNG\r\n\x1a\n" + b"\x00" * 10).content_type == "image/png"
    assert media.photo(b"RIFF\x00\x00\x00\x00WEBPVP8 ").content_type == "image/webp"
    with pytest.raises(media.MediaRefused):
        media.photo(b"GIF89a")
    with pytest.raises(media.MediaRefused):
        media.photo(b"\xff\xd8\xff" + b"\x00" * media.MAX_PHOTO_BYTES)
