"""The examples' earth models are ones the TTI solver accepts, and the sources sit where
the pseudo-acoustic system has no spurious mode (isotropic water). The examples themselves
run through the local cloud (`python -m seisless.examples`), minutes each."""

from __future__ import annotations

import numpy as np

from seisless import examples
from seisless.imaging import survey


def test_the_tilted_earth_is_stable_and_isotropic_in_the_water() -> None:
    spec = survey.LineSpec(nx=61, nz=41, water_cells=6)
    earth = examples.tilted_earth(spec)
    for fields in ({"epsilon": earth.epsilon, "delta": earth.delta, "theta": earth.theta},
                   examples.migration_model(earth)):
        assert np.all(fields["delta"] <= fields["epsilon"])
        for name in ("epsilon", "delta", "theta"):
            assert not fields[name][:, :spec.water_cells].any(), name
    assert np.all(earth.vp[:, :spec.water_cells] == 1.5)
    assert earth.theta.max() == np.float32(examples.DIP)


def test_an_unknown_example_is_refused() -> None:
    assert examples.main(["no-such-example"]) == 2
