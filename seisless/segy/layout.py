"""Layout detection: everything needed to decode any trace-aligned byte range.

Only the first bytes are read (3600-byte file header, extended text headers, first trace
header), so a 180 GB object is planned with a few ranged GETs. Every header value that
drives an offset computation is checked against the object size, so absurd values end
in a typed error naming the byte position, never in a wrong decoding or a huge read.
"""

from __future__ import annotations

import dataclasses
import math
import struct
from dataclasses import dataclass, field
from typing import Any

from seisless.errors import (
    HeaderValueError,
    SegyFormatError,
    TruncatedSegyError,
    UnsupportedSegyError,
)
from seisless.segy import formats
from seisless.segy.formats import SampleFormat, is_known_format
from seisless.segy.headers import TRACE_HEADER_BYTES
from seisless.segy.source import ByteSource, read_bytes
from seisless.segy.text import TEXT_HEADER_BYTES, decode_text, is_end_text, text_encoding

FILE_HEADER_BYTES = 3600
#: More extended text records than this is not a header, it is a corrupt count.
MAX_EXTENDED_TEXT = 10_000
MAX_EXTRA_TRACE_HEADERS = 1_000


@dataclass(frozen=True)
class Layout:
    """Where the traces are and how they are encoded; JSON-able for manifests."""

    size: int
    byteorder: str  # '>' big-endian, '<' little-endian
    revision: tuple[int, int]
    text_encoding: str
    sample_format: int
    n_samples: int
    sample_interval_us: float
    n_extended_text: int
    n_extra_trace_headers: int
    data_start: int
    trace_length: int
    n_traces: int
    trailer_bytes: int = 0
    #: sample count stated in the first trace header (0 if not filled in); every trace
    #: must state the same, which catches misaligned boundaries (see decode.py)
    trace_header_samples: int = 0
    warnings: tuple[str, ...] = field(default=())

    @property
    def format(self) -> SampleFormat:
        return formats.sample_format(self.sample_format)

    @property
    def header_length(self) -> int:
        return TRACE_HEADER_BYTES * (1 + self.n_extra_trace_headers)

    def trace_offset(self, trace: int) -> int:
        return self.data_start + trace * self.trace_length

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["revision"] = list(self.revision)
        d["warnings"] = list(self.warnings)
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Layout:
        values = dict(data)
        values["revision"] = tuple(values["revision"])
        values["warnings"] = tuple(values.get("warnings", ()))
        return cls(**values)


def _unpack(fmt: str, data: bytes, offset: int) -> int | float:
    return struct.unpack_from(fmt, data, offset)[0]


def detect_byteorder(binary: bytes) -> str:
    """Byte order from the rev 2 byte-order word (bytes 3297-3300), else the format code.

    The heuristic reads the sample format code (bytes 3225-3226) both ways: codes are
    1..16, so exactly one reading is a known code in any file we can decode.
    """
    word = binary[3296 - 3200:3300 - 3200]
    if word == b"\x01\x02\x03\x04":
        return ">"
    if word == b"\x04\x03\x02\x01":
        return "<"
    big = _unpack(">h", binary, 24)
    little = _unpack("<h", binary, 24)
    if is_known_format(big):
        return ">"
    if is_known_format(little):
        return "<"
    raise HeaderValueError(
        f"binary header bytes 3225-3226: sample format code {big} (big-endian) / {little} "
        "(little-endian) is not a SEG-Y format; this is not a SEG-Y file, or its binary "
        "header is damaged"
    )


def detect_layout(source: ByteSource, *, byteorder: str | None = None,
                  sample_format: int | None = None) -> Layout:
    """Read the file header of `source` and work out its trace layout.

    Parameters
    ----------
    source
        Any `ByteSource` (local file, S3 object, bytes).
    byteorder
        Force '>' or '<' for files whose byte order cannot be told from the headers.
    sample_format
        Force a sample format code for files whose binary header states a wrong one
        (0 and 5-instead-of-1 are common in the wild).
    """
    size = source.size
    if size < FILE_HEADER_BYTES:
        raise TruncatedSegyError(
            f"{source.name}: {size} bytes; a SEG-Y file starts with a 3600-byte text and "
            "binary header, so this is not SEG-Y or it was cut short"
        )
    head = read_bytes(source, 0, FILE_HEADER_BYTES)
    text, binary = head[:TEXT_HEADER_BYTES], head[TEXT_HEADER_BYTES:]
    if byteorder is None and sample_format is not None:
        word = binary[96:100]
        byteorder = "<" if word == b"\x04\x03\x02\x01" else ">"
    bo = byteorder or detect_byteorder(binary)
    warnings: list[str] = []

    fmt = formats.sample_format(sample_format or _unpack(f"{bo}h", binary, 24))
    major, minor = binary[300], binary[301]
    if major > 2:
        warnings.append(f"bytes 3501-3502: revision {major}.{minor} is unknown; read as rev 1")
        major, minor = 1, 0
    rev2 = major >= 2

    n_samples = _unpack(f"{bo}H", binary, 20)
    interval = float(_unpack(f"{bo}H", binary, 16))
    if rev2:
        ext_samples = _unpack(f"{bo}i", binary, 68)
        if ext_samples < 0:
            raise HeaderValueError(f"binary header bytes 3269-3272: extended sample count "
                                   f"{ext_samples} is negative")
        n_samples = ext_samples or n_samples
        ext_interval = _unpack(f"{bo}d", binary, 72)
        if math.isfinite(ext_interval) and ext_interval > 0:
            interval = ext_interval

    n_ext_text = _unpack(f"{bo}h", binary, 304)
    extra_headers = _unpack(f"{bo}i", binary, 306) if rev2 else 0
    if not 0 <= extra_headers <= MAX_EXTRA_TRACE_HEADERS:
        raise HeaderValueError(f"binary header bytes 3507-3510: {extra_headers} additional "
                               "trace headers per trace is not plausible")
    trailer_records = _unpack(f"{bo}i", binary, 328) if rev2 else 0
    if trailer_records < 0:
        raise HeaderValueError(f"binary header bytes 3529-3532: {trailer_records} trailer "
                               "records is negative")
    first_trace_offset = _unpack(f"{bo}Q", binary, 320) if rev2 else 0

    data_start = _data_start(source, n_ext_text, text_encoding(text))
    if first_trace_offset:
        if not FILE_HEADER_BYTES <= first_trace_offset <= size:
            raise HeaderValueError(f"binary header bytes 3521-3528: first trace at byte "
                                   f"{first_trace_offset} is outside the {size}-byte file")
        data_start = first_trace_offset
    n_ext = (data_start - FILE_HEADER_BYTES) // TEXT_HEADER_BYTES

    header_length = TRACE_HEADER_BYTES * (1 + extra_headers)
    trailer_bytes = TEXT_HEADER_BYTES * trailer_records
    data_bytes = size - data_start - trailer_bytes
    if data_bytes < 0:
        raise TruncatedSegyError(f"{source.name}: headers and {trailer_records} trailer records "
                                 f"need {data_start + trailer_bytes} bytes, file has {size}")

    trace_ns = 0
    if data_bytes >= header_length:
        first = read_bytes(source, data_start, header_length)
        trace_ns = _unpack(f"{bo}H", first, 114)
        if n_samples == 0:
            n_samples = trace_ns
        elif trace_ns and trace_ns != n_samples and _unpack(f"{bo}h", binary, 302) != 0:
            warnings.append(f"the first trace header says {trace_ns} samples per trace, "
                            f"the binary header {n_samples}; using the binary header")
        elif trace_ns and trace_ns != n_samples and major >= 1 \
                and _unpack(f"{bo}h", binary, 302) == 0:
            raise UnsupportedSegyError(
                f"{source.name}: variable-length traces (fixed-length flag 0 in bytes "
                f"3503-3504, first trace has {trace_ns} samples, binary header {n_samples}); "
                "seisless decodes fixed-length traces only: rewrite the file with a fixed "
                "sample count"
            )
        if interval == 0:
            interval = float(_unpack(f"{bo}H", first, 116))
    if n_samples == 0 and data_bytes > 0:
        raise HeaderValueError(f"{source.name}: sample count is 0 in the binary header "
                               "(bytes 3221-3222) and in the first trace header (115-116)")

    trace_length = header_length + n_samples * fmt.itemsize
    n_traces, extra = divmod(data_bytes, trace_length)
    if extra:
        raise TruncatedSegyError(
            f"{source.name}: the traces take {data_bytes} bytes from byte {data_start}, not a "
            f"whole number of {trace_length}-byte traces ({n_samples} samples of "
            f"{fmt.name} + {header_length}-byte header): {n_traces} whole traces and "
            f"{extra} bytes left over at byte {data_start + n_traces * trace_length}. "
            "The file was cut short, or its sample count (bytes 3221-3222) or format "
            "(3225-3226) is wrong"
        )
    return Layout(
        size=size, byteorder=bo, revision=(major, minor),
        text_encoding=text_encoding(text), sample_format=fmt.code, n_samples=n_samples,
        sample_interval_us=interval, n_extended_text=n_ext, n_extra_trace_headers=extra_headers,
        data_start=data_start, trace_length=trace_length, n_traces=n_traces,
        trailer_bytes=trailer_bytes, trace_header_samples=trace_ns, warnings=tuple(warnings),
    )


def _data_start(source: ByteSource, n_ext_text: int, encoding: str) -> int:
    """Byte offset after the extended text headers (fixed count, or -1: up to EndText)."""
    if n_ext_text >= 0:
        start = FILE_HEADER_BYTES + TEXT_HEADER_BYTES * n_ext_text
        if n_ext_text > MAX_EXTENDED_TEXT or start > source.size:
            raise HeaderValueError(
                f"{source.name}: binary header bytes 3505-3506 announce {n_ext_text} extended "
                f"text headers ({start} bytes), more than the {source.size}-byte file holds"
            )
        return start
    if n_ext_text != -1:
        raise HeaderValueError(f"binary header bytes 3505-3506: {n_ext_text} extended text "
                               "headers; the count is 0 or more, or -1 for 'until EndText'")
    offset = FILE_HEADER_BYTES
    for _ in range(MAX_EXTENDED_TEXT):
        if offset + TEXT_HEADER_BYTES > source.size:
            break
        record = read_bytes(source, offset, TEXT_HEADER_BYTES)
        offset += TEXT_HEADER_BYTES
        if is_end_text(record):
            return offset
    raise SegyFormatError(
        f"{source.name}: bytes 3505-3506 say the extended text headers run until a "
        "((SEG: EndText)) stanza, and none was found; the file is damaged or the count wrong"
    )


def read_text_headers(source: ByteSource, layout: Layout) -> list[str]:
    """The textual file header and every extended one, decoded as 80-column lines."""
    records = [read_bytes(source, 0, TEXT_HEADER_BYTES)]
    for i in range(layout.n_extended_text):
        records.append(read_bytes(source, FILE_HEADER_BYTES + i * TEXT_HEADER_BYTES,
                                  TEXT_HEADER_BYTES))
    return [decode_text(r) for r in records]
