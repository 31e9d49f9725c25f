"""The local cloud runs each handler and job in its image's environment: the image's
packages and copied folders, the template's variables, never the caller's shell; and a
Batch job runs only its job definition's own command."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from seisless.local.environments import image_assets, image_of, prepare

pytestmark = pytest.mark.integration


def test_every_image_asset_has_an_environment(assembly: Path) -> None:
    assets = image_assets(assembly)
    dockerfiles = sorted(str(d.relative_to(c)) for c, d in assets.values())
    assert dockerfiles == ["containers/gradient/Dockerfile", "containers/update/Dockerfile",
                           "lambdas/Dockerfile"]
    images = prepare(assembly, say=lambda _: None)  # cached: no rebuild
    for asset_hash, image in images.items():
        copied = sorted(p.name for p in image.root.iterdir())
        assert copied == sorted(image.spec.copied), asset_hash
        assert image.python.is_file()
    lambda_image = next(i for i in images.values() if "lambdas" in i.spec.copied)
    assert any("Python 3.12" in w for w in lambda_image.warnings)


def test_image_uris_name_their_asset() -> None:
    digest = "ab" * 32
    uri = {"Fn::Sub": f"${{AWS::AccountId}}.dkr.ecr.${{AWS::Region}}.amazonaws.com/x:{digest}"}
    assert image_of(uri) == digest


def _sandbox_environments(cloud) -> list[dict[str, str]]:
    envs = []
    for sandbox in cloud._executor._all:
        raw = Path(f"/proc/{sandbox.process.pid}/environ").read_bytes()
        envs.append(dict(item.split("=", 1) for item in raw.decode().split("\0") if item))
    return envs


def test_lambda_sandboxes_hold_only_the_image_and_the_template(cloud, segy_dir, tmp_path,
                                                               monkeypatch) -> None:
    from seisless.client.scan import scan_via_workflow

    monkeypatch.setenv("SEISLESS_DEVELOPER_SECRET", "must-not-leak")
    cloud._executor.close()  # fresh sandboxes, started after the variable was set
    scan_via_workflow(segy_dir / "small.sgy", tmp_path / "out", cloud=cloud,
                      key="incoming/env-check.sgy", say=lambda _: None)
    envs = _sandbox_environments(cloud)
    assert envs
    for env in envs:
        assert "SEISLESS_DEVELOPER_SECRET" not in env and "VIRTUAL_ENV" not in env
        assert env["AWS_ENDPOINT_URL"] == cloud.endpoint
        assert env["PYTHONPATH"].startswith(str(Path.home()))
        assert Path(env["PYTHONPATH"], "lambdas").is_dir()
        assert not Path(env["PYTHONPATH"], "containers").exists()


def test_a_job_command_override_never_runs(cloud, tmp_path) -> None:
    batch = cloud.client("batch")
    definition = next(d for d in batch.describe_job_definitions(status="ACTIVE")
                      ["jobDefinitions"] if d["type"] == "container"
                      and "update" in d["containerProperties"]["command"][2])
    queue = batch.describe_job_queues()["jobQueues"][0]["jobQueueArn"]
    marker = tmp_path / "pwned"
    job = batch.submit_job(
        jobName="override", jobQueue=queue, jobDefinition=definition["jobDefinitionArn"],
        containerOverrides={"command": ["/bin/sh", "-c", f"touch {marker}"]})["jobId"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        described = batch.describe_jobs(jobs=[job])["jobs"][0]
        if described["status"] in ("SUCCEEDED", "FAILED"):
            break
        time.sleep(0.2)
    assert described["status"] == "FAILED", json.dumps(described, default=str)
    assert "containerOverrides.command is not run" in described["statusReason"]
    assert not marker.exists()
