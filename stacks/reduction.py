"""The reduction: the queue of "node written" messages, its DLQ, and the reducer."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from seisless.names import ENV_REDUCE_QUEUE_URL, RUNS_PREFIX
from stacks.functions import docker_function
from stacks.nag import acknowledge

REDUCER_TIMEOUT = Duration.minutes(5)
#: AWS's advice for SQS event sources: at least six times the function's timeout, so a
#: batch being retried inside Lambda is not redelivered meanwhile.
VISIBILITY_FACTOR = 6


class Reduction(Construct):
    """SQS-triggered reducer Lambda summing gradients up the static fan-in tree.

    Batches of up to 10 messages (1 s window), partial batch failures reported
    (`ReportBatchItemFailures`); `max_concurrency` is both the event source's maximum and
    the function's reserved concurrency, so a scan's thousand workers can never starve
    the reduction (nor the reduction the account). A message failing 5 times goes to the
    DLQ, where a stalled iteration's cause can be read.
    """

    def __init__(self, scope: Construct, construct_id: str, *, bucket: s3.IBucket,
                 max_concurrency: int = 50,
                 log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH,
                 removal_policy: RemovalPolicy = RemovalPolicy.DESTROY) -> None:
        super().__init__(scope, construct_id)
        self.dead_letters = sqs.Queue(
            self, "DeadLetters", encryption=sqs.QueueEncryption.SQS_MANAGED, enforce_ssl=True,
            retention_period=Duration.days(14))
        self.queue = sqs.Queue(
            self, "Queue", encryption=sqs.QueueEncryption.SQS_MANAGED, enforce_ssl=True,
            visibility_timeout=Duration.seconds(
                VISIBILITY_FACTOR * REDUCER_TIMEOUT.to_seconds()),
            dead_letter_queue=sqs.DeadLetterQueue(queue=self.dead_letters,
                                                  max_receive_count=5))
        self.function = docker_function(
            self, "Reducer", "lambdas.reducer.handler.lambda_handler", memory_mb=1024,
            timeout=REDUCER_TIMEOUT, log_retention=log_retention,
            removal_policy=removal_policy, reserved_concurrency=max_concurrency,
            # glibc's dynamic mmap threshold moves the reducer's chunk buffers onto a
            # fragmenting heap; a fixed threshold keeps peak memory flat (bench/RESULTS.md).
            environment={ENV_REDUCE_QUEUE_URL: self.queue.queue_url,
                         "MALLOC_MMAP_THRESHOLD_": "1048576"})
        role = self.function.role
        role.add_to_policy(iam.PolicyStatement(
            actions=["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"],
            resources=[bucket.arn_for_objects(f"{RUNS_PREFIX}*")]))
        role.add_to_policy(iam.PolicyStatement(actions=["s3:ListBucket"],
                                               resources=[bucket.bucket_arn]))
        self.queue.grant_send_messages(role)
        self.function.add_event_source(sources.SqsEventSource(
            self.queue, batch_size=10, max_batching_window=Duration.seconds(1),
            max_concurrency=max_concurrency, report_batch_item_failures=True))
        acknowledge(self.dead_letters, {
            "AwsSolutions-SQS3": "This queue is itself the reduce queue's dead-letter queue."})

    def allow_resume(self, state_machine_arn: str) -> None:
        """Let the reducer resume (or fail, or heartbeat) the imaging workflow's wait."""
        self.function.role.add_to_policy(iam.PolicyStatement(
            actions=["states:SendTaskSuccess", "states:SendTaskFailure",
                     "states:SendTaskHeartbeat"],
            resources=[state_machine_arn]))
