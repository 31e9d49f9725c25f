"""Starting a command on N MPI ranks with Open MPI's `mpirun`, for the tests of Devito's
domain decomposition (tests/imaging/test_mpi.py, tests/inversion/test_mpi_job.py).

Open MPI refuses to run as root unless told to (CI runs as root); `--oversubscribe` lets
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
    full = {**os.environ, **(env or {}), "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1",
            "DEVITO_LOGGING": "WARNING"}
    command = [sys.executable, *args]
    if ranks > 1:
        full.update({"DEVITO_MPI": "1", "OMPI_ALLOW_RUN_AS_ROOT": "1",
                     "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"})
        command = ["mpirun", "-np", str(ranks), "--oversubscribe", *command]
    else:
        full.pop("DEVITO_MPI", None)
    return subprocess.run(command, env=full, cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, check=False)
