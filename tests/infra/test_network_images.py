"""Batch instances and images: IMDSv2, S3 through a gateway endpoint, HTTPS-only egress,
managed job logs, pinned base images and non-root containers."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from seisless.preflight import job_containers
from tests.infra.conftest import resources

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILES = {
    "lambda": ROOT / "lambdas" / "Dockerfile",
    "gradient": ROOT / "containers" / "gradient" / "Dockerfile",
    "update": ROOT / "containers" / "update" / "Dockerfile",
}
#: `image:tag@sha256:<64 hex>`: the tag for readers, the digest for what is pulled.
PINNED = re.compile(r"^\S+:[\w.-]+@sha256:[0-9a-f]{64}$")


def _ref_id(value: dict[str, Any]) -> str:
    return value["Ref"] if "Ref" in value else value["Fn::GetAtt"][0]


def test_compute_environments_start_instances_requiring_imdsv2(
        template_json: dict[str, Any]) -> None:
    templates = resources(template_json, "AWS::EC2::LaunchTemplate")
    environments = resources(template_json, "AWS::Batch::ComputeEnvironment")
    assert environments
    for name, environment in environments.items():
        reference = environment["Properties"]["ComputeResources"]["LaunchTemplate"]
        template = templates[_ref_id(reference["LaunchTemplateId"])]["Properties"]
        options = template["LaunchTemplateData"]["MetadataOptions"]
        assert options["HttpTokens"] == "required", name
        assert options.get("HttpPutResponseHopLimit", 1) == 1, name


def test_the_created_vpc_reaches_s3_through_a_gateway_endpoint(
        template_json: dict[str, Any]) -> None:
    (vpc,) = resources(template_json, "AWS::EC2::VPC")
    tables = {k for k, t in resources(template_json, "AWS::EC2::RouteTable").items()
              if _ref_id(t["Properties"]["VpcId"]) == vpc}
    endpoints = [e["Properties"] for e in resources(template_json, "AWS::EC2::VPCEndpoint").values()
                 if _ref_id(e["Properties"]["VpcId"]) == vpc
                 and e["Properties"].get("VpcEndpointType") == "Gateway"
                 and ".s3" in str(e["Properties"]["ServiceName"])]
    assert endpoints
    assert {_ref_id(t) for e in endpoints for t in e["RouteTableIds"]} == tables


def test_instances_allow_no_inbound_and_only_https_outbound(
        template_json: dict[str, Any]) -> None:
    """Only the nodes of a multi-node job reach each other (ssh, MPI): inbound and
    outbound to their own security group; nothing else comes in."""
    environments = resources(template_json, "AWS::Batch::ComputeEnvironment").values()
    groups = {_ref_id(g) for e in environments
              for g in e["Properties"]["ComputeResources"]["SecurityGroupIds"]}
    assert len(groups) == 2
    for group in groups:
        props = template_json["Resources"][group]["Properties"]
        assert not props.get("SecurityGroupIngress")
        assert props["SecurityGroupEgress"]
        for rule in props["SecurityGroupEgress"]:
            assert (rule["IpProtocol"], rule["FromPort"], rule["ToPort"]) == ("tcp", 443, 443)
    for kind in ("AWS::EC2::SecurityGroupIngress", "AWS::EC2::SecurityGroupEgress"):
        for rule in resources(template_json, kind).values():
            props = rule["Properties"]
            peer = props.get("SourceSecurityGroupId") or props.get("DestinationSecurityGroupId")
            assert peer is not None and _ref_id(peer) == _ref_id(props["GroupId"]) in groups


def test_job_logs_go_to_a_log_group_that_expires(template_json: dict[str, Any]) -> None:
    groups = resources(template_json, "AWS::Logs::LogGroup")
    for name, job in resources(template_json, "AWS::Batch::JobDefinition").items():
        for container in job_containers(job):
            logging = container["LogConfiguration"]
            assert logging["LogDriver"] == "awslogs", name
            group = groups[_ref_id(logging["Options"]["awslogs-group"])]["Properties"]
            assert group["RetentionInDays"] > 0, name


def _instructions(dockerfile: Path) -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", dockerfile.read_text())
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1].strip())
            for line in (raw.strip() for raw in text.splitlines())
            if line and not line.startswith("#")]


@pytest.mark.parametrize("image", sorted(DOCKERFILES))
def test_base_images_are_pinned_by_digest(image: str) -> None:
    dockerfile = DOCKERFILES[image]
    bases = [args.split()[0] for word, args in _instructions(dockerfile) if word == "FROM"]
    assert bases
    assert all(PINNED.match(base) for base in bases), bases
    assert "docker buildx imagetools inspect" in dockerfile.read_text()


@pytest.mark.parametrize("image", ["gradient", "update"])
def test_batch_images_run_as_a_non_root_user(image: str) -> None:
    users = [args for word, args in _instructions(DOCKERFILES[image]) if word == "USER"]
    assert users, "a Batch image must end as a non-root USER"
    assert users[-1].split(":")[0] not in {"root", "0"}


def test_devito_cache_is_writable_for_the_job_user() -> None:
    env = " ".join(args for word, args in _instructions(DOCKERFILES["gradient"])
                   if word == "ENV")
    assert "DEVITO_CACHE_DIR=/tmp/" in env


def test_the_lambda_image_leaves_the_user_to_lambda() -> None:
    """Lambda runs a function's image as its own least-privileged user (its developer
    guide: no USER is needed): the image sets none, and makes the handlers readable by
    any user."""
    instructions = _instructions(DOCKERFILES["lambda"])
    assert not [args for word, args in instructions if word == "USER"]
    assert any(word == "RUN" and "chmod -R a+rX" in args for word, args in instructions)
