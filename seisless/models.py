"""Starting models and water masks from a velocity model (NumPy only, no Devito).

FWI needs a starting model smooth enough that its modelled data are within half a cycle
of the observed data (a true or interpreted model blurred well beyond a wavelength), and
a mask that freezes the water, whose velocity is known and whose cells next to the
sources and receivers would otherwise take the largest updates. Models are (nx, nz) or
(nx, ny, nz) arrays of vp in km/s with depth last, as everywhere in seisless.
"""

from __future__ import annotations

import numpy as np

from seisless.errors import ConfigError

#: Sea water, km/s.
WATER_VELOCITY = 1.5
#: A cell belongs to the water while its velocity is within this fraction of the water's.
WATER_TOLERANCE = 0.01


def _checked(vp: np.ndarray) -> np.ndarray:
    vp = np.asarray(vp, dtype=np.float64)
    if vp.ndim not in (2, 3) or not np.all(np.isfinite(vp)) or vp.min() <= 0:
        raise ConfigError(f"a velocity model is a 2-D (nx, nz) or 3-D (nx, ny, nz) array of "
                          f"finite positive km/s, got shape {vp.shape}")
    return vp


def smooth(field: np.ndarray, sigma_cells: float) -> np.ndarray:
    """Separable Gaussian blur with edge padding (numpy only: scipy is not a dependency)."""
    if sigma_cells <= 0:
        raise ConfigError(f"the smoothing length must be positive, got {sigma_cells} cells")
    half = int(np.ceil(3 * sigma_cells))
    taps = np.exp(-0.5 * (np.arange(-half, half + 1) / sigma_cells) ** 2)
    taps /= taps.sum()
    out = np.asarray(field, dtype=np.float64)
    for axis in range(out.ndim):
        padded = np.pad(out, [(half, half) if a == axis else (0, 0) for a in range(out.ndim)],
                        mode="edge")
        out = np.apply_along_axis(np.convolve, axis, padded, taps, mode="valid")
    return out


def water_mask(vp: np.ndarray, water_velocity: float = WATER_VELOCITY) -> np.ndarray:
    """1 below the water, 0 in it; the water of each column is its cells from the top
    down to the first one faster than `water_velocity` (by more than 1 %)."""
    vp = _checked(vp)
    solid = vp > water_velocity * (1 + WATER_TOLERANCE)
    below = np.logical_or.accumulate(solid, axis=-1)  # from the first solid cell down
    if not below.any():
        raise ConfigError(f"the model has no cell faster than the water ({water_velocity} "
                          "km/s): nothing would be updated; check its units (km/s)")
    return below.astype(np.float32)


def starting_model(vp: np.ndarray, sigma_m: float, spacing: float, *,
                   keep_water: bool = True,
                   water_velocity: float = WATER_VELOCITY) -> np.ndarray:
    """`vp` blurred with a Gaussian of `sigma_m` metres (on a grid of `spacing` m), the
    water (see `water_mask`) kept at its own velocity, as float32."""
    vp = _checked(vp)
    if spacing <= 0:
        raise ConfigError(f"the grid spacing must be positive, got {spacing} m")
    start = smooth(vp, sigma_m / spacing)
    if keep_water:
        start = np.where(water_mask(vp, water_velocity) == 0, vp, start)
    return start.astype(np.float32)
