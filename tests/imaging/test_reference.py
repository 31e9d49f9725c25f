"""Forward data of a layered model agree with Devito's examples solver on the same setup.

The two differ on purpose in details (our damping ramp starts one cell inside the layer,
the source is scaled by 1/(m + damp*dt) and the time step is rounded to divide the data
interval), so the check is physical: high correlation and the same arrival times.
"""

from __future__ import annotations

import numpy as np
import pytest

from seisless.imaging import Model, Shot, forward
from tests.helpers.models import layered

seismic = pytest.importorskip("examples.seismic", reason="Devito's examples need scipy")


def test_forward_matches_devito_examples_solver() -> None:
    from examples.seismic import AcquisitionGeometry
    from examples.seismic import Model as ExampleModel
    from examples.seismic.acoustic import AcousticWaveSolver

    vp = layered(81, 61, interface=30)
    rec = np.stack([np.linspace(0, 800, 41), np.full(41, 20.0)], axis=1)
    ref_model = ExampleModel(vp=vp, origin=(0.0, 0.0), spacing=(10.0, 10.0), shape=vp.shape,
                             space_order=4, nbl=30, bcs="damp")
    dt = ref_model.critical_dt
    geometry = AcquisitionGeometry(ref_model, rec, np.array([[400.0, 20.0]]), 0.0, 800.0,
                                   f0=0.015, src_type="Ricker")
    ref, _, _ = AcousticWaveSolver(ref_model, geometry, space_order=4).forward(dt=dt)
    ref_t = np.arange(ref.data.shape[0]) * dt
    ours = forward(Model(vp, (10.0, 10.0), nbl=30, space_order=4),
                   Shot((400.0, 20.0), rec, 800.0, 2.0, 0.015))
    t = np.arange(ours.shape[0]) * 2.0
    ref_on_ours = np.stack([np.interp(t, ref_t, ref.data[:, j]) for j in range(41)], axis=1)
    corr = np.sum(ours * ref_on_ours) / np.linalg.norm(ours) / np.linalg.norm(ref_on_ours)
    assert corr > 0.99
    for j in (0, 10, 20, 30, 40):  # first-break pick (peak) at the same sample
        assert abs(int(np.argmax(np.abs(ours[:, j]))) -
                   int(np.argmax(np.abs(ref_on_ours[:, j])))) <= 1
