"""The SEG-Y scan workflow: Plan/Scan/Merge Lambdas, the state machine, the S3 trigger."""

from __future__ import annotations

import functools

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from seisless.names import INCOMING_PREFIX, SCANS_PREFIX
from seisless.scan.steps import ENV_MAX_SCAN_CONCURRENCY
from stacks.functions import REPO_ROOT, asl_state_machine, docker_function, states_arn
from stacks.nag import acknowledge, object_wildcard_finding, wildcard_finding
from stacks.storage import grant_objects

ASL_PATH = REPO_ROOT / "statemachines" / "segy_scan.asl.json"
SEGY_SUFFIXES = (".sgy", ".segy")
# Object patterns of the policies, named once so each acknowledgment names the same one.
SCANS = f"{SCANS_PREFIX}*"
PARTS = f"{SCANS_PREFIX}*/parts/*"
MANIFESTS = f"{SCANS_PREFIX}*/manifest.json"


def _case_variants(text: str) -> list[str]:
    """Every upper/lower-case spelling of `text` (".sgy" -> ".sgy", ".sgY", ... ".SGY")."""
    variants = [""]
    for ch in text:
        options = {ch.lower(), ch.upper()}
        variants = [v + c for v in variants for c in sorted(options)]
    return variants


def incoming_key_patterns(prefix: str = INCOMING_PREFIX) -> list[dict[str, str]]:
    """EventBridge filters matching keys under `prefix` ending .sgy/.segy in any case.

    EventBridge cannot AND a `prefix` and a `suffix` on one field, and `wildcard` is
    case-sensitive, so each spelling of the suffix gets its own `prefix*suffix`
    wildcard (24 in all, well inside EventBridge's pattern limits).
    """
    return [{"wildcard": f"{prefix}*{variant}"}
            for suffix in SEGY_SUFFIXES for variant in _case_variants(suffix)]


class ScanWorkflow(Construct):
    """Plan -> Distributed Map of Scan workers -> Merge, started by uploads to `incoming/`.

    Each function gets its own role and log group, and only the S3 actions it performs on
    the prefixes it touches.
    """

    def __init__(self, scope: Construct, construct_id: str, *, bucket: s3.IBucket,
                 default_max_concurrency: int = 1000, max_concurrency: int = 1000,
                 log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH,
                 removal_policy: RemovalPolicy = RemovalPolicy.DESTROY) -> None:
        super().__init__(scope, construct_id)
        self._bucket = bucket
        self._log_retention = log_retention
        self._removal_policy = removal_policy
        # A fixed name lets the role name its own child executions (Distributed Map)
        # without a circular reference between the state machine and its policy.
        sm_name = f"{Stack.of(self).stack_name}-segy-scan"
        self._create_functions(max_concurrency, sm_name)
        self.state_machine = self._state_machine(
            sm_name, default_max_concurrency=min(default_max_concurrency, max_concurrency))
        self._create_trigger()
        self._acknowledge(sm_name)

    def _create_functions(self, max_concurrency: int, sm_name: str) -> None:
        """Plan reads the upload and writes the manifest (and caps the Map's concurrency at
        `max_concurrency`), each Scan worker writes only its Parquet part (tagged as
        scratch), Merge reads the scan and writes its results."""
        self.plan_fn = self._function(
            "Plan", "lambdas.scan.plan.handler", memory_mb=1024, timeout=Duration.minutes(2),
            read=["*"], write=[SCANS])
        self.plan_fn.add_environment(ENV_MAX_SCAN_CONCURRENCY, str(max_concurrency))
        # Plan asks whether the execution holding a scan's claim still runs.
        self.plan_fn.role.add_to_policy(iam.PolicyStatement(
            actions=["states:DescribeExecution"],
            resources=[states_arn(self, "execution", f"{sm_name}:*")]))
        self.scan_fn = self._function(
            "Scan", "lambdas.scan.worker.handler", memory_mb=3008,
            timeout=Duration.minutes(15), read=["*"], write=[PARTS], tagging=True)
        # Merge deletes a scan's summary.json before rewriting its outputs, so an old
        # summary never vouches for files being replaced: it needs s3:DeleteObject there.
        self.merge_fn = self._function(
            "Merge", "lambdas.scan.merge.handler", memory_mb=10240,
            timeout=Duration.minutes(15), read=[SCANS], write=[SCANS], deletes=True)

    def _state_machine(self, sm_name: str, *,
                       default_max_concurrency: int) -> sfn.StateMachine:
        return asl_state_machine(
            self, name=sm_name, asl=ASL_PATH, role=self._state_machine_role(sm_name),
            log_retention=self._log_retention, removal_policy=self._removal_policy,
            substitutions={
                "PlanFunctionArn": self.plan_fn.function_arn,
                "ScanFunctionArn": self.scan_fn.function_arn,
                "MergeFunctionArn": self.merge_fn.function_arn,
                "DefaultMaxConcurrency": str(default_max_concurrency),
            })

    def _state_machine_role(self, sm_name: str) -> iam.Role:
        """Invoke the three functions, read manifests (the Distributed Map's ItemReader),
        and start, describe and stop this state machine's own child executions."""
        role = iam.Role(self, "StateMachineRole",
                        assumed_by=iam.ServicePrincipal("states.amazonaws.com"))
        for fn in (self.plan_fn, self.scan_fn, self.merge_fn):
            role.add_to_policy(iam.PolicyStatement(actions=["lambda:InvokeFunction"],
                                                   resources=[fn.function_arn]))
        role.add_to_policy(iam.PolicyStatement(
            actions=["s3:GetObject"], resources=[self._bucket.arn_for_objects(MANIFESTS)]))
        role.add_to_policy(iam.PolicyStatement(
            actions=["states:StartExecution"],
            resources=[states_arn(self, "stateMachine", sm_name)]))
        role.add_to_policy(iam.PolicyStatement(
            actions=["states:DescribeExecution", "states:StopExecution"],
            resources=[states_arn(self, "execution", f"{sm_name}/*")]))
        return role

    def _create_trigger(self) -> None:
        """The EventBridge rule starting a scan per SEG-Y upload; events it cannot deliver
        (after a day of retries) wait in a dead-letter queue."""
        self.dead_letters = sqs.Queue(
            self, "TriggerDeadLetters",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        self.trigger_role = iam.Role(self, "TriggerRole",
                                     assumed_by=iam.ServicePrincipal("events.amazonaws.com"))
        self.trigger_role.add_to_policy(iam.PolicyStatement(
            actions=["states:StartExecution"], resources=[self.state_machine.state_machine_arn]))
        self.rule = events.Rule(
            self, "OnSegyUpload",
            description=f"Scan every .sgy/.segy object (any case) created under {INCOMING_PREFIX}",
            event_pattern=events.EventPattern(
                source=["aws.s3"],
                detail_type=["Object Created"],
                detail={"bucket": {"name": [self._bucket.bucket_name]},
                        "object": {"key": incoming_key_patterns()}},
            ),
            targets=[targets.SfnStateMachine(
                self.state_machine, role=self.trigger_role, dead_letter_queue=self.dead_letters,
                retry_attempts=185, max_event_age=Duration.hours(24))],
        )

    def _acknowledge(self, sm_name: str) -> None:
        objects = functools.partial(object_wildcard_finding, self._bucket)
        runtime_key = ("The uploaded object's key is only known at run time: Plan and Scan read "
                       "whichever object the event names, in this bucket only.")
        scan_prefix = ("Scans write under scans/<scan id>/, the id being derived from the "
                       "object at run time; the prefix is fixed, the bucket is this one.")
        acknowledge(self.plan_fn.role, {
            objects("*"): runtime_key, objects(SCANS): scan_prefix,
            wildcard_finding("arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:"
                             f"execution:{sm_name}:*"):
                "Plan asks whether the execution holding a scan's claim still runs; "
                "execution names are chosen at start (EventBridge's or the user's), so "
                "only this state machine's executions are named."})
        acknowledge(self.scan_fn.role, {
            objects("*"): runtime_key,
            objects(PARTS): "Workers write only Parquet parts, under scans/<scan id>/parts/.",
        })
        acknowledge(self.merge_fn.role, {objects(SCANS): scan_prefix})
        execution_arn = ("arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:"
                         f"execution:{sm_name}/*")
        acknowledge(self.state_machine.role, {
            objects(MANIFESTS): "The Distributed Map reads only manifests, whose scan id is "
                "known at run time.",
            wildcard_finding(execution_arn): "The Distributed Map's child executions get their "
                "names from Step Functions; this names only this state machine's executions.",
            wildcard_finding("*"): "CloudWatch Logs delivery (logs:*LogDelivery*, "
                "DescribeLogGroups ...) and X-Ray (PutTraceSegments, PutTelemetryRecords, "
                "GetSampling*) accept no resource but *; CDK adds them for logging and tracing.",
        })
        acknowledge(self.dead_letters, {
            "AwsSolutions::AwsSolutions-SQS3": "This queue is itself the dead-letter queue of "
                                               "the EventBridge target.",
        })

    def _function(self, name: str, cmd: str, *, memory_mb: int, timeout: Duration,
                  read: list[str], write: list[str], tagging: bool = False,
                  deletes: bool = False) -> lambda_.DockerImageFunction:
        fn = docker_function(self, name, cmd, memory_mb=memory_mb, timeout=timeout,
                             log_retention=self._log_retention,
                             removal_policy=self._removal_policy)
        write_actions = ["s3:PutObject"] + (["s3:PutObjectTagging"] if tagging else []) + \
            (["s3:DeleteObject"] if deletes else [])
        grant_objects(fn.role, self._bucket, read=read, write=write, write_actions=write_actions)
        return fn
