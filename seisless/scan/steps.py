"""The three steps of the scan state machine, as plain functions of an S3 client.

`plan_step` validates the file and writes the manifest the Distributed Map reads,
`scan_step` scans one trace-aligned byte range into a Parquet part, and `merge_step`
turns the parts into the scan's outputs. Each takes its S3 client as an argument so the
Lambda handlers, the local cloud and the tests all drive the same code.
"""

from __future__ import annotations

import io
import time
from typing import Any

from seisless import storage
from seisless.cost import Usage
from seisless.errors import SourceError
from seisless.scan.documents import PlanOutput, RangeTask, ScanKeys, ScanRequest, scan_id_for

# Parts are scratch: tagged so the bucket's lifecycle rule expires them (S3 lifecycle
# filters match prefixes, not `scans/*/parts/`, but they do match tags).
SCRATCH_TAGGING = "seisless-scratch=true"
#: The Plan function's environment variable holding the most Map workers any scan may
#: run at once (the stack's context `seisless:maxScanConcurrency`).
ENV_MAX_SCAN_CONCURRENCY = "SEISLESS_MAX_SCAN_CONCURRENCY"
#: A part's parquet metadata key: the seconds its Map worker ran (for the scan's cost).
WORKER_SECONDS = b"seisless.worker_s"
#: stacks/scan.py's memory sizes of the Plan, Map worker and Merge functions.
PLAN_MEMORY_MB, SCAN_MEMORY_MB, MERGE_MEMORY_MB = 1024, 3008, 10240
#: Plan lists and heads a few objects: about a second (it is not timed).
PLAN_SECONDS_ESTIMATE = 1.0


def _head(s3: Any, bucket: str, key: str) -> dict[str, Any] | None:
    from botocore.exceptions import ClientError

    try:
        return s3.head_object(Bucket=bucket, Key=key)
    except ClientError as err:
        if storage.is_missing(err):
            return None
        raise SourceError(f"cannot read s3://{bucket}/{key}: {err}; check that the "
                          "object exists and the function may read it") from err


def _claim(s3: Any, sfn: Any, bucket: str, keys: ScanKeys, execution: str) -> bool:
    """Claim the scan of this object version for `execution` with a conditional write
    (If-None-Match); False when another execution that is still running holds it.

    Events are delivered at least once (one upload can start two executions): only the
    claim's holder scans. A claim whose execution ended without a summary (it failed or
    was stopped) is taken over, so a failed scan can be run again.
    """
    mine = {"execution": execution}
    if storage.put_json(s3, bucket, keys.claim, mine, if_absent=True):
        return True
    holder = str((storage.find_json(s3, bucket, keys.claim) or {}).get("execution", ""))
    if holder == execution:  # this execution's Plan, retried
        return True
    if holder and sfn is not None and \
            sfn.describe_execution(executionArn=holder)["status"] == "RUNNING":
        return False
    storage.put_json(s3, bucket, keys.claim, mine)
    return True


def upload_options(given: dict[str, Any]) -> dict[str, Any]:
    """The scan options of an upload: as given, with header positions detected unless the
    request names them, as the CLI does when no byte is given. An upload carries no
    options, and a file that keeps its lines at 9/21 must still get its map and gathers."""
    return {"detect_keys": "keys" not in given, **given}


def plan_step(s3: Any, request: ScanRequest, default_max_concurrency: int,
              concurrency_cap: int | None = None, *, execution: str | None = None,
              sfn: Any = None) -> PlanOutput:
    """Plan the scan of one object; a no-op when this object version was already scanned,
    or when another execution (`execution` names this one) is scanning it.

    The Map runs `request.max_concurrency` workers at once (else the default), never
    more than `concurrency_cap`: an input asking for 10,000 would otherwise take the
    account's whole Lambda concurrency and starve every other function (the reducer).

    Raises the engine's `SegyFormatError` family on a malformed file: the state machine
    shows that class name as its error and the message as its cause.
    """
    from seisless.scan import ScanOptions, plan_scan
    from seisless.segy import open_source

    version_id, etag = request.version_id, request.etag
    if not (version_id or etag):
        head = _head(s3, request.bucket, request.key)
        if head is None:
            raise SourceError(f"s3://{request.bucket}/{request.key} does not exist; "
                              "upload it first or fix the key")
        version_id, etag = head.get("VersionId"), head.get("ETag")
    keys = ScanKeys(scan_id_for(request.key, version_id, etag))
    concurrency = request.max_concurrency or default_max_concurrency
    if concurrency_cap is not None:
        concurrency = min(concurrency, concurrency_cap)
    done = _head(s3, request.bucket, keys.summary) is not None
    busy = not done and execution is not None and \
        not _claim(s3, sfn, request.bucket, keys, execution)
    n_items = 0
    if not (done or busy):
        options = ScanOptions.from_dict(upload_options(request.options))
        uri = f"s3://{request.bucket}/{request.key}"
        with open_source(uri, s3_client=s3) as source:
            plan = plan_scan(source, options)
        manifest = plan.to_manifest()
        n_items = len(manifest)
        s3.put_object(Bucket=request.bucket, Key=keys.plan, Body=plan.to_json().encode(),
                      ContentType="application/json")
        storage.put_json(s3, request.bucket, keys.manifest, manifest)
    return PlanOutput(
        scan_id=keys.scan_id, bucket=request.bucket, key=request.key,
        manifest_key=keys.manifest, plan_key=keys.plan, output_prefix=keys.prefix,
        n_items=n_items, max_concurrency=concurrency, already_scanned=done,
        already_scanning=busy,
    )


def _load_plan(s3: Any, bucket: str, keys: ScanKeys) -> Any:
    from seisless.scan import ScanPlan

    return ScanPlan.from_json(storage.get_bytes(s3, bucket, keys.plan, what="the scan plan",
                                                fix="run the Plan step first"))


def scan_step(s3: Any, task: RangeTask) -> dict[str, Any]:
    """Scan one byte range of the source into `scans/<id>/parts/<index>.parquet`."""
    import pyarrow.parquet as pq

    from seisless.scan import TraceRange, scan_range
    from seisless.segy import open_source

    started = time.perf_counter()
    keys = ScanKeys(task.scan_id)
    plan = _load_plan(s3, task.bucket, keys)
    with open_source(plan.source, s3_client=s3) as source:
        table = scan_range(source, plan.layout, TraceRange(**task.item), plan.options)
    seconds = str(round(time.perf_counter() - started, 4)).encode()
    table = table.replace_schema_metadata({**(table.schema.metadata or {}),
                                           WORKER_SECONDS: seconds})
    buf = io.BytesIO()
    pq.write_table(table, buf)
    s3.put_object(Bucket=task.bucket, Key=keys.part(task.index), Body=buf.getvalue(),
                  Tagging=SCRATCH_TAGGING)
    return {"part": keys.part(task.index), "rows": table.num_rows}


def scan_usage(worker_seconds: list[float], merge_s: float) -> Usage:
    """A workflow scan's usage, storage aside (the merge adds its outputs' bytes).

    Lambda: Plan (its duration is not measured: PLAN_SECONDS_ESTIMATE), each Map worker's
    measured seconds and the merge's, at stacks/scan.py's memory sizes. Step Functions:
    Plan, IsAlreadyScanned, ScanRanges, one ScanRange per range, Merge and Scanned.
    S3: per range one GET of its bytes and one of plan.json, then the merge's GET of its
    part; PUTs: plan.json, the parts and the four outputs.
    """
    from seisless.scan.merge import OUTPUT_FILES

    n = len(worker_seconds)
    gb_seconds = (PLAN_SECONDS_ESTIMATE * PLAN_MEMORY_MB + sum(worker_seconds) * SCAN_MEMORY_MB
                  + merge_s * MERGE_MEMORY_MB) / 1024
    return Usage(lambda_requests=n + 2, lambda_gb_seconds=gb_seconds, transitions=n + 5,
                 s3_gets=3 * n + 1, s3_puts=n + 1 + len(OUTPUT_FILES))


def merge_step(s3: Any, plan_output: PlanOutput) -> dict[str, Any]:
    """Merge every part into the scan's outputs under `scans/<id>/`."""
    import pyarrow.parquet as pq

    from seisless.scan import merge_parts

    keys = ScanKeys(plan_output.scan_id)
    merge_started = time.time()
    plan = _load_plan(s3, plan_output.bucket, keys)
    # The scan began when Plan wrote plan.json: its age is the workflow's scan time.
    planned = s3.head_object(Bucket=plan_output.bucket, Key=keys.plan)["LastModified"]
    tables = [
        pq.read_table(io.BytesIO(storage.get_bytes(
            s3, plan_output.bucket, keys.part(i), what=f"scan part {i}",
            fix="a Map item did not complete; run the scan again")))
        for i in range(plan_output.n_items)
    ]
    now = time.time()
    timings = {"scan_s": round(merge_started - planned.timestamp(), 3),
               "merge_s": round(now - merge_started, 3),
               "total_s": round(now - planned.timestamp(), 3)}
    result = merge_parts(tables, plan, timings)
    result.usage = scan_usage([float((t.schema.metadata or {}).get(WORKER_SECONDS, 0))
                               for t in tables], timings["merge_s"])
    result.write(f"s3://{plan_output.bucket}/{keys.prefix}", s3_client=s3)
    return {"scan_id": plan_output.scan_id, "output": f"s3://{plan_output.bucket}/{keys.prefix}",
            "parts": plan_output.n_items}
