"""MPI benchmark: strong scaling of one 3-D FWI gradient over 1 and 2 ranks (Devito's MPI
mode, x-slabs), and a modelled cost of the BP TTI data pass beside the paper's $425.

Cases, each in its own `mpirun` (or plain) process, best of `--runs` warm gradients after
one that compiles: 1 rank x 1 thread, 2 ranks x 1 thread (the 2 cores), and the 1-rank
2-thread reference (OpenMP on the same 2 cores). The load average is printed before and
after: on a busy machine the numbers are not worth keeping.

The cost model: a gradient costs `cells x steps x c` core-seconds, with c the measured
core-seconds per (padded cell x time step) of a 2-D TTI gradient (forward + adjoint,
snapshots) on one core; a shot on `instances` m5.xlarge (2 physical cores each) takes
that over `2 x instances x efficiency` cores, the efficiency being the measured 2-rank
one. The BP TTI figures that are not in the issue (record length, spacing, fastest
velocity, layer) are assumptions, printed with the result.

    PYTHONPATH=. python bench/mpi_bench.py            # the integrator's run (idle machine)
    PYTHONPATH=. python bench/mpi_bench.py --small    # seconds: proves the script works
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
#: m5.xlarge on-demand, Linux, us-east-1: USD per hour, AWS's published price as last
#: known to the author (2024; unchanged since the type's 2017 launch). Not fetched: the
#: bench runs offline; check it against the price list on the day of the run.
M5_XLARGE_USD_PER_HOUR = 0.192
M5_XLARGE_PRICE_DATE = "2024 (not re-checked)"
#: The paper's BP TTI case (issue 15): shots, grid, instances per gradient, $ per pass.
BP_SHOTS, BP_GRID, BP_INSTANCES, BP_PAPER_USD = 1641, (12596, 1801), 6, 425.0


def _worker(kind: str, n: int, t1: float, runs: int) -> None:
    """Run under mpirun or alone: `runs` + 1 gradients, rank 0 prints the seconds and
    the padded cells and time steps as JSON."""
    from seisless.imaging import Model, Shot, TTIModel, gradient
    from seisless.imaging.geometry import TimeAxes

    if kind == "acoustic3d":
        shape, h, nbl = (n, n, n), 10.0, 10
        vp = np.full(shape, 1.5)
        vp[..., n // 2:] = 2.0
        model = Model(vp, (h,) * 3, nbl=nbl, space_order=8)
        side = np.linspace(0, h * (n - 1), 8)
        rec = np.stack(np.meshgrid(side, side, [20.0], indexing="ij"), -1).reshape(-1, 3)
        src = (h * (n - 1) / 2, h * (n - 1) / 2, 20.0)
    else:  # tti2d: the BP case's physics, per cell-step
        shape, h, nbl = (4 * n, 2 * n), 10.0, 20
        vp = np.full(shape, 1.5)
        vp[:, n:] = 2.5
        below = np.zeros(shape)
        below[:, n:] = 1.0
        model = TTIModel(vp, (h, h), nbl=nbl, space_order=8, epsilon=0.2 * below,
                         delta=0.1 * below, theta=0.3 * below)
        rec = np.stack([np.linspace(0, h * (4 * n - 1), 101), np.full(101, 20.0)], -1)
        src = (h * (4 * n - 1) / 2, 20.0)
    shot = Shot(src, rec, t1=t1, dt=4.0, f0=0.010)
    shot = shot.with_data(np.random.default_rng(0).standard_normal((shot.nt, shot.nrec)))
    comm = model.comm
    seconds = []
    for _ in range(runs + 1):
        if comm is not None:
            comm.Barrier()
        start = time.perf_counter()
        gradient(model, shot, "fwi", strategy="snapshots", factor=4)
        if comm is not None:
            comm.Barrier()
        seconds.append(time.perf_counter() - start)
    if comm is None or comm.rank == 0:
        steps = TimeAxes.for_shot(shot, model.critical_dt()).nt_c
        print(json.dumps({"seconds": seconds[1:], "compile": seconds[0],
                          "cells": int(np.prod(model.padded_shape)), "steps": steps}))


def _case(kind: str, ranks: int, threads: int, args: argparse.Namespace) -> dict:
    from seisless.imaging.parallel import mpirun

    size = args.n if kind == "acoustic3d" else args.n2d
    command, env = mpirun(ranks, [sys.executable, __file__, "--worker", kind, "--n",
                                  str(size), "--t1", str(args.t1), "--runs", str(args.runs)],
                          {**os.environ, "PYTHONPATH": str(ROOT),
                           "OMP_NUM_THREADS": str(threads), "DEVITO_LANGUAGE": "openmp",
                           "DEVITO_LOGGING": "ERROR"}, oversubscribe=True)
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"{kind} on {ranks} rank(s) failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _bp_cost(core_s_per_cell_step: float, efficiency: float, args: argparse.Namespace
             ) -> None:
    from seisless.imaging.model import _cfl_coefficient

    nbl = 40
    cells = (BP_GRID[0] + 2 * nbl) * (BP_GRID[1] + 2 * nbl)
    dt_ms = _cfl_coefficient(8, 2) * args.bp_spacing / args.bp_vmax
    steps = int(np.ceil(args.bp_record_s * 1000.0 / dt_ms)) + 1
    cores = 2 * BP_INSTANCES * efficiency  # m5.xlarge: 4 vCPUs = 2 physical cores
    shot_s = cells * steps * core_s_per_cell_step / cores
    usd = BP_SHOTS * BP_INSTANCES * shot_s / 3600.0 * M5_XLARGE_USD_PER_HOUR
    print(f"\nBP TTI modelled cost (one data pass = {BP_SHOTS} gradients on "
          f"{BP_INSTANCES} m5.xlarge each, on demand):")
    print(f"  assumed: spacing {args.bp_spacing} m, record {args.bp_record_s} s, fastest "
          f"horizontal velocity {args.bp_vmax} km/s, space order 8, {nbl}-cell layer")
    print(f"  cells {cells:,} x steps {steps:,} (dt {dt_ms:.3f} ms) x "
          f"{core_s_per_cell_step:.3e} core-s per cell-step / ({2 * BP_INSTANCES} cores x "
          f"efficiency {efficiency:.2f}) = {shot_s:,.0f} s per gradient")
    print(f"  m5.xlarge ${M5_XLARGE_USD_PER_HOUR}/h (us-east-1 on demand, price of "
          f"{M5_XLARGE_PRICE_DATE}): ${usd:,.0f} per data pass; the paper: "
          f"${BP_PAPER_USD:,.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", choices=["acoustic3d", "tti2d"])
    parser.add_argument("--n", type=int, default=96, help="3-D cube side, cells")
    parser.add_argument("--n2d", type=int, default=100, help="2-D TTI: 4n x 2n cells")
    parser.add_argument("--t1", type=float, default=600.0, help="record length, ms")
    parser.add_argument("--runs", type=int, default=3, help="warm runs per case (best)")
    parser.add_argument("--small", action="store_true", help="tiny sizes: a smoke run")
    parser.add_argument("--bp-spacing", type=float, default=6.25)
    parser.add_argument("--bp-record-s", type=float, default=9.2)
    parser.add_argument("--bp-vmax", type=float, default=5.4)
    args = parser.parse_args()
    if args.worker:
        _worker(args.worker, args.n, args.t1, args.runs)  # `_case` passes the size as --n
        return
    if args.small:
        args.n, args.n2d, args.t1 = 32, 30, 200.0
    print(f"load average before: {os.getloadavg()}; cpus {os.cpu_count()}")
    results = {}
    for label, ranks, threads in (("1 rank x 1 thread", 1, 1), ("2 ranks x 1 thread", 2, 1),
                                  ("1 rank x 2 threads", 1, 2)):
        results[label] = _case("acoustic3d", ranks, threads, args)
        r = results[label]
        print(f"3-D {args.n}^3 (+layer) gradient, {label}: best {min(r['seconds']):.3f} s of "
              f"{len(r['seconds'])} warm runs {np.round(r['seconds'], 3).tolist()}, "
              f"compile+first {r['compile']:.1f} s")
    one = min(results["1 rank x 1 thread"]["seconds"])
    two = min(results["2 ranks x 1 thread"]["seconds"])
    omp = min(results["1 rank x 2 threads"]["seconds"])
    print(f"speed-up 2 ranks {one / two:.2f} (efficiency {one / two / 2:.2f}); "
          f"2 threads {one / omp:.2f}")
    tti = _case("tti2d", 1, 1, args)
    best = min(tti["seconds"])
    per = best / (tti["cells"] * tti["steps"])
    print(f"2-D TTI gradient, 1 core: {tti['cells']:,} cells x {tti['steps']} steps in "
          f"{best:.3f} s = {per:.3e} core-s per cell-step")
    _bp_cost(per, min(1.0, one / two / 2), args)
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
