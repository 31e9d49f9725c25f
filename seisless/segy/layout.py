"""Layout detection: everything needed to decode any trace-aligned byte range.

Only the first bytes are read (3600-byte file header, extended text headers, first trace
header), so a 180 GB object is planned with a few ranged GETs. Every header value that
drives an offset computation is checked against the object size, so absurd values end
in a typed error naming the byte position, never in a wrong decoding or a huge read.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from seisless.errors import (
    HeaderValueError,
    SegyFormatError,
    TruncatedSegyError,
    UnsupportedSegyError,
)
from seisless.segy import formats
from seisless.segy.binary_header import (
    BINARY_HEADER_BYTES,
    REV21,
    REV21_FIELDS,
    BinaryHeader,
    read_field,
    stated_byteorder,
    unpack_binary_header,
)
from seisless.segy.formats import SampleFormat, is_known_format
from seisless.segy.headers import TRACE_HEADER_BYTES, trace_header_dtype
from seisless.segy.source import ByteSource, read_bytes
from seisless.segy.text import TEXT_HEADER_BYTES, decode_text, is_end_text, text_encoding

FILE_HEADER_BYTES = TEXT_HEADER_BYTES + BINARY_HEADER_BYTES
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
    #: the names (bytes 233-240) of the first trace's additional trace headers, in order:
    #: rev 2.1 names its standard ones SEG00001 (extension 1), SEG00002...; others are
    #: proprietary. The standard trace header itself is SEG00000 by definition.
    trace_header_names: tuple[str, ...] = field(default=())
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
        d["trace_header_names"] = list(self.trace_header_names)
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Layout:
        values = dict(data)
        values["revision"] = tuple(values["revision"])
        values["warnings"] = tuple(values.get("warnings", ()))
        values["trace_header_names"] = tuple(values.get("trace_header_names", ()))
        return cls(**values)


def detect_byteorder(binary: bytes) -> str:
    """Byte order from the rev 2 byte-order word (bytes 3297-3300), else the format code.

    The heuristic reads the sample format code (bytes 3225-3226) both ways: codes are
    1..16, so exactly one reading is a known code in any file we can decode.
    """
    stated = stated_byteorder(binary)
    if stated:
        return stated
    big = read_field(binary, "Format", ">")
    little = read_field(binary, "Format", "<")
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

    Each step reads and checks one part of the headers; their order decides which fault a
    damaged file is refused for, so it is kept stable.

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
    text, binary = _read_file_header(source)
    bo = _choose_byteorder(source, binary, byteorder, sample_format)
    header = unpack_binary_header(binary, bo)
    warnings: list[str] = []
    fmt = formats.sample_format(sample_format or int(header["Format"]))
    revision = _revision(header, warnings)
    rev2 = revision[0] >= 2
    n_samples, interval = _binary_sampling(header, rev2)
    extents = _rev2_extents(binary, header, bo, revision)
    encoding = text_encoding(text)
    data_start = _first_trace_start(source, header, encoding, extents.first_trace_offset)
    data_bytes = _data_bytes(source, data_start, extents)
    header_length = TRACE_HEADER_BYTES * (1 + extents.extra_trace_headers)
    trace_ns, trace_interval, names = _first_trace_witness(source, bo, data_start,
                                                           header_length, data_bytes, encoding)
    n_samples = _reconcile_samples(source, n_samples, trace_ns, int(header["TraceFlag"]),
                                   revision, warnings)
    if extents.short_count_fallback:
        _confirm_short_count(source, extents, data_bytes, n_samples, trace_ns, fmt, warnings)
    if interval == 0:
        interval = float(trace_interval)
    if n_samples == 0 and data_bytes > 0:
        raise HeaderValueError(f"{source.name}: sample count is 0 in the binary header "
                               "(bytes 3221-3222) and in the first trace header (115-116)")
    trace_length, n_traces = _whole_traces(source, data_start, data_bytes, header_length,
                                           n_samples, fmt)
    return Layout(
        size=source.size, byteorder=bo, revision=revision,
        text_encoding=encoding, sample_format=fmt.code, n_samples=n_samples,
        sample_interval_us=interval,
        n_extended_text=(data_start - FILE_HEADER_BYTES) // TEXT_HEADER_BYTES,
        n_extra_trace_headers=extents.extra_trace_headers, data_start=data_start,
        trace_length=trace_length, n_traces=n_traces, trailer_bytes=extents.trailer_bytes,
        trace_header_samples=trace_ns, trace_header_names=names, warnings=tuple(warnings),
    )


def _read_file_header(source: ByteSource) -> tuple[bytes, bytes]:
    """The 3200-byte text header and the 400-byte binary header."""
    if source.size < FILE_HEADER_BYTES:
        raise TruncatedSegyError(
            f"{source.name}: {source.size} bytes; a SEG-Y file starts with a 3600-byte text "
            "and binary header, so this is not SEG-Y or it was cut short"
        )
    head = read_bytes(source, 0, FILE_HEADER_BYTES)
    return head[:TEXT_HEADER_BYTES], head[TEXT_HEADER_BYTES:]


def _choose_byteorder(source: ByteSource, binary: bytes, byteorder: str | None,
                      sample_format: int | None) -> str:
    """The forced byte order, else the detected one.

    A forced sample format overrides the format code's value, not its witness: a wrong
    code (0, or 1 for IEEE samples) is still a small number in one byte order only. Where
    the code is no witness either (0, or garbage), the trace length decides; big-endian,
    the standard's, where nothing tells.
    """
    if byteorder:
        return byteorder
    try:
        return detect_byteorder(binary)
    except HeaderValueError:
        if sample_format is None:
            raise
        itemsize = formats.sample_format(sample_format).itemsize
        fit = [bo for bo in (">", "<") if _traces_fit(source, binary, bo, itemsize)]
        return fit[0] if len(fit) == 1 else ">"


def _traces_fit(source: ByteSource, binary: bytes, byteorder: str, itemsize: int) -> bool:
    """Whether, read in `byteorder`, the sample count makes whole traces of the file.

    Both headers' counts swap alike, so their agreement alone cannot tell the byte order;
    the trace length they give can. A tie-break for files stating neither byte order nor
    format, so the traces are looked for after a fixed count of extended text headers only.
    """
    n_samples = int(read_field(binary, "Samples", byteorder))
    n_ext_text = int(read_field(binary, "ExtendedHeaders", byteorder))
    start = FILE_HEADER_BYTES + TEXT_HEADER_BYTES * max(n_ext_text, 0)
    trace_length = TRACE_HEADER_BYTES + n_samples * itemsize
    if n_samples == 0 or not 0 <= n_ext_text <= MAX_EXTENDED_TEXT or \
            start + trace_length > source.size or (source.size - start) % trace_length:
        return False
    first = read_bytes(source, start, TRACE_HEADER_BYTES)
    fields = np.frombuffer(first, trace_header_dtype(byteorder, TRACE_HEADER_BYTES), count=1)
    return int(fields[0]["TRACE_SAMPLE_COUNT"]) in (0, n_samples)


def _revision(header: BinaryHeader, warnings: list[str]) -> tuple[int, int]:
    """(major, minor) revision; an unknown one (> 2) is read as rev 1 with a warning."""
    major, minor = int(header["SEGYRevision"]), int(header["SEGYRevisionMinor"])
    if major > 2:
        warnings.append(f"bytes 3501-3502: revision {major}.{minor} is unknown; read as rev 1")
        return 1, 0
    return major, minor


def _binary_sampling(header: BinaryHeader, rev2: bool) -> tuple[int, float]:
    """Sample count and interval (µs) of the binary header; rev 2 extended fields win."""
    n_samples = int(header["Samples"])
    interval = float(header["Interval"])
    if rev2:
        ext_samples = int(header["ExtSamples"])
        if ext_samples < 0:
            raise HeaderValueError(f"binary header bytes 3269-3272: extended sample count "
                                   f"{ext_samples} is negative")
        n_samples = ext_samples or n_samples
        ext_interval = float(header["ExtInterval"])
        if math.isfinite(ext_interval) and ext_interval > 0:
            interval = ext_interval
    return n_samples, interval


@dataclass(frozen=True)
class _Extents:
    """The rev 2 fields that move trace boundaries; all zero before rev 2."""

    extra_trace_headers: int
    trailer_records: int
    first_trace_offset: int
    #: the count is rev 2.1's 2-byte reading of a rev 2.0 file whose 4-byte reading is not
    #: plausible; the first trace must confirm it (_confirm_short_count)
    short_count_fallback: bool = False
    #: what bytes 3507-3510 read as one 4-byte word, for the note on the fallback
    long_count: int = 0

    @property
    def trailer_bytes(self) -> int:
        return TEXT_HEADER_BYTES * self.trailer_records


def _plausible_extra_headers(count: int) -> bool:
    return 0 <= count <= MAX_EXTRA_TRACE_HEADERS


def _rev2_extents(binary: bytes, header: BinaryHeader, byteorder: str,
                  revision: tuple[int, int]) -> _Extents:
    """Additional trace headers, trailer records and first trace offset, bounds-checked.

    Rev 2.0 gives the additional trace header count 4 bytes (3507-3510), rev 2.1 only 2
    (3507-3508), and segyio writes 2 into rev 2.0 files too: in a big-endian file, 1 then
    reads as 65536. So where a rev 2.0 file's 4-byte count is not plausible and its 2-byte
    one is, the 2-byte one is taken, subject to the first trace confirming it.
    """
    if revision[0] < 2:
        return _Extents(0, 0, 0)
    extra_headers = long_count = int(header["MaxAdditionalTraceHeaders"])
    fallback = False
    if not _plausible_extra_headers(extra_headers) and revision < REV21:
        short = int(read_field(binary, "MaxAdditionalTraceHeaders", byteorder, REV21_FIELDS))
        fallback = _plausible_extra_headers(short)
        extra_headers = short if fallback else extra_headers
    if not _plausible_extra_headers(extra_headers):
        place = "3507-3508" if revision >= REV21 else "3507-3510"
        raise HeaderValueError(f"binary header bytes {place}: {extra_headers} additional "
                               "trace headers per trace is not plausible")
    trailer_records = int(header["TrailerRecords"])
    if trailer_records < 0:
        raise HeaderValueError(f"binary header bytes 3529-3532: {trailer_records} trailer "
                               "records is negative")
    return _Extents(extra_headers, trailer_records, int(header["FirstTraceOffset"]),
                    fallback, long_count)


def _confirm_short_count(source: ByteSource, extents: _Extents, data_bytes: int,
                         n_samples: int, trace_ns: int, fmt: SampleFormat,
                         warnings: list[str]) -> None:
    """Accept the 2-byte additional header count only where the trace length witnesses it.

    The witness: the first trace header states the file's sample count, and the traces,
    with that many extra headers each, fill the data bytes exactly. The choice is noted.
    """
    extra = extents.extra_trace_headers
    trace_length = TRACE_HEADER_BYTES * (1 + extra) + n_samples * fmt.itemsize
    if not (trace_ns == n_samples > 0 and data_bytes >= trace_length
            and data_bytes % trace_length == 0):
        raise HeaderValueError(
            f"{source.name}: binary header bytes 3507-3510: {extents.long_count} additional "
            f"trace headers per trace is not plausible, and the traces do not confirm the "
            f"2-byte reading of bytes 3507-3508 ({extra})")
    warnings.append(
        f"bytes 3507-3510 read as rev 2.0's 4-byte count give {extents.long_count} "
        f"additional trace headers per trace; read as rev 2.1's 2-byte count (bytes "
        f"3507-3508, as segyio writes them) instead: {extra}, which the trace length "
        "confirms")


def _first_trace_start(source: ByteSource, header: BinaryHeader, encoding: str,
                       first_trace_offset: int) -> int:
    """Byte offset of the first trace: after the extended text headers, or as rev 2 states."""
    data_start = _data_start(source, int(header["ExtendedHeaders"]), encoding)
    if not first_trace_offset:
        return data_start
    if not FILE_HEADER_BYTES <= first_trace_offset <= source.size:
        raise HeaderValueError(f"binary header bytes 3521-3528: first trace at byte "
                               f"{first_trace_offset} is outside the {source.size}-byte file")
    return first_trace_offset


def _data_bytes(source: ByteSource, data_start: int, extents: _Extents) -> int:
    """Bytes between the first trace and the trailer records: the traces themselves."""
    data_bytes = source.size - data_start - extents.trailer_bytes
    if data_bytes < 0:
        raise TruncatedSegyError(f"{source.name}: headers and {extents.trailer_records} trailer "
                                 f"records need {data_start + extents.trailer_bytes} bytes, "
                                 f"file has {source.size}")
    return data_bytes


def _first_trace_witness(source: ByteSource, byteorder: str, data_start: int,
                         header_length: int, data_bytes: int, encoding: str
                         ) -> tuple[int, int, tuple[str, ...]]:
    """Sample count and interval the first trace header states, and the names of its
    additional headers; (0, 0, ()) if there is no trace.

    The count witnesses the binary header's: every trace must state the same (decode.py).
    """
    if data_bytes < header_length:
        return 0, 0, ()
    first = read_bytes(source, data_start, header_length)
    fields = np.frombuffer(first, trace_header_dtype(byteorder, TRACE_HEADER_BYTES), count=1)[0]
    names = tuple(trace_header_name(first[start:start + TRACE_HEADER_BYTES], encoding)
                  for start in range(TRACE_HEADER_BYTES, header_length, TRACE_HEADER_BYTES))
    return int(fields["TRACE_SAMPLE_COUNT"]), int(fields["TRACE_SAMPLE_INTERVAL"]), names


def trace_header_name(header: bytes, encoding: str) -> str:
    """The name in bytes 233-240 of one additional trace header, as segyio reads it: the
    standard's names ('SEG00001'...) in ASCII, any other name in the text header's encoding
    (the standard allows either); characters that are not printable become '?'."""
    raw = header[TRACE_HEADER_BYTES - 8:TRACE_HEADER_BYTES]
    codec = "cp037" if encoding == "ebcdic" and not raw.startswith(b"SEG") else "latin-1"
    text = raw.decode(codec).rstrip("\x00 ")
    return "".join(c if c.isprintable() else "?" for c in text)


def _reconcile_samples(source: ByteSource, n_samples: int, trace_ns: int, trace_flag: int,
                       revision: tuple[int, int], warnings: list[str]) -> int:
    """The sample count, where binary header and first trace header may disagree.

    A zero binary count is filled from the trace header. Otherwise a disagreement is a
    warning for fixed-length traces, and variable-length traces (flag 0 since rev 1),
    which this decoder cannot read, are refused.
    """
    if n_samples == 0:
        return trace_ns
    if not trace_ns or trace_ns == n_samples:
        return n_samples
    if trace_flag != 0:
        warnings.append(f"the first trace header says {trace_ns} samples per trace, "
                        f"the binary header {n_samples}; using the binary header")
    elif revision[0] >= 1:
        raise UnsupportedSegyError(
            f"{source.name}: variable-length traces (fixed-length flag 0 in bytes "
            f"3503-3504, first trace has {trace_ns} samples, binary header {n_samples}); "
            "seisless decodes fixed-length traces only: rewrite the file with a fixed "
            "sample count"
        )
    return n_samples


def _whole_traces(source: ByteSource, data_start: int, data_bytes: int, header_length: int,
                  n_samples: int, fmt: SampleFormat) -> tuple[int, int]:
    """Trace length and count; bytes left over mean a cut file or a wrong count or format."""
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
    return trace_length, n_traces


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
