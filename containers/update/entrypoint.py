"""Batch entrypoint of the model update job: `python -m containers.update.entrypoint`.

Environment: SEISLESS_BUCKET, SEISLESS_RUN_ID, SEISLESS_ITERATION.
"""

from __future__ import annotations

import sys

import boto3

from seisless.inversion.jobs import run_entrypoint, run_update_job


def main() -> int:
    return run_entrypoint(lambda env: run_update_job(boto3.client("s3"), env))


if __name__ == "__main__":
    sys.exit(main())
