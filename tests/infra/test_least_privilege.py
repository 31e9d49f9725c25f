"""Each principal of the imaging workflow may touch only the objects its code touches.

The expected patterns are written out here from what `seisless.inversion.steps` and
`seisless.inversion.jobs` read and write (keys by `RunKeys` / `ScanKeys`), so a grant
widened in `stacks/` fails here rather than passing silently.
"""

from __future__ import annotations

from typing import Any

import pytest

from seisless.preflight import Grant, job_containers, role_grants
from tests.infra.conftest import resources


def _role(template_json: dict[str, Any], prefix: str) -> tuple[str, list[Grant]]:
    """The data bucket's ARN as the role table writes it, and the role's grants."""
    (bucket,) = [k for k, b in resources(template_json, "AWS::S3::Bucket").items()
                 if "NotificationConfiguration" in b["Properties"]]
    (grants,) = [g for role, g in role_grants(template_json).items() if role.startswith(prefix)]
    return f"<{bucket}.Arn>/", grants


def _objects(role: tuple[str, list[Grant]], action: str) -> set[str]:
    """The object patterns (relative to the data bucket) `action` is allowed on."""
    bucket, grants = role
    found = {r for g in grants if g.effect == "Allow" and action in g.actions
             for r in g.resources}
    assert all(r.startswith(bucket) for r in found), found
    return {r[len(bucket):] for r in found}


@pytest.mark.parametrize(("role", "reads", "writes"), [
    ("ImagingInitRole",
     {"scans/*/summary.json", "scans/*/gathers.parquet", "models/*", "runs/*"},
     {"runs/*/config.json"}),
    ("ImagingSelectShotsRole",
     {"runs/*/config.json", "runs/*/iter-*/shots.json", "scans/*/gathers.parquet"},
     {"runs/*/iter-*/shots.json"}),
    ("ImagingRecordFailedRole",
     {"runs/*/iter-*/shots.json", "runs/*/iter-*/leaf-*.json"},
     {"runs/*/iter-*/leaf-*.json"}),
    ("ImagingJudgeTrialRole",
     {"runs/*/iter-*/search.json", "runs/*/iter-*/trial-*"},
     {"runs/*/iter-*/trial-*", "runs/*/iter-*/model.*", "runs/*/iter-*/history.json"}),
    ("ImagingBatchUpdateJobRole", {"runs/*", "models/*"}, {"runs/*"}),
    ("ImagingBatchGradientJobRole", {"*"},
     {"runs/*/iter-*/leaf-*", "runs/*/iter-*/trial-*", "runs/*/jit-cache/*"}),
])
def test_each_principal_reads_and_writes_only_its_objects(
        template_json: dict[str, Any], role: str, reads: set[str], writes: set[str]) -> None:
    grants = _role(template_json, role)
    assert _objects(grants, "s3:GetObject") == reads
    assert _objects(grants, "s3:PutObject") == writes


@pytest.mark.parametrize("role", ["ImagingSelectShotsRole", "ImagingRecordFailedRole",
                                  "ImagingJudgeTrialRole"])
def test_selectshots_and_recordfailed_read_no_models_nor_scan_summaries(
        template_json: dict[str, Any], role: str) -> None:
    reads = _objects(_role(template_json, role), "s3:GetObject")
    assert not any(r.startswith(("models/", "*")) or r in {"scans/*", "scans/*/summary.json"}
                   for r in reads)


def _job_role(template_json: dict[str, Any], image: str) -> str:
    (role,) = {c["JobRoleArn"]["Fn::GetAtt"][0]
               for j in resources(template_json, "AWS::Batch::JobDefinition").values()
               for c in job_containers(j) if f"containers.{image}." in c["Command"][2]}
    return role


def test_update_job_has_its_own_role_without_sqs(template_json: dict[str, Any]) -> None:
    update, gradient = _job_role(template_json, "update"), _job_role(template_json, "gradient")
    assert update != gradient
    grants = role_grants(template_json)
    assert not any(a.startswith("sqs:") for g in grants[update] for a in g.actions)
    assert any("sqs:SendMessage" in g.actions for g in grants[gradient])


def test_judge_trial_sends_no_messages_and_submits_no_jobs(template_json: dict[str, Any]) -> None:
    _, grants = _role(template_json, "ImagingJudgeTrialRole")
    actions = {a for g in grants for a in g.actions}
    assert not any(a.startswith(("sqs:", "batch:", "states:")) for a in actions), actions
