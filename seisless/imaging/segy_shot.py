"""Reading one shot from a SEG-Y file by its byte ranges (local path or S3).

The scan's gathers index (`gathers.parquet`) lists, per shot, the absolute byte ranges
of its traces; only those ranges (and the file's headers) are read, never the file.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from seisless.errors import ImagingError
from seisless.imaging.geometry import Shot
from seisless.segy import Layout, detect_layout, open_source, read_traces


def shot_ranges(gathers: pa.Table, field_record: int) -> list[tuple[int, int]]:
    """Byte ranges [start, stop) of shot `field_record` in the gathers index."""
    rows = gathers.filter(pc.and_(pc.equal(gathers["kind"], "shot"),
                                  pc.equal(gathers["key"], field_record))).to_pylist()
    if not rows:
        raise ImagingError(f"shot {field_record} is not in the gathers index; the shot list "
                           "and the scan disagree (was the run started on another scan?)")
    return [(int(r["start"]), int(r["stop"])) for r in rows[0]["byte_ranges"]]


def _trace_span(layout: Layout, start: int, stop: int) -> tuple[int, int]:
    offset = start - layout.data_start
    if offset % layout.trace_length or (stop - start) % layout.trace_length:
        raise ImagingError(f"byte range [{start}, {stop}) is not aligned to the traces of "
                           f"this file ({layout.trace_length} bytes each from byte "
                           f"{layout.data_start}); the gathers index is for another file")
    return offset // layout.trace_length, (stop - start) // layout.trace_length


def read_shot(uri: str, ranges: list[tuple[int, int]], *, f0: float, field_record: int,
              s3_client: Any = None, source_depth: float = 0.0, receiver_depth: float = 0.0,
              origin_x: float = 0.0, origin_y: float | None = None) -> Shot:
    """Read the traces of one shot and build its `Shot` (2-D, x from the headers; 3-D,
    x and y, when `origin_y` is given).

    Parameters
    ----------
    uri : str
        Local path or `s3://bucket/key` of the SEG-Y file.
    ranges : list of (int, int)
        The shot's byte ranges from the gathers index.
    f0 : float
        Source peak frequency in kHz.
    field_record : int
        The shot's field record number (its id).
    s3_client : botocore client, optional
        Client for S3 URIs.
    source_depth, receiver_depth, origin_x, origin_y : float, optional
        See `Shot.from_traces`.
    """
    with open_source(uri, s3_client=s3_client) as src:
        layout = detect_layout(src)
        blocks = [read_traces(src, layout, *_trace_span(layout, a, b)) for a, b in ranges]
    samples = np.concatenate([b.samples for b in blocks])
    coords = [b.coordinates() for b in blocks]
    merged = {name: np.concatenate([c[name] for c in coords]) for name in coords[0]}
    return Shot.from_traces(samples, merged, layout.sample_interval_us / 1000.0, f0,
                            source_depth=source_depth, receiver_depth=receiver_depth,
                            shot_id=field_record, origin_x=origin_x, origin_y=origin_y)
