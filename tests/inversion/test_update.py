"""Update rules on arrays (no solves)."""

from __future__ import annotations

import numpy as np
import pytest

from seisless.errors import ImagingError
from seisless.inversion.update import (
    FwiBounds,
    bregman_update,
    fwi_update,
    lsrtm_gradient_update,
    soft_threshold,
)

BOUNDS = FwiBounds(vmin=1.4, vmax=3.0, max_dv=0.1)


def test_first_fwi_step_changes_velocity_by_max_dv() -> None:
    vp = np.full((5, 4), 2.0)
    grad = np.random.default_rng(0).standard_normal((5, 4))
    new, _ = fwi_update(vp, grad, BOUNDS)
    assert np.max(np.abs(new - vp)) == pytest.approx(0.1, rel=0.1)  # first order in dv


def test_fwi_respects_mask_and_bounds() -> None:
    vp = np.full((5, 4), 1.45)
    mask = np.ones((5, 4))
    mask[:, 0] = 0
    new, _ = fwi_update(vp, -np.ones((5, 4)), BOUNDS, mask=mask)  # -grad: slower
    assert np.all(new[:, 0] == np.float32(1.45)) and new.min() >= np.float32(1.4)


def test_bb_step_solves_a_quadratic() -> None:
    """On phi(m) = 0.5 ||m - m*||^2 the BB step is 1: it lands on m* exactly."""
    m_star = np.full((4, 4), 1 / 2.0**2)
    vp0 = np.full((4, 4), 2.3)
    vp1, _ = fwi_update(vp0, 1 / vp0**2 - m_star, FwiBounds(1.0, 5.0, 0.05))
    vp2, step = fwi_update(vp1, 1 / vp1.astype(float) ** 2 - m_star, FwiBounds(1.0, 5.0, 1.0),
                           previous=(vp0, 1 / vp0**2 - m_star))
    assert step == pytest.approx(1.0, rel=1e-4)
    assert np.allclose(vp2, 2.0, atol=1e-4)


def test_bregman_threshold_and_sparsity() -> None:
    grad = np.array([[-10.0, 0.5], [0.1, 0.0]])
    z, x, lam = bregman_update(np.zeros((2, 2)), grad, objective=1.0, lam=None)
    assert lam == pytest.approx(0.1 * np.abs(z).max())
    assert np.count_nonzero(x) == 1 and x[0, 0] > 0
    assert np.array_equal(soft_threshold(np.array([-2.0, 0.5, 3.0]), 1.0), [-1.0, 0.0, 2.0])
    assert lsrtm_gradient_update(np.zeros((2, 2)), grad, 1.0)[0, 0] > 0


def test_bounds_are_validated() -> None:
    with pytest.raises(ImagingError):
        FwiBounds(vmin=2.0, vmax=1.0, max_dv=0.1)
