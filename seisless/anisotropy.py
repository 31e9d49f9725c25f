"""The checks of pseudo-acoustic TTI parameters (NumPy only, no Devito).

The run's Init step (a Lambda without Devito) and `seisless.imaging.TTIModel` apply the
same rules, so a run whose anisotropy would fail in every gradient job fails at Init.
Thomsen's epsilon and delta are dimensionless with |value| < 1; the tilt theta and
azimuth phi of the symmetry axis are radians within [-pi, pi]; phi exists in 3-D only.
Where delta exceeds epsilon the coupled pseudo-acoustic system has a growing mode (its
determinant 2 (epsilon - delta) turns negative; Zhang et al. 2011), so that is refused.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from seisless import storage
from seisless.errors import ImagingError

#: Largest magnitude of each parameter; `strict` bounds are excluded.
BOUNDS = {"epsilon": (1.0, True), "delta": (1.0, True), "theta": (np.pi, False),
          "phi": (np.pi, False)}


def _checked(name: str, value: np.ndarray | None, shape: tuple[int, ...]) -> np.ndarray:
    if value is None:
        return np.zeros(shape)
    value = np.asarray(value, dtype=np.float64)
    if value.shape != shape:
        raise ImagingError(f"{name} has shape {value.shape} but vp has {shape}; give one "
                           "value per cell of the velocity model")
    if not np.all(np.isfinite(value)):
        raise ImagingError(f"{name} has NaN or infinite values")
    bound, strict = BOUNDS[name]
    worst = float(np.abs(value).max(initial=0.0))
    if worst > bound or (strict and worst == bound):
        need = (f"|{name}| < {bound:g}" if strict
                else f"{name} within [-{bound:g}, {bound:g}] (radians)")
        raise ImagingError(f"{name} reaches {worst:g} in magnitude; need {need}")
    return value


def anisotropy(shape: tuple[int, ...], *, epsilon: np.ndarray | None = None,
               delta: np.ndarray | None = None, theta: np.ndarray | None = None,
               phi: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """The TTI parameters of a model of `shape`, checked, as float64 (zeros where
    omitted).

    Raises
    ------
    ImagingError
        A wrong shape, non-finite values, a parameter out of bounds, phi in 2-D, or delta
        above epsilon; the message names the parameter and the rule.
    """
    if phi is not None and len(shape) != 3:
        raise ImagingError("phi (the azimuth) only exists in 3-D; a 2-D model has theta only")
    given = {"epsilon": epsilon, "delta": delta, "theta": theta, "phi": phi}
    checked = {name: _checked(name, value, shape) for name, value in given.items()}
    excess = checked["delta"] - checked["epsilon"]
    if (excess > 0).any():
        raise ImagingError(
            f"delta exceeds epsilon in {int((excess > 0).sum())} cells (by up to "
            f"{float(excess.max()):.3g}); the pseudo-acoustic TTI system is unstable there "
            "(Zhang et al. 2011): lower delta to epsilon")
    return checked


def read(s3: Any, bucket: str, keys: dict[str, str]) -> dict[str, np.ndarray]:
    """The arrays a run's `model.<name>_key`s name (`ModelSpec.anisotropy_keys`), by
    name, as stored; `anisotropy` checks them."""
    arrays = {}
    for name, key in keys.items():
        array = storage.get_array(s3, bucket, key, what=f"model.{name}_key's array",
                                  fix=f"upload it (a float32 .npy of vp's shape) or remove "
                                      f"model.{name}_key")
        if array.dtype.kind != "f":
            raise ImagingError(f"model.{name}_key holds {array.dtype} values; save {name} "
                               "as a float32 array with numpy.save")
        arrays[name] = array
    return arrays
