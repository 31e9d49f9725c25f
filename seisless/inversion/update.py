"""Model updates from a summed gradient: FWI and LS-RTM, and the check of every step.

Every rule is a pure function of arrays the run keeps in its bucket (the model and
gradient of this and the previous iterations, the Bregman variable), so any iteration can
be re-run from its inputs and gives the same bytes.

- Step check: each iteration's objective is that of the iterate the previous update
  produced. If it is above the objective of the last accepted iterate (the *base*), that
  step is rejected: the next iterate is the base stepped again with a shorter step, and
  the rejected iterate's gradient is never used. After `MAX_RETRIES` shortened steps in
  a row the run stops with an `ImagingError` saying what to change. Objectives from
  different shot sets (random subsets, tombstoned shots) are not comparable and are not
  checked.
- FWI: projected gradient descent on squared slowness with Barzilai-Borwein steps; the
  first step (and any step whose BB curvature is not positive) is scaled so the largest
  velocity change is `max_dv`; every step is capped at that change; velocities are
  clipped to [vmin, vmax]; the cells holding the sources or receivers and an optional
  mask (0 in the water layer) are frozen. A rejected step is halved. This is
  `fwi.optimizer` "bb" (the default); "lbfgs" and "cg" search along their direction within
  the iteration instead (`seisless.inversion.propose`, `.search`, `.trials`).
- LS-RTM: phi(x) = 0.5 ||J x - d||^2 is quadratic in the image x, so the objective at a
  step d from the base gives its curvature exactly: ||J d||^2 = 2 (phi(x + d) - phi(x) -
  <g, d>). The first step length is t = ||r||^2 / ||g||^2 (Witte et al.), which is never
  below the exact line-search step ||g||^2 / ||J g||^2 (Cauchy-Schwarz) and raises the
  objective once it is more than twice it; later steps use the exact step of the last
  step's curvature, t = ||d||^2 / ||J d||^2, and a rejected step is shortened to the
  exact minimiser along it. Methods: the linearized Bregman method (z <- z - t g,
  x <- C^T soft(C z, lambda) with C a tight frame of `seisless.inversion.sparsity`: the
  identity, an orthogonal wavelet or curvelets; lambda fixed by the first step as a
  fraction of max|C z|), or plain gradient steps.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from seisless.errors import ImagingError
from seisless.inversion.sparsity import Frame, IdentityFrame, soft_threshold

#: Shortened steps in a row before a run stops (FWI: the step is then 1/32 of the one
#: that first failed).
MAX_RETRIES = 5
#: The shortest LS-RTM retry, as a fraction of the rejected step: the minimiser along
#: the step is exact for gradient steps and an estimate under the Bregman threshold, and
#: rounding must not turn it into no step at all.
MIN_RETRY_FRACTION = 0.01


@dataclass(frozen=True)
class FwiBounds:
    """Velocity bounds and the largest change of one step, all in km/s."""

    vmin: float
    vmax: float
    max_dv: float

    def __post_init__(self) -> None:
        if not 0 < self.vmin < self.vmax or self.max_dv <= 0:
            raise ImagingError(f"need 0 < vmin < vmax and max_dv > 0, got {self}")


@dataclass(frozen=True)
class StepCheck:
    """The verdict on the newest iterate: accepted or not, and where the next step
    starts (the newest iterate if accepted, else the last accepted one)."""

    accepted: bool
    base: int
    retries: int


def check_step(objective: Sequence[float], accepted: Sequence[bool], *,
               comparable: bool = True, what: str = "the run") -> StepCheck:
    """Judge iterate k = len(objective) - 1 against the last accepted one.

    Parameters
    ----------
    objective : sequence of float
        The objective of every iterate so far, the newest last.
    accepted : sequence of bool
        The verdicts on all but the newest.
    comparable : bool
        False when the newest objective was measured on other shots than the base's;
        it is then accepted unchecked.
    what : str
        Names the run in the error.
    """
    k = len(objective) - 1
    if len(accepted) != k or k < 0:
        raise ImagingError(f"{what}: {len(objective)} objectives but {len(accepted)} "
                           "verdicts; the history is inconsistent")
    earlier = [i for i in range(k) if accepted[i]]
    if not earlier or not comparable or objective[k] <= objective[earlier[-1]]:
        return StepCheck(True, k, 0)
    base = earlier[-1]
    retries = k - base
    if retries > MAX_RETRIES:
        raise ImagingError(
            f"{what}: the objective rose after {MAX_RETRIES} shortened steps from iteration "
            f"{base} (objective {objective[base]:.6g}, now {objective[k]:.6g}); the "
            "gradient does not point downhill: check the starting model and the data's "
            "geometry (origin_x, depths), mask the water (fwi.mask_key), lower "
            "acquisition.f0 or fwi.max_dv")
    return StepCheck(False, base, retries)


def scaled_step(vp: np.ndarray, direction: np.ndarray, max_dv: float) -> float:
    """Step length along -direction (in m) whose largest velocity change is max_dv
    (to first order, dvp = -vp^3/2 dm)."""
    dv_per_step = np.max(np.abs(0.5 * vp**3 * direction))
    if dv_per_step == 0:
        return 0.0
    return float(max_dv / dv_per_step)


def acquisition_mask(shape: tuple[int, ...], depth_spacing: float, depth_origin: float,
                     depth: float) -> np.ndarray:
    """1 below the acquisition, 0 in the cells at or above `depth` (the shallower of the
    source and receiver depths, m) and in the cells the interpolation of a point there
    touches. The gradient is singular where the wavefields are injected and recorded:
    left there, that footprint takes the largest update and the step (scaled to
    `max_dv` at its largest cell) both spoils the direct arrival and barely moves the
    rest of the model."""
    rows = depth_origin + depth_spacing * np.arange(shape[-1])
    mask = np.ones(shape, np.float32)
    mask[..., rows < depth + depth_spacing] = 0.0
    return mask


def _masked(grad: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    return grad if mask is None else grad * mask


def _fwi_move(vp: np.ndarray, g: np.ndarray, step: float, bounds: FwiBounds) -> np.ndarray:
    m_new = np.clip(1.0 / vp.astype(np.float64) ** 2 - step * g,
                    1.0 / bounds.vmax**2, 1.0 / bounds.vmin**2)
    return (1.0 / np.sqrt(m_new)).astype(np.float32)


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
        The previous accepted iterate's velocity and gradient (for the BB step).
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
    g = _masked(grad, mask)
    step = cap = scaled_step(vp, g, bounds.max_dv)
    if previous is not None:
        s = (1.0 / vp.astype(np.float64) ** 2 - 1.0 / previous[0].astype(np.float64) ** 2)
        y = g - _masked(previous[1], mask)
        curvature = float(s.ravel() @ y.ravel())
        if curvature > 0:
            step = min(float(s.ravel() @ s.ravel()) / curvature, cap)
    return _fwi_move(vp, g, step, bounds), step


def fwi_retry(vp: np.ndarray, grad: np.ndarray, rejected_step: float, bounds: FwiBounds,
              mask: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """The base iterate `vp` (gradient `grad`) stepped by half the rejected step."""
    step = 0.5 * rejected_step
    return _fwi_move(vp, _masked(grad, mask), step, bounds), step


def _dot(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.asarray(a, np.float64).ravel() @ np.asarray(b, np.float64).ravel())


def lsrtm_step_length(objective: float, grad: np.ndarray) -> float:
    """t = ||r||^2 / ||g||^2 with ||r||^2 = 2 phi: the first step, before any curvature
    is known (exact only where J^T J is a multiple of the identity; otherwise too long)."""
    norm = _dot(grad, grad)
    return 0.0 if norm == 0 else 2.0 * objective / norm


def quadratic_curvature(objective: float, grad: np.ndarray, dx: np.ndarray,
                        objective_after: float) -> float:
    """||J dx||^2 from the objective before and after the step dx and the gradient
    before it (exact: phi is quadratic in the image)."""
    return 2.0 * (objective_after - objective - _dot(grad, dx))


def lsrtm_next_step(objective: float, grad: np.ndarray,
                    last: tuple[np.ndarray, float] | None) -> float:
    """The step length of an accepted iterate: the exact line-search step of the last
    step's curvature, t = ||d||^2 / ||J d||^2 (`last` = (d, ||J d||^2)), capped by the
    first-step rule; that rule alone when nothing is known yet."""
    first = lsrtm_step_length(objective, grad)
    if last is None or last[1] <= 0:
        return first
    return min(first, _dot(last[0], last[0]) / last[1])


def lsrtm_retry_step(rejected_step: float, grad: np.ndarray, dx: np.ndarray,
                     curvature: float) -> float:
    """The shortened step after a rejected LS-RTM step dx (taken with `rejected_step`
    along -grad from the base): the step scaled to the quadratic's minimiser along dx,
    s* = -<g, dx> / ||J dx||^2 (below 1/2 whenever the objective rose), at least
    `MIN_RETRY_FRACTION` of it."""
    fraction = -_dot(grad, dx) / curvature if curvature > 0 else 0.5
    return rejected_step * float(np.clip(fraction, MIN_RETRY_FRACTION, 0.5))


def bregman_update(z: np.ndarray, grad: np.ndarray, step: float,
                   lam: float | None, lam_fraction: float = 0.1, frame: Frame | None = None,
                   ) -> tuple[np.ndarray, np.ndarray, float]:
    """One linearized Bregman iteration.

    Parameters
    ----------
    z : ndarray
        The dual (unthresholded) variable, an image.
    grad : ndarray
        LS-RTM gradient at the current image C^T soft(C z, lam).
    step : float
        The step length t (`lsrtm_next_step` or `lsrtm_retry_step`).
    lam : float or None
        Threshold; None on the first step, where it becomes `lam_fraction * max|C z_new|`.
    frame : Frame, optional
        The tight frame C (`seisless.inversion.sparsity.make_frame`); the identity if None.

    Returns
    -------
    z_new, x_new : ndarray
    lam : float
    """
    frame = frame or IdentityFrame()
    z_new = np.asarray(z, np.float64) - step * np.asarray(grad, np.float64)
    coefficients = frame.forward(z_new)
    if lam is None:
        lam = lam_fraction * float(np.max(np.abs(coefficients)))
    image = frame.adjoint(soft_threshold(coefficients, lam))
    return z_new.astype(np.float32), image.astype(np.float32), lam


def lsrtm_gradient_update(x: np.ndarray, grad: np.ndarray, step: float) -> np.ndarray:
    """A steepest-descent step of length `step` along -grad."""
    return (x - step * grad).astype(np.float32)
