"""Container-image Lambda functions of seisless: one image, one handler per `cmd`."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import ArnFormat, Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

REPO_ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = "lambdas/Dockerfile"
# What the images need is pyproject.toml, README.md, seisless/, lambdas/ and containers/;
# everything else stays out of the asset hash (or every synth would hash the virtual
# environment).
IMAGE_EXCLUDE = [
    ".venv", "venv", "cdk.out", ".git", "**/__pycache__", "**/*.pyc", ".pytest_cache",
    ".ruff_cache", ".mypy_cache", ".hypothesis", "node_modules", "tests", "bench", "data",
    "shared", "**/*.sgy", "**/*.segy", "**/*.SGY", "**/*.SEGY", "*.egg-info", "build", "dist",
    "demo-output", "package.json", "package-lock.json", ".cfnlintrc", ".ci", ".github",
]


def docker_function(scope: Construct, name: str, cmd: str, *, memory_mb: int,
                    timeout: Duration, log_retention: logs.RetentionDays,
                    removal_policy: RemovalPolicy,
                    environment: dict[str, str] | None = None,
                    reserved_concurrency: int | None = None) -> lambda_.DockerImageFunction:
    """A function running handler `cmd` of the shared Lambda image, with its own role
    (allowed only to write its own log group: callers add what else it does) and log
    group; `reserved_concurrency` both guarantees and caps its concurrent executions."""
    log_group = logs.LogGroup(scope, f"{name}Logs", retention=log_retention,
                              removal_policy=removal_policy)
    role = iam.Role(scope, f"{name}Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    role.add_to_policy(iam.PolicyStatement(
        actions=["logs:CreateLogStream", "logs:PutLogEvents"],
        resources=[log_group.log_group_arn]))
    return lambda_.DockerImageFunction(
        scope, name,
        code=lambda_.DockerImageCode.from_image_asset(
            str(REPO_ROOT), file=DOCKERFILE, cmd=[cmd], exclude=IMAGE_EXCLUDE),
        memory_size=memory_mb,
        timeout=timeout,
        role=role,
        log_group=log_group,
        reserved_concurrent_executions=reserved_concurrency,
        tracing=lambda_.Tracing.DISABLED,
        environment={"POWERTOOLS_LOG_LEVEL": "INFO", **(environment or {})},
    )


def asl_state_machine(scope: Construct, *, name: str, asl: Path,
                      substitutions: dict[str, str], role: iam.IRole,
                      log_retention: logs.RetentionDays,
                      removal_policy: RemovalPolicy) -> sfn.StateMachine:
    """A state machine from `statemachines/*.asl.json` with `${Placeholder}` substitutions,
    X-Ray tracing and full logging without execution data (inputs may name objects)."""
    sm_logs = logs.LogGroup(scope, "StateMachineLogs", retention=log_retention,
                            removal_policy=removal_policy)
    return sfn.StateMachine(
        scope, "StateMachine",
        state_machine_name=name,
        definition_body=sfn.DefinitionBody.from_string(asl.read_text()),
        definition_substitutions=substitutions,
        role=role,
        tracing_enabled=True,
        logs=sfn.LogOptions(destination=sm_logs, level=sfn.LogLevel.ALL,
                            include_execution_data=False),
    )


def states_arn(scope: Construct, resource: str, name: str) -> str:
    """The ARN of Step Functions `resource` ("stateMachine", "execution") `name` in the
    stack of `scope`: built from a fixed name, so a state machine's own role can name it
    without a circular reference."""
    return Stack.of(scope).format_arn(service="states", resource=resource, resource_name=name,
                                      arn_format=ArnFormat.COLON_RESOURCE_NAME)
