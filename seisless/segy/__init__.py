"""The SEG-Y engine: layout detection and vectorised decoding of byte ranges.

Path, S3 and in-memory sources share one core: everything below works on a `ByteSource`.
"""

from seisless.segy.decode import (
    RawBlock,
    TraceBlock,
    coordinates,
    iter_raw_blocks,
    read_traces,
    trace_range_bytes,
)
from seisless.segy.formats import SUPPORTED_FORMATS, sample_format
from seisless.segy.headers import HeaderKeys
from seisless.segy.layout import Layout, detect_layout, read_text_headers
from seisless.segy.source import ByteSource, BytesSource, LocalFileSource, S3Source, open_source

__all__ = [
    "SUPPORTED_FORMATS",
    "ByteSource",
    "BytesSource",
    "HeaderKeys",
    "Layout",
    "LocalFileSource",
    "RawBlock",
    "S3Source",
    "TraceBlock",
    "coordinates",
    "detect_layout",
    "iter_raw_blocks",
    "open_source",
    "read_text_headers",
    "read_traces",
    "sample_format",
    "trace_range_bytes",
]
