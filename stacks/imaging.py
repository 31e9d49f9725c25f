"""The imaging workflow: step Lambdas, Batch jobs, reduction, and the state machine."""

from __future__ import annotations

import functools

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

from seisless.names import ENV_BUCKET, ENV_REDUCE_QUEUE_URL, RUNS_PREFIX, SCANS_PREFIX
from stacks.batch_compute import BatchCompute, ComputeSettings
from stacks.functions import REPO_ROOT, asl_state_machine, docker_function, states_arn
from stacks.nag import acknowledge, object_wildcard_finding, wildcard_finding
from stacks.reduction import Reduction
from stacks.storage import grant_objects

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
        self._bucket = bucket
        self.reduction = Reduction(self, "Reduction", bucket=bucket,
                                   log_retention=log_retention, removal_policy=removal_policy)
        self.compute = BatchCompute(self, "Batch", bucket=bucket,
                                    reduce_queue_url=self.reduction.queue.queue_url,
                                    settings=settings or ComputeSettings.from_context(self))
        self._grant_jobs()
        self.functions = self._step_lambdas(log_retention=log_retention,
                                            removal_policy=removal_policy)
        sm_name = f"{Stack.of(self).stack_name}-imaging"
        self.reduction.allow_resume(states_arn(self, "stateMachine", sm_name))
        role = self._state_machine_role()
        self._acknowledge(role)
        self.state_machine = asl_state_machine(
            self, name=sm_name, asl=ASL_PATH, role=role, log_retention=log_retention,
            removal_policy=removal_policy, substitutions=self._substitutions())

    def _grant_jobs(self) -> None:
        """Gradient and update jobs read any object (the SEG-Y file may be anywhere in the
        bucket), write the run and announce leaves to the reduction."""
        job_role = self.compute.job_role
        grant_objects(job_role, self._bucket, read=["*"], write=[RUNS])
        self.reduction.queue.grant_send_messages(job_role)

    def _step_lambdas(self, *, log_retention: logs.RetentionDays,
                        removal_policy: RemovalPolicy) -> dict[str, lambda_.DockerImageFunction]:
        """Init, SelectShots and RecordFailed: read the scan, the run and the starting model,
        write the run; RecordFailed also announces a failed shot's tombstone leaf."""
        env = {ENV_BUCKET: self._bucket.bucket_name}
        fns = {}
        for name, handler, extra in (("Init", "init", {}), ("SelectShots", "select_shots", {}),
                                     ("RecordFailed", "record_failed", {
                                         ENV_REDUCE_QUEUE_URL: self.reduction.queue.queue_url})):
            fn = docker_function(self, name, f"lambdas.imaging.steps.{handler}", memory_mb=1024,
                                 timeout=Duration.minutes(2), log_retention=log_retention,
                                 removal_policy=removal_policy, environment={**env, **extra})
            grant_objects(fn.role, self._bucket, read=[SCANS, RUNS, MODELS], write=[RUNS])
            fns[name] = fn
        self.reduction.queue.grant_send_messages(fns["RecordFailed"].role)
        return fns

    def _state_machine_role(self) -> iam.Role:
        """Invoke the step functions, submit to this queue with these job definitions (and
        follow the `.sync` jobs), send the reduction's callback message."""
        role = iam.Role(self, "StateMachineRole",
                        assumed_by=iam.ServicePrincipal("states.amazonaws.com"))
        for fn in self.functions.values():
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
            resources=[Stack.of(self).format_arn(
                service="events", resource="rule",
                resource_name="StepFunctionsGetEventsForBatchJobsRule")]))
        self.reduction.queue.grant_send_messages(role)
        return role

    def _substitutions(self) -> dict[str, str]:
        """The ASL's `${Placeholder}`s: what each state calls or submits to."""
        compute = self.compute
        return {
            "InitFunctionArn": self.functions["Init"].function_arn,
            "SelectShotsFunctionArn": self.functions["SelectShots"].function_arn,
            "RecordFailedFunctionArn": self.functions["RecordFailed"].function_arn,
            "JobQueueArn": compute.queue.job_queue_arn,
            "GradientJobDefinitionArn": compute.gradient.job_definition_arn,
            "UpdateJobDefinitionArn": compute.update.job_definition_arn,
            "ReduceQueueUrl": self.reduction.queue.queue_url,
            "BucketName": self._bucket.bucket_name,
        }

    def _acknowledge(self, sm_role: iam.IRole) -> None:
        objects = functools.partial(object_wildcard_finding, self._bucket)
        runs = ("Runs write under runs/<run id>/, the id being chosen at run time; the "
                "prefix is fixed, the bucket is this one.")
        for fn in self.functions.values():
            acknowledge(fn.role, {
                objects(SCANS): "Init reads the scan the user names at run time (its summary "
                                "and gathers index).",
                objects(RUNS): runs,
                objects(MODELS): "The starting model is any .npy key the user names in the "
                                 "run's input.",
            })
        acknowledge(self.reduction.function.role, {objects(RUNS): runs})
        acknowledge(self.compute.job_role, {
            objects("*"): "Gradient jobs read the SEG-Y file the scan names, at any key of "
                          "this bucket, by byte ranges.",
            objects(RUNS): runs})
        acknowledge(sm_role, {
            wildcard_finding("*"): "batch:DescribeJobs/TerminateJob, CloudWatch Logs delivery "
                                   "and X-Ray accept no resource but *.",
        })
