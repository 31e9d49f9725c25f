"""Stands in for the gradient entrypoint under `mpirun` in tests: each rank writes what
it was started with to $PROBE_DIR/rank-<rank>.json (Open MPI names the rank in
OMPI_COMM_WORLD_RANK), and exits with $PROBE_EXIT (default 0)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

if __name__ == "__main__":
    rank = os.environ.get("OMPI_COMM_WORLD_RANK", "none")
    names = ("DEVITO_MPI", "OMP_NUM_THREADS", "SEISLESS_RUN_ID", "SEISLESS_JOB_INDEX",
             "OMPI_COMM_WORLD_SIZE")
    Path(os.environ["PROBE_DIR"], f"rank-{rank}.json").write_text(
        json.dumps({n: os.environ.get(n) for n in names}))
    sys.exit(int(os.environ.get("PROBE_EXIT", "0")))
