"""TTI gradient benchmark: seisless's pseudo-acoustic TTI gradient (full save) against
Devito's examples `AnisotropicWaveSolver` (forward(save=True) + jacobian_adjoint) on
the same model and shot, in the same run.

Two layers with epsilon 0.1/0.25, delta 0.05/0.1 and a tilt of 0.3/-0.2 rad, one shot at
the surface, receivers every other cell, Ricker f0, space order 8, float32. Both take the
same time step (Devito's critical step for TTI, which seisless's TTIModel reproduces),
so both run the same number of steps. Each solver runs in its own process: one
compiling run, then the best of `--repeats` warm runs. The load average is printed
before and after: on a busy machine the ratio is the number to read, not the times.

    PYTHONPATH=. python bench/tti_bench.py                  # 401 x 201 cells, 1.5 s
    PYTHONPATH=. python bench/tti_bench.py --nx 101 --nz 61 --t1 500   # a quick check
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

H, NBL, SO, F0 = 10.0, 40, 8, 0.010


def _models(nx: int, nz: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Smooth (constant) vp for the gradient; layered anisotropy."""
    top = nz // 3
    aniso = {"epsilon": np.full((nx, nz), 0.1), "delta": np.full((nx, nz), 0.05),
             "theta": np.full((nx, nz), 0.3)}
    for name, value in {"epsilon": 0.25, "delta": 0.1, "theta": -0.2}.items():
        aniso[name][:, top:] = value
    return np.full((nx, nz), 1.5), aniso


def _geometry(nx: int) -> tuple[tuple[float, float], np.ndarray]:
    rec = np.stack([H * np.arange(0, nx, 2), np.full((nx + 1) // 2, 20.0)], axis=1)
    return (H * (nx // 2), 20.0), rec


def _ours(args: argparse.Namespace, workdir: str) -> list[float]:
    from devito import clear_cache

    from seisless.imaging import Shot, TTIModel, gradient

    vp, aniso = _models(args.nx, args.nz)
    src, rec = _geometry(args.nx)
    meta = json.loads(Path(workdir, "meta.json").read_text())
    shot = Shot(src, rec, meta["t1"], meta["dt"], F0,
                data=np.load(os.path.join(workdir, "observed.npy")))
    model = TTIModel(vp, (H, H), nbl=NBL, space_order=SO, **aniso)
    seconds = []
    for _ in range(args.repeats + 1):
        start = time.perf_counter()
        gradient(model, shot, strategy="full")
        seconds.append(time.perf_counter() - start)
        clear_cache()  # Devito keeps saved wavefields alive otherwise
    return seconds


def _examples(args: argparse.Namespace, workdir: str) -> list[float]:
    from devito import clear_cache
    from examples.seismic import AcquisitionGeometry, Model
    from examples.seismic.tti import AnisotropicWaveSolver

    vp, aniso = _models(args.nx, args.nz)
    src, rec = _geometry(args.nx)
    meta = json.loads(Path(workdir, "meta.json").read_text())
    model = Model(vp=vp, origin=(0.0, 0.0), spacing=(H, H), shape=vp.shape, space_order=SO,
                  nbl=NBL, bcs="damp", **aniso)
    # Devito's time axis takes ceil((tn + dt) / dt) samples: half a step less gives ours.
    geometry = AcquisitionGeometry(model, rec, np.array([src]), 0.0,
                                   meta["t1"] - meta["dt"] / 2, f0=F0, src_type="Ricker")
    solver = AnisotropicWaveSolver(model, geometry, space_order=SO)
    observed = 2 * np.load(os.path.join(workdir, "observed.npy"))  # it records u + v
    seconds = []
    for _ in range(args.repeats + 1):
        start = time.perf_counter()
        d, u0, v0, _ = solver.forward(save=True)
        d.data[:] -= observed
        solver.jacobian_adjoint(d, u0, v0)
        seconds.append(time.perf_counter() - start)
        del d, u0, v0
        clear_cache()
    return seconds


def _observed(args: argparse.Namespace, workdir: str) -> None:
    """Data of the layered vp on Devito's TTI time step (seisless's k = 1)."""
    from seisless.imaging import Shot, TTIModel, forward

    vp, aniso = _models(args.nx, args.nz)
    vp[:, args.nz // 3:] = 2.0
    src, rec = _geometry(args.nx)
    start = TTIModel(np.full_like(vp, 1.5), (H, H), nbl=NBL, space_order=SO, **aniso)
    dt = start.critical_dt()
    t1 = dt * round(args.t1 / dt)
    true = TTIModel(vp, (H, H), nbl=NBL, space_order=SO, **aniso)
    # the true model is faster: model it on the start's step, as the gradient will run
    data = forward(true, Shot(src, rec, t1, dt, F0))
    np.save(os.path.join(workdir, "observed.npy"), data)
    Path(workdir, "meta.json").write_text(json.dumps({"dt": dt, "t1": t1}))


def _child(case: str, args: argparse.Namespace, workdir: str) -> None:
    os.environ.setdefault("DEVITO_LOGGING", "WARNING")
    if case == "observed":
        _observed(args, workdir)
        return
    print(json.dumps(_examples(args, workdir) if case == "examples" else _ours(args, workdir)))


def _arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nx", type=int, default=401, help="physical cells along x")
    parser.add_argument("--nz", type=int, default=201, help="physical cells in depth")
    parser.add_argument("--t1", type=float, default=1500.0, help="record length, ms")
    parser.add_argument("--repeats", type=int, default=3, help="warm runs (best is kept)")
    parser.add_argument("--child", nargs=2, metavar=("CASE", "WORKDIR"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.repeats < 3 and args.child is None:
        parser.error("--repeats must be at least 3 (the best of three warm runs)")
    return args


def main(argv: list[str]) -> None:
    args = _arguments(argv)
    if args.child:
        _child(args.child[0], args, args.child[1])
        return
    passed = ["--nx", str(args.nx), "--nz", str(args.nz), "--t1", str(args.t1),
              "--repeats", str(args.repeats)]
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as workdir:
        def run(case: str) -> list[float]:
            out = subprocess.run([sys.executable, __file__, *passed, "--child", case, workdir],
                                 check=True, capture_output=True, text=True).stdout
            return json.loads(out.strip().splitlines()[-1]) if out.strip() else []

        run("observed")
        meta = json.loads(Path(workdir, "meta.json").read_text())
        rows = {"devito examples": run("examples"), "seisless": run("seisless")}
    load_after = os.getloadavg()
    steps = round(meta["t1"] / meta["dt"]) + 1
    print(f"TTI gradient, {args.nx} x {args.nz} cells + {NBL} absorbing, space order {SO}, "
          f"{steps} steps of {meta['dt']} ms, float32, OMP_NUM_THREADS="
          f"{os.environ.get('OMP_NUM_THREADS', 'unset')}")
    print(f"{'solver':16s} {'best warm s':>11s} {'first s':>8s}  warm runs")
    for name, seconds in rows.items():
        warm = ", ".join(f"{s:.2f}" for s in seconds[1:])
        print(f"{name:16s} {min(seconds[1:]):11.2f} {seconds[0]:8.2f}  {warm}")
    ratio = min(rows["seisless"][1:]) / min(rows["devito examples"][1:])
    print(f"seisless / devito examples: {ratio:.2f}")
    print("load average (1, 5, 15 min) before: " + ", ".join(f"{x:.2f}" for x in load_before)
          + "; after: " + ", ".join(f"{x:.2f}" for x in load_after))


if __name__ == "__main__":
    main(sys.argv[1:])
