"""What a person needs to see before scanning a SEG-Y file: its headers, decoded and
checked, and where its inline/crossline and CDP x/y words probably are.

Everything is read through a `ByteSource`: the file header, the first traces and the
sampled runs of header_detect, so an S3 object costs a few ranged GETs whatever its size.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from seisless.segy.binary_header import BINARY_FIELDS, BINARY_HEADER_BYTES, unpack_binary_header
from seisless.segy.decode import read_traces
from seisless.segy.formats import is_known_format
from seisless.segy.header_detect import Detection, detect_header_keys
from seisless.segy.headers import trace_fields
from seisless.segy.layout import Layout, detect_layout, read_text_headers
from seisless.segy.source import ByteSource, read_bytes
from seisless.segy.text import TEXT_HEADER_BYTES

#: Trace headers shown by default.
DEFAULT_TRACES = 10
_STANZA = re.compile(r"\(\(\s*[^()]+?\s*\)\)")


@dataclass(frozen=True)
class BinaryRow:
    """One binary header field; `flag` says why its value looks wrong ('' if it does not)."""

    name: str
    byte: int
    value: int | float
    flag: str


@dataclass(frozen=True)
class TraceRow:
    """One trace header field that varies over the traces shown: its value per trace."""

    name: str
    byte: int
    values: list[int]


@dataclass(frozen=True)
class Inspection:
    """The decoded headers of one file and the header positions detected in it."""

    source: str
    layout: Layout
    texts: list[str]
    stanzas: list[str]
    binary: list[BinaryRow]
    first_trace: int
    n_shown: int
    trace_rows: list[TraceRow]
    #: trace header fields that hold the same non-zero value in every trace shown
    constant: dict[str, int]
    detection: Detection

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "layout": self.layout.to_dict(),
            "text_headers": self.texts,
            "stanzas": self.stanzas,
            "binary_header": [asdict(row) for row in self.binary],
            "trace_headers": {"first_trace": self.first_trace, "n_traces": self.n_shown,
                              "varying": [asdict(row) for row in self.trace_rows],
                              "constant": self.constant},
            "detection": self.detection.to_dict(),
        }


def inspect_source(source: ByteSource, *, n_traces: int = DEFAULT_TRACES) -> Inspection:
    """Read and check the headers of `source` and detect its header positions."""
    layout = detect_layout(source)
    texts = read_text_headers(source, layout)
    binary = read_bytes(source, TEXT_HEADER_BYTES, BINARY_HEADER_BYTES)
    rows, constant, shown = _trace_rows(source, layout, n_traces)
    return Inspection(
        source=source.name, layout=layout, texts=texts,
        stanzas=[m.group(0) for text in texts[1:] for m in _STANZA.finditer(text)],
        binary=binary_rows(unpack_binary_header(binary, layout.byteorder), layout),
        first_trace=0, n_shown=shown, trace_rows=rows, constant=constant,
        detection=detect_header_keys(source, layout),
    )


def binary_rows(header: dict[str, int | float], layout: Layout) -> list[BinaryRow]:
    """Every binary header field in file order, with a flag on values that look wrong."""
    flags = _binary_flags(header, layout)
    rows = [BinaryRow(name, field.byte, header[name], flags.get(name, ""))
            for name, field in BINARY_FIELDS.items()]
    return sorted(rows, key=lambda row: row.byte)


def _binary_flags(header: dict[str, int | float], layout: Layout) -> dict[str, str]:
    """Why a field's value looks wrong, by field name: the checks a reader of the table
    would make by eye (zero intervals, unknown codes, counts the traces contradict)."""
    checks = {
        "Interval": (header["Interval"] == 0 and "zero: the first trace header's interval "
                     f"is used ({layout.sample_interval_us:g} us)"),
        "Samples": (header["Samples"] not in (0, layout.n_samples)
                    and f"the traces hold {layout.n_samples} samples"),
        "Format": (not is_known_format(int(header["Format"])) and "not a SEG-Y format code"),
        "SEGYRevision": (header["SEGYRevision"] not in (0, 1, 2)
                         and "not a SEG-Y revision (0, 1 or 2)"),
        "MeasurementSystem": (header["MeasurementSystem"] not in (0, 1, 2)
                              and "not 1 (metres) or 2 (feet)"),
        "SortingCode": (not -1 <= int(header["SortingCode"]) <= 9
                        and "not a trace sorting code (-1..9)"),
        "TraceFlag": (header["TraceFlag"] not in (0, 1) and "not 0 or 1"),
        "ExtendedHeaders": (header["ExtendedHeaders"] < -1 and "below -1"),
        "Traces": (header["Traces"] < 0 and "negative"),
    }
    if layout.sample_interval_us == 0:
        checks["Interval"] = "zero here and in the first trace header: interval unknown"
    return {name: flag for name, flag in checks.items() if flag}


def _trace_rows(source: ByteSource, layout: Layout,
                n_traces: int) -> tuple[list[TraceRow], dict[str, int], int]:
    """The fields that vary over the first `n_traces` traces, those that stay non-zero,
    and how many traces were read (a short file has fewer)."""
    count = min(n_traces, layout.n_traces)
    if count == 0:
        return [], {}, 0
    headers = read_traces(source, layout, 0, count).headers
    rows, constant = [], {}
    for name, offset, _ in trace_fields():
        values = np.asarray(headers[name]).astype(np.int64)
        if values.min() != values.max():
            rows.append(TraceRow(name, offset + 1, values.tolist()))
        elif values[0]:
            constant[name] = int(values[0])
    return rows, constant, count


def binary_header_byte(row: BinaryRow) -> str:
    """The field's byte range in the file, as the standard writes it (3217-3218)."""
    size = BINARY_FIELDS[row.name].size
    return f"{row.byte}-{row.byte + size - 1}"

