"""Vectorised decoding of trace-aligned byte ranges.

A block of traces is read into one buffer; the headers are a zero-copy structured view
over it and the samples a strided view decoded in one numpy call per format, so there is
no per-trace Python work however many traces a block holds.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from seisless.errors import ConfigError, SegyFormatError
from seisless.segy.formats import decoder
from seisless.segy.headers import HeaderKeys, apply_scalar, trace_header_dtype
from seisless.segy.layout import Layout
from seisless.segy.source import ByteSource

#: Default read size of one block: big enough to stream at disk/network speed, small
#: enough that two workers and their buffers stay far below a Lambda's memory.
BLOCK_BYTES = 32 * 1024 * 1024


@dataclass(frozen=True)
class RawBlock:
    """Consecutive traces as read: `buffer` holds `n_traces` whole traces."""

    layout: Layout
    first_trace: int
    n_traces: int
    buffer: np.ndarray  # uint8, at least n_traces * trace_length bytes

    @property
    def byte_offset(self) -> int:
        return self.layout.trace_offset(self.first_trace)

    def headers(self) -> np.ndarray:
        """Standard trace headers (structured, in the file's byte order; zero-copy)."""
        dtype = trace_header_dtype(self.layout.byteorder, self.layout.trace_length)
        if self.n_traces == 0:
            return np.zeros(0, trace_header_dtype(self.layout.byteorder, 240))
        return np.ndarray((self.n_traces,), dtype, self.buffer, 0)

    def key_words(self, keys: HeaderKeys) -> np.ndarray:
        """The inline/crossline/CDP x-y words at the configured byte positions."""
        dtype = keys.dtype(self.layout.byteorder, self.layout.trace_length)
        return np.ndarray((self.n_traces,), dtype, self.buffer, 0)

    def raw_samples(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Sample bytes of traces [start, stop) as a strided (traces, bytes) uint8 view."""
        stop = self.n_traces if stop is None else stop
        layout = self.layout
        width = layout.n_samples * layout.format.itemsize
        if stop == start:
            return np.empty((0, width), np.uint8)
        return np.ndarray((stop - start, width), np.uint8, self.buffer,
                          start * layout.trace_length + layout.header_length,
                          (layout.trace_length, 1))

    def decode(self, start: int = 0, stop: int | None = None,
               out: np.ndarray | None = None) -> np.ndarray:
        """Samples of traces [start, stop) as float32 (float64 for wide integer formats)."""
        raw = self.raw_samples(start, stop)
        fmt = self.layout.format
        if out is None:
            out = np.empty((raw.shape[0], self.layout.n_samples), fmt.output)
        decoder(fmt, self.layout.byteorder)(raw, out)
        return out

    def check_sample_counts(self) -> None:
        """Fail on a trace whose header states another sample count than the first trace.

        Trace boundaries are computed, not read, so a wrong binary-header sample count or
        missing trace headers shift every boundary, and the headers then read as sample
        bytes. The per-trace count (bytes 115-116) is the cheap witness. It is compared
        with the first trace's, not the binary header's: cropped real files (F3) keep the
        original count there, the same in every trace.
        """
        counts = self.headers()["TRACE_SAMPLE_COUNT"]
        expected = self.layout.trace_header_samples
        bad = np.flatnonzero(counts != expected)
        if bad.size:
            trace = self.first_trace + int(bad[0])
            raise SegyFormatError(
                f"trace {trace} (header at byte {self.layout.trace_offset(trace)}) says "
                f"{int(counts[bad[0]])} samples where the first trace says {expected}: "
                f"with {self.layout.n_samples} samples per trace (binary header) the trace "
                "boundaries are off. The binary header's sample count or format is wrong, "
                "or trace headers are missing"
            )


@dataclass(frozen=True)
class TraceBlock:
    """Decoded traces: headers (native byte order) and samples."""

    first_trace: int
    headers: np.ndarray
    samples: np.ndarray

    def coordinates(self) -> dict[str, np.ndarray]:
        """Source, group and CDP x-y in float64 with the coordinate scalar applied."""
        return coordinates(self.headers)


def coordinates(headers: np.ndarray, keys: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Scaled coordinates from standard headers (CDP x-y from `keys` when given)."""
    scalar = headers["SourceGroupScalar"]
    cdp = keys if keys is not None else headers
    cdp_x, cdp_y = ("cdp_x", "cdp_y") if keys is not None else ("CDP_X", "CDP_Y")
    return {
        "source_x": apply_scalar(headers["SourceX"], scalar),
        "source_y": apply_scalar(headers["SourceY"], scalar),
        "group_x": apply_scalar(headers["GroupX"], scalar),
        "group_y": apply_scalar(headers["GroupY"], scalar),
        "cdp_x": apply_scalar(cdp[cdp_x], scalar),
        "cdp_y": apply_scalar(cdp[cdp_y], scalar),
    }


def trace_range_bytes(layout: Layout, first_trace: int, n_traces: int) -> tuple[int, int]:
    """[start, stop) byte range of traces [first_trace, first_trace + n_traces)."""
    if first_trace < 0 or n_traces < 0 or first_trace + n_traces > layout.n_traces:
        raise ConfigError(f"traces [{first_trace}, {first_trace + n_traces}) are outside the "
                          f"file's {layout.n_traces} traces")
    start = layout.trace_offset(first_trace)
    return start, start + n_traces * layout.trace_length


def iter_raw_blocks(source: ByteSource, layout: Layout, first_trace: int, n_traces: int,
                    block_bytes: int = BLOCK_BYTES) -> Iterator[RawBlock]:
    """Read traces in blocks of at most `block_bytes`, reusing one buffer.

    Each yielded block is only valid until the next one is read.
    """
    trace_range_bytes(layout, first_trace, n_traces)
    per_block = max(1, block_bytes // layout.trace_length)
    mapped = getattr(source, "mapped", None)
    if mapped is not None:  # a local file: decode straight from the page cache
        for trace in range(first_trace, first_trace + n_traces, per_block):
            count = min(per_block, first_trace + n_traces - trace)
            yield RawBlock(layout, trace, count,
                           mapped(layout.trace_offset(trace), count * layout.trace_length))
        return
    buffer = np.empty(min(per_block, max(n_traces, 1)) * layout.trace_length, np.uint8)
    view = memoryview(buffer)
    trace, end = first_trace, first_trace + n_traces
    while trace < end:
        count = min(per_block, end - trace)
        source.readinto(layout.trace_offset(trace), view[:count * layout.trace_length])
        yield RawBlock(layout, trace, count, buffer)
        trace += count


def read_traces(source: ByteSource, layout: Layout, first_trace: int = 0,
                n_traces: int | None = None) -> TraceBlock:
    """Read and decode traces [first_trace, first_trace + n_traces) into new arrays."""
    if n_traces is None:
        n_traces = layout.n_traces - first_trace
    start, stop = trace_range_bytes(layout, first_trace, n_traces)
    buffer = np.empty(stop - start, np.uint8)
    source.readinto(start, memoryview(buffer))
    block = RawBlock(layout, first_trace, n_traces, buffer)
    block.check_sample_counts()
    headers = block.headers()
    native = headers.astype(headers.dtype.newbyteorder("="))
    compact = np.empty(n_traces, np.dtype([(n, native.dtype.fields[n][0])
                                           for n in native.dtype.names]))
    for name in native.dtype.names:
        compact[name] = native[name]
    return TraceBlock(first_trace, compact, block.decode())
