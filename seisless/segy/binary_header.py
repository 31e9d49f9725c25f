"""The 400-byte binary file header as one table of named fields.

Names and positions are segyio's `BinField` wherever segyio has the field, so a name means
the same here as in segyio-based tools and a position is written down once; every read
(layout.py) and write (write.py) of the binary header goes through this table.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from typing import NamedTuple

import segyio

#: 1-based absolute byte position of the binary header's first byte (after the text header).
BINARY_HEADER_START = 3201
BINARY_HEADER_BYTES = 400


class BinaryField(NamedTuple):
    """Where one field is and how it is stored."""

    #: 1-based absolute byte position in the file, as `segyio.BinField` numbers it
    byte: int
    #: struct code without byte order: the width and signedness the standard gives
    code: str

    @property
    def offset(self) -> int:
        """0-based offset inside the 400-byte binary header."""
        return self.byte - BINARY_HEADER_START

    @property
    def size(self) -> int:
        """Width in bytes, from the struct code (no alignment padding)."""
        return struct.calcsize(f"<{self.code}")


#: struct code of every field segyio's `BinField` has (its `Unassigned*` are no fields).
_SEGYIO_CODES = {
    "JobID": "i",
    "LineNumber": "i",
    "ReelNumber": "i",
    "Traces": "h",
    "AuxTraces": "h",
    # unsigned, like the trace header's count and interval (headers.py): none is negative
    "Interval": "H",
    "IntervalOriginal": "H",
    "Samples": "H",
    "SamplesOriginal": "H",
    "Format": "h",
    "EnsembleFold": "h",
    "SortingCode": "h",
    "VerticalSum": "h",
    "SweepFrequencyStart": "h",
    "SweepFrequencyEnd": "h",
    "SweepLength": "h",
    "Sweep": "h",
    "SweepChannel": "h",
    "SweepTaperStart": "h",
    "SweepTaperEnd": "h",
    "Taper": "h",
    "CorrelatedTraces": "h",
    "BinaryGainRecovery": "h",
    "AmplitudeRecovery": "h",
    "MeasurementSystem": "h",
    "ImpulseSignalPolarity": "h",
    "VibratoryPolarity": "h",
    "ExtTraces": "i",
    "ExtAuxTraces": "i",
    "ExtSamples": "i",
    "ExtSamplesOriginal": "i",
    "ExtEnsembleFold": "i",
    "SEGYRevision": "B",
    "SEGYRevisionMinor": "B",
    "TraceFlag": "h",
    "ExtendedHeaders": "h",
}

#: Rev 2 fields segyio's `BinField` lacks, as the SEG-Y revision 2.0 data exchange format
#: standard (SEG Technical Standards Committee, March 2017) places them in the binary header.
_REV2_FIELDS = {
    "ExtInterval": BinaryField(3273, "d"),
    "ExtIntervalOriginal": BinaryField(3281, "d"),
    #: 16909060 (0x01020304) written in the file's byte order
    "ByteOrder": BinaryField(3297, "I"),
    "MaxAdditionalTraceHeaders": BinaryField(3507, "i"),
    "TimeBasisCode": BinaryField(3511, "h"),
    "TracesInFile": BinaryField(3513, "Q"),
    "FirstTraceOffset": BinaryField(3521, "Q"),
    "TrailerRecords": BinaryField(3529, "i"),
}

BINARY_FIELDS: Mapping[str, BinaryField] = {
    **{
        name: BinaryField(int(getattr(segyio.BinField, name)), code)
        for name, code in _SEGYIO_CODES.items()
    },
    **_REV2_FIELDS,
}

#: An unpacked binary header: field name -> value (float for the rev 2 intervals).
BinaryHeader = dict[str, int | float]

#: The rev 2 byte-order word: it reads as this number in the file's own byte order only.
BYTE_ORDER_WORD = 0x01020304


def read_field(binary: bytes, name: str, byteorder: str) -> int | float:
    """One field of the 400-byte `binary` header, read in `byteorder` ('>' or '<')."""
    field = BINARY_FIELDS[name]
    return struct.unpack_from(f"{byteorder}{field.code}", binary, field.offset)[0]


def unpack_binary_header(binary: bytes, byteorder: str) -> BinaryHeader:
    """Every field of the 400-byte `binary` header by name, read in `byteorder`."""
    return {name: read_field(binary, name, byteorder) for name in BINARY_FIELDS}


def pack_binary_header(values: Mapping[str, int | float], byteorder: str) -> bytes:
    """A 400-byte binary header holding `values` by field name; other fields are zero."""
    header = bytearray(BINARY_HEADER_BYTES)
    for name, value in values.items():
        field = BINARY_FIELDS[name]
        struct.pack_into(f"{byteorder}{field.code}", header, field.offset, value)
    return bytes(header)


def stated_byteorder(binary: bytes) -> str | None:
    """The byte order the rev 2 byte-order word states, or None where it states none."""
    for byteorder in (">", "<"):
        if read_field(binary, "ByteOrder", byteorder) == BYTE_ORDER_WORD:
            return byteorder
    return None
