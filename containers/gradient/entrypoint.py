"""Batch entrypoint of the per-shot gradient job: `python -m containers.gradient.entrypoint`.

Environment: SEISLESS_BUCKET, SEISLESS_RUN_ID, SEISLESS_ITERATION,
AWS_BATCH_JOB_ARRAY_INDEX (the shot's position in the iteration's list), REDUCE_QUEUE_URL;
SEISLESS_TRIAL makes it a line search's forward-only trial job (objectives only).
Threads follow the CPUs the job was given unless OMP_NUM_THREADS is set.

Under `mpirun -np N` with DEVITO_MPI=1 (a multi-node job's main node starts it) every
rank runs this module: all solve their slab of the model, rank 0 writes and announces
the leaf, and a rank's failure ends every rank (`seisless.imaging.parallel.end_job`).
"""

from __future__ import annotations

import os
import sys

# Before Devito is imported: it reads its configuration once.
os.environ.setdefault("OMP_NUM_THREADS", str(len(os.sched_getaffinity(0))))
os.environ.setdefault("DEVITO_LANGUAGE", "openmp")
os.environ.setdefault("DEVITO_LOGGING", "WARNING")

import boto3

from seisless.imaging import parallel
from seisless.inversion.documents import JobEnv
from seisless.inversion.jobs import run_entrypoint, run_gradient_job
from seisless.inversion.trials import run_trial_job


def _job(env: JobEnv) -> dict:
    if env.trial is not None:
        return run_trial_job(boto3.client("s3"), env)
    return run_gradient_job(boto3.client("s3"), boto3.client("sqs"), env)


def main() -> int:
    comm = parallel.world()
    code = run_entrypoint(_job)
    parallel.end_job(comm, code)
    return code


if __name__ == "__main__":
    sys.exit(main())
