"""The deployable unit: data bucket + SEG-Y scan workflow + imaging workflow, and outputs.

Its name is `seisless.names.STACK_NAME` (`Seisless`): clients find the outputs below by
that name.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from seisless.names import (
    INCOMING_PREFIX,
    OUTPUT_BUCKET,
    OUTPUT_IMAGING_STATE_MACHINE,
    OUTPUT_SCAN_STATE_MACHINE,
    SCANS_PREFIX,
)
from stacks.imaging import ImagingWorkflow
from stacks.monitoring import Monitoring
from stacks.scan import ScanWorkflow
from stacks.settings import OperationsSettings
from stacks.storage import DataBucket


class SeislessStack(Stack):
    """Upload a SEG-Y file under `incoming/` of the data bucket; find its scan under `scans/`;
    image it by starting the imaging state machine; find the run under `runs/`."""

    def __init__(self, scope: Construct, construct_id: str, *,
                 default_max_concurrency: int = 1000, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        ops = OperationsSettings.from_context(self)
        data = DataBucket(self, "Data")
        scan = ScanWorkflow(self, "Scan", bucket=data.bucket,
                            default_max_concurrency=default_max_concurrency,
                            max_concurrency=ops.max_scan_concurrency)
        CfnOutput(self, OUTPUT_BUCKET, value=data.bucket.bucket_name,
                  description=f"Upload SEG-Y files to s3://<this>/{INCOMING_PREFIX}; "
                              f"scans land in {SCANS_PREFIX}")
        CfnOutput(self, OUTPUT_SCAN_STATE_MACHINE, value=scan.state_machine.state_machine_arn,
                  description="The SEG-Y scan state machine (one execution per upload)")
        imaging = ImagingWorkflow(self, "Imaging", bucket=data.bucket,
                                  reducer_concurrency=ops.reducer_concurrency)
        CfnOutput(self, OUTPUT_IMAGING_STATE_MACHINE,
                  value=imaging.state_machine.state_machine_arn,
                  description="The imaging state machine (FWI / LS-RTM / RTM runs)")
        self.monitoring = Monitoring(self, "Monitoring", scan=scan, imaging=imaging,
                                     alarm_email=ops.alarm_email)
        self.imaging = imaging
        self.data = data
        self.scan = scan
