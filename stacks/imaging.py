"""The imaging workflow: step Lambdas, Batch jobs, reduction, and the state machine."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

from seisless.inversion.documents import INPUT_PREFIX
from seisless.names import ENV_BUCKET, ENV_REDUCE_QUEUE_URL, RUNS_PREFIX, SCANS_PREFIX
from stacks.batch_compute import BatchCompute, ComputeSettings
from stacks.functions import REPO_ROOT, asl_state_machine, docker_function, states_arn
from stacks.nag import acknowledge, object_wildcard_finding, wildcard_finding
from stacks.reduction import Reduction
from stacks.storage import grant_objects

ASL_PATH = REPO_ROOT / "statemachines" / "imaging.asl.json"
# Object patterns of the policies, named once so each acknowledgment names the same one.
# The keys are built by ScanKeys and RunKeys; the patterns follow their layout.
SCAN_SUMMARIES = f"{SCANS_PREFIX}*/summary.json"
SCAN_GATHERS = f"{SCANS_PREFIX}*/gathers.parquet"
RUNS = f"{RUNS_PREFIX}*"
RUN_CONFIGS = f"{RUNS_PREFIX}*/config.json"
SHOT_LISTS = f"{RUNS_PREFIX}*/iter-*/shots.json"
LEAF_SIDECARS = f"{RUNS_PREFIX}*/iter-*/leaf-*.json"
LEAVES = f"{RUNS_PREFIX}*/iter-*/leaf-*"
SEARCH_PLANS = f"{RUNS_PREFIX}*/iter-*/search.json"
TRIALS = f"{RUNS_PREFIX}*/iter-*/trial-*"
JIT_CACHE = f"{RUNS_PREFIX}*/jit-cache/*"
ITERATION_MODELS = f"{RUNS_PREFIX}*/iter-*/model.*"
HISTORIES = f"{RUNS_PREFIX}*/iter-*/history.json"
#: Starting models and masks: the run input may name them only under this prefix.
MODELS = f"{INPUT_PREFIX}*"
#: Why each object pattern has a wildcard (cdk-nag AwsSolutions-IAM5), by pattern.
WILDCARD_REASONS = {
    SCAN_SUMMARIES: "Init reads the summary of the scan the run input names (its id is "
                    "known at run time).",
    SCAN_GATHERS: "The gathers index of the scan the run input names gives each shot's "
                  "byte ranges; its scan id is known at run time.",
    RUNS: "Runs live under runs/<run id>/, the id being chosen at run time; the prefix is "
          "fixed, the bucket is this one.",
    RUN_CONFIGS: "Each run's config.json, under the run id chosen at run time.",
    SHOT_LISTS: "Each iteration's shots.json, under the run id and iteration of the "
                "execution.",
    LEAF_SIDECARS: "Leaf sidecars (tombstones of failed shots), one per shot of the "
                   "iteration, under the execution's run id.",
    LEAVES: "Each shot's gradient leaf (.npy, .json, .job.json), under the run id and "
            "iteration the job is given.",
    JIT_CACHE: "The run's compiled operators (named by their code's digest), under the run "
               "id the job is given.",
    SEARCH_PLANS: "Each FWI iteration's line search plan, under the execution's run id.",
    TRIALS: "A line-search trial's objectives, model and verdict, under the run id, "
            "iteration and trial the job is given.",
    ITERATION_MODELS: "The accepted trial's model, sidecar and picture become the next "
                      "iteration's, under the execution's run id.",
    HISTORIES: "The next iteration's objective history, under the execution's run id.",
    MODELS: "Starting models and masks are whatever keys under models/ the run input names "
            "(the input refuses any other prefix).",
    "*": "Gradient jobs read the SEG-Y file the scan names by byte ranges: a scan may be "
         "started by hand on any key of this bucket, not only under incoming/.",
}
#: (read, write) object patterns of each step function, from seisless.inversion.steps:
#: Init checks the scan and the models and writes the config (a resumed run also reads
#: its shot lists, histories and roots, hence all of runs/*); SelectShots reads the
#: config, an existing shot list and the gathers index and writes the shot list;
#: RecordFailed reads the shot list and the leaf sidecars and writes tombstones;
#: JudgeTrial reads the line search plan and the trial's objectives, writes its verdict
#: and, on acceptance, copies the trial model to the next iteration with its history.
STEP_OBJECTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "Init": ((SCAN_SUMMARIES, SCAN_GATHERS, MODELS, RUNS), (RUN_CONFIGS,)),
    "SelectShots": ((RUN_CONFIGS, SHOT_LISTS, SCAN_GATHERS), (SHOT_LISTS,)),
    "RecordFailed": ((SHOT_LISTS, LEAF_SIDECARS), (LEAF_SIDECARS,)),
    "JudgeTrial": ((SEARCH_PLANS, TRIALS), (TRIALS, ITERATION_MODELS, HISTORIES)),
}


class ImagingWorkflow(Construct):
    """Init -> loop [SelectShots -> gradient array job -> reduction -> update job].

    Every principal gets only what it does: each step function and each job its own
    object patterns (`STEP_OBJECTS`, `_grant_jobs`), the reducer reads and writes runs and
    resumes this state machine, the state machine invokes its functions, submits to its
    queue with its job definitions and sends the callback message.
    """

    def __init__(self, scope: Construct, construct_id: str, *, bucket: s3.IBucket,
                 settings: ComputeSettings | None = None, reducer_concurrency: int = 50,
                 log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH,
                 removal_policy: RemovalPolicy = RemovalPolicy.DESTROY) -> None:
        super().__init__(scope, construct_id)
        self._bucket = bucket
        self.reduction = Reduction(self, "Reduction", bucket=bucket,
                                   max_concurrency=reducer_concurrency,
                                   log_retention=log_retention, removal_policy=removal_policy)
        self.compute = BatchCompute(self, "Batch", bucket=bucket,
                                    reduce_queue_url=self.reduction.queue.queue_url,
                                    settings=settings or ComputeSettings.from_context(self),
                                    log_retention=log_retention, removal_policy=removal_policy)
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
        """The gradient job reads the run, the model, the scan's gathers index and the
        SEG-Y file (any key: see WILDCARD_REASONS), writes its shot's leaf and announces it
        and shares the operators it compiled (`seisless.inversion.jitcache`), or (a
        line-search trial) its shots' objectives and the trial model; the update job
        reads the run and the models and writes the next iteration."""
        compute = self.compute
        grant_objects(compute.gradient_role, self._bucket, read=["*"],
                      write=[LEAVES, TRIALS, JIT_CACHE])
        self.reduction.queue.grant_send_messages(compute.gradient_role)
        grant_objects(compute.update_role, self._bucket, read=[RUNS, MODELS], write=[RUNS])

    def _step_lambdas(self, *, log_retention: logs.RetentionDays,
                      removal_policy: RemovalPolicy) -> dict[str, lambda_.DockerImageFunction]:
        """Init, SelectShots, RecordFailed and JudgeTrial, each allowed the objects it
        touches (see
        `STEP_OBJECTS`); RecordFailed also announces a failed shot's tombstone leaf."""
        env = {ENV_BUCKET: self._bucket.bucket_name}
        fns = {}
        for name, handler, extra in (("Init", "init", {}), ("SelectShots", "select_shots", {}),
                                     ("RecordFailed", "record_failed", {
                                         ENV_REDUCE_QUEUE_URL: self.reduction.queue.queue_url}),
                                     ("JudgeTrial", "judge_trial", {})):
            fn = docker_function(self, name, f"lambdas.imaging.steps.{handler}", memory_mb=1024,
                                 timeout=Duration.minutes(2), log_retention=log_retention,
                                 removal_policy=removal_policy, environment={**env, **extra})
            read, write = STEP_OBJECTS[name]
            grant_objects(fn.role, self._bucket, read=list(read), write=list(write))
            fns[name] = fn
        self.reduction.queue.grant_send_messages(fns["RecordFailed"].role)
        # Why each failed array child failed (status reason, log stream), for its tombstone.
        fns["RecordFailed"].role.add_to_policy(iam.PolicyStatement(
            actions=["batch:DescribeJobs"], resources=["*"]))
        return fns

    def _state_machine_role(self) -> iam.Role:
        """Invoke the step functions, submit to these queues with these job definitions (and
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
        # Multi-node gradient jobs go to their own queue only, with their own definition.
        role.add_to_policy(iam.PolicyStatement(actions=["batch:SubmitJob"], resources=[
            compute.node_queue.job_queue_arn, compute.node_gradient.job_definition_arn]))
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
            "JudgeTrialFunctionArn": self.functions["JudgeTrial"].function_arn,
            "JobQueueArn": compute.queue.job_queue_arn,
            "GradientJobDefinitionArn": compute.gradient.job_definition_arn,
            "UpdateJobDefinitionArn": compute.update.job_definition_arn,
            "MultiNodeJobQueueArn": compute.node_queue.job_queue_arn,
            "MultiNodeGradientJobDefinitionArn": compute.node_gradient.job_definition_arn,
            "ReduceQueueUrl": self.reduction.queue.queue_url,
            "BucketName": self._bucket.bucket_name,
        }

    def _acknowledge(self, sm_role: iam.IRole) -> None:
        """Each role's object wildcards, with the reason of each (WILDCARD_REASONS)."""
        def reasons(*patterns: str) -> dict[str, str]:
            return {object_wildcard_finding(self._bucket, p): WILDCARD_REASONS[p]
                    for p in patterns}

        for name, (read, write) in STEP_OBJECTS.items():
            acknowledge(self.functions[name].role, reasons(*read, *write))
        acknowledge(self.functions["RecordFailed"].role, {
            wildcard_finding("*"): "batch:DescribeJobs accepts no resource but *; it reads "
                                   "why the failed array children failed."})
        acknowledge(self.reduction.function.role, reasons(RUNS))
        acknowledge(self.compute.gradient_role, reasons("*", LEAVES, TRIALS, JIT_CACHE))
        acknowledge(self.compute.update_role, reasons(RUNS, MODELS))
        acknowledge(sm_role, {
            wildcard_finding("*"): "batch:DescribeJobs/TerminateJob, CloudWatch Logs delivery "
                                   "and X-Ray accept no resource but *.",
        })
