"""`seisless scan --engine local|aws`: a local SEG-Y file through the scan workflow.

The client drives the workflow the way a user would: it uploads the file under
`incoming/` and does not start an execution itself; the upload's event does (the
EventBridge rule), so a scan from here takes the very path of any upload. It then finds
that execution, reports its states and map items as they happen, and downloads what
Merge published.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from seisless.client.engine import Target, open_target
from seisless.client.follow import POLL_S, Progress, follow, logs_named
from seisless.errors import ConfigError, SourceError, WorkflowTimeoutError
from seisless.names import INCOMING_PREFIX, STACK_NAME
from seisless.scan.documents import ScanKeys, parse_scan_input, scan_id_for
from seisless.storage import get_json, list_keys

if TYPE_CHECKING:
    from seisless.local import LocalCloud

#: The Distributed Map state of the scan workflow (statemachines/segy_scan.asl.json).
MAP_STATE = "ScanRanges"
#: How long an upload's event may take to start its execution.
START_TIMEOUT_S = 60


class ScanProgress:
    """Says each state entered and, once the map runs, how many parts are written."""

    def __init__(self, target: Target, keys: ScanKeys, say: Progress) -> None:
        self._target, self._keys, self._say = target, keys, say
        self._n_items: int | None = None
        self._parts_done = -1

    def event(self, event: dict[str, Any]) -> None:
        if not event["type"].endswith("StateEntered"):
            return
        name = event["stateEnteredEventDetails"]["name"]
        self._say(f"state {name}")
        if name == MAP_STATE:
            manifest = get_json(self._target.s3, self._target.bucket, self._keys.manifest,
                                what="the scan manifest", fix="the Plan step writes it")
            self._n_items = len(manifest)

    def poll(self) -> None:
        if self._n_items is None:
            return
        done = len(list_keys(self._target.s3, self._target.bucket, self._keys.parts_prefix))
        if done != self._parts_done:
            self._say(f"map items {done}/{self._n_items}")
            self._parts_done = done


def scan_via_workflow(source_path: str | Path, out_dir: str | Path, *, engine: str = "local",
                      stack_name: str = STACK_NAME, endpoint: str | None = None,
                      cloud: LocalCloud | None = None, key: str | None = None,
                      say: Progress = print, timeout_s: float = 3600) -> dict[str, Any]:
    """Scan a local SEG-Y file through the event-driven workflow; its summary.

    Uploads SOURCE to `incoming/<name>` (or `key`), follows the execution its upload
    started, and downloads the outputs Merge published into `out_dir` (created only
    when the scan succeeded). Raises `WorkflowFailedError` carrying the Fail state's
    error and cause when the execution fails.
    """
    source = Path(source_path)
    if not source.is_file():
        raise SourceError(f"{source}: no such file; give the path of a SEG-Y file")
    key = key or f"{INCOMING_PREFIX}{source.name}"
    with open_target(engine, stack_name=stack_name, endpoint=endpoint, cloud=cloud) as target:
        started = time.monotonic()
        say(f"upload {source} -> s3://{target.bucket}/{key}")
        keys, arn = _upload(target, source, key)
        say(f"execution {arn}")
        with logs_named(target):
            follow(target.sfn, arn, ScanProgress(target, keys, say),
                   what=f"the scan of {source}", timeout_s=timeout_s)
        out = Path(out_dir)
        summary = _download(target, keys, out)
        say(f"done in {time.monotonic() - started:.1f} s: outputs in {out} "
            f"(map: {out / 'map.png'})")
        return summary


def _upload(target: Target, source: Path, key: str) -> tuple[ScanKeys, str]:
    """Upload the file; the keys of its scan and the execution its event started."""
    target.s3.upload_file(str(source), target.bucket, key)
    head = target.s3.head_object(Bucket=target.bucket, Key=key)
    version_id, etag = head.get("VersionId"), head["ETag"].strip('"')
    keys = ScanKeys(scan_id_for(key, version_id, etag))
    return keys, _find_execution(target, key, version_id or etag)


def _find_execution(target: Target, key: str, tag: str) -> str:
    """The execution whose input names this object version (started by its event)."""
    sfn, sm_arn = target.sfn, target.scan_state_machine_arn
    seen: set[str] = set()
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=sm_arn):
            for item in page["executions"]:
                if item["executionArn"] in seen:
                    continue
                seen.add(item["executionArn"])
                raw = sfn.describe_execution(executionArn=item["executionArn"]).get("input")
                try:
                    request = parse_scan_input(json.loads(raw or "null"))
                except (ConfigError, ValueError):
                    continue
                if request.key == key and tag in {request.version_id,
                                                  (request.etag or "").strip('"')}:
                    return item["executionArn"]
        time.sleep(POLL_S)
    raise WorkflowTimeoutError(f"no execution of {sm_arn} started for s3 key {key!r} within "
                               f"{START_TIMEOUT_S} s; check that the EventBridge rule is "
                               "enabled")


def _download(target: Target, keys: ScanKeys, out: Path) -> dict[str, Any]:
    """Download the outputs the summary lists (summary.json last: it vouches for the
    others) into `out`; the summary."""
    summary = get_json(target.s3, target.bucket, keys.summary, what="the scan summary",
                       fix="the Merge step writes it")
    out.mkdir(parents=True, exist_ok=True)
    for name in summary["outputs"]:
        target.s3.download_file(target.bucket, keys.prefix + name, str(out / name))
    return summary
