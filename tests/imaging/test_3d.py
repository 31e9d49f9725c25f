"""3-D: the same operators on a tiny cube; the Born pair stays adjoint."""

from __future__ import annotations

import numpy as np

from seisless.imaging import Model, Shot, born, gradient


def test_born_pair_is_adjoint_in_3d() -> None:
    vp = np.full((15, 13, 15), 1.5)
    vp[:, :, 8:] = 2.0
    model = Model(vp, (10.0, 10.0, 10.0), nbl=8, space_order=4, dtype=np.float64)
    rec = np.stack(np.meshgrid(np.linspace(0, 140, 5), np.linspace(0, 120, 4), [10.0],
                               indexing="ij"), axis=-1).reshape(-1, 3)
    shot = Shot((70.0, 60.0, 10.0), rec, t1=200.0, dt=4.0, f0=0.02)
    rng = np.random.default_rng(3)
    dm = rng.standard_normal(vp.shape)
    r = rng.standard_normal((shot.nt, shot.nrec))
    _, g = gradient(model, shot.with_data(r), "lsrtm", strategy="checkpointing",
                    memory_budget=1)
    lhs, rhs = np.sum(born(model, shot, dm) * r), -np.sum(dm * g)
    assert g.shape == vp.shape
    assert abs(lhs - rhs) <= 1e-12 * abs(lhs)
