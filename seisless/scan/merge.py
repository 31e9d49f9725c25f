"""Merging range tables into the scan's outputs, and publishing them all-or-nothing.

Outputs: traces.parquet (one row per trace), gathers.parquet, map.png and summary.json.
summary.json is written last and says `"complete": true`: a reader that finds it knows
every other output is whole. A failed scan leaves no summary and no partial files.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from seisless import __version__
from seisless.cost import Prices, Usage, price
from seisless.errors import SeislessError
from seisless.scan.attributes import ATTRIBUTE_SCHEMA
from seisless.scan.gathers import gathers_index
from seisless.scan.mapplot import render_map
from seisless.scan.plan import ScanPlan
from seisless.segy.source import S3Location

OUTPUT_FILES = ("traces.parquet", "gathers.parquet", "map.png", "summary.json")


class IncompleteScanError(SeislessError):
    """The range results do not cover every trace exactly once."""


@dataclass
class ScanResult:
    plan: ScanPlan
    traces: pa.Table
    gathers: pa.Table
    timings: dict[str, float] = field(default_factory=dict)
    usage: Usage | None = None  # a workflow scan's: its summary then says what it cost

    def summary(self, stored_bytes: int = 0) -> dict[str, Any]:
        """The scan's summary; `stored_bytes`, the other outputs' size, prices their
        storage when the summary has a cost section."""
        layout = self.plan.layout
        dead = self.traces["dead"].to_numpy(zero_copy_only=False)
        nonfinite = self.traces["n_nonfinite"].to_numpy()
        scanned = layout.n_traces * layout.trace_length
        total = self.timings.get("total_s") or 0.0
        return {
            "complete": True,
            "seisless_version": __version__,
            "schema_version": int(ATTRIBUTE_SCHEMA.metadata[b"seisless.schema"]),
            "source": self.plan.source,
            "layout": layout.to_dict(),
            "options": self.plan.options.to_dict(),
            "notes": list(self.plan.notes),
            "counts": {
                "traces": layout.n_traces,
                "ranges": len(self.plan.ranges),
                "dead_traces": int(dead.sum()),
                "traces_with_nonfinite": int(np.count_nonzero(nonfinite)),
                "nonfinite_samples": int(nonfinite.sum()),
                "gathers": {kind: int(np.sum(np.asarray(self.gathers["kind"]) == kind))
                            for kind in ("shot", "inline")},
            },
            "timings": self.timings,
            "throughput_mb_s": round(scanned / total / 1e6, 1) if total else None,
            "outputs": list(OUTPUT_FILES),
            **({"cost": _priced(self.usage, stored_bytes)} if self.usage is not None else {}),
        }

    def encoded(self) -> dict[str, bytes]:
        """Every output file's bytes, summary.json last."""
        files = {}
        for name, table in (("traces.parquet", self.traces), ("gathers.parquet", self.gathers)):
            sink = io.BytesIO()
            pq.write_table(table, sink, compression="zstd")
            files[name] = sink.getvalue()
        files["map.png"] = render_map(self.traces, f"{self.plan.source}: max of mean |a|")
        stored = sum(len(body) for body in files.values())
        files["summary.json"] = json.dumps(self.summary(stored), indent=2).encode()
        return files

    def write(self, dest: str | os.PathLike[str], s3_client: Any = None) -> str:
        """Publish the outputs to a local directory or an `s3://bucket/prefix`."""
        files = self.encoded()
        text = os.fspath(dest)
        if text.startswith("s3://"):
            _write_s3(files, text, s3_client)
        else:
            _write_local(files, Path(text))
        return text


def _priced(usage: Usage, stored_bytes: int) -> dict[str, Any]:
    """A workflow scan's cost at the default prices (a scan takes no configuration)."""
    usage = usage.model_copy(update={"storage_bytes": stored_bytes})
    notes = ("Plan's Lambda seconds and the S3 requests are estimates",)
    return price(usage, Prices(), notes).model_dump(mode="json")


def merge_parts(tables: Iterable[pa.Table], plan: ScanPlan,
                timings: dict[str, float] | None = None) -> ScanResult:
    """Concatenate range tables, check each trace appears exactly once, index gathers."""
    parts = [t.cast(ATTRIBUTE_SCHEMA) for t in tables]
    traces = pa.concat_tables(parts) if parts else ATTRIBUTE_SCHEMA.empty_table()
    traces = traces.sort_by("trace").combine_chunks()
    expected = plan.layout.n_traces
    order = traces["trace"].to_numpy()
    if order.size != expected or not np.array_equal(order, np.arange(expected)):
        raise IncompleteScanError(
            f"the range results hold {order.size} rows for {expected} traces (missing or "
            "repeated ranges); re-run the scan, nothing was published"
        )
    gathers = gathers_index(traces, plan.layout.trace_length)
    return ScanResult(plan, traces, gathers, dict(timings or {}))


def _write_local(files: dict[str, bytes], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").unlink(missing_ok=True)  # an old summary must not vouch for new files
    staging = Path(tempfile.mkdtemp(prefix=".seisless-", dir=out))
    try:
        for name, data in files.items():
            (staging / name).write_bytes(data)
        for name in files:  # summary.json is last in `files`
            os.replace(staging / name, out / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _write_s3(files: dict[str, bytes], dest: str, s3_client: Any) -> None:
    location = S3Location.parse(dest.rstrip("/") + "/x")
    prefix = location.key[:-1]
    if s3_client is None:
        import boto3

        s3_client = boto3.client("s3")
    s3_client.delete_object(Bucket=location.bucket, Key=f"{prefix}summary.json")
    for name, data in files.items():
        s3_client.put_object(Bucket=location.bucket, Key=f"{prefix}{name}", Body=data)
