"""The receipt's QR code as inline SVG: segno's symbol, built with less work per code.

``segno.make(url, error="m", mask=0).svg_inline(...)`` cost ~0.8 ms, a quarter of a kiosk
submission's CPU: segno places each bit, applies the mask and writes the SVG path module by
module in Python. What depends only on the symbol's version and error level (where each bit
goes, the finder, timing and alignment patterns, the format and version information, the
mask over the data region) is the same for every code of that size, so it is built once per
(version, error level) by segno's own functions; per code only the data bits are laid onto
that template and the dark runs written out. The result is byte for byte what segno writes
(``tests/unit/test_qr.py`` compares them over many URLs and sizes).
"""

from __future__ import annotations

import functools
import itertools
import operator
import re
from collections.abc import Callable
from xml.sax.saxutils import quoteattr

import segno
from segno import consts, encoder

MASK = 0  # a fixed mask: every mask decodes; choosing the "best" of eight cost 3x the whole code
DARK, LIGHT, NEXT_ROW = b"\x01", b"\x00", b"\x02"
# A dark run and the light modules (and row ends) before it: one move and one stroke of the path.
_STROKE = re.compile(rb"[\x00\x02]*\x01+")
_FIRST_BIT = 1000  # placeholder values that mark where each bit of the message goes
# The 8 bits of each byte value, most significant first, as 0/1 bytes.
_AS_DIGITS = bytes.maketrans(b"\x00\x01", b"01")
_BITS = tuple(bytes((value >> shift) & 1 for shift in range(7, -1, -1)) for value in range(256))


@functools.cache
def _layout(version: int, error: int) -> tuple[int, Callable[[bytes], tuple[int, ...]], int, int, int]:
    """The symbol of an all-zero message, how a message's bits land in it, how many there are,
    the symbol's width and size.

    The symbol is flat, row after row, each row followed by a ``NEXT_ROW`` byte (so a run of
    dark modules never continues onto the next row, and the path can tell rows apart), and
    held as one integer. ``spread(bits)``, given the message's bits padded with 0s to one more
    than their number, gives for every module the bit that lands there (that last 0 where none
    does).
    """
    width = encoder.calc_matrix_size(version)
    stride = width + 1
    bits = len(encoder.make_final_message(version, error, _padded_buffer(version, error)))
    # Where segno puts each bit: its placement routine run on a matrix of lists, with
    # numbered placeholders instead of bits.
    probe = [list(row) for row in encoder.make_matrix(width, width)]
    encoder.add_finder_patterns(probe, width, width)
    encoder.add_alignment_patterns(probe, width, width)
    encoder.add_codewords(probe, list(range(_FIRST_BIT, _FIRST_BIT + bits)), version)
    order = [0] * bits
    for i, row in enumerate(probe):
        for j, value in enumerate(row):
            if value >= _FIRST_BIT:
                order[value - _FIRST_BIT] = i * stride + j
    # The symbol of an all-zero message: masking is XOR, so a real message's modules are this
    # template's modules flipped where the message has a 1.
    matrix = encoder.make_matrix(width, width)
    encoder.add_finder_patterns(matrix, width, width)
    encoder.add_alignment_patterns(matrix, width, width)
    encoder.add_codewords(matrix, bytes(bits), version)
    _mask, matrix = encoder.find_and_apply_best_mask(matrix, width, width, MASK)
    encoder.add_format_info(matrix, version, error, MASK)
    encoder.add_version_info(matrix, version)
    if any(value > 1 for row in matrix for value in row):  # pragma: no cover (segno changed)
        raise RuntimeError("unexpected module values in the QR template")
    template = b"".join(bytes(row) + NEXT_ROW for row in matrix)
    source = [bits] * len(template)
    for index, module in enumerate(order):
        source[module] = index
    return int.from_bytes(template, "big"), operator.itemgetter(*source), bits, width, len(template)


def _padded_buffer(version: int, error: int) -> encoder.Buffer:
    """An empty message padded to the symbol's capacity (only its length matters here)."""
    buff = encoder.Buffer()
    capacity = consts.SYMBOL_CAPACITY[version][error]
    encoder.write_terminator(buff, capacity, None, 0)
    encoder.write_padding_bits(buff, version, len(buff))
    encoder.write_pad_codewords(buff, version, capacity, len(buff))
    return buff


@functools.cache
def _generator(error_words: int) -> tuple[int, ...]:
    """``value × generator polynomial`` (GF(256), without its leading 1) for every byte value,
    each as one integer of ``error_words`` bytes, highest coefficient first."""
    exp, log = consts.GALIOS_EXP, consts.GALIOS_LOG
    gen = consts.GEN_POLY[error_words]
    products = [0]
    for value in range(1, 256):
        products.append(int.from_bytes(bytes(exp[log[value] + g] for g in gen), "big"))
    return tuple(products)


def _error_words(data: bytes, error_words: int) -> bytes:
    """Reed-Solomon error correction codewords of one block (what segno's ``make_blocks``
    computes by synthetic division), with a shift register over one integer."""
    products = _generator(error_words)
    shift = 8 * (error_words - 1)
    keep = (1 << shift) - 1
    remainder = 0
    for value in data:
        remainder = ((remainder & keep) << 8) ^ products[value ^ (remainder >> shift)]
    return remainder.to_bytes(error_words, "big")


def _message(content: str, error: int) -> tuple[int, int, bytes] | None:
    """(version, error level, final message codewords) as ``segno.make(content, error,
    mask=0)`` encodes them; None for what this path does not handle (a Micro QR code)."""
    segments = _segments(content)
    version = encoder.find_version(segments, error, eci=False, micro=None)
    if version < 1:
        return None
    error = encoder.boost_error_level(version, error, segments, False)
    buff = encoder.Buffer()
    ver_range = encoder.version_range(version)
    for segment in segments:
        encoder.write_segment(buff, segment, None, ver_range, False)
    capacity = consts.SYMBOL_CAPACITY[version][error]
    encoder.write_terminator(buff, capacity, None, len(buff))
    encoder.write_padding_bits(buff, version, len(buff))
    encoder.write_pad_codewords(buff, version, capacity, len(buff))
    # ISO/IEC 18004 7.6: the blocks' data codewords interleaved, then their error codewords.
    codewords = _codewords(buff.getbits())
    data_blocks, error_blocks = [], []
    offset = 0
    for info in consts.ECC[version][error]:
        for _ in range(info.num_blocks):
            block = codewords[offset:offset + info.num_data]
            offset += info.num_data
            data_blocks.append(block)
            error_blocks.append(_error_words(block, info.num_total - info.num_data))
    final = bytearray()
    for blocks in (data_blocks, error_blocks):
        for column in itertools.zip_longest(*blocks):
            final.extend(value for value in column if value is not None)
    return version, error, bytes(final)


def _segments(content: str) -> encoder.Segments:
    """``encoder.prepare_data(content, None, None)``: a URL is one byte-mode segment, whose
    bits are written here eight at a time rather than one by one."""
    try:
        data = content.encode(consts.DEFAULT_BYTE_ENCODING)
    except UnicodeError:
        return encoder.prepare_data(content, None, None)
    if encoder.find_mode(data) != consts.MODE_BYTE:
        return encoder.prepare_data(content, None, None)
    segments = encoder.Segments()
    bits = bytearray(b"".join([_BITS[value] for value in data]))
    segments.add_segment(encoder._Segment(bits, len(data), consts.MODE_BYTE, consts.DEFAULT_BYTE_ENCODING))
    return segments


def _codewords(bits: bytearray) -> bytes:
    """The bits (0/1 bytes) as bytes, eight at a time, the last padded with 0s: segno's
    ``Buffer.toints`` in one integer conversion."""
    if not bits:
        return b""
    padded = bytes(bits) + bytes(-len(bits) % 8)
    return int(padded.translate(_AS_DIGITS), 2).to_bytes(len(padded) // 8, "big")


def svg_inline(content: str, *, scale: int = 4, border: int = 2, svgclass: str = "qr-code") -> str:
    """``segno.make(content, error="m", mask=0).svg_inline(scale=scale, border=border,
    omitsize=True, svgclass=svgclass)``, computed faster."""
    message = _message(content, consts.ERROR_LEVEL_M)
    if message is None:
        return segno.make(content, error="m", mask=MASK).svg_inline(
            scale=scale, border=border, omitsize=True, svgclass=svgclass)
    version, error, codewords = message
    template, spread, bits, width, size = _layout(version, error)
    # Masking is XOR: the message's bits, spread to their modules, flip the template's (the
    # symbol's few remainder bits after the last codeword are 0).
    flips = bytes(spread(b"".join([_BITS[value] for value in codewords]).ljust(bits + 1, LIGHT)))
    modules = (template ^ int.from_bytes(flips, "big")).to_bytes(size, "big")
    return _svg(modules, width, scale, border, svgclass)


def _svg(modules: bytes, width: int, scale: int, border: int, svgclass: str) -> str:
    """segno's SVG (one path of horizontal strokes, relative moves) for a dark-is-1 matrix.

    Each stroke and the move before it depend only on the modules between the end of the
    previous dark run and the end of this one, so their text is looked up (``_Strokes``)
    instead of formatted: the path is joined at C speed from the matrix's runs.
    """
    runs = _STROKE.findall(modules)
    strokes = _strokes.get(width) or _strokes.setdefault(width, _Strokes(width))
    # The first stroke is an absolute move from the symbol's corner.
    gap, length = _split(runs[0])
    rows = gap.count(NEXT_ROW)
    x = len(gap) - gap.rindex(NEXT_ROW) - 1 if rows else len(gap)
    first = f"M{x + border} {rows + border + 0.5:g}h{length}"
    path = first + "".join(map(strokes.__getitem__, runs[1:]))
    size = (width + 2 * border) * scale
    scale_info = f' transform="scale({scale})"' if scale != 1 else ""
    return (
        f'<svg viewBox="0 0 {size} {size}" class={quoteattr(svgclass)}><path{scale_info}'
        f' class="qrline" stroke="#000" d="{path}"/></svg>'
    )


def _split(run: bytes) -> tuple[bytes, int]:
    """(the light modules and row ends before a dark run, the run's length)."""
    gap = run.rstrip(DARK)
    return gap, len(run) - len(gap)


class _Strokes(dict[bytes, str]):
    """The path text of each (gap, dark run) of a symbol of one width, made when first seen.

    Within a row it is ``m{gap} 0h{run}``; across rows, the move goes from the end of the last
    run to the start of this one: back by the width less the modules skipped at the end of the
    old row and at the start of the new, and down by the number of rows.
    """

    def __init__(self, width: int) -> None:
        super().__init__()
        self.width = width

    def __missing__(self, run: bytes) -> str:
        gap, length = _split(run)
        rows = gap.count(NEXT_ROW)
        if rows:
            end_of_row, start_of_row = gap.index(NEXT_ROW), len(gap) - gap.rindex(NEXT_ROW) - 1
            text = f"m{start_of_row + end_of_row - self.width} {rows}h{length}"
        else:
            text = f"m{len(gap)} 0h{length}"
        self[run] = text
        return text


_strokes: dict[int, _Strokes] = {}
