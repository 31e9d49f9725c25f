"""cdk-nag: the AwsSolutions pack on every synthesis, and acknowledgments, always with the
reason they are acceptable."""

from __future__ import annotations

from aws_cdk import Acknowledgment, App, Validations
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
