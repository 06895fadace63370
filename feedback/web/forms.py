"""Multipart form bodies read by ``multipart`` into Starlette's ``FormData``.

The CSRF middleware reads every multipart body once, to find its token, and offers that form to
the endpoint (``csrf.form``). Starlette's own parser (python-multipart) walks each part's headers
byte by byte; for a kiosk's final step (a dozen small fields) it was a tenth of the submission's
CPU. ``multipart`` (the parser of Bottle) reads the same body in a third of the time. What it
returns follows Starlette's ``MultiPartParser``: the same fields, files as ``UploadFile``, the
same limits and the same errors (``MultiPartException``); a test compares the two on random
forms (tests/unit/test_forms.py). They differ only in names, which the platform never reads as
paths: escapes of ``"``, CR, LF and backslash in a name are undone differently (browsers write
``%22``, ``%0D``, ``%0A``, which are decoded here and kept by Starlette), and a file name keeps
only its last path component here.
"""

from __future__ import annotations

import codecs
from tempfile import SpooledTemporaryFile

import multipart
from starlette.datastructures import FormData, Headers, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

# Starlette's limits when ``request.form()`` is called without any.
MAX_FILES = 1000
MAX_FIELDS = 1000
MAX_PART_SIZE = MultiPartParser.max_part_size


def _decode(data: bytes, charset: str) -> str:
    # As Starlette's ``_user_safe_decode``: the request's charset, else Latin-1 (never fails).
    try:
        return data.decode(charset)
    except (UnicodeDecodeError, LookupError):
        return data.decode("latin-1")


def _disposition(segment: multipart.MultipartSegment) -> dict[str, str]:
    """The options of a part's Content-Disposition (a name may be empty, but not missing)."""
    return multipart.parse_options_header(segment.header("Content-Disposition", ""))[1]


def _charset(params: dict[str, str]) -> str:
    try:
        return codecs.lookup(params.get("charset", "utf-8")).name
    except LookupError:
        return "latin-1"


async def parse(
    body: bytes,
    content_type: str,
    *,
    max_files: int = MAX_FILES,
    max_fields: int = MAX_FIELDS,
    max_part_size: int = MAX_PART_SIZE,
) -> FormData:
    """The form in a whole multipart ``body``; ``MultiPartException`` when it is not one."""
    _kind, params = multipart.parse_options_header(content_type)
    boundary = params.get("boundary")
    if not boundary:
        raise MultiPartException("Missing boundary in multipart.")
    charset = _charset(params)
    items: list[tuple[str, str | UploadFile]] = []
    opened: list[UploadFile] = []
    files = fields = 0
    name = ""
    data = bytearray()
    upload: UploadFile | None = None
    try:
        with multipart.PushMultipartParser(boundary, content_length=len(body)) as parser:
            # The whole body, then the end of input (which raises if the stream is incomplete).
            for event in [*parser.parse(body), *parser.parse(b"")]:
                if isinstance(event, multipart.MultipartSegment):
                    if not event.name and "name" not in _disposition(event):
                        raise MultiPartException('The Content-Disposition header field "name" must be provided.')
                    name, data, upload = event.name, bytearray(), None
                    if event.filename is not None:
                        files += 1
                        if files > max_files:
                            raise MultiPartException(f"Too many files. Maximum number of files is {max_files}.")
                        raw = [(key.lower().encode("latin-1"), value.encode()) for key, value in event.headerlist]
                        upload = UploadFile(
                            file=SpooledTemporaryFile(max_size=MultiPartParser.spool_max_size),  # noqa: SIM115 (closed by the form)
                            size=0, filename=event.filename, headers=Headers(raw=raw),
                        )
                        opened.append(upload)
                    else:
                        fields += 1
                        if fields > max_fields:
                            raise MultiPartException(f"Too many fields. Maximum number of fields is {max_fields}.")
                elif event:
                    if upload is not None:
                        await upload.write(event)
                    elif len(data) + len(event) > max_part_size:
                        raise MultiPartException(f"Part exceeded maximum size of {int(max_part_size / 1024)}KB.")
                    else:
                        data += event
                elif upload is not None:
                    await upload.seek(0)
                    items.append((name, upload))
                else:
                    items.append((name, _decode(bytes(data), charset)))
    except multipart.MultipartError as exc:
        for upload in opened:
            await upload.close()
        raise MultiPartException("Invalid multipart data.") from exc
    except BaseException:
        for upload in opened:
            await upload.close()
        raise
    return FormData(items)
