"""`python -m seisless.preflight`: the role table, and the cfn-lint, statelint and image
wiring, on the session's synthesized template and on small hand-made ones (no network,
no CDK CLI: `make preflight` runs the real one)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Console

from seisless.preflight import (
    STATELINT_IGNORED,
    Grant,
    cfn_lint_findings,
    deployed_definitions,
    image_checks,
    job_containers,
    main,
    nag_findings,
    readable_leaf,
    render,
    role_grants,
    role_table,
    statelint_findings,
)
from tests.infra.conftest import resources

ROOT = Path(__file__).resolve().parents[2]

BUCKET_ARN = {"Fn::GetAtt": ["DataBucket", "Arn"]}
TRUST = {"Statement": [{"Action": "sts:AssumeRole", "Effect": "Allow",
                        "Principal": {"Service": "lambda.amazonaws.com"}}]}


def _document(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def _write(path: Path, template: dict[str, Any]) -> Path:
    path.write_text(json.dumps(template))
    return path


# --- intrinsics and the role table ------------------------------------------------------

def test_intrinsics_read_as_cdk_nag_writes_them() -> None:
    joined = {"Fn::Join": ["", [BUCKET_ARN, "/scans/*"]]}
    assert render(joined, readable_leaf) == "<DataBucket.Arn>/scans/*"
    assert render({"Fn::GetAtt": "Queue.Arn"}, readable_leaf) == "<Queue.Arn>"
    assert render({"Fn::Sub": "arn:${AWS::Partition}:s3:::${Bucket}/${Fn.Arn}"},
                  readable_leaf) == "arn:<AWS::Partition>:s3:::<Bucket>/<Fn.Arn>"
    assert render({"Fn::Sub": ["${X}-1", {"X": {"Ref": "Y"}}]}, readable_leaf) == "<Y>-1"
    assert render({"Fn::Select": [0, ["a"]]}, readable_leaf) == "<Fn::Select>"


def test_every_kind_of_policy_reaches_its_role() -> None:
    """Inline policies, attached Policy and ManagedPolicy resources, and AWS managed
    policy ARNs: each statement is listed under the role it applies to, as text."""
    template = {"Resources": {
        "Role": {"Type": "AWS::IAM::Role", "Properties": {
            "AssumeRolePolicyDocument": TRUST,
            "Policies": [{"PolicyName": "logs", "PolicyDocument": _document(
                {"Effect": "Allow", "Action": "logs:PutLogEvents", "Resource": "*"})}],
            "ManagedPolicyArns": [
                {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":iam::aws:policy/P"]]},
                {"Ref": "Managed"}]}},
        "Other": {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": TRUST}},
        "Default": {"Type": "AWS::IAM::Policy", "Properties": {
            "Roles": [{"Ref": "Role"}], "PolicyDocument": _document(
                {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"],
                 "Resource": {"Fn::Join": ["", [BUCKET_ARN, "/runs/*"]]},
                 "Condition": {"Bool": {"aws:SecureTransport": "true"}}})}},
        "Managed": {"Type": "AWS::IAM::ManagedPolicy", "Properties": {
            "Roles": [{"Ref": "Role"}], "PolicyDocument": _document(
                {"Effect": "Deny", "NotAction": "s3:*", "NotResource": BUCKET_ARN})}},
    }}
    grants = role_grants(template)
    assert grants["Other"] == []
    assert grants["Role"] == [
        Grant("inline logs", "Allow", ("logs:PutLogEvents",), ("*",)),
        Grant("Default", "Allow", ("s3:GetObject", "s3:PutObject"),
              ("<DataBucket.Arn>/runs/*", 'if {"Bool": {"aws:SecureTransport": "true"}}')),
        Grant("Managed", "Deny", ("NOT s3:*",), ("NOT <DataBucket.Arn>",)),
        Grant("managed policy", "Allow", ("(as the managed policy says)",),
              ("arn:<AWS::Partition>:iam::aws:policy/P",)),
    ]


def test_the_role_table_lists_every_role_of_the_stack(template_json: dict[str, Any]) -> None:
    grants = role_grants(template_json)
    assert set(grants) == set(resources(template_json, "AWS::IAM::Role"))
    texts = [text for role in grants.values() for g in role for text in g.resources]
    assert texts and not any("{" in t for t in texts if not t.startswith("if ")), \
        "every intrinsic is rendered as text"
    machine = next(r for r in grants if r.startswith("ImagingStateMachineRole"))
    assert any("batch:SubmitJob" in g.actions for g in grants[machine])
    console = Console(record=True, width=200)
    console.print(role_table(template_json))
    text = console.export_text()
    assert "ImagingStateMachineRole" in text and "(states.amazonaws.com)" in text
    assert "batch:SubmitJob" in text


# --- statelint --------------------------------------------------------------------------

def test_the_state_machines_as_deployed_pass_statelint(template_json: dict[str, Any]) -> None:
    definitions = deployed_definitions(template_json)
    assert len(definitions) == 2
    assert not any("${" in text for text in definitions.values())
    imaging = next(t for k, t in definitions.items() if k.startswith("Imaging"))
    assert "arn:aws:batch:us-east-1:123456789012:" in imaging
    assert statelint_findings(definitions) == []


def _machine(**task: Any) -> str:
    return json.dumps({"StartAt": "T", "States": {"T": {
        "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": True, **task}}})


def test_statelint_reports_what_step_functions_would_refuse() -> None:
    findings = statelint_findings({
        "Unfilled": _machine(Parameters={"FunctionName": "${MissingArn}"}),
        "Dangling": json.dumps({"StartAt": "Nowhere", "States": {"A": {"Type": "Succeed"}}}),
        "Typo": _machine(TimeoutSecond=5),
    })
    assert any(f.startswith("Unfilled: placeholder ${MissingArn}") for f in findings)
    assert any(f.startswith("Dangling:") and "Nowhere" in f for f in findings)
    assert any(f.startswith("Typo:") and "TimeoutSecond" in f for f in findings)


def test_statelint_exceptions_are_only_the_ones_with_reasons() -> None:
    """An integer BackoffRate and ReaderConfig's InputType pass (Step Functions takes
    both); another unknown ReaderConfig field still fails."""
    assert all(reason for reason in STATELINT_IGNORED.values())
    retry = [{"ErrorEquals": ["States.ALL"], "BackoffRate": 2}]
    reader = {"Type": "Map", "End": True,
              "ItemReader": {"Resource": "arn:aws:states:::s3:getObject",
                             "ReaderConfig": {"InputType": "JSON", "Bogus": 1}},
              "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED",
                                                    "ExecutionType": "STANDARD"},
                                "StartAt": "P", "States": {"P": {"Type": "Succeed"}}}}
    findings = statelint_findings({
        "Retry": _machine(Retry=retry),
        "Map": json.dumps({"StartAt": "M", "States": {"M": reader}}),
    })
    assert len(findings) == 1 and findings[0].startswith("Map:") and "Bogus" in findings[0]


# --- cfn-lint ---------------------------------------------------------------------------

def test_cfn_lint_passes_the_stack_with_the_repository_config(
        template_json: dict[str, Any], tmp_path: Path) -> None:
    template = _write(tmp_path / "Seisless.template.json", template_json)
    assert cfn_lint_findings([template]) == []


def test_cfn_lint_reports_errors_and_ignores_only_what_the_config_names(tmp_path: Path) -> None:
    role = {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": TRUST}}
    template = _write(tmp_path / "t.template.json", {"Resources": {
        "Role": role,
        "Queue": {"Type": "AWS::SQS::Queue", "Properties": {"VisibilityTimeoutSecond": 5}},
        "Fn": {"Type": "AWS::Lambda::Function", "DependsOn": ["Role"], "Properties": {
            "Role": {"Fn::GetAtt": ["Role", "Arn"]}, "PackageType": "Image",
            "Code": {"ImageUri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/r:t"}}},
    }})
    findings = cfn_lint_findings([template])
    assert [f.split()[0] for f in findings] == ["E3002"], findings  # W3005 is ignored
    assert "VisibilityTimeoutSecond" in findings[0]
    empty = tmp_path / "empty.cfnlintrc"
    empty.write_text("{}\n")
    assert {f.split()[0] for f in cfn_lint_findings([template], config=empty)} == {
        "E3002", "W3005"}


# --- images, cdk-nag and the command ----------------------------------------------------

def _gradient_job(template: dict[str, Any]) -> dict[str, Any]:
    return next(job for job in resources(template, "AWS::Batch::JobDefinition").values()
                if "containers.gradient.entrypoint" in json.dumps(
                    job["Properties"].get("ContainerProperties", {})))


def test_entry_points_are_checked_in_the_image_asset_that_runs_them(
        template_json: dict[str, Any], tmp_path: Path) -> None:
    """Handlers and job commands are grouped by the image asset their resource names;
    an entry point whose image is no asset of the assembly, or a job that runs no
    module, is reported."""
    template = json.loads(json.dumps(template_json))
    function = next(iter(resources(template, "AWS::Lambda::Function").values()))
    gradient = _gradient_job(template)["Properties"]["ContainerProperties"]
    lambda_tag, gradient_tag = (image["Fn::Sub"].rpartition(":")[2] for image in (
        function["Properties"]["Code"]["ImageUri"], gradient["Image"]))
    (tmp_path / "Seisless.assets.json").write_text(json.dumps({"dockerImages": {
        lambda_tag: {"source": {"directory": str(ROOT), "dockerFile": "lambdas/Dockerfile"}},
        gradient_tag: {"source": {"directory": str(ROOT),
                                  "dockerFile": "containers/gradient/Dockerfile"}},
    }}))
    gradient["Command"] = ["./run.sh"]
    for job in resources(template, "AWS::Batch::JobDefinition").values():
        for container in job_containers(job):  # the multi-node job's, of the same image
            if container["Image"] == gradient["Image"]:
                container["Command"] = ["./run.sh"]
    checks, unchecked = image_checks(tmp_path, "Seisless", template)
    assert [c.dockerfile for c in checks] == ["lambdas/Dockerfile"]
    assert checks[0].context == ROOT
    assert {"lambdas.scan.plan:handler", "lambdas.imaging.steps:init"} <= set(checks[0].targets)
    assert len(unchecked) == 3
    assert any(p.startswith("ImagingBatchUpdate") and "not an image asset" in p
               for p in unchecked)
    assert any(p.startswith("ImagingBatchGradient") and "python -m" in p for p in unchecked)
    assert any(p.startswith("ImagingBatchMultiNode") and "python -m" in p for p in unchecked)


def test_an_assembly_without_a_nag_report_or_manifest_fails(tmp_path: Path) -> None:
    assert "did not run cdk-nag" in nag_findings(tmp_path)[0]
    assert main(["--cdk-out", str(tmp_path)]) == 1
