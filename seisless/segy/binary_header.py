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
    #: rev 2.0's 4-byte count; rev 2.1 splits its bytes (REV21_FIELDS)
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

#: The table as SEG-Y rev 2.1 (SEG Technical Standards Committee, 2023) lays it out: the
#: additional trace header count shrinks to bytes 3507-3508 (segyio writes it there in rev
#: 2.0 files too) and bytes 3509-3510 hold the survey type. A separate table, not extra
#: entries, so that each table names every byte once.
REV21_FIELDS: Mapping[str, BinaryField] = {
    **BINARY_FIELDS,
    "MaxAdditionalTraceHeaders": BinaryField(3507, "h"),
    "SurveyType": BinaryField(3509, "h"),
}

#: The first revision read with REV21_FIELDS.
REV21 = (2, 1)


def fields_for(revision: tuple[int, int]) -> Mapping[str, BinaryField]:
    """The field table of `revision`: rev 2.1 and later minors move bytes 3507-3510."""
    return REV21_FIELDS if revision >= REV21 else BINARY_FIELDS


#: An unpacked binary header: field name -> value (float for the rev 2 intervals).
BinaryHeader = dict[str, int | float]

#: The rev 2 byte-order word: it reads as this number in the file's own byte order only.
BYTE_ORDER_WORD = 0x01020304


def read_field(binary: bytes, name: str, byteorder: str,
               table: Mapping[str, BinaryField] = BINARY_FIELDS) -> int | float:
    """One field of the 400-byte `binary` header, read in `byteorder` ('>' or '<')."""
    field = table[name]
    return struct.unpack_from(f"{byteorder}{field.code}", binary, field.offset)[0]


def stated_revision(binary: bytes) -> tuple[int, int]:
    """(major, minor) of bytes 3501-3502: single bytes, so byte order does not matter."""
    return (int(read_field(binary, "SEGYRevision", ">")),
            int(read_field(binary, "SEGYRevisionMinor", ">")))


def unpack_binary_header(binary: bytes, byteorder: str) -> BinaryHeader:
    """Every field of the 400-byte `binary` header by name, read in `byteorder`.

    The table is the one of the revision the header states, so a field means what its
    revision defines.
    """
    table = fields_for(stated_revision(binary))
    return {name: read_field(binary, name, byteorder, table) for name in table}


def pack_binary_header(values: Mapping[str, int | float], byteorder: str,
                       table: Mapping[str, BinaryField] | None = None) -> bytes:
    """A 400-byte binary header holding `values` by field name; other fields are zero.

    `table` defaults to the one of the revision in `values`, as unpack_binary_header reads.
    """
    if table is None:
        table = fields_for((int(values.get("SEGYRevision", 0)),
                            int(values.get("SEGYRevisionMinor", 0))))
    header = bytearray(BINARY_HEADER_BYTES)
    for name, value in values.items():
        field = table[name]
        struct.pack_into(f"{byteorder}{field.code}", header, field.offset, value)
    return bytes(header)


def stated_byteorder(binary: bytes) -> str | None:
    """The byte order the rev 2 byte-order word states, or None where it states none."""
    for byteorder in (">", "<"):
        if read_field(binary, "ByteOrder", byteorder) == BYTE_ORDER_WORD:
            return byteorder
    return None
