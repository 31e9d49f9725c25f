"""A job in which rank 1 alone fails while rank 0 waits for it (as in a halo exchange):
`python -m tests.imaging.mpi_fail`, run by tests/imaging/test_mpi.py on 2 ranks. Rank 1
must end both ranks (exit code 2) instead of leaving rank 0 waiting forever."""

from __future__ import annotations

import sys

from seisless.errors import ImagingError
from seisless.imaging import parallel
from seisless.inversion.jobs import run_entrypoint


def _job(_env: object) -> dict:
    comm = parallel.world()
    if comm.rank == 1:
        raise ImagingError("rank 1 failed alone")
    comm.Barrier()  # never completes: rank 1 is not coming
    return {}


if __name__ == "__main__":
    parallel.GRACE_SECONDS = 1.0
    comm = parallel.world()
    code = run_entrypoint(_job)
    parallel.end_job(comm, code)
    sys.exit(code)
