"""`seisless up` and `seisless scan --engine local|aws`, as plain functions.

`scan_via_workflow` drives the workflow the way a user would: it uploads the file under
`incoming/`, finds the execution that the upload's event started (it does not start one
itself), reports its states and map items as they happen, and downloads the outputs.
"""

from __future__ import annotations

import contextlib
import json
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from seisless.errors import ConfigError, LocalCloudError, SourceError, WorkflowFailedError
from seisless.names import OUTPUT_BUCKET, OUTPUT_SCAN_STATE_MACHINE
from seisless.scan.documents import ScanKeys, parse_scan_input, scan_id_for

OUTPUT_FILES = ("traces.parquet", "gathers.parquet", "map.png", "summary.json")
POLL_S = 0.5
Progress = Callable[[str], None]


def up(*, port: int = 4566, workers: int | None = None, say: Progress = print) -> None:
    """Start the local cloud, print how to reach it, and serve until Ctrl-C (or SIGTERM)."""
    from seisless.local import LocalCloud

    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        with LocalCloud(port=port, workers=workers) as cloud:
            say(f"seisless local cloud: {cloud.endpoint}\n"
                f"  bucket:        {cloud.bucket}\n"
                f"  state machine: {cloud.state_machine_arn}\n"
                f"  lambda logs:   {cloud.lambda_log}\n"
                f"  try: aws --endpoint-url {cloud.endpoint} s3 cp FILE.sgy "
                f"s3://{cloud.bucket}/incoming/\n"
                "  (credentials: any, e.g. AWS_ACCESS_KEY_ID=testing "
                "AWS_SECRET_ACCESS_KEY=testing; region us-east-1)\n"
                "Ctrl-C stops it.")
            with contextlib.suppress(KeyboardInterrupt):
                while not stop.wait(1.0):
                    pass
            say("stopping the local cloud")
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def _target(engine: str, stack_name: str, cloud: Any) -> Iterator[tuple[Any, Any, str, str]]:
    """(s3, stepfunctions, bucket, state machine ARN) of the chosen engine."""
    if engine == "local":
        from seisless.local import LocalCloud

        if cloud is not None:
            yield cloud.client("s3"), cloud.client("stepfunctions"), cloud.bucket, \
                cloud.state_machine_arn
            return
        with LocalCloud(port=0) as started:
            yield started.client("s3"), started.client("stepfunctions"), started.bucket, \
                started.state_machine_arn
    elif engine == "aws":
        import boto3
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            stack = boto3.client("cloudformation").describe_stacks(StackName=stack_name)
        except (ClientError, BotoCoreError) as err:
            raise ConfigError(f"cannot find the deployed stack {stack_name!r} ({err}); deploy "
                              "it with `cdk deploy` or check your AWS credentials and region"
                              ) from None
        outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Stacks"][0]["Outputs"]}
        yield boto3.client("s3"), boto3.client("stepfunctions"), outputs[OUTPUT_BUCKET], \
            outputs[OUTPUT_SCAN_STATE_MACHINE]
    else:
        raise ConfigError(f"engine must be local or aws, got {engine!r}")


def _find_execution(sfn: Any, sm_arn: str, key: str, tag: str, timeout_s: float) -> str:
    """The execution whose input names this object version (started by its event)."""
    seen: set[str] = set()
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        pages = sfn.get_paginator("list_executions").paginate(stateMachineArn=sm_arn)
        for page in pages:
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
    raise LocalCloudError(f"no execution of {sm_arn} started for s3 key {key!r} within "
                          f"{timeout_s:.0f} s; check that the EventBridge rule is enabled")


def _follow(s3: Any, sfn: Any, arn: str, bucket: str, keys: ScanKeys, say: Progress,
            timeout_s: float) -> dict[str, Any]:
    """Report states and map items until the execution ends; its description."""
    reported, n_items, parts_done = 0, None, -1
    deadline = time.monotonic() + timeout_s
    while True:
        desc = sfn.describe_execution(executionArn=arn)
        events = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
        for event in events[reported:]:
            if event["type"].endswith("StateEntered"):
                say(f"state {event['stateEnteredEventDetails']['name']}")
                if event["stateEnteredEventDetails"]["name"] == "ScanRanges":
                    n_items = len(json.loads(
                        s3.get_object(Bucket=bucket, Key=keys.manifest)["Body"].read()))
        reported = len(events)
        if n_items is not None:
            listed = s3.list_objects_v2(Bucket=bucket, Prefix=keys.parts_prefix)
            done = listed.get("KeyCount", 0)
            if done != parts_done:
                say(f"map items {done}/{n_items}")
                parts_done = done
        if desc["status"] != "RUNNING":
            return desc
        if time.monotonic() > deadline:
            raise LocalCloudError(f"execution {arn} still running after {timeout_s:.0f} s")
        time.sleep(POLL_S)


def scan_via_workflow(source_path: str | Path, out_dir: str | Path, *, engine: str = "local",
                      stack_name: str = "SeislessScan", cloud: Any = None,
                      key: str | None = None, say: Progress = print,
                      timeout_s: float = 3600) -> dict[str, Any]:
    """Scan a local SEG-Y file through the event-driven workflow; its summary.

    Uploads SOURCE to `incoming/<name>` (or `key`), follows the execution its upload
    started, and downloads `traces.parquet`, `gathers.parquet`, `map.png` and
    `summary.json` into `out_dir`. Raises `WorkflowFailedError` carrying the Fail
    state's error and cause when the execution fails.
    """
    source = Path(source_path)
    if not source.is_file():
        raise SourceError(f"{source}: no such file; give the path of a SEG-Y file")
    key = key or f"incoming/{source.name}"
    with _target(engine, stack_name, cloud) as (s3, sfn, bucket, sm_arn):
        started = time.monotonic()
        say(f"upload {source} -> s3://{bucket}/{key}")
        s3.upload_file(str(source), bucket, key)
        head = s3.head_object(Bucket=bucket, Key=key)
        version_id, etag = head.get("VersionId"), head["ETag"].strip('"')
        keys = ScanKeys(scan_id_for(key, version_id, etag))
        arn = _find_execution(sfn, sm_arn, key, version_id or etag, timeout_s=60)
        say(f"execution {arn}")
        desc = _follow(s3, sfn, arn, bucket, keys, say, timeout_s)
        if desc["status"] != "SUCCEEDED":
            error, cause = desc.get("error", desc["status"]), desc.get("cause", "")
            raise WorkflowFailedError(f"the scan of {source} ended {desc['status']}: "
                                      f"{error}: {cause}", error=error, cause=cause)
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        for name in OUTPUT_FILES:  # summary.json last: it vouches for the others
            s3.download_file(bucket, f"{keys.prefix}{name}", str(out / name))
        say(f"done in {time.monotonic() - started:.1f} s: outputs in {out} "
            f"(map: {out / 'map.png'})")
        return json.loads((out / "summary.json").read_text())
