"""cdk-nag: the AwsSolutions pack on every synthesis, and acknowledgments, always with the
reason they are acceptable."""

from __future__ import annotations

from aws_cdk import Acknowledgment, App, Stack, Validations
from aws_cdk import aws_s3 as s3
from cdk_nag import AwsSolutionsChecks
from constructs import IConstruct


def check_aws_solutions(app: App) -> None:
    """Fail the synthesis of `app` on any AwsSolutions finding not acknowledged with a
    reason (cdk-nag 3 reports through CDK's policy validation).

    Applied by `app.py` itself, so `cdk synth`/`cdk deploy`, the local cloud and the tests
    all check the template they use.
    """
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))


def acknowledge(scope: IConstruct, reasons: dict[str, str]) -> None:
    """Acknowledge cdk-nag findings on `scope` (and its children): {finding id: reason}."""
    Validations.of(scope).acknowledge(
        *(Acknowledgment(id=finding, reason=reason) for finding, reason in reasons.items()))


def wildcard_finding(resource: str) -> str:
    """The id of AwsSolutions-IAM5 (a wildcard in a policy) on `resource`, as cdk-nag
    writes it (tokens as `<LogicalId.Attribute>`)."""
    return f"AwsSolutions::AwsSolutions-IAM5[Resource::{resource}]"


def object_wildcard_finding(bucket: s3.IBucket, pattern: str) -> str:
    """`wildcard_finding` of `bucket.arn_for_objects(pattern)`."""
    stack = Stack.of(bucket)
    logical_id = stack.resolve(stack.get_logical_id(bucket.node.default_child))
    return wildcard_finding(f"<{logical_id}.Arn>/{pattern}")
