"""The scan workflow end to end in the local cloud: upload -> EventBridge -> Step
Functions (Plan, Distributed Map, Merge) -> outputs."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from seisless.client.scan import scan_via_workflow
from seisless.errors import SegyFormatError, WorkflowFailedError
from tests.helpers.surveys import lines_at_9_21

pytestmark = pytest.mark.integration


def _executions(cloud: Any) -> list[dict[str, Any]]:
    sfn = cloud.client("stepfunctions")
    return sfn.list_executions(stateMachineArn=cloud.scan_state_machine_arn)["executions"]


def _family(cls: type) -> set[str]:
    return {cls.__name__} | {name for sub in cls.__subclasses__() for name in _family(sub)}


def test_upload_scans_like_the_direct_engine(cloud: Any, segy_dir: Path, tmp_path: Path) -> None:
    from seisless.scan import ScanOptions, run_direct

    before = len(_executions(cloud))
    summary = scan_via_workflow(segy_dir / "small.sgy", tmp_path / "out", cloud=cloud,
                                key="incoming/equal/Small.SgY", say=lambda _: None)
    assert len(_executions(cloud)) == before + 1, "one upload, one execution"
    direct = run_direct(str(segy_dir / "small.sgy"), ScanOptions(), workers=1)
    assert pq.read_table(tmp_path / "out" / "traces.parquet").equals(direct.traces)
    assert pq.read_table(tmp_path / "out" / "gathers.parquet").equals(direct.gathers)
    assert summary["counts"] == direct.summary()["counts"]
    assert summary["timings"]["total_s"] > 0 and summary["throughput_mb_s"] is not None
    cost = {item["name"]: item["quantity"] for item in summary["cost"]["items"]}
    assert cost["Step Functions transitions"] == summary["counts"]["ranges"] + 5
    assert cost["Lambda GB-seconds"] > 0 and summary["cost"]["spot_usd"] > 0
    assert (tmp_path / "out" / "map.png").stat().st_size > 0


def test_a_running_local_cloud_is_found_at_its_endpoint(cloud: Any, segy_dir: Path,
                                                       tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """What `seisless scan --engine local` does beside a `seisless up`: no cloud object,
    only the endpoint and the credentials file `seisless up` writes; the progress lines a
    user sees. Without that file, the cloud refuses the caller with a readable error."""
    from seisless.errors import ConfigError
    from seisless.local.connection import write_connection

    monkeypatch.setenv("SEISLESS_CONFIG_DIR", str(tmp_path / "config"))
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    with pytest.raises(ConfigError, match="refuses these credentials"):
        scan_via_workflow(segy_dir / "small.sgy", tmp_path / "refused", engine="local",
                          endpoint=cloud.endpoint, say=lambda _: None)
    path = write_connection({"endpoint": cloud.endpoint, **cloud.admin_credentials})
    assert path.stat().st_mode & 0o777 == 0o600
    lines: list[str] = []
    before = len(_executions(cloud))
    summary = scan_via_workflow(segy_dir / "small.sgy", tmp_path / "out", engine="local",
                                endpoint=cloud.endpoint, key="incoming/by-endpoint.sgy",
                                say=lines.append)
    assert len(_executions(cloud)) == before + 1, "scanned in the running cloud"
    assert summary == json.loads((tmp_path / "out" / "summary.json").read_text())
    assert lines[0].startswith(f"upload {segy_dir / 'small.sgy'} -> s3://{cloud.bucket}/")
    assert lines[1].startswith("execution arn:aws:states:")
    assert {"state Plan", "state ScanRanges", "state Merge"} <= set(lines)
    assert "map items 1/1" in lines and lines[-1].startswith("done in ")


def test_many_ranges_fan_out(cloud: Any, segy_dir: Path, tmp_path: Path) -> None:
    """A hand-started execution with options: several map items, still row for row."""
    from seisless.scan import ScanOptions, run_direct

    s3, sfn = cloud.client("s3"), cloud.client("stepfunctions")
    s3.upload_file(str(segy_dir / "small.sgy"), cloud.bucket, "manual/small.sgy")
    arn = sfn.start_execution(stateMachineArn=cloud.scan_state_machine_arn, name="fan-out",
                              input=json.dumps({
        "bucket": cloud.bucket, "key": "manual/small.sgy", "max_concurrency": 2,
        "options": {"n_ranges": 4}}))["executionArn"]
    desc = _wait(sfn, arn)
    assert desc["status"] == "SUCCEEDED", desc
    out = json.loads(desc["output"])
    assert out["parts"] == 4
    got = pq.read_table(_download(s3, cloud.bucket, out["output"], "traces.parquet", tmp_path))
    assert got.equals(run_direct(str(segy_dir / "small.sgy"), ScanOptions(), workers=1).traces)


def test_an_upload_with_lines_at_9_21_gets_its_gathers(cloud: Any, tmp_path: Path) -> None:
    """An upload carries no options: Plan detects where the lines are, as the CLI does,
    and says so in summary.json; the gathers index and map then cover the survey."""
    survey = lines_at_9_21(tmp_path / "lines-9-21.sgy")
    summary = scan_via_workflow(survey, tmp_path / "out", cloud=cloud,
                                key="incoming/detect/lines-9-21.sgy", say=lambda _: None)
    keys = summary["options"]["keys"]
    assert (keys["inline"], keys["crossline"]) == (9, 21)
    assert any("bytes 9/21 detected" in note for note in summary["notes"])
    assert summary["counts"]["gathers"]["inline"] == 6
    assert (tmp_path / "out" / "map.png").stat().st_size > 0


def test_malformed_file_fails_with_the_typed_error(cloud: Any, segy_dir: Path,
                                                  tmp_path: Path) -> None:
    with pytest.raises(WorkflowFailedError) as caught:
        scan_via_workflow(segy_dir / "broken.sgy", tmp_path / "out", cloud=cloud,
                          say=lambda _: None)
    assert caught.value.error in _family(SegyFormatError)
    assert caught.value.cause and not caught.value.cause.lstrip().startswith("{"), \
        "the cause is the message itself, not a JSON payload"
    assert not (tmp_path / "out").exists()


def test_other_keys_trigger_nothing(cloud: Any, segy_dir: Path) -> None:
    s3 = cloud.client("s3")
    before = len(_executions(cloud))
    for key in ("incoming/notes.txt", "incoming/small.sgy.bak", "elsewhere/small.sgy"):
        s3.upload_file(str(segy_dir / "small.sgy"), cloud.bucket, key)
    time.sleep(2)
    assert len(_executions(cloud)) == before


def test_repeated_event_keeps_the_first_result(cloud: Any, segy_dir: Path,
                                              tmp_path: Path) -> None:
    s3, sfn = cloud.client("s3"), cloud.client("stepfunctions")
    scan_via_workflow(segy_dir / "small.sgy", tmp_path / "first", cloud=cloud,
                      key="incoming/twice.sgy", say=lambda _: None)
    (first,) = [e for e in _executions(cloud)
                if "twice.sgy" in sfn.describe_execution(executionArn=e["executionArn"])["input"]]
    event = sfn.describe_execution(executionArn=first["executionArn"])["input"]
    listing = s3.list_objects_v2(Bucket=cloud.bucket, Prefix="scans/")["Contents"]
    before = {o["Key"]: o["ETag"] for o in listing}
    second = sfn.start_execution(stateMachineArn=cloud.scan_state_machine_arn, name="again",
                                 input=event)
    desc = _wait(sfn, second["executionArn"])
    assert desc["status"] == "SUCCEEDED"
    assert json.loads(desc["output"])["already_scanned"] is True
    listing = s3.list_objects_v2(Bucket=cloud.bucket, Prefix="scans/")["Contents"]
    assert {o["Key"]: o["ETag"] for o in listing} == before


def _wait(sfn: Any, arn: str, timeout_s: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        desc = sfn.describe_execution(executionArn=arn)
        if desc["status"] != "RUNNING":
            return desc
        time.sleep(0.2)
    raise AssertionError(f"{arn} still running")


def _download(s3: Any, bucket: str, prefix_uri: str, name: str, tmp_path: Path) -> Path:
    key = prefix_uri.split(f"s3://{bucket}/", 1)[1] + name
    dest = tmp_path / name
    s3.download_file(bucket, key, str(dest))
    return dest


def test_port_in_use_is_a_clear_error(cloud: Any) -> None:
    from seisless.errors import PortInUseError
    from seisless.local import LocalCloud

    with pytest.raises(PortInUseError, match=str(cloud.port)):
        LocalCloud(port=cloud.port).start()


def test_a_multipart_upload_is_scanned_once(cloud: Any, tmp_path: Path) -> None:
    """A file over 8 MiB copied in parts (as the aws CLI does), and one more delivery of
    its event (EventBridge delivers at least once): one execution scans, the others end
    without scanning (AlreadyScanning or AlreadyScanned)."""
    from boto3.s3.transfer import TransferConfig

    from seisless.synth import SurveySpec, write_survey

    path = tmp_path / "multipart.sgy"
    write_survey(path, SurveySpec(n_inlines=30, n_crosslines=80, n_samples=1000))
    assert path.stat().st_size > 9 * 2**20
    s3, sfn = cloud.client("s3"), cloud.client("stepfunctions")
    parts = TransferConfig(multipart_threshold=5 * 2**20, multipart_chunksize=5 * 2**20)
    s3.upload_file(str(path), cloud.bucket, "incoming/multipart.sgy", Config=parts)

    def mine() -> list[str]:
        return [e["executionArn"] for e in _executions(cloud) if "multipart.sgy" in
                sfn.describe_execution(executionArn=e["executionArn"])["input"]]

    deadline = time.monotonic() + 30
    while not mine() and time.monotonic() < deadline:
        time.sleep(0.2)
    (first, *others) = mine()
    event = sfn.describe_execution(executionArn=first)["input"]
    extra = sfn.start_execution(stateMachineArn=cloud.scan_state_machine_arn,
                                name="multipart-again", input=event)["executionArn"]
    outcomes = []
    for arn in [first, *others, extra]:
        desc = _wait(sfn, arn, timeout_s=120)
        assert desc["status"] == "SUCCEEDED", desc
        out = json.loads(desc["output"])
        outcomes.append("scanned" if "parts" in out else
                        "scanning" if out.get("already_scanning") else "done")
    assert outcomes.count("scanned") == 1, outcomes
