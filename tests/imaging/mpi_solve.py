"""One tiny 3-D FWI gradient per memory strategy, run by tests/imaging/test_mpi.py on 1
or 2 ranks: `python -m tests.imaging.mpi_solve OUT`. Rank 0 saves the gradients and
objectives to OUT/g_<strategy>.npy and OUT/phi.json; every rank saves the x rows of vp it
read to OUT/rows_<rank>.json (a rank must read only its slab)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from seisless.imaging import Model, Shot, gradient, parallel

SHAPE = (21, 17, 19)
STRATEGIES = {"snapshots": {"strategy": "snapshots", "factor": 3}, "full": {"strategy": "full"}}


class _Recorded:
    """vp read by rows, as `ArrayRows` reads it from the bucket, noting which rows."""

    def __init__(self, vp: np.ndarray) -> None:
        self.vp, self.shape, self.rows = vp, vp.shape, []

    def __getitem__(self, rows: slice) -> np.ndarray:
        self.rows.append((rows.start, rows.stop))
        return self.vp[rows]


def main(out: Path) -> None:
    vp = np.full(SHAPE, 1.5)
    vp[:, :, 10:] = 2.0
    vp[8:13, 6:11, 12:15] = 2.4
    recorded = _Recorded(vp)
    model = Model(recorded, (10.0, 10.0, 10.0), nbl=6, space_order=4)
    rec = np.stack(np.meshgrid(np.linspace(0, 200, 6), np.linspace(0, 160, 5), [20.0],
                               indexing="ij"), axis=-1).reshape(-1, 3)
    shot = Shot((90.0, 80.0, 20.0), rec, t1=250.0, dt=4.0, f0=0.015)
    observed = np.random.default_rng(0).standard_normal((shot.nt, shot.nrec))
    rank = 0 if model.comm is None else model.comm.rank
    (out / f"rows_{rank}.json").write_text(json.dumps(
        {"read": recorded.rows, "x_rows": [int(model.x_rows[0]), int(model.x_rows[-1])]}))
    phis = {}
    for name, options in STRATEGIES.items():
        phis[name], g = gradient(model, shot.with_data(observed), "fwi", **options)
        if parallel.is_root(model.comm):
            np.save(out / f"g_{name}.npy", g)
    if parallel.is_root(model.comm):
        (out / "phi.json").write_text(json.dumps(phis))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
