"""Invariants of the synthesized scan stack: what must hold whatever else changes."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from aws_cdk.assertions import Match

from tests.infra.conftest import resources


def _statements(template_json: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for res in resources(template_json, "AWS::IAM::Policy").values():
        out += res["Properties"]["PolicyDocument"]["Statement"]
    for res in resources(template_json, "AWS::IAM::Role").values():
        for policy in res["Properties"].get("Policies", []):
            out += policy["PolicyDocument"]["Statement"]
    return out


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _scan_trigger(template_json: dict[str, Any]) -> dict[str, Any]:
    """The rule starting scans (the others watch Batch jobs)."""
    (rule,) = [r for r in resources(template_json, "AWS::Events::Rule").values()
               if r["Properties"]["EventPattern"]["source"] == ["aws.s3"]]
    return rule


def test_buckets_private_encrypted_ssl_only(template: Any, template_json: dict) -> None:
    buckets = resources(template_json, "AWS::S3::Bucket")
    assert len(buckets) >= 1
    for bucket in buckets.values():
        props = bucket["Properties"]
        assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert props["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True, "BlockPublicPolicy": True,
            "IgnorePublicAcls": True, "RestrictPublicBuckets": True}
    policies = resources(template_json, "AWS::S3::BucketPolicy")
    secured = {json.dumps(p["Properties"]["Bucket"]) for p in policies.values()
               if any(s["Effect"] == "Deny" and "aws:SecureTransport" in json.dumps(s)
                      for s in p["Properties"]["PolicyDocument"]["Statement"])}
    assert secured == {json.dumps({"Ref": k}) for k in buckets}


def test_data_bucket_versioned_eventbridge_and_scratch_expiry(template: Any) -> None:
    template.has_resource_properties("AWS::S3::Bucket", {
        "VersioningConfiguration": {"Status": "Enabled"},
        "NotificationConfiguration": {"EventBridgeConfiguration": {"EventBridgeEnabled": True}},
        "LifecycleConfiguration": {"Rules": Match.array_with([Match.object_like({
            "TagFilters": [{"Key": "seisless-scratch", "Value": "true"}],
            "Status": "Enabled", "ExpirationInDays": Match.any_value()})])},
        "LoggingConfiguration": Match.object_like({"DestinationBucketName": Match.any_value()}),
    })


def test_scratch_tag_matches_the_workers(template_json: dict) -> None:
    from seisless.scan.steps import SCRATCH_TAGGING
    from stacks.storage import SCRATCH_TAG

    assert "=".join(SCRATCH_TAG) == SCRATCH_TAGGING


def test_no_wildcard_iam_actions(template_json: dict) -> None:
    statements = _statements(template_json)
    assert statements
    for statement in statements:
        for action in _as_list(statement["Action"]):
            assert "*" not in action, statement


def test_trigger_role_may_only_start_this_state_machine(template_json: dict) -> None:
    rule = _scan_trigger(template_json)
    (target,) = rule["Properties"]["Targets"]
    sm_id = target["Arn"]["Ref"]
    assert sm_id in resources(template_json, "AWS::StepFunctions::StateMachine")
    assert "Arn" in target["DeadLetterConfig"]
    role_id = target["RoleArn"]["Fn::GetAtt"][0]
    granted = [s for p in resources(template_json, "AWS::IAM::Policy").values()
               if {"Ref": role_id} in p["Properties"]["Roles"]
               for s in p["Properties"]["PolicyDocument"]["Statement"]]
    assert granted == [{"Action": "states:StartExecution", "Effect": "Allow",
                        "Resource": {"Ref": sm_id}}]


def test_queues_encrypted(template_json: dict) -> None:
    for queue in resources(template_json, "AWS::SQS::Queue").values():
        assert queue["Properties"].get("SqsManagedSseEnabled") or \
            queue["Properties"].get("KmsMasterKeyId")


def test_asl_inlined_and_references_only_created_resources(template_json: dict) -> None:
    machines = resources(template_json, "AWS::StepFunctions::StateMachine").values()
    starts = set()
    for sm in machines:
        props = sm["Properties"]
        assert isinstance(props["DefinitionString"], str), "ASL must be inline, not an asset"
        definition = json.loads(props["DefinitionString"].replace(
            '"${DefaultMaxConcurrency}"', "1"))
        starts.add(definition["StartAt"])
        placeholders = set(re.findall(r"\$\{(\w+)\}", props["DefinitionString"]))
        assert placeholders == set(props["DefinitionSubstitutions"])
        for value in props["DefinitionSubstitutions"].values():
            if isinstance(value, dict) and "Fn::GetAtt" in value:
                (logical_id, attr) = value["Fn::GetAtt"]
                assert template_json["Resources"][logical_id]["Type"] in {
                    "AWS::Lambda::Function", "AWS::S3::Bucket", "AWS::Batch::JobQueue"}
                assert attr in {"Arn", "JobQueueArn"}
            elif isinstance(value, dict):
                assert value["Ref"] in template_json["Resources"]
    assert starts == {"Plan", "Init"}


def test_one_image_three_handlers(template_json: dict) -> None:
    functions = resources(template_json, "AWS::Lambda::Function").values()
    commands = sorted(f["Properties"]["ImageConfig"]["Command"][0] for f in functions)
    assert commands == ["lambdas.imaging.steps.init", "lambdas.imaging.steps.judge_trial",
                        "lambdas.imaging.steps.record_failed",
                        "lambdas.imaging.steps.select_shots",
                        "lambdas.reducer.handler.lambda_handler", "lambdas.scan.merge.handler",
                        "lambdas.scan.plan.handler", "lambdas.scan.worker.handler"]
    images = {json.dumps(f["Properties"]["Code"]["ImageUri"]) for f in functions}
    assert len(images) == 1


def test_outputs_name_bucket_and_state_machine(template_json: dict) -> None:
    from seisless.names import OUTPUT_BUCKET, OUTPUT_SCAN_STATE_MACHINE

    assert {OUTPUT_BUCKET, OUTPUT_SCAN_STATE_MACHINE} <= set(template_json["Outputs"])


@pytest.mark.parametrize(("key", "matches"), [
    ("incoming/line1.sgy", True), ("incoming/a/b/LINE.SEGY", True),
    ("incoming/x.SgY", True), ("incoming/x.sEgY", True),
    ("incoming/notes.txt", False), ("incoming/x.sgy.txt", False),
    ("scans/x.sgy", False), ("x/incoming/x.sgy", False),
])
def test_event_pattern(template_json: dict, key: str, matches: bool) -> None:
    """EventBridge's pattern language, evaluated by moto's implementation of it."""
    from moto.events.models import EventPattern

    pattern = _scan_trigger(template_json)["Properties"]["EventPattern"]
    pattern["detail"]["bucket"]["name"] = ["data"]
    event = {"source": "aws.s3", "detail-type": "Object Created",
             "detail": {"bucket": {"name": "data"}, "object": {"key": key}}}
    assert EventPattern.load(json.dumps(pattern)).matches_event(event) is matches
