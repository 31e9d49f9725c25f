"""Starting a command on N MPI ranks with Open MPI's `mpirun`, for the tests of Devito's
domain decomposition (tests/imaging/test_mpi.py, tests/inversion/test_mpi_job.py).

The command line is the library's (`seisless.imaging.parallel.mpirun`), oversubscribed so
2 ranks share a machine with fewer cores; one OpenMP thread per rank keeps them from
fighting over those cores.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from seisless.imaging.parallel import mpirun

ROOT = Path(__file__).resolve().parents[2]

#: Skip a module's tests only where Open MPI is missing (.ci/run installs it).
needs_mpirun = pytest.mark.skipif(
    shutil.which("mpirun") is None,
    reason="Open MPI's mpirun is not installed (apt-get install openmpi-bin "
           "libopenmpi-dev; .ci/run installs it)")


def run_ranks(ranks: int, args: list[str], env: dict[str, str] | None = None,
              timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """`python <args>` from the repository root: under `mpirun -np ranks` with Devito's
    MPI mode when ranks > 1, else one plain process (the single-process job)."""
    command, full = mpirun(ranks, [sys.executable, *args], {
        **os.environ, **(env or {}), "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1",
        "DEVITO_LOGGING": "WARNING"}, oversubscribe=True)
    return subprocess.run(command, env=full, cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, check=False)
