"""feedback.web.forms reads multipart bodies as Starlette's own parser does: compared on random forms."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.datastructures import FormData, Headers, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from feedback.web import forms

# Names without the characters a client escapes in them (browsers write "%22", "%0D", "%0A";
# httpx also doubles "\"): multipart and Starlette undo different escapes. The platform's field
# names are plain words.
NAMES = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters='\x00"\r\n%\\'), min_size=1, max_size=20)
VALUES = st.text(st.characters(blacklist_categories=("Cs",)), max_size=300)
FILES = st.tuples(
    # File names without a path: multipart keeps only a name's last component, Starlette all.
    st.text(st.characters(categories=("L", "N", "P", "Zs"), exclude_characters='"%/\\'), min_size=1, max_size=20),
    st.sampled_from(["audio/webm", "audio/ogg", "image/jpeg", "application/octet-stream"]),
    st.binary(max_size=3000),
)


def encode(fields: list[tuple[str, str]], files: list[tuple[str, tuple[str, bytes, str]]]) -> tuple[bytes, str]:
    """A body as a browser sends it (httpx escapes names as the HTML standard says browsers do)."""
    # httpx's own encoder: its public API sends a form without files urlencoded.
    from httpx._multipart import MultipartStream

    data: dict[str, list[str]] = {}
    for name, value in fields:
        data.setdefault(name, []).append(value)  # a repeated name, as checkboxes send it
    stream = MultipartStream(data=data, files=files)
    return b"".join(stream), stream.content_type


async def starlette(body: bytes, content_type: str, **limits: Any) -> FormData:
    async def stream() -> AsyncIterator[bytes]:
        yield body

    return await MultiPartParser(Headers({"content-type": content_type}), stream(), **limits).parse()


async def flat(form: FormData) -> list[tuple[str, Any]]:
    items = []
    for name, value in form.multi_items():
        if isinstance(value, UploadFile):
            items.append((name, ("file", value.filename, value.content_type, await value.read(), value.size)))
        else:
            items.append((name, value))
    await form.close()
    return items


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fields=st.lists(st.tuples(NAMES, VALUES), max_size=8), files=st.lists(st.tuples(NAMES, FILES), max_size=3))
async def test_same_form_as_starlette(fields: list[tuple[str, str]], files: list[tuple[str, tuple[str, str, bytes]]]) -> None:
    body, content_type = encode(fields, [(n, (fn, data, ct)) for n, (fn, ct, data) in files])
    assert await flat(await forms.parse(body, content_type)) == await flat(await starlette(body, content_type))


async def test_the_kiosk_form_and_a_voice_note() -> None:
    fields = [("csrf_token", "a" * 64), ("step", "review"), ("text", "Makɔnɔni ka jan kosɛbɛ ; « attente »")]
    body, content_type = encode(fields, [("voice", ("voice.webm", b"\x1aE\xdf\xa3" * 400_000, "audio/webm"))])
    form = await forms.parse(body, content_type, max_part_size=64 * 1024)
    assert form["text"] == fields[2][1]
    voice = form["voice"]
    assert isinstance(voice, UploadFile) and voice.size == 1_600_000 and voice.content_type == "audio/webm"
    assert (await voice.read())[:4] == b"\x1aE\xdf\xa3"
    await form.close()


@pytest.mark.parametrize("limits", [{"max_fields": 2}, {"max_files": 0}, {"max_part_size": 10}])
async def test_limits_refuse_as_starlette_does(limits: dict[str, int]) -> None:
    body, content_type = encode([("a", "x" * 20), ("b", "y"), ("c", "z")], [("f", ("f.bin", b"1", "image/png"))])
    with pytest.raises(MultiPartException) as ours:
        await forms.parse(body, content_type, **limits)
    with pytest.raises(MultiPartException) as theirs:
        await starlette(body, content_type, **limits)
    assert str(ours.value) == str(theirs.value)


@pytest.mark.parametrize("mangle", [
    lambda body: body[: len(body) // 2],  # cut short
    lambda body: body.replace(b"--\r\n", b"\r\n"),  # no closing boundary
    lambda body: body.replace(b'name="a"', b"nom"),  # no name
    lambda body: b"garbage",
])
async def test_broken_bodies_are_refused(mangle: Any) -> None:
    body, content_type = encode([("a", "x"), ("b", "y")], [])
    with pytest.raises(MultiPartException):
        await forms.parse(mangle(body), content_type)


async def test_a_missing_boundary_is_refused() -> None:
    with pytest.raises(MultiPartException):
        await forms.parse(b"--x\r\n", "multipart/form-data")
