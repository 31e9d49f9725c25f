"""The scan workflow's three steps against moto S3: plan -> scan each range -> merge,
as the Lambdas run them, and the outputs equal the direct engine's."""

from __future__ import annotations

import io
import json
from pathlib import Path

import boto3
import pyarrow.parquet as pq
import pytest
from moto import mock_aws

from seisless.errors import SourceError, TruncatedSegyError
from seisless.scan import run_direct
from seisless.scan.documents import RangeTask, ScanKeys, ScanRequest
from seisless.scan.steps import merge_step, plan_step, scan_step

BUCKET = "scan-steps"


@pytest.fixture
def s3(aws_credentials: None):
    with mock_aws():
        client = boto3.client("s3")
        client.create_bucket(Bucket=BUCKET)
        client.put_bucket_versioning(Bucket=BUCKET,
                                     VersioningConfiguration={"Status": "Enabled"})
        yield client


def _upload(s3, path: Path, key: str) -> ScanRequest:
    s3.upload_file(str(path), BUCKET, key)
    return ScanRequest(bucket=BUCKET, key=key, options={"n_ranges": 3})


def test_plan_scan_merge_equal_the_direct_engine(s3, segy_data: Path) -> None:
    request = _upload(s3, segy_data / "f3.sgy", "incoming/f3.sgy")
    plan = plan_step(s3, request, default_max_concurrency=7)
    keys = ScanKeys(plan.scan_id)
    assert (plan.n_items, plan.max_concurrency, plan.already_scanned) == (3, 7, False)
    manifest = json.loads(s3.get_object(Bucket=BUCKET, Key=keys.manifest)["Body"].read())
    for index, item in enumerate(manifest):
        scan_step(s3, RangeTask(scan_id=plan.scan_id, bucket=BUCKET, index=index, item=item))
    result = merge_step(s3, plan)
    assert result["parts"] == 3
    traces = pq.read_table(io.BytesIO(s3.get_object(
        Bucket=BUCKET, Key=f"{keys.prefix}traces.parquet")["Body"].read()))
    direct = run_direct(str(segy_data / "f3.sgy"), workers=1).traces
    assert traces.column("mean_abs").equals(direct.column("mean_abs"))
    cost = json.loads(s3.get_object(Bucket=BUCKET, Key=keys.summary)["Body"].read())["cost"]
    items = {item["name"]: item for item in cost["items"]}
    assert items["Step Functions transitions"]["quantity"] == 3 + 5
    assert items["Lambda requests"]["quantity"] == 3 + 2
    assert items["Lambda GB-seconds"]["quantity"] > 1.0  # Plan's estimate and the workers'
    assert items["S3 storage for a month"]["quantity"] > 0 and cost["spot_usd"] > 0
    again = plan_step(s3, request, default_max_concurrency=7)
    assert again.already_scanned and again.scan_id == plan.scan_id and again.n_items == 0


def test_plan_of_a_malformed_file_writes_nothing(s3, segy_data: Path) -> None:
    request = _upload(s3, segy_data / "broken.sgy", "incoming/broken.sgy")
    with pytest.raises(TruncatedSegyError):
        plan_step(s3, request, default_max_concurrency=10)
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]] == [
        "incoming/broken.sgy"]


def test_plan_of_a_missing_object_is_a_source_error(s3) -> None:
    with pytest.raises(SourceError, match="does not exist"):
        plan_step(s3, ScanRequest(bucket=BUCKET, key="incoming/none.sgy"), 10)


@pytest.mark.parametrize(("asked", "default", "cap", "used"), [
    (10_000, 1000, 1000, 1000),   # a hand-written input cannot take the account
    (None, 1000, 200, 200),       # nor can the state machine's default
    (50, 1000, 1000, 50),         # below the cap, what was asked
    (None, 40, 1000, 40),
])
def test_plan_clamps_the_map_concurrency_to_the_cap(s3, segy_data: Path, asked: int | None,
                                                    default: int, cap: int, used: int) -> None:
    request = _upload(s3, segy_data / "f3.sgy", "incoming/f3.sgy").model_copy(
        update={"max_concurrency": asked})
    plan = plan_step(s3, request, default_max_concurrency=default, concurrency_cap=cap)
    assert plan.max_concurrency == used


def test_a_second_execution_for_the_same_object_does_not_scan(
        s3, segy_data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """At-least-once events: the first execution's Plan claims the object version; a
    second one ends AlreadyScanning while the first runs, and takes over once it ended
    without a summary (so a failed scan can be run again)."""
    from moto.core.config import default_user_config

    # executions stay RUNNING until stopped (a local cloud of this session switched moto
    # to executing them)
    monkeypatch.setitem(default_user_config, "stepfunctions", {"execute_state_machine": False})
    sfn = boto3.client("stepfunctions")
    machine = sfn.create_state_machine(
        name="holder", roleArn="arn:aws:iam::123456789012:role/sm",
        definition=json.dumps({"StartAt": "W", "States": {"W": {"Type": "Wait",
                                                                 "Seconds": 60, "End": True}}}))
    first = sfn.start_execution(stateMachineArn=machine["stateMachineArn"])["executionArn"]
    second = sfn.start_execution(stateMachineArn=machine["stateMachineArn"])["executionArn"]
    request = _upload(s3, segy_data / "small.sgy", "incoming/twice.sgy")
    claimed = plan_step(s3, request, 10, execution=first, sfn=sfn)
    assert not (claimed.already_scanning or claimed.already_scanned) and claimed.n_items
    assert plan_step(s3, request, 10, execution=first, sfn=sfn) == claimed  # a retry
    busy = plan_step(s3, request, 10, execution=second, sfn=sfn)
    assert busy.already_scanning and busy.n_items == 0
    sfn.stop_execution(executionArn=first)
    taken = plan_step(s3, request, 10, execution=second, sfn=sfn)
    assert not taken.already_scanning and taken.n_items == claimed.n_items
