"""Domain decomposition of one shot's solve over MPI ranks (Devito's MPI mode).

A gradient job started by `mpirun -np N` with `DEVITO_MPI=1` runs the same code on every
rank: Devito splits each grid into N slabs along x (`topology`), every rank fills and
solves its own slab, and rank 0 alone writes what the job produces. Without `DEVITO_MPI`
(or with one rank) `world()` is None and nothing here touches MPI, so the one-process
job is unchanged. Devito itself imports mpi4py when installed but initialises MPI only
in its MPI mode; this module reaches MPI through Devito and never initialises it
otherwise.
"""

from __future__ import annotations

import atexit
import os
import sys
import time
from collections.abc import Mapping
from typing import Any

import numpy as np

#: Seconds a failing rank waits for the others to fail too before it aborts them all.
GRACE_SECONDS = 60.0
#: The rank that writes the leaf, its sidecar and tombstones, and announces them.
ROOT = 0


def mpirun(ranks: int, command: list[str], env: Mapping[str, str], *,
           oversubscribe: bool = False) -> tuple[list[str], dict[str, str]]:
    """(argv, environment) that start `command` on `ranks` ranks in Devito's MPI mode;
    for one rank `command` alone, without it. Open MPI refuses to start as root unless
    told to (CI runs as root; the image's user is not root, where this is harmless);
    `oversubscribe` lets more ranks than cores share a machine."""
    full = dict(env)
    if ranks <= 1:
        full.pop("DEVITO_MPI", None)
        return list(command), full
    full.update({"DEVITO_MPI": "1", "OMPI_ALLOW_RUN_AS_ROOT": "1",
                 "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"})
    extra = ["--oversubscribe"] if oversubscribe else []
    return ["mpirun", "-np", str(ranks), *extra, *command], full


def world() -> Any | None:
    """MPI_COMM_WORLD when Devito's MPI mode is on and more than one rank runs, else
    None (MPI is then never initialised; without DEVITO_MPI, Devito is not imported)."""
    if os.environ.get("DEVITO_MPI", "0") in ("0", ""):
        return None
    from devito import configuration

    if not configuration["mpi"]:
        return None
    from devito.mpi import MPI

    if not MPI.Is_initialized():
        MPI.Init()
        atexit.register(MPI.Finalize)  # Devito finalises only what it initialised
    comm = MPI.COMM_WORLD
    return comm if comm.size > 1 else None


def topology(ndim: int) -> tuple[int, ...] | None:
    """Devito's process grid for an `ndim` model: all ranks along x, so each rank holds a
    contiguous x-slab (one ranged read of a C-order model). None without MPI."""
    comm = world()
    return None if comm is None else (comm.size,) + (1,) * (ndim - 1)


def is_root(comm: Any | None) -> bool:
    return comm is None or comm.rank == ROOT


def global_min_max(comm: Any | None, lo: float, hi: float) -> tuple[float, float]:
    """(min of `lo`, max of `hi`) over the ranks: checks of a model every rank read a
    slab of, so all ranks reach the same verdict (and raise the same error)."""
    if comm is None:
        return lo, hi
    from devito.mpi import MPI

    return comm.allreduce(lo, op=MPI.MIN), comm.allreduce(hi, op=MPI.MAX)


def gather_columns(comm: Any | None, local: np.ndarray) -> np.ndarray:
    """The columns (sparse points) of a `(nt, npoint)` array each rank owns a contiguous
    block of, in rank order, on every rank: the receivers' traces, which every rank
    needs to inject the residual."""
    if comm is None:
        return np.asarray(local)
    return np.concatenate(comm.allgather(np.asarray(local)), axis=1)


def end_job(comm: Any | None, exit_code: int) -> None:
    """End every rank of a job in which this rank failed with `exit_code`. A typed error
    every rank meets (a bad model, a refused strategy) reaches all of them: they meet in
    a barrier, and rank 0 has written the shot's tombstone by then. An error on this
    rank alone leaves the others waiting in a halo exchange; after `GRACE_SECONDS` it
    aborts them rather than let the job hang."""
    if comm is None or exit_code == 0:
        return
    sys.stdout.flush()
    sys.stderr.flush()
    request = comm.Ibarrier()
    deadline = time.monotonic() + GRACE_SECONDS
    while not request.Test() and time.monotonic() < deadline:
        time.sleep(0.05)
    comm.Abort(exit_code)
