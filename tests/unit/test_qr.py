"""The receipt's fast QR code (web/qr.py) is byte for byte the SVG segno makes itself."""

from __future__ import annotations

import random
import string

import pytest
import segno

from feedback import codes
from feedback.web import qr


def reference(content: str) -> str:
    return segno.make(content, error="m", mask=0).svg_inline(scale=4, border=2, omitsize=True, svgclass="qr-code")


def contents() -> list[str]:
    rng = random.Random(2026)
    found = [f"http://127.0.0.1/track/{codes.new_tracking_code()}" for _ in range(40)]
    found += [f"https://sauti.example.ml{'/x' * rng.randint(0, 300)}/track/{codes.new_tracking_code()}"
              for _ in range(60)]
    alphabet = string.ascii_letters + string.digits + "/:.-é ɛɔɲ"
    found += ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 500))) for _ in range(80)]
    # Alphanumeric and numeric modes, and contents small enough for a Micro QR code.
    found += ["HTTP://127.0.0.1/TRACK/ABC2DEF3G", "1234567890" * 7, "A", "12", "https://a.ml/t/X", "abcdefghijklmn"]
    return found


@pytest.mark.parametrize("content", contents())
def test_same_svg_as_segno(content: str) -> None:
    assert qr.svg_inline(content) == reference(content)


def test_covers_many_versions() -> None:
    versions = {segno.make(c, error="m", mask=0).version for c in contents()}
    assert {1, 2, 3, 5, 10, 15, 20} <= versions and any(isinstance(v, str) for v in versions)


def test_error_correction_matches_segno_blocks() -> None:
    from segno import consts, encoder

    rng = random.Random(7)
    for version in (1, 3, 7, 12, 20):
        for error in (consts.ERROR_LEVEL_L, consts.ERROR_LEVEL_M, consts.ERROR_LEVEL_Q, consts.ERROR_LEVEL_H):
            for info in consts.ECC[version][error]:
                data = bytes(rng.randrange(256) for _ in range(info.num_data))
                buff = encoder.Buffer()
                for value in data:
                    buff.append_bits(value, 8)
                _data, ecc = encoder.make_blocks([info._replace(num_blocks=1)], buff)
                assert qr._error_words(data, info.num_total - info.num_data) == bytes(ecc[0])


def test_codewords_match_segno_toints() -> None:
    from segno import encoder

    rng = random.Random(11)
    for length in (0, 1, 7, 8, 9, 64, 563, 4000):
        buff = encoder.Buffer()
        buff.extend(rng.randrange(2) for _ in range(length))
        assert qr._codewords(buff.getbits()) == bytes(buff.toints())
