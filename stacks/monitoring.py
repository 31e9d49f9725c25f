"""Operating the stack: alarms to one SNS topic, failed Batch jobs to the same topic, and
one dashboard for both workflows."""

from __future__ import annotations

from aws_cdk import Aws, Duration, Stack
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from lambdas import observability as obs
from stacks.imaging import ImagingWorkflow
from stacks.scan import ScanWorkflow

PERIOD = Duration.minutes(5)


class Monitoring(Construct):
    """Every alarm notifies `topic` (and `alarm_email`, when given): a dead-letter queue
    holding messages, an execution of either workflow failing or timing out, the reducer
    failing. Batch has no metric of failed jobs, so an EventBridge rule sends each failed
    job of this stack's queue (array parents, not each child) to the topic directly.
    """

    def __init__(self, scope: Construct, construct_id: str, *, scan: ScanWorkflow,
                 imaging: ImagingWorkflow, alarm_email: str | None = None) -> None:
        super().__init__(scope, construct_id)
        self.topic = self._topic(alarm_email)
        self.alarms: list[cw.Alarm] = []
        self._alarm("ScanDeadLetters", _depth(scan.dead_letters),
                    "Scan-start events EventBridge could not deliver are waiting in the "
                    "trigger's dead-letter queue: replay them (README, Operating it).")
        self._alarm("ReduceDeadLetters", _depth(imaging.reduction.dead_letters),
                    "Reduction messages failed 5 times and wait in the reduce queue's "
                    "dead-letter queue: read the reducer's log, fix, redrive.")
        for name, machine in (("Scan", scan.state_machine), ("Imaging", imaging.state_machine)):
            self._alarm(f"{name}ExecutionsFailed", machine.metric_failed(period=PERIOD),
                        f"An execution of the {name.lower()} workflow failed: its Fail "
                        "state names the error and the fix.")
            self._alarm(f"{name}ExecutionsTimedOut", machine.metric_timed_out(period=PERIOD),
                        f"An execution of the {name.lower()} workflow timed out.")
        self._alarm("ReducerErrors", imaging.reduction.function.metric_errors(period=PERIOD),
                    "The reducer function itself failed (crash or timeout), not one "
                    "message: its log says why.")
        self.batch_failures = self._batch_failures(imaging)
        self.dashboard = _dashboard(self, scan, imaging, self.batch_failures)

    def _topic(self, alarm_email: str | None) -> sns.Topic:
        """An encrypted, SSL-only topic. Its key is a customer managed one: the AWS
        managed aws/sns key's policy cannot let CloudWatch alarms or EventBridge use it.
        CloudWatch is named in the key and topic policies here (a topic policy replaces
        SNS's default one); the EventBridge target adds its own statements to both."""
        cloudwatch = iam.ServicePrincipal("cloudwatch.amazonaws.com")
        this_account = {"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}}
        key = kms.Key(self, "TopicKey", enable_key_rotation=True,
                      description="Encrypts the seisless alarm topic")
        key.add_to_resource_policy(iam.PolicyStatement(
            actions=["kms:Decrypt", "kms:GenerateDataKey*"], principals=[cloudwatch],
            resources=["*"], conditions=this_account))
        topic = sns.Topic(self, "Alarms", display_name="seisless alarms", master_key=key,
                          enforce_ssl=True)
        topic.add_to_resource_policy(iam.PolicyStatement(
            actions=["sns:Publish"], principals=[cloudwatch], resources=[topic.topic_arn],
            conditions=this_account))
        if alarm_email:
            topic.add_subscription(subscriptions.EmailSubscription(alarm_email))
        return topic

    def _alarm(self, name: str, metric: cw.IMetric, description: str) -> None:
        """Alarm when `metric` reaches 1 in a period; no data is no trouble."""
        alarm = cw.Alarm(
            self, name, metric=metric, threshold=1, evaluation_periods=1,
            comparison_operator=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
            alarm_description=description)
        alarm.add_alarm_action(cw_actions.SnsAction(self.topic))
        self.alarms.append(alarm)

    def _batch_failures(self, imaging: ImagingWorkflow) -> events.Rule:
        """Each job of this stack's queues that ends FAILED (after its retries); array
        children and the nodes of multi-node jobs are left out, their parent fails with
        them (one message, not 1,000)."""
        field = events.EventField.from_path
        return events.Rule(
            self, "BatchJobFailed",
            description="Failed AWS Batch jobs of the seisless job queues, to the alarm topic",
            event_pattern=events.EventPattern(
                source=["aws.batch"], detail_type=["Batch Job State Change"],
                detail={"status": ["FAILED"],
                        "jobQueue": [imaging.compute.queue.job_queue_arn,
                                     imaging.compute.node_queue.job_queue_arn],
                        "arrayProperties": {"index": [{"exists": False}]},
                        "nodeDetails": {"nodeIndex": [{"exists": False}]}}),
            targets=[targets.SnsTopic(self.topic, message=events.RuleTargetInput.from_text(
                f"AWS Batch job {field('$.detail.jobName')} ({field('$.detail.jobId')}) "
                f"FAILED: {field('$.detail.statusReason')}. Its children's logs are in the "
                "stack's Batch job log group."))])


def _depth(queue: sqs.IQueue) -> cw.IMetric:
    return queue.metric_approximate_number_of_messages_visible(period=PERIOD,
                                                               statistic="Maximum")


def _custom(name: str) -> cw.Metric:
    return cw.Metric(namespace=obs.NAMESPACE, metric_name=name, statistic="Sum",
                     period=PERIOD)


def _executions(machine: sfn.StateMachine) -> list[cw.IMetric]:
    return [machine.metric_started(period=PERIOD), machine.metric_succeeded(period=PERIOD),
            machine.metric_failed(period=PERIOD), machine.metric_timed_out(period=PERIOD)]


def _functions_row(title: str, functions: dict[str, lambda_.IFunction]) -> list[cw.IWidget]:
    """Errors and p90 durations of `functions`, labelled by name."""
    errors = [fn.metric_errors(period=PERIOD, label=name) for name, fn in functions.items()]
    durations = [fn.metric_duration(period=PERIOD, statistic="p90", label=name)
                 for name, fn in functions.items()]
    return [cw.GraphWidget(title=f"{title}: Lambda errors", left=errors, width=12),
            cw.GraphWidget(title=f"{title}: Lambda duration (p90)", left=durations, width=12)]


def _batch_jobs(rule: events.Rule) -> list[cw.IMetric]:
    """Batch jobs the imaging workflow submitted, by outcome (Step Functions' metrics of
    its `batch:submitJob.sync` integration, account-wide), and the failed-job rule's
    matches (this stack's queue only)."""
    integration = {"ServiceIntegrationResourceArn":
                   f"arn:{Aws.PARTITION}:states:::batch:submitJob.sync"}
    outcomes = [cw.Metric(namespace="AWS/States", metric_name=f"ServiceIntegrations{state}",
                          dimensions_map=integration, statistic="Sum", period=PERIOD,
                          label=f"jobs {state.lower()}")
                for state in ("Started", "Succeeded", "Failed", "TimedOut")]
    failed_here = cw.Metric(namespace="AWS/Events", metric_name="TriggeredRules",
                            dimensions_map={"RuleName": rule.rule_name}, statistic="Sum",
                            period=PERIOD, label="jobs failed (this queue)")
    return [*outcomes, failed_here]


def _dashboard(scope: Construct, scan: ScanWorkflow, imaging: ImagingWorkflow,
               batch_failures: events.Rule) -> cw.Dashboard:
    """Both workflows on one page: executions, the scan Map's progress, Lambda errors
    and durations, the reduce queue's depth, Batch jobs by outcome."""
    queue = imaging.reduction.queue
    dashboard = cw.Dashboard(scope, "Dashboard",
                             dashboard_name=f"{Stack.of(scope).stack_name}-operations")
    dashboard.add_widgets(cw.TextWidget(markdown="# SEG-Y scan", width=24, height=1))
    dashboard.add_widgets(
        cw.GraphWidget(title="Scan executions", left=_executions(scan.state_machine), width=8),
        cw.GraphWidget(title="Map progress: ranges and traces", width=8,
                       left=[scan.scan_fn.metric_invocations(period=PERIOD, label="ranges"),
                             _custom(obs.TRACES_SCANNED)],
                       right=[_custom(obs.BYTES_READ)]),
        cw.GraphWidget(title="Scan workers running at once", width=8, left=[
            cw.Metric(namespace="AWS/Lambda", metric_name="ConcurrentExecutions",
                      dimensions_map={"FunctionName": scan.scan_fn.function_name},
                      statistic="Maximum", period=PERIOD)]))
    dashboard.add_widgets(*_functions_row("Scan", {
        "Plan": scan.plan_fn, "Scan": scan.scan_fn, "Merge": scan.merge_fn}))
    dashboard.add_widgets(cw.TextWidget(markdown="# Imaging", width=24, height=1))
    dashboard.add_widgets(
        cw.GraphWidget(title="Imaging executions", left=_executions(imaging.state_machine),
                       width=8),
        cw.GraphWidget(title="Reduce queue", width=8, left=[
            queue.metric_approximate_number_of_messages_visible(period=PERIOD),
            _depth(imaging.reduction.dead_letters).with_(label="dead letters")],
            right=[queue.metric_approximate_age_of_oldest_message(period=PERIOD)]),
        cw.GraphWidget(title="Batch jobs by outcome", left=_batch_jobs(batch_failures),
                       width=8))
    dashboard.add_widgets(cw.GraphWidget(title="Shots and gradients", width=24, left=[
        _custom(name) for name in (obs.RUNS_STARTED, obs.SHOTS_SELECTED,
                                   obs.SHOTS_TOMBSTONED, obs.GRADIENTS_REDUCED,
                                   obs.NODES_REDUCED)]))
    dashboard.add_widgets(*_functions_row("Imaging", {
        **imaging.functions, "Reducer": imaging.reduction.function}))
    return dashboard
