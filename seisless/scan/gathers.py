"""The gathers index: where each shot and each inline lives in the file.

The imaging workflow reads one shot by its byte ranges instead of the whole file, so each
gather lists the maximal runs of consecutive traces it owns as absolute byte ranges.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

RANGE_TYPE = pa.struct([("start", pa.int64()), ("stop", pa.int64())])
GATHERS_SCHEMA = pa.schema([
    ("kind", pa.string()),
    ("key", pa.int64()),
    ("n_traces", pa.int64()),
    ("first_trace", pa.int64()),
    ("byte_ranges", pa.list_(RANGE_TYPE)),
    ("source_x", pa.float64()),
    ("source_y", pa.float64()),
    ("n_receivers", pa.int64()),
    # largest spread of the source positions over the gather, m: 0 for a shot gather
    ("source_spread", pa.float64()),
])

#: (kind, traces.parquet column holding its key)
GATHER_KINDS = (("shot", "field_record"), ("inline", "inline"))


def gathers_index(traces: pa.Table, trace_length: int) -> pa.Table:
    """One row per gather of every kind whose key is filled in (not all zero)."""
    tables = [_gathers(kind, traces, column, trace_length)
              for kind, column in GATHER_KINDS
              if traces.num_rows and np.any(traces[column].to_numpy())]
    return pa.concat_tables(tables) if tables else GATHERS_SCHEMA.empty_table()


def _gathers(kind: str, traces: pa.Table, column: str, trace_length: int) -> pa.Table:
    key = traces[column].to_numpy().astype(np.int64)
    trace = traces["trace"].to_numpy()
    order = np.lexsort((trace, key))
    key, trace = key[order], trace[order]
    offset = traces["byte_offset"].to_numpy()[order]

    new_gather = np.r_[True, key[1:] != key[:-1]]
    new_run = new_gather | np.r_[True, trace[1:] != trace[:-1] + 1]
    gather_starts = np.flatnonzero(new_gather)
    run_starts = np.flatnonzero(new_run)
    run_ends = np.r_[run_starts[1:], key.size] - 1
    ranges = pa.StructArray.from_arrays(
        [pa.array(offset[run_starts]), pa.array(offset[run_ends] + trace_length)],
        fields=list(RANGE_TYPE),
    )
    gather_of_run = np.cumsum(new_gather)[run_starts] - 1
    list_offsets = np.searchsorted(gather_of_run, np.arange(gather_starts.size + 1))
    counts = np.diff(np.r_[gather_starts, key.size])

    gather_id = np.cumsum(new_gather) - 1
    sx = traces["source_x"].to_numpy()[order]
    sy = traces["source_y"].to_numpy()[order]
    gx = traces["group_x"].to_numpy()[order]
    gy = traces["group_y"].to_numpy()[order]
    receivers = np.unique(np.stack([gather_id, gx, gy], axis=1), axis=0)[:, 0].astype(np.int64)
    n_receivers = np.bincount(receivers, minlength=gather_starts.size)

    return pa.table({
        "kind": pa.array([kind] * gather_starts.size, pa.string()),
        "key": pa.array(key[gather_starts]),
        "n_traces": pa.array(counts.astype(np.int64)),
        "first_trace": pa.array(trace[gather_starts]),
        "byte_ranges": pa.ListArray.from_arrays(pa.array(list_offsets.astype(np.int32)), ranges),
        "source_x": pa.array(np.add.reduceat(sx, gather_starts) / counts),
        "source_y": pa.array(np.add.reduceat(sy, gather_starts) / counts),
        "n_receivers": pa.array(n_receivers.astype(np.int64)),
        "source_spread": pa.array(np.maximum(_spread(sx, gather_starts),
                                             _spread(sy, gather_starts))),
    }, schema=GATHERS_SCHEMA)


def _spread(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """max - min of each gather's `values` (gathers are contiguous from `starts`)."""
    return np.maximum.reduceat(values, starts) - np.minimum.reduceat(values, starts)
