"""Batch entrypoint of the model update job: `python -m containers.update.entrypoint`.

Environment: SEISLESS_BUCKET, SEISLESS_RUN_ID, SEISLESS_ITERATION.
"""

from __future__ import annotations

import sys

import boto3

from seisless.errors import SeislessError
from seisless.imaging.config import JobEnv
from seisless.imaging.jobs import run_update_job


def main() -> int:
    try:
        result = run_update_job(boto3.client("s3"), JobEnv.from_environ())
    except SeislessError as err:
        print(f"{err.code}: {err}", file=sys.stderr)
        return err.exit_code
    print(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
