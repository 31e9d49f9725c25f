"""Update rules on arrays (no solves)."""

from __future__ import annotations

import numpy as np
import pytest

from seisless.errors import ImagingError
from seisless.inversion.update import (
    MAX_RETRIES,
    FwiBounds,
    acquisition_mask,
    bregman_update,
    check_step,
    fwi_retry,
    fwi_update,
    lsrtm_gradient_update,
    lsrtm_next_step,
    lsrtm_retry_step,
    lsrtm_step_length,
    quadratic_curvature,
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
    z, x, lam = bregman_update(np.zeros((2, 2)), grad, lsrtm_step_length(1.0, grad), lam=None)
    assert lam == pytest.approx(0.1 * np.abs(z).max())
    assert np.count_nonzero(x) == 1 and x[0, 0] > 0
    assert np.array_equal(soft_threshold(np.array([-2.0, 0.5, 3.0]), 1.0), [-1.0, 0.0, 2.0])
    assert lsrtm_gradient_update(np.zeros((2, 2)), grad, 0.1)[0, 0] == pytest.approx(1.0)


def test_bounds_are_validated() -> None:
    with pytest.raises(ImagingError):
        FwiBounds(vmin=2.0, vmax=1.0, max_dv=0.1)


def test_a_step_that_raises_the_objective_is_rejected_until_one_falls() -> None:
    assert check_step([5.0], []).accepted
    assert check_step([5.0, 4.0], [True]).base == 1
    rejected = check_step([5.0, 9.0], [True])
    assert (rejected.accepted, rejected.base, rejected.retries) == (False, 0, 1)
    again = check_step([5.0, 9.0, 6.0, 4.5], [True, False, False])
    assert (again.accepted, again.base) == (True, 3)
    assert check_step([5.0, 4.0, 4.5], [True, True]).base == 1  # from the last accepted
    assert check_step([5.0, 9.0], [True], comparable=False).accepted  # other shots
    with pytest.raises(ImagingError, match="shortened steps"):
        check_step([5.0, *[6.0] * (MAX_RETRIES + 1)], [True, *[False] * MAX_RETRIES])


def test_fwi_retry_halves_the_step_from_the_base() -> None:
    vp = np.full((5, 4), 2.0)
    grad = np.random.default_rng(1).standard_normal((5, 4))
    full, step = fwi_update(vp, grad, BOUNDS)
    half, half_step = fwi_retry(vp, grad, step, BOUNDS)
    assert half_step == step / 2
    np.testing.assert_allclose(1 / half.astype(float) ** 2 - 0.25,
                               0.5 * (1 / full.astype(float) ** 2 - 0.25), rtol=1e-4)


def _lsq(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """An ill-conditioned least-squares problem 0.5 ||J x - d||^2 (J^T J far from I)."""
    jac = rng.standard_normal((30, 12)) * np.geomspace(1.0, 30.0, 12)
    return jac, rng.standard_normal(30)


def test_lsrtm_steps_follow_the_quadratic() -> None:
    """The first-step rule overshoots the exact line search; the curvature measured from
    the objective after a step is exact, and the retry lands on the minimiser."""
    jac, d = _lsq(np.random.default_rng(2))
    phi = lambda x: 0.5 * float(np.sum((jac @ x - d) ** 2))  # noqa: E731
    x0 = np.zeros(12)
    g0 = jac.T @ (jac @ x0 - d)
    t_first = lsrtm_step_length(phi(x0), g0)
    exact = float(g0 @ g0) / float(np.sum((jac @ g0) ** 2))
    assert t_first >= exact
    x1 = lsrtm_gradient_update(x0, g0, t_first).astype(float)
    assert phi(x1) > phi(x0)  # the rise users saw
    dx = x1 - x0
    curvature = quadratic_curvature(phi(x0), g0, dx, phi(x1))
    assert curvature == pytest.approx(float(np.sum((jac @ dx) ** 2)), rel=1e-4)
    t_retry = lsrtm_retry_step(t_first, g0, dx, curvature)
    assert t_retry == pytest.approx(exact, rel=1e-4)
    x2 = x0 - t_retry * g0
    g2 = jac.T @ (jac @ x2 - d)
    assert phi(x2) < phi(x0)
    assert lsrtm_next_step(phi(x2), g2, (x2 - x0, float(np.sum((jac @ (x2 - x0)) ** 2)))) \
        == pytest.approx(exact, rel=1e-4)  # the last step's exact length, lagged


def test_the_cells_holding_sources_and_receivers_are_frozen() -> None:
    """Sources and receivers 10 m deep on a 10 m grid sit on row 1: rows 0-1 freeze;
    15 m deep, the interpolation also touches row 2."""
    assert np.array_equal(acquisition_mask((3, 5), 10.0, 0.0, 10.0)[0], [0, 0, 1, 1, 1])
    assert np.array_equal(acquisition_mask((3, 5), 10.0, 0.0, 15.0)[0], [0, 0, 0, 1, 1])
    assert np.array_equal(acquisition_mask((2, 2, 3), 10.0, -10.0, 0.0)[1, 1], [0, 0, 1])
