"""Model updates from a summed gradient: FWI and LS-RTM.

Every rule is a pure function of arrays the run keeps in its bucket (the model and
gradient of this and the previous iteration, the Bregman variable), so any iteration can
be re-run from its inputs and gives the same bytes.

- FWI: projected gradient descent on squared slowness with Barzilai-Borwein steps; the
  first step (and any step whose BB curvature is not positive) is scaled so the largest
  velocity change is `max_dv`; every step is capped at that change; velocities are
  clipped to [vmin, vmax]; an optional mask (0 in the water layer) freezes cells.
- LS-RTM: the linearized Bregman method (Witte et al.): z <- z - t g,
  x <- soft(z, lambda), t = ||r||^2 / ||g||^2, lambda fixed at the first iteration as a
  fraction of max|z|. The sparsifying transform is the identity: no curvelet library is
  among the project's dependencies. A plain gradient step with the same t is also given.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from seisless.errors import ImagingError


@dataclass(frozen=True)
class FwiBounds:
    """Velocity bounds and the largest change of one step, all in km/s."""

    vmin: float
    vmax: float
    max_dv: float

    def __post_init__(self) -> None:
        if not 0 < self.vmin < self.vmax or self.max_dv <= 0:
            raise ImagingError(f"need 0 < vmin < vmax and max_dv > 0, got {self}")


def _scaled_step(vp: np.ndarray, direction: np.ndarray, max_dv: float) -> float:
    """Step length along -direction (in m) whose largest velocity change is max_dv
    (to first order, dvp = -vp^3/2 dm)."""
    dv_per_step = np.max(np.abs(0.5 * vp**3 * direction))
    if dv_per_step == 0:
        return 0.0
    return float(max_dv / dv_per_step)


def fwi_update(vp: np.ndarray, grad: np.ndarray, bounds: FwiBounds,
               previous: tuple[np.ndarray, np.ndarray] | None = None,
               mask: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """One projected BB gradient step of FWI.

    Parameters
    ----------
    vp : ndarray
        Current velocity (km/s).
    grad : ndarray
        Gradient with respect to squared slowness at `vp`.
    bounds : FwiBounds
        Velocity bounds and step cap.
    previous : (vp, grad), optional
        The previous iteration's velocity and gradient (for the BB step).
    mask : ndarray, optional
        Multiplies the gradient (0 freezes a cell, e.g. water).

    Returns
    -------
    vp_new : ndarray
    step : float
        The step taken along -grad (in (s^2/km^2) per gradient unit).
    """
    if grad.shape != vp.shape or (mask is not None and mask.shape != vp.shape):
        raise ImagingError(f"gradient {grad.shape} / mask shapes do not match the model "
                           f"{vp.shape}")
    g = grad if mask is None else grad * mask
    m = 1.0 / vp.astype(np.float64) ** 2
    cap = _scaled_step(vp, g, bounds.max_dv)
    step = cap
    if previous is not None:
        s = (m - 1.0 / previous[0].astype(np.float64) ** 2).ravel()
        y = (g - (previous[1] if mask is None else previous[1] * mask)).ravel()
        curvature = float(s @ y)
        if curvature > 0:
            step = min(float(s @ s) / curvature, cap)
    m_new = np.clip(m - step * g, 1.0 / bounds.vmax**2, 1.0 / bounds.vmin**2)
    return (1.0 / np.sqrt(m_new)).astype(np.float32), step


def lsrtm_step_length(objective: float, grad: np.ndarray) -> float:
    """t = ||r||^2 / ||g||^2 with ||r||^2 = 2 phi (exact line search for a linear model
    when g is the residual's back-projection)."""
    norm = float(np.sum(np.asarray(grad, dtype=np.float64) ** 2))
    return 0.0 if norm == 0 else 2.0 * objective / norm


def soft_threshold(z: np.ndarray, lam: float) -> np.ndarray:
    return np.sign(z) * np.maximum(np.abs(z) - lam, 0.0)


def bregman_update(z: np.ndarray, grad: np.ndarray, objective: float,
                   lam: float | None, lam_fraction: float = 0.1,
                   ) -> tuple[np.ndarray, np.ndarray, float]:
    """One linearized Bregman iteration.

    Parameters
    ----------
    z : ndarray
        The dual (unthresholded) variable.
    grad : ndarray
        LS-RTM gradient at the current image soft(z, lam).
    objective : float
        0.5 ||J x - d||^2 at the current image.
    lam : float or None
        Threshold; None on the first iteration, where it becomes
        `lam_fraction * max|z_new|`.

    Returns
    -------
    z_new, x_new : ndarray
    lam : float
    """
    z_new = z - lsrtm_step_length(objective, grad) * grad
    if lam is None:
        lam = lam_fraction * float(np.max(np.abs(z_new)))
    return z_new.astype(np.float32), soft_threshold(z_new, lam).astype(np.float32), lam


def lsrtm_gradient_update(x: np.ndarray, grad: np.ndarray, objective: float) -> np.ndarray:
    """A steepest-descent step with the exact step length of the quadratic objective
    along -g when J^T J is close to a scaled identity (t = ||r||^2/||g||^2)."""
    return (x - lsrtm_step_length(objective, grad) * grad).astype(np.float32)
