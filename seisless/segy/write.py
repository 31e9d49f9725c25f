"""Writing SEG-Y: vectorised encoding for synthetic surveys, benchmarks and tests.

segyio writes trace by trace and cannot write the 24-bit formats; surveys of millions of
traces and every format/byte-order combination are needed to test the decoder, so the
encoder mirrors it: one numpy call per block of traces.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from types import TracebackType

import numpy as np

from seisless.errors import ConfigError
from seisless.segy import formats
from seisless.segy.binary_header import (
    BYTE_ORDER_WORD,
    BinaryField,
    BinaryHeader,
    pack_binary_header,
)
from seisless.segy.headers import TRACE_HEADER_BYTES, trace_header_dtype
from seisless.segy.text import TEXT_HEADER_BYTES


def float_to_ibm(values: np.ndarray) -> np.ndarray:
    """IBM float words (native uint32) nearest to `values` (truncated fraction).

    IBM's hex-normalised fraction keeps 21 to 24 significant bits, so float32 values with
    more are truncated; integers below 2**21 and other short values are exact.
    """
    v = np.asarray(values, dtype=np.float64)
    mantissa, exponent = np.frexp(np.abs(v))  # |v| = m * 2**e, m in [0.5, 1)
    hex_exp = (exponent + 3) // 4  # smallest E with 16**E >= 2**e
    fraction = np.ldexp(mantissa, exponent - 4 * hex_exp)  # in [1/16, 1)
    bits = np.floor(np.ldexp(fraction, 24)).astype(np.uint32)
    words = ((hex_exp + 64).astype(np.uint32) << 24) | bits
    words[v == 0] = 0
    words[np.signbit(v) & (v != 0)] |= np.uint32(0x80000000)
    return words


def encode_samples(samples: np.ndarray, fmt_code: int, byteorder: str) -> np.ndarray:
    """(traces, samples) values -> (traces, samples * itemsize) uint8 in file encoding."""
    fmt = formats.sample_format(fmt_code)
    n = samples.shape[0]
    if fmt.code == 1:
        encoded = float_to_ibm(samples).astype(f"{byteorder}u4")
    elif fmt.code in (7, 15):
        ints = np.asarray(samples).astype(np.int64) & 0xFFFFFF
        parts = [(ints >> s) & 0xFF for s in (16, 8, 0)]
        if byteorder == "<":
            parts.reverse()
        return np.stack(parts, axis=-1).astype(np.uint8).reshape(n, -1)
    else:
        encoded = np.asarray(samples).astype(np.dtype(fmt.stored).newbyteorder(byteorder))
    return np.ascontiguousarray(encoded).view(np.uint8).reshape(n, -1)


def binary_header(*, n_samples: int, interval_us: int, fmt_code: int, byteorder: str,
                  revision: tuple[int, int] = (1, 0), n_extended_text: int = 0,
                  extra_trace_headers: int = 0,
                  fields: Mapping[str, int | float] | None = None,
                  table: Mapping[str, BinaryField] | None = None) -> bytes:
    """A 400-byte binary header; `fields` adds {BinField name: value} (see binary_header.py).

    Sample counts from 65536 up need the rev 2 extended count: the 2-byte one is then 0.
    `table` is the field table to write with, by default the revision's: REV21_FIELDS with
    revision (2, 0) writes the 2-byte additional header count segyio writes.
    """
    values: BinaryHeader = {
        "Interval": interval_us, "Samples": n_samples if n_samples < 65536 else 0,
        "Format": fmt_code, "TraceFlag": 1, "ExtendedHeaders": n_extended_text,
        "SEGYRevision": revision[0], "SEGYRevisionMinor": revision[1],
    }
    if revision[0] >= 2:
        values["ByteOrder"] = BYTE_ORDER_WORD
        if n_samples >= 65536:
            values["ExtSamples"] = n_samples
        values["MaxAdditionalTraceHeaders"] = extra_trace_headers
    elif extra_trace_headers:
        raise ConfigError("additional trace headers need SEG-Y rev 2 or later")
    values.update(fields or {})
    return pack_binary_header(values, byteorder, table)


def text_header(lines: list[str], encoding: str = "ebcdic") -> bytes:
    """A 3200-byte textual header of 40 80-column cards."""
    cards = [f"C{i + 1:2d} {line}"[:80].ljust(80) for i, line in enumerate(lines[:40])]
    cards += [f"C{i + 1:2d}".ljust(80) for i in range(len(cards), 40)]
    text = "".join(cards)
    data = text.encode("cp037" if encoding == "ebcdic" else "ascii", "replace")
    assert len(data) == TEXT_HEADER_BYTES
    return data


class SegyWriter:
    """Stream traces into a new SEG-Y file, a block at a time.

    Headers are given as {segyio TraceField name: values}; fields left out are zero
    except the sample count and interval, which are filled in. `extra_trace_headers`
    (rev 2) follow each standard trace header, zero-filled but for their names (bytes
    233-240): `extra_header_names`, else the standard's SEG00001, SEG00002, ... in ASCII;
    `binary_fields` and `binary_table` go to `binary_header`.
    """

    def __init__(self, path: str | os.PathLike[str], *, n_samples: int, interval_us: int,
                 sample_format: int = 5, byteorder: str = ">", revision: tuple[int, int] = (1, 0),
                 text: list[str] | None = None, text_encoding: str = "ebcdic",
                 extended_text: list[bytes] | None = None, extra_trace_headers: int = 0,
                 binary_fields: Mapping[str, int | float] | None = None,
                 binary_table: Mapping[str, BinaryField] | None = None,
                 extra_header_names: list[bytes] | None = None) -> None:
        if byteorder not in (">", "<"):
            raise ConfigError(f"byte order must be '>' or '<', got {byteorder!r}")
        self.n_samples = n_samples
        self.interval_us = interval_us
        self.fmt = sample_format
        self.byteorder = byteorder
        itemsize = formats.sample_format(sample_format).itemsize
        self.header_length = TRACE_HEADER_BYTES * (1 + extra_trace_headers)
        names = extra_header_names or [b"SEG%05d" % k for k in range(1, extra_trace_headers + 1)]
        if len(names) != extra_trace_headers or any(len(name) != 8 for name in names):
            raise ConfigError(f"need {extra_trace_headers} additional trace header names of "
                              f"8 bytes each, got {names!r}")
        self._names = names
        self.trace_length = self.header_length + n_samples * itemsize
        self._file = open(path, "wb")  # noqa: SIM115 (closed by close()/__exit__)
        extended = extended_text or []
        self._file.write(text_header(text or ["written by seisless"], text_encoding))
        self._file.write(binary_header(n_samples=n_samples, interval_us=interval_us,
                                       fmt_code=sample_format, byteorder=byteorder,
                                       revision=revision, n_extended_text=len(extended),
                                       extra_trace_headers=extra_trace_headers,
                                       fields=binary_fields, table=binary_table))
        for record in extended:
            self._file.write(record)
        self.n_traces = 0

    def write(self, samples: np.ndarray, headers: dict[str, np.ndarray] | None = None) -> None:
        samples = np.atleast_2d(samples)
        n = samples.shape[0]
        if samples.shape[1] != self.n_samples:
            raise ConfigError(f"traces have {samples.shape[1]} samples, file has "
                              f"{self.n_samples}")
        block = np.zeros((n, self.trace_length), np.uint8)
        view = np.ndarray((n,), trace_header_dtype(self.byteorder, self.trace_length), block)
        view["TRACE_SAMPLE_COUNT"] = self.n_samples
        view["TRACE_SAMPLE_INTERVAL"] = self.interval_us
        view["TRACE_SEQUENCE_FILE"] = np.arange(self.n_traces + 1, self.n_traces + n + 1)
        for name, values in (headers or {}).items():
            view[name] = values
        for k, name in enumerate(self._names, start=1):
            end = (k + 1) * TRACE_HEADER_BYTES
            block[:, end - 8:end] = np.frombuffer(name, np.uint8)
        block[:, self.header_length:] = encode_samples(samples, self.fmt, self.byteorder)
        self._file.write(block.data)
        self.n_traces += n

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> SegyWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
