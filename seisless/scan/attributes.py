"""Per-trace attributes: the published Parquet schema and the vectorised kernel.

The kernel walks a read block in steps small enough to stay in cache (decode, then
every statistic on the cached step) and reuses its scratch buffers across blocks:
re-reading main memory once per statistic, or touching fresh memory per block, costs
more than the arithmetic. Measured per 64x4000 step: decode 36 us, min+max 44 us,
|x| to float64 79 us, both sums as BLAS dot products 54 us (einsum took 115 us for one).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from seisless.segy import HeaderKeys, Layout, RawBlock
from seisless.segy.decode import coordinates

#: Schema version of traces.parquet; bump on any incompatible change.
SCHEMA_VERSION = 1

ATTRIBUTE_SCHEMA = pa.schema(
    [
        ("trace", pa.int64()),
        ("byte_offset", pa.int64()),
        ("mean_abs", pa.float64()),
        ("rms", pa.float64()),
        ("max_abs", pa.float64()),
        ("min", pa.float64()),
        ("max", pa.float64()),
        ("n_nonfinite", pa.int32()),
        ("dead", pa.bool_()),
        ("field_record", pa.int32()),
        ("trace_number", pa.int32()),
        ("source_x", pa.float64()),
        ("source_y", pa.float64()),
        ("group_x", pa.float64()),
        ("group_y", pa.float64()),
        ("cdp_x", pa.float64()),
        ("cdp_y", pa.float64()),
        ("inline", pa.int32()),
        ("crossline", pa.int32()),
        ("offset", pa.int32()),
    ],
    metadata={b"seisless.schema": str(SCHEMA_VERSION).encode()},
)

#: Samples per cache-resident step (float64 scratch: 2 MiB).
STEP_SAMPLES = 256 * 1024


class AttributeKernel:
    """Statistics of every trace of a block, with scratch buffers reused across blocks."""

    def __init__(self, layout: Layout, keys: HeaderKeys) -> None:
        self.layout = layout
        self.keys = keys
        ns = max(layout.n_samples, 1)
        self.step = max(1, STEP_SAMPLES // ns)
        self._decoded = np.empty((self.step, ns), layout.format.output)
        self._abs = np.empty((self.step, ns), np.float64)
        self._ones = np.ones(ns)

    def table(self, block: RawBlock) -> pa.Table:
        """The attribute rows of every trace in `block`, in trace order."""
        block.check_sample_counts()
        stats = self._statistics(block)
        headers = block.headers()
        keys = block.key_words(self.keys)
        coords = coordinates(headers, keys)
        n = block.n_traces
        columns = {
            "trace": np.arange(block.first_trace, block.first_trace + n, dtype=np.int64),
            "byte_offset": block.byte_offset
            + np.arange(n, dtype=np.int64) * self.layout.trace_length,
            **stats,
            "field_record": headers["FieldRecord"],
            "trace_number": headers["TraceNumber"],
            **coords,
            "inline": keys["inline"],
            "crossline": keys["crossline"],
            "offset": headers["offset"],
        }
        return pa.Table.from_pydict(
            {name: np.ascontiguousarray(values, dtype=ATTRIBUTE_SCHEMA.field(name).type
                                        .to_pandas_dtype())
             for name, values in columns.items()},
            schema=ATTRIBUTE_SCHEMA,
        )

    def _statistics(self, block: RawBlock) -> dict[str, np.ndarray]:
        n, ns = block.n_traces, self.layout.n_samples
        out = {name: np.empty(n) for name in ("mean_abs", "rms", "max_abs", "min", "max")}
        n_nonfinite = np.zeros(n, np.int32)
        if ns == 0 or n == 0:
            for values in out.values():
                values.fill(np.nan)
            return {**out, "n_nonfinite": n_nonfinite, "dead": np.zeros(n, bool)}
        for start in range(0, n, self.step):
            stop = min(start + self.step, n)
            m = stop - start
            decoded = block.decode(start, stop, out=self._decoded[:m])
            lo, hi = decoded.min(axis=1), decoded.max(axis=1)
            # |x| in float64 (one pass), then both sums as per-row dot products: sum |x|
            # = |x|.1 and sum x^2 = |x|.|x|, which numpy hands to BLAS.
            magnitude = np.abs(decoded, out=self._abs[:m])
            sum_abs = np.vecdot(magnitude, self._ones)
            sum_sq = np.vecdot(magnitude, magnitude)
            # An inf or NaN sample makes the float64 sum non-finite (finite float32 values
            # cannot overflow it), so the common all-finite case needs no mask.
            suspect = np.flatnonzero(~np.isfinite(sum_abs))
            for i in suspect:
                row = decoded[i].astype(np.float64)
                finite = row[np.isfinite(row)]
                n_nonfinite[start + i] = ns - finite.size
                if finite.size:
                    lo[i], hi[i] = finite.min(), finite.max()
                    sum_abs[i] = np.abs(finite).sum()
                    sum_sq[i] = finite @ finite
                else:
                    lo[i] = hi[i] = sum_abs[i] = sum_sq[i] = np.nan
            counts = ns - n_nonfinite[start:stop]
            with np.errstate(invalid="ignore", divide="ignore"):
                out["mean_abs"][start:stop] = sum_abs / counts
                out["rms"][start:stop] = np.sqrt(sum_sq / counts)
            out["min"][start:stop] = lo
            out["max"][start:stop] = hi
            out["max_abs"][start:stop] = np.maximum(np.abs(lo), np.abs(hi))
        dead = (out["max_abs"] == 0) & (n_nonfinite == 0)
        return {**out, "n_nonfinite": n_nonfinite, "dead": dead}
