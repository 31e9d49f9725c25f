"""The pseudo-acoustic TTI model: vp with Thomsen's epsilon and delta and the tilt of the
symmetry axis (theta; azimuth phi in 3-D), on the acoustic model's grid and layer.

The wave equation is the coupled system of Zhang, Zhang and Zhang (2011), as Devito's
`examples/seismic/tti` centred kernel discretises it::

    m u'' = (1 + 2 epsilon) Gh u + sqrt(1 + 2 delta) Gzz v
    m v'' = sqrt(1 + 2 delta) Gh u + Gzz v

with Gzz the second derivative along the symmetry axis and Gh = Laplacian - Gzz (see
`tti_operators`). `forward`, `born`, `gradient` and `rtm` of `seisless.imaging.solver`
take a `TTIModel` like a `Model`: gradients and images stay with respect to squared
slowness, in the same units and sign, so the reducer and update job treat them alike.

The anisotropy enters the operators as precomputed coefficients (`1 + 2 epsilon`,
`sqrt(1 + 2 delta)` and the components of the axis' unit vector) instead of Devito
evaluating sines and square roots inside the stencil: the same discretisation, smaller
kernels to compile.
"""

from __future__ import annotations

from functools import cached_property
from typing import ClassVar

import numpy as np
from devito import Function

from seisless.anisotropy import anisotropy
from seisless.errors import ImagingError
from seisless.imaging import parallel
from seisless.imaging.model import Model, RowBlock


class TTIModel(Model):
    """A `Model` with pseudo-acoustic TTI anisotropy.

    Parameters
    ----------
    vp : array_like
        P-wave velocity along the symmetry axis in km/s, (nx, nz) or (nx, ny, nz).
    spacing, origin, nbl, space_order, dtype
        As for `Model`.
    epsilon, delta : array_like or row reader, optional
        Thomsen parameters, |value| < 1, with epsilon >= delta everywhere (the coupled
        system grows exponentially where delta > epsilon). Zeros when omitted.
    theta : array_like or row reader, optional
        Tilt of the symmetry axis from the vertical, radians in [-pi, pi].
    phi : array_like or row reader, optional
        Azimuth of the symmetry axis (3-D only), radians in [-pi, pi].

    Put the sources in isotropic (or elliptic, epsilon = delta) cells, e.g. the water:
    where epsilon > delta at the source, the pseudo-acoustic system's spurious qSV mode
    (slow, trapped around the source) keeps ringing in the data (a test measures it).

    Under MPI each rank reads only the rows of the anisotropy under its slab (pass row
    readers, `ArrayRows`, to read no more) and checks those: `epsilon`, `delta`, `theta`
    and `phi` are `RowBlock`s of the rows a rank read (all of them without MPI).

    The anisotropy is checked by `seisless.anisotropy.anisotropy` (an ImagingError names
    the parameter and the rule it breaks).
    """

    physics: ClassVar[str] = "tti"

    def __init__(self, vp: np.ndarray, spacing: tuple[float, ...],
                 origin: tuple[float, ...] | None = None, *,
                 epsilon: np.ndarray | None = None, delta: np.ndarray | None = None,
                 theta: np.ndarray | None = None, phi: np.ndarray | None = None,
                 nbl: int = 40, space_order: int = 8, dtype: type = np.float32) -> None:
        super().__init__(vp, spacing, origin, nbl=nbl, space_order=space_order, dtype=dtype)
        given = {"epsilon": epsilon, "delta": delta, "theta": theta, "phi": phi}
        blocks = {}
        for name, given_value in given.items():
            if given_value is None:
                continue
            value = given_value if hasattr(given_value, "shape") else np.asarray(given_value)
            if tuple(value.shape) != self.shape:
                raise ImagingError(f"{name} has shape {tuple(value.shape)} but vp has "
                                   f"{self.shape}; give one value per cell of the velocity "
                                   "model")
            # This rank's rows and the coefficients' halo (at most space_order cells).
            blocks[name] = self.slab(value, self.space_order)
        rows = self.slab_rows(self.space_order)
        checked = anisotropy((rows.stop - rows.start, *self.shape[1:]),
                             **{name: block.values for name, block in blocks.items()})
        self.epsilon, self.delta, self.theta, self.phi = (
            RowBlock(checked[name], rows.start, self.shape) for name in given)
        _, self._epsilon_max = parallel.global_min_max(
            self.comm, 0.0, float(self.epsilon.values.max()))

    def _coefficient(self, name: str, values: RowBlock) -> Function:
        """A time-invariant coefficient on the padded grid, its halo filled with edge
        values too (the rotated derivatives read it there). Under MPI only this rank's
        block: its view has the halo on the grid's outer sides (`_size_outhalo`); the
        halo between ranks Devito exchanges."""
        f = Function(name=name, grid=self.grid, space_order=self.space_order)
        halo = tuple((int(lo), int(hi)) for lo, hi in f._size_outhalo)
        f.data_with_halo._local[:] = self.local(values, halo)
        return f

    @cached_property
    def coefficients(self) -> dict[str, Function]:
        """`eps1 = 1 + 2 epsilon`, `delta1 = sqrt(1 + 2 delta)` and the axis' unit vector
        `n0, n1[, n2]` (x[, y], z components)."""
        theta, phi = self.theta.values, self.phi.values
        sin_t, cos_t = np.sin(theta), np.cos(theta)
        if self.ndim == 2:
            axis = [sin_t, cos_t]
        else:
            axis = [sin_t * np.cos(phi), sin_t * np.sin(phi), cos_t]
        values = {"eps1": 1 + 2 * self.epsilon.values,
                  "delta1": np.sqrt(1 + 2 * self.delta.values),
                  **{f"n{i}": a for i, a in enumerate(axis)}}
        first = self.epsilon.first
        return {name: self._coefficient(name, RowBlock(v, first, self.shape))
                for name, v in values.items()}

    def parameters(self) -> dict[str, Function]:
        return {**super().parameters(), **self.coefficients}

    def fastest_velocity(self) -> float:
        """vp * sqrt(1 + 2 epsilon), the horizontal velocity, at its largest bound: the
        time step Devito's examples take for TTI."""
        return super().fastest_velocity() * float(np.sqrt(1 + 2 * max(self._epsilon_max, 0.0)))
