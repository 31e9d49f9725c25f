"""The imaging workflow: step Lambdas, Batch jobs, reduction, and the state machine."""

from __future__ import annotations

from typing import Any

from aws_cdk import ArnFormat, Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

from seisless.names import ENV_BUCKET, ENV_REDUCE_QUEUE_URL, RUNS_PREFIX, SCANS_PREFIX
from stacks.batch_compute import BatchCompute, ComputeSettings
from stacks.functions import REPO_ROOT, asl_state_machine, docker_function
from stacks.nag import acknowledge
from stacks.reduction import Reduction

ASL_PATH = REPO_ROOT / "statemachines" / "imaging.asl.json"
# Object patterns of the policies, named once so each acknowledgment names the same one.
SCANS = f"{SCANS_PREFIX}*"
RUNS = f"{RUNS_PREFIX}*"
MODELS = "*.npy"


class ImagingWorkflow(Construct):
    """Init -> loop [SelectShots -> gradient array job -> reduction -> update job].

    Every principal gets only what it does: the step functions read scans and write
    runs, the jobs read the bucket and write runs, the reducer reads and writes runs and
    resumes this state machine, the state machine invokes its functions, submits to its
    queue with its job definitions and sends the callback message.
    """

    def __init__(self, scope: Construct, construct_id: str, *, bucket: s3.IBucket,
                 settings: ComputeSettings | None = None,
                 log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH,
                 removal_policy: RemovalPolicy = RemovalPolicy.DESTROY) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        settings = settings or ComputeSettings.from_context(self)
        self.reduction = Reduction(self, "Reduction", bucket=bucket,
                                   log_retention=log_retention, removal_policy=removal_policy)
        self.compute = BatchCompute(self, "Batch", bucket=bucket,
                                    reduce_queue_url=self.reduction.queue.queue_url,
                                    settings=settings)
        job_role = self.compute.job_role
        job_role.add_to_policy(iam.PolicyStatement(actions=["s3:GetObject"],
                                                   resources=[bucket.arn_for_objects("*")]))
        job_role.add_to_policy(iam.PolicyStatement(actions=["s3:PutObject"],
                                                   resources=[bucket.arn_for_objects(RUNS)]))
        job_role.add_to_policy(iam.PolicyStatement(actions=["s3:ListBucket"],
                                                   resources=[bucket.bucket_arn]))
        self.reduction.queue.grant_send_messages(job_role)

        env = {ENV_BUCKET: bucket.bucket_name}
        fns = {}
        for name, handler, extra in (("Init", "init", {}), ("SelectShots", "select_shots", {}),
                                     ("RecordFailed", "record_failed", {
                                         ENV_REDUCE_QUEUE_URL: self.reduction.queue.queue_url})):
            fn = docker_function(self, name, f"lambdas.imaging.steps.{handler}", memory_mb=1024,
                                 timeout=Duration.minutes(2), log_retention=log_retention,
                                 removal_policy=removal_policy, environment={**env, **extra})
            fn.role.add_to_policy(iam.PolicyStatement(
                actions=["s3:GetObject"],
                resources=[bucket.arn_for_objects(p) for p in (SCANS, RUNS, MODELS)]))
            fn.role.add_to_policy(iam.PolicyStatement(
                actions=["s3:PutObject"], resources=[bucket.arn_for_objects(RUNS)]))
            fn.role.add_to_policy(iam.PolicyStatement(actions=["s3:ListBucket"],
                                                      resources=[bucket.bucket_arn]))
            fns[name] = fn
        self.reduction.queue.grant_send_messages(fns["RecordFailed"].role)
        self.functions = fns

        sm_name = f"{stack.stack_name}-imaging"
        sm_arn = stack.format_arn(service="states", resource="stateMachine",
                                  resource_name=sm_name,
                                  arn_format=ArnFormat.COLON_RESOURCE_NAME)
        self.reduction.allow_resume(sm_arn)
        role = iam.Role(self, "StateMachineRole",
                        assumed_by=iam.ServicePrincipal("states.amazonaws.com"))
        for fn in fns.values():
            role.add_to_policy(iam.PolicyStatement(actions=["lambda:InvokeFunction"],
                                                   resources=[fn.function_arn]))
        compute = self.compute
        role.add_to_policy(iam.PolicyStatement(actions=["batch:SubmitJob"], resources=[
            compute.queue.job_queue_arn, compute.gradient.job_definition_arn,
            compute.update.job_definition_arn]))
        # DescribeJobs/TerminateJob accept no resource but *; the managed rule is how
        # Step Functions learns that a `.sync` job ended.
        role.add_to_policy(iam.PolicyStatement(
            actions=["batch:DescribeJobs", "batch:TerminateJob"], resources=["*"]))
        role.add_to_policy(iam.PolicyStatement(
            actions=["events:PutTargets", "events:PutRule", "events:DescribeRule"],
            resources=[stack.format_arn(
                service="events", resource="rule",
                resource_name="StepFunctionsGetEventsForBatchJobsRule")]))
        self.reduction.queue.grant_send_messages(role)
        self._acknowledge(stack, bucket, role, list(fns.values()))

        self.state_machine = asl_state_machine(
            self, name=sm_name, asl=ASL_PATH, role=role, log_retention=log_retention,
            removal_policy=removal_policy,
            substitutions={
                "InitFunctionArn": fns["Init"].function_arn,
                "SelectShotsFunctionArn": fns["SelectShots"].function_arn,
                "RecordFailedFunctionArn": fns["RecordFailed"].function_arn,
                "JobQueueArn": compute.queue.job_queue_arn,
                "GradientJobDefinitionArn": compute.gradient.job_definition_arn,
                "UpdateJobDefinitionArn": compute.update.job_definition_arn,
                "ReduceQueueUrl": self.reduction.queue.queue_url,
                "BucketName": bucket.bucket_name,
            })

    def _acknowledge(self, stack: Stack, bucket: s3.IBucket, sm_role: iam.IRole,
                     fns: list[Any]) -> None:
        bucket_arn = f"<{stack.resolve(stack.get_logical_id(bucket.node.default_child))}.Arn>"
        iam5 = "AwsSolutions::AwsSolutions-IAM5[Resource::{}]".format
        runs = ("Runs write under runs/<run id>/, the id being chosen at run time; the "
                "prefix is fixed, the bucket is this one.")
        for fn in fns:
            acknowledge(fn.role, {
                iam5(f"{bucket_arn}/{SCANS}"): "Init reads the scan the user names at run "
                                               "time (its summary and gathers index).",
                iam5(f"{bucket_arn}/{RUNS}"): runs,
                iam5(f"{bucket_arn}/{MODELS}"): "The starting model is any .npy key the user "
                                             "names in the run's input.",
            })
        acknowledge(self.reduction.function.role, {iam5(f"{bucket_arn}/{RUNS}"): runs})
        acknowledge(self.compute.job_role, {
            iam5(f"{bucket_arn}/*"): "Gradient jobs read the SEG-Y file the scan names, at "
                                     "any key of this bucket, by byte ranges.",
            iam5(f"{bucket_arn}/{RUNS}"): runs})
        acknowledge(sm_role, {
            iam5("*"): "batch:DescribeJobs/TerminateJob, CloudWatch Logs delivery and X-Ray "
                       "accept no resource but *.",
        })
