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

from seisless.errors import HeaderValueError, UnsupportedSegyError
from seisless.segy.ibm import ibm_to_float32

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


def _ibm(byteorder: str) -> Decoder:
    """IBM System/360 floats, exact by the standard for every word (ibm.py)."""

    def decode(raw: np.ndarray, out: np.ndarray) -> None:
        if out.dtype != np.float32:
            raise TypeError(f"IBM samples decode to float32, not {out.dtype}")
        ibm_to_float32(raw, byteorder, out)

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
