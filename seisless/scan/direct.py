"""The direct engine: plan, scan ranges in parallel processes, merge, publish.

It runs the same three stages as the cloud workflow (plan_scan / scan_range /
merge_parts), so the local and serverless results are the same rows.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any

import pyarrow as pa

from seisless.scan.merge import ScanResult, merge_parts
from seisless.scan.plan import MIB, ScanOptions, ScanPlan, TraceRange, plan_scan
from seisless.scan.worker import scan_range
from seisless.segy import Layout, open_source

#: Direct scans cut ranges small enough that every core stays busy to the end and
#: progress moves, but not so small that per-task overhead shows.
MIN_RANGE_BYTES = 16 * MIB
RANGES_PER_WORKER = 4


def _scan_task(uri: str, layout: Layout, item: TraceRange, options: ScanOptions) -> pa.Table:
    with open_source(uri) as source:
        return scan_range(source, layout, item, options)


def default_workers() -> int:
    return len(os.sched_getaffinity(0))


def run_direct(uri: str, options: ScanOptions | None = None, *, workers: int | None = None,
               s3_client: Any = None,
               on_plan: Callable[[ScanPlan], None] | None = None,
               on_progress: Callable[[int], None] | None = None) -> ScanResult:
    """Scan `uri` (path or s3://) on this machine with `workers` processes.

    `on_plan` sees the plan before work starts; `on_progress` gets bytes done per range.
    """
    options = options or ScanOptions()
    workers = workers or default_workers()
    started = time.perf_counter()
    with open_source(uri, s3_client) as source:
        size = source.size
        if options.n_ranges is None and options.range_bytes is None:
            options = dataclasses.replace(options, n_ranges=max(
                1, min(workers * RANGES_PER_WORKER, size // MIN_RANGE_BYTES)))
        plan = plan_scan(source, options)
        planned = time.perf_counter()
        if on_plan is not None:
            on_plan(plan)
        if workers == 1 or len(plan.ranges) <= 1:
            tables = []
            for item in plan.ranges:
                tables.append(scan_range(source, plan.layout, item, plan.options))
                if on_progress is not None:
                    on_progress(item.byte_stop - item.byte_start)
        else:
            tables = _scan_parallel(uri, plan, workers, on_progress)
    scanned = time.perf_counter()
    result = merge_parts(tables, plan)
    merged = time.perf_counter()
    result.timings.update({
        "plan_s": round(planned - started, 4),
        "scan_s": round(scanned - planned, 4),
        "merge_s": round(merged - scanned, 4),
        "total_s": round(merged - started, 4),
        "workers": workers,
    })
    return result


def _scan_parallel(uri: str, plan: ScanPlan, workers: int,
                   on_progress: Callable[[int], None] | None) -> list[pa.Table]:
    results: dict[int, pa.Table] = {}
    with ProcessPoolExecutor(max_workers=workers) as pool:
        pending: dict[Future[pa.Table], TraceRange] = {
            pool.submit(_scan_task, uri, plan.layout, item, plan.options): item
            for item in plan.ranges
        }
        try:
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    item = pending.pop(future)
                    results[item.index] = future.result()
                    if on_progress is not None:
                        on_progress(item.byte_stop - item.byte_start)
        finally:
            for future in pending:
                future.cancel()
    return [results[i] for i in sorted(results)]
