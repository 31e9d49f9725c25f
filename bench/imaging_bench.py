"""Imaging benchmark: time per gradient and peak memory per memory strategy, against
Devito's examples `AcousticWaveSolver` gradient (full save) in the same run.

481 x 281 grid points including a 40-point absorbing layer (401 x 201 physical, 10 m),
two layers, one shot, 2 s record at 4 ms, Ricker 10 Hz, space order 8, float32.
Each case runs in its own process (peak RSS is per process); the time is the second
(warm, compiled) of two gradients.

    PYTHONPATH=. python bench/imaging_bench.py
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

NX, NZ, NBL, H, T1, DT, F0, SO = 401, 201, 40, 10.0, 2000.0, 4.0, 0.010, 8


def _vp(smooth: bool) -> np.ndarray:
    vp = np.full((NX, NZ), 1.5)
    vp[:, 60:] = 2.0 if not smooth else 1.5
    vp[:, 130:] = 2.5 if not smooth else 1.5
    return vp


def _geometry() -> tuple[tuple[float, float], np.ndarray]:
    rec = np.stack([np.linspace(0, H * (NX - 1), 201), np.full(201, 20.0)], axis=1)
    return (H * (NX - 1) / 2, 20.0), rec


def _ours(strategy: str, workdir: str) -> dict[str, float]:
    from devito import clear_cache

    from seisless.imaging import Model, Shot, gradient

    src, rec = _geometry()
    observed = np.load(os.path.join(workdir, "observed.npy"))
    shot = Shot(src, rec, T1, DT, F0, data=observed)
    model = Model(_vp(smooth=True), (H, H), nbl=NBL, space_order=SO)
    options = {"strategy": strategy}
    if strategy == "snapshots":
        options["factor"] = 8
    if strategy == "checkpointing":
        options["memory_budget"] = 40 * int(np.prod(model.padded_shape)) * 4
    seconds = []
    for _ in range(2):
        start = time.perf_counter()
        _, g = gradient(model, shot, **options)
        seconds.append(time.perf_counter() - start)
        clear_cache()  # Devito keeps saved wavefields alive otherwise
    np.save(os.path.join(workdir, f"g-{strategy}.npy"), g)
    return {"seconds": seconds[-1], "first": seconds[0]}


def _examples(workdir: str) -> dict[str, float]:
    from devito import clear_cache
    from examples.seismic import AcquisitionGeometry, Model
    from examples.seismic.acoustic import AcousticWaveSolver

    src, rec = _geometry()
    model = Model(vp=_vp(smooth=True), origin=(0.0, 0.0), spacing=(H, H), shape=(NX, NZ),
                  space_order=SO, nbl=NBL, bcs="damp")
    geometry = AcquisitionGeometry(model, rec, np.array([src]), 0.0, T1, f0=F0,
                                   src_type="Ricker")
    solver = AcousticWaveSolver(model, geometry, space_order=SO)
    observed = np.load(os.path.join(workdir, "observed.npy"))
    t = np.arange(observed.shape[0]) * DT
    seconds = []
    for _ in range(2):
        start = time.perf_counter()
        d, u, _ = solver.forward(save=True)
        times = geometry.time_axis.time_values
        d.data[:] -= np.stack([np.interp(times, t, observed[:, j])
                               for j in range(observed.shape[1])], axis=1)
        solver.jacobian_adjoint(d, u)
        seconds.append(time.perf_counter() - start)
        del d, u
        clear_cache()
    return {"seconds": seconds[-1], "first": seconds[0]}


def _child(case: str, workdir: str) -> None:
    os.environ.setdefault("DEVITO_LOGGING", "WARNING")
    if case == "observed":
        from seisless.imaging import Model, Shot, forward

        src, rec = _geometry()
        model = Model(_vp(smooth=False), (H, H), nbl=NBL, space_order=SO)
        np.save(os.path.join(workdir, "observed.npy"), forward(model, Shot(src, rec, T1, DT,
                                                                           F0)))
        return
    result = _examples(workdir) if case == "examples" else _ours(case, workdir)
    result["peak_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps(result))


def main() -> None:
    with tempfile.TemporaryDirectory() as workdir:
        run = [sys.executable, __file__, "--child"]
        subprocess.run([*run, "observed", workdir], check=True)
        rows = {}
        for case in ("examples", "full", "snapshots", "checkpointing"):
            out = subprocess.run([*run, case, workdir], check=True, capture_output=True,
                                 text=True).stdout
            rows[case] = json.loads(out.strip().splitlines()[-1])
        full = np.load(os.path.join(workdir, "g-full.npy"))
        ref = rows["examples"]
        print(f"{'case':15s} {'warm s':>8s} {'first s':>8s} {'peak GB':>8s} "
              f"{'vs ref mem':>10s} {'rel err':>9s}")
        for case, row in rows.items():
            err = ("-" if case == "examples" else
                   f"{np.linalg.norm(np.load(os.path.join(workdir, f'g-{case}.npy')) - full) / np.linalg.norm(full):.2e}")  # noqa: E501
            print(f"{case:15s} {row['seconds']:8.2f} {row['first']:8.2f} "
                  f"{row['peak_bytes'] / 1e9:8.2f} {ref['peak_bytes'] / row['peak_bytes']:9.1f}x"
                  f" {err:>9s}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _child(sys.argv[2], sys.argv[3])
    else:
        main()
