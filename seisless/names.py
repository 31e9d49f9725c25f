"""Names shared by the CDK app, the handlers, the jobs and the client.

Dependency-free on purpose: `stacks/` (CDK), `lambdas/`, `containers/` and
`seisless.client` all import it, so a name changed here changes everywhere at once.
"""

from __future__ import annotations

#: The one CloudFormation stack holding storage, the scan and the imaging workflows.
STACK_NAME = "Seisless"

# CloudFormation outputs by which a client finds the deployed resources.
OUTPUT_BUCKET = "DataBucketName"
OUTPUT_SCAN_STATE_MACHINE = "ScanStateMachineArn"
OUTPUT_IMAGING_STATE_MACHINE = "ImagingStateMachineArn"

# Bucket prefixes (keys under them are built only by ScanKeys / RunKeys).
INCOMING_PREFIX = "incoming/"
SCANS_PREFIX = "scans/"
RUNS_PREFIX = "runs/"

# Environment variables of the Lambda functions and Batch jobs.
ENV_BUCKET = "SEISLESS_BUCKET"
ENV_RUN_ID = "SEISLESS_RUN_ID"
ENV_ITERATION = "SEISLESS_ITERATION"
ENV_REDUCE_QUEUE_URL = "REDUCE_QUEUE_URL"
#: Set on the gradient image's line-search jobs: the trial whose objective they compute.
ENV_TRIAL = "SEISLESS_TRIAL"
#: Set by AWS Batch in every child of an array job.
ENV_ARRAY_INDEX = "AWS_BATCH_JOB_ARRAY_INDEX"
#: A multi-node gradient job's place among the iteration's jobs (Batch sets no array index
#: there, and reserves AWS_BATCH_* names, so the state machine passes this one).
ENV_JOB_INDEX = "SEISLESS_JOB_INDEX"
