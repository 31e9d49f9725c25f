"""Sample formats (binary header bytes 3225-3226) and their vectorised decoders.

Every decoder takes the raw sample bytes of a block of traces as a strided view straight
over the read buffer (no copy) and writes floats into a caller-owned array. Integer
formats become float32 where every value is exact in float32 (up to 24 bits) and float64
otherwise, so decoded values equal the stored ones exactly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import segyio
import segyio._segyio  # tools.native needs the extension module loaded

from seisless.errors import HeaderValueError, UnsupportedSegyError

Decoder = Callable[[np.ndarray, np.ndarray], None]


@dataclass(frozen=True)
class SampleFormat:
    code: int
    name: str
    itemsize: int
    #: numpy type of one stored sample (without byte order); None for IBM and 24-bit
    stored: str | None
    output: type[np.floating]


_FORMATS: dict[int, SampleFormat] = {
    f.code: f
    for f in (
        SampleFormat(1, "4-byte IBM float", 4, None, np.float32),
        SampleFormat(2, "4-byte signed integer", 4, "i4", np.float64),
        SampleFormat(3, "2-byte signed integer", 2, "i2", np.float32),
        SampleFormat(5, "4-byte IEEE float", 4, "f4", np.float32),
        SampleFormat(6, "8-byte IEEE float", 8, "f8", np.float64),
        SampleFormat(7, "3-byte signed integer", 3, None, np.float32),
        SampleFormat(8, "1-byte signed integer", 1, "i1", np.float32),
        SampleFormat(9, "8-byte signed integer", 8, "i8", np.float64),
        SampleFormat(10, "4-byte unsigned integer", 4, "u4", np.float64),
        SampleFormat(11, "2-byte unsigned integer", 2, "u2", np.float32),
        SampleFormat(12, "8-byte unsigned integer", 8, "u8", np.float64),
        SampleFormat(15, "3-byte unsigned integer", 3, None, np.float32),
        SampleFormat(16, "1-byte unsigned integer", 1, "u1", np.float32),
    )
}

SUPPORTED_FORMATS = tuple(sorted(_FORMATS))


def sample_format(code: int) -> SampleFormat:
    """Look up a format code; raise a typed error naming the fix for anything else."""
    if code == 4:
        raise UnsupportedSegyError(
            "sample format 4 (4-byte fixed point with gain) is obsolete and not supported; "
            "convert the file to IEEE float (format 5) first"
        )
    try:
        return _FORMATS[code]
    except KeyError:
        raise HeaderValueError(
            f"binary header bytes 3225-3226: sample format code {code} is not a SEG-Y format "
            f"(expected one of {', '.join(map(str, SUPPORTED_FORMATS))})"
        ) from None


def is_known_format(code: int) -> bool:
    return code in _FORMATS or code == 4


#: ±2**(4*(E-64)-24) for the top byte S|E of an IBM word: the weight of one unit of the
#: 24-bit fraction. IBM values span 2**-280..2**252 with 24-bit fractions, so fraction *
#: weight is exact in float64 and one cast to float32 rounds it correctly (IEEE
#: round-to-nearest-even, ±inf on overflow, subnormals and signed zeros on underflow).
_IBM_WEIGHT = np.array([(-1.0) ** (top >> 7) * 2.0 ** (4 * ((top & 0x7F) - 64) - 24)
                        for top in range(256)])


def ibm_to_float32(words: np.ndarray) -> np.ndarray:
    """Exact float32 values of IBM words (native uint32), for any fraction and exponent.

    value = (-1)**S * 0.F * 16**(E-64) by the SEG-Y / System/360 definition. About 5x
    slower than segyio's converter (measured), so the decoder uses it only for the words
    that converter gets wrong.
    """
    with np.errstate(over="ignore"):  # overflow to ±inf is the IEEE answer, not an error
        return ((words & 0xFFFFFF) * _IBM_WEIGHT[words >> 24]).astype(np.float32)


#: Words per pass of the suspect mask (64 KiB of uint16).
_SUSPECT_CHUNK = 32768


def _ibm_suspects(big: np.ndarray) -> np.ndarray:
    """Flat indices of the words segyio's converter may decode wrong (a superset).

    `big` is a C-contiguous array of big-endian IBM words. segyio's converter is right for
    a normalized fraction (top hex digit non-zero) with 34 <= E <= 96: the value is a
    normal float32 and its 24 bits are exact. Otherwise it may be wrong: it misreads an
    unnormalized fraction (segyio issue #543; from 0.25% to 2**19 times off in our probes),
    gives a zero fraction with a non-zero exponent a non-zero value or NaN, gives NaN (or
    inf) on overflow, and +0 (even for negative words) where the value is subnormal or
    underflows. The test
    reads two bytes per word, not whole words, to stay cheap next to the conversion: the
    sign/exponent byte b0 and the top fraction byte b1. Words with b0 == 0 (positive,
    E = 0: below 2**-256, so +0 as segyio gives) are left to segyio, which keeps all-zero
    samples (mutes, dead traces) off the slow path.
    """
    # Read little-endian, a big-endian word's low 16 bits are b0 | b1 << 8 (on any host).
    words = big.reshape(-1).view("<u4")
    # Chunks small enough to stay in cache and in malloc's heap: one mask over a whole
    # 64-trace block measured 3x slower, in fresh pages, than these passes themselves.
    pair = np.empty(_SUSPECT_CHUNK, np.uint16)
    scratch = np.empty(_SUSPECT_CHUNK, np.uint16)
    suspect = np.empty(_SUSPECT_CHUNK, np.bool_)
    exponent = np.empty(_SUSPECT_CHUNK, np.bool_)
    found = []
    for start in range(0, words.size, _SUSPECT_CHUNK):
        n = min(_SUSPECT_CHUNK, words.size - start)
        p, s, sus, exp = pair[:n], scratch[:n], suspect[:n], exponent[:n]
        # truncating cast to b0 | b1 << 8: 4x faster than copying a strided uint16 view
        np.copyto(p, words[start:start + n], casting="unsafe")
        # top hex digit zero, unless b0 == b1 == 0 (then E = 0 and the value is +0 anyway)
        np.subtract(p, 1, out=s)
        np.less(s, 0x0FFF, out=sus)
        # E outside 34..96: << 9 keeps E (bits 0-6 of b0), drops the sign and b1; as a
        # wrapping multiply, which numpy runs ~1.7x faster than a uint16 shift
        np.multiply(p, 1 << 9, out=s)
        np.subtract(s, 34 << 9, out=s)
        np.greater(s, (96 - 34) << 9, out=exp)
        # ... unless b0 == 0
        np.bitwise_and(p, 0xFF, out=s)
        np.logical_and(exp, s, out=exp)
        np.logical_or(sus, exp, out=sus)
        if sus.any():
            found.append(np.flatnonzero(sus) + start)
    return np.concatenate(found) if found else np.empty(0, np.intp)


def _ibm(byteorder: str) -> Decoder:
    """IBM System/360 floats, exact by the standard for every word.

    segyio's C converter does the bulk (measured 3.5x faster than a numpy
    bit-manipulation port, bench/RESULTS.md); a byte-level mask then finds the words it
    gets wrong (unnormalized fractions, overflow, underflow) and those alone are
    recomputed exactly. Normalized words in float32 range stay segyio's, bit for bit.
    """

    def decode(raw: np.ndarray, out: np.ndarray) -> None:
        words = raw.view(f"{byteorder}u4")
        if out.dtype == np.float32 and out.flags.c_contiguous:
            target = out
        else:
            target = np.empty(out.shape, np.float32)
        big = target.view(">u4")
        big[...] = words  # segyio converts big-endian words in place
        suspects = _ibm_suspects(big)
        exact = ibm_to_float32(big.reshape(-1)[suspects].astype(np.uint32))
        segyio.tools.native(target, format=1, copy=False)
        target.reshape(-1)[suspects] = exact
        if target is not out:
            out[...] = target

    return decode


def _int24(byteorder: str, signed: bool) -> Decoder:
    def decode(raw: np.ndarray, out: np.ndarray) -> None:
        b = raw.reshape(raw.shape[0], -1, 3).astype(np.int32)
        if byteorder == ">":
            value = (b[..., 0] << 16) | (b[..., 1] << 8) | b[..., 2]
        else:
            value = (b[..., 2] << 16) | (b[..., 1] << 8) | b[..., 0]
        if signed:
            value = np.where(value >= 1 << 23, value - (1 << 24), value)
        out[...] = value

    return decode


def _plain(stored: str, byteorder: str) -> Decoder:
    dtype = np.dtype(stored).newbyteorder(byteorder)

    def decode(raw: np.ndarray, out: np.ndarray) -> None:
        out[...] = raw.view(dtype)

    return decode


def decoder(fmt: SampleFormat, byteorder: str) -> Decoder:
    """The decoder for one format and byte order ('>' big, '<' little).

    `raw` is a (traces, samples * itemsize) uint8 array whose rows may be strided over a
    larger buffer (the trace headers sit between them); `out` is (traces, samples).
    """
    if fmt.code == 1:
        return _ibm(byteorder)
    if fmt.code in (7, 15):
        return _int24(byteorder, signed=fmt.code == 7)
    assert fmt.stored is not None
    return _plain(fmt.stored, byteorder)
