"""The deployable unit of the SEG-Y scan: data bucket + scan workflow, and its outputs."""

from __future__ import annotations

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from seisless.workflow.models import OUTPUT_BUCKET, OUTPUT_STATE_MACHINE
from stacks.scan import ScanWorkflow
from stacks.storage import DataBucket


class SeislessScanStack(Stack):
    """Upload a SEG-Y file under `incoming/` of the data bucket; find its scan under `scans/`."""

    def __init__(self, scope: Construct, construct_id: str, *,
                 default_max_concurrency: int = 1000, **kwargs) -> None:
        super().__init__(scope, construct_id, **kwargs)
        data = DataBucket(self, "Data")
        scan = ScanWorkflow(self, "Scan", bucket=data.bucket,
                            default_max_concurrency=default_max_concurrency)
        CfnOutput(self, OUTPUT_BUCKET, value=data.bucket.bucket_name,
                  description="Upload SEG-Y files to s3://<this>/incoming/; scans land in scans/")
        CfnOutput(self, OUTPUT_STATE_MACHINE, value=scan.state_machine.state_machine_arn,
                  description="The SEG-Y scan state machine (one execution per upload)")
        self.data = data
        self.scan = scan
