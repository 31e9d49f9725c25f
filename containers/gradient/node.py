"""Batch entrypoint of a node of a multi-node gradient job:
`python -m containers.gradient.node` (see `seisless.inversion.nodes`).

The main node starts the gradient entrypoint under `mpirun` once every node reported;
its exit code is the job's. The other nodes serve MPI until the main node is done.
"""

from __future__ import annotations

import sys

from seisless.inversion.nodes import main

if __name__ == "__main__":
    sys.exit(main())
