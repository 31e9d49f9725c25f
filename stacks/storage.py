"""The data bucket: where SEG-Y files arrive (`incoming/`) and scans are written (`scans/`)."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks.nag import acknowledge

# Keep in step with seisless.scan.steps.SCRATCH_TAGGING.
SCRATCH_TAG = ("seisless-scratch", "true")


class DataBucket(Construct):
    """Private, encrypted, versioned bucket that sends its events to EventBridge.

    Versioning makes the object version id part of a scan's identity; the lifecycle rule
    expires scratch objects (the Map's Parquet parts, tagged by the workers), old
    versions and abandoned multipart uploads, so a 180 GB upload that died does not cost
    storage forever.
    """

    def __init__(self, scope: Construct, construct_id: str, *,
                 scratch_days: int = 7, noncurrent_days: int = 30,
                 removal_policy: RemovalPolicy = RemovalPolicy.RETAIN) -> None:
        super().__init__(scope, construct_id)
        self.access_logs = self._access_logs(removal_policy=removal_policy)
        self.bucket = self._data_bucket(scratch_days=scratch_days,
                                        noncurrent_days=noncurrent_days,
                                        removal_policy=removal_policy)

    def _access_logs(self, *, removal_policy: RemovalPolicy) -> s3.Bucket:
        """Where the data bucket's server access logs go (kept a year): a bucket of its own,
        since a bucket logging into itself would log its own log writes."""
        access_logs = s3.Bucket(
            self, "AccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
            lifecycle_rules=[s3.LifecycleRule(id="expire-access-logs",
                                              expiration=Duration.days(365))],
            removal_policy=removal_policy,
        )
        acknowledge(access_logs, {
            "AwsSolutions-S1": "This is the access-log bucket itself: logging it into itself "
                               "loops, and a third bucket would only move the question.",
        })
        return access_logs

    def _data_bucket(self, *, scratch_days: int, noncurrent_days: int,
                     removal_policy: RemovalPolicy) -> s3.Bucket:
        """The bucket of uploads, scans and runs (see the class docstring)."""
        bucket = s3.Bucket(
            self, "Bucket",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            versioned=True,
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix="data-bucket/",
            lifecycle_rules=[
                s3.LifecycleRule(id="expire-scan-scratch",
                                 tag_filters={SCRATCH_TAG[0]: SCRATCH_TAG[1]},
                                 expiration=Duration.days(scratch_days)),
                s3.LifecycleRule(id="expire-old-versions",
                                 noncurrent_version_expiration=Duration.days(noncurrent_days),
                                 abort_incomplete_multipart_upload_after=Duration.days(7)),
            ],
            removal_policy=removal_policy,
        )
        # Native CloudFormation EventBridge notifications, rather than
        # `event_bridge_enabled=True` (a custom resource backed by a Lambda): one fewer
        # function to deploy, and the local cloud creates it without running custom code.
        cfn_bucket = bucket.node.default_child
        cfn_bucket.notification_configuration = s3.CfnBucket.NotificationConfigurationProperty(
            event_bridge_configuration=s3.CfnBucket.EventBridgeConfigurationProperty(
                event_bridge_enabled=True))
        return bucket


def grant_objects(role: iam.IRole, bucket: s3.IBucket, *, read: list[str], write: list[str],
                  write_actions: list[str] | None = None) -> None:
    """Let `role` read the objects matching the patterns `read` and write (`s3:PutObject`,
    or `write_actions`) those matching `write`: only the prefixes a principal touches.

    ListBucket is granted too: it lets a missing key answer 404 (not 403) to HeadObject,
    which the steps read as "not written yet".
    """
    role.add_to_policy(iam.PolicyStatement(
        actions=["s3:GetObject"], resources=[bucket.arn_for_objects(p) for p in read]))
    role.add_to_policy(iam.PolicyStatement(
        actions=write_actions or ["s3:PutObject"],
        resources=[bucket.arn_for_objects(p) for p in write]))
    role.add_to_policy(iam.PolicyStatement(actions=["s3:ListBucket"],
                                           resources=[bucket.bucket_arn]))
