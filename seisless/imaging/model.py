"""The physical model: a Devito grid with squared slowness and a damping layer.

Units follow Devito's seismic conventions: velocity in km/s, distances in m, time in ms,
so squared slowness `m = 1/vp**2` is in s^2/km^2. The user's array covers the physical
domain only; the model pads it by `nbl` points on every side with edge values (the
absorbing layer) and adds a damping coefficient that grows into the layer.

Gradients are taken with respect to the *physical* `m`. Because the layer copies the
edge values, the exact gradient is the adjoint of that padding applied to the gradient
on the padded grid (`crop_adjoint`): layer contributions are summed onto the edge cells
rather than dropped, so Taylor tests hold even for perturbations touching the edges.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import ClassVar

import numpy as np
import sympy
from devito import Function, Grid

from seisless.errors import ImagingError
from seisless.imaging import parallel
from seisless.storage import ArrayRows

#: Damping at the outer edge of the layer reaches `1.5 * ln(1000) / nbl` per point, the
#: profile of Devito's examples (a smooth ramp: reflections from the ramp stay small).
_DAMP_REFLECTION = 1e-3


@lru_cache(maxsize=16)
def _grid(shape: tuple[int, ...], extent: tuple[float, ...], origin: tuple[float, ...],
          dtype: str, topology: tuple[int, ...] | None) -> Grid:
    """One Devito `Grid` per geometry, so compiled operators can be reused across models
    (and iterations) that share it; under MPI decomposed by `topology`."""
    return Grid(shape=shape, extent=extent, origin=origin, dtype=np.dtype(dtype).type,
                topology=topology)


def _cfl_coefficient(space_order: int, ndim: int) -> float:
    """Courant number of the 2nd-order-in-time scheme, as in Devito's examples
    (`Model.critical_dt`): the stability bound of leapfrog with a conservative estimate
    of the Laplacian's largest eigenvalue (weights of a stencil of order 2*space_order)."""
    weights = sympy.finite_diff_weights(2, range(-space_order, space_order + 1), 0)[-1][-1]
    return float(np.sqrt(4.0 / (ndim * sum(abs(float(w)) for w in weights))))


@dataclass(frozen=True)
class RowBlock:
    """Rows [first, first + len(values)) of a physical-grid array of `shape`, what a
    rank read of it (`Model.slab`), sliced by the whole array's row numbers."""

    values: np.ndarray
    first: int
    shape: tuple[int, ...]

    def __getitem__(self, rows: slice) -> np.ndarray:
        start, stop, _ = rows.indices(self.shape[0])
        if start < self.first or stop > self.first + len(self.values):
            raise ValueError(f"rows {start}:{stop} are outside the block's "
                             f"{self.first}:{self.first + len(self.values)}")
        return self.values[start - self.first:stop - self.first]


class Model:
    """Velocity model on a Devito grid with an absorbing (damping) layer.

    Under MPI (`seisless.imaging.parallel`) the grid is split into x-slabs and each rank
    reads and fills only its own slab of `vp`: pass a row reader (`ArrayRows`: anything
    with `shape` whose `[start:stop]` gives those rows) to read no more.

    Parameters
    ----------
    vp : array_like or row reader
        P-wave velocity in km/s, shape (nx, nz) or (nx, ny, nz), physical domain only.
    spacing : tuple of float
        Grid spacing in m, one per dimension.
    origin : tuple of float, optional
        Position of the first physical grid point in m (default zeros).
    nbl : int, optional
        Absorbing layer width in grid points on every side.
    space_order : int, optional
        Even spatial order of the finite-difference Laplacian.
    dtype : numpy dtype, optional
        Floating point type of the computation (float32; float64 for numerical tests).
    """

    #: Which wave equation the solver builds for this model (`TTIModel` says "tti").
    physics: ClassVar[str] = "acoustic"

    def __init__(self, vp: np.ndarray, spacing: tuple[float, ...],
                 origin: tuple[float, ...] | None = None, *, nbl: int = 40,
                 space_order: int = 8, dtype: type = np.float32) -> None:
        if isinstance(vp, np.ndarray) or not hasattr(vp, "shape"):
            vp = np.asarray(vp, dtype=np.float64)  # else read by rows, as `ArrayRows`
        ndim = len(vp.shape)
        if ndim not in (2, 3):
            raise ImagingError(f"vp must be a 2-D (nx, nz) or 3-D (nx, ny, nz) array, "
                               f"got shape {vp.shape}")
        origin = tuple(0.0 for _ in range(ndim)) if origin is None else tuple(origin)
        if len(spacing) != ndim or len(origin) != ndim:
            raise ImagingError(f"spacing {spacing} and origin {origin} need one value per "
                               f"dimension of vp ({ndim})")
        if min(spacing) <= 0:
            raise ImagingError(f"spacing must be positive (m), got {spacing}")
        if nbl < 1 or space_order < 2 or space_order % 2:
            raise ImagingError(f"need nbl >= 1 and an even space_order >= 2, got nbl={nbl}, "
                               f"space_order={space_order}")
        self.vp = vp
        self.shape = tuple(vp.shape)
        self.spacing = tuple(float(h) for h in spacing)
        self.origin = tuple(float(o) for o in origin)
        self.nbl = int(nbl)
        self.space_order = int(space_order)
        self.dtype = np.dtype(dtype)
        self.comm = parallel.world()
        # This rank's slab of vp on the padded grid, checked here; every rank reaches
        # the verdict on the whole model.
        self._vp_slab = self.local(vp)
        finite = bool(np.all(np.isfinite(self._vp_slab)))
        lo, self._vp_max = parallel.global_min_max(
            self.comm, float(self._vp_slab.min()) if finite else -np.inf,
            float(self._vp_slab.max()) if finite else np.inf)
        if not lo > 0 or not np.isfinite(self._vp_max):
            raise ImagingError("vp must be finite and positive everywhere (km/s)")

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def padded_shape(self) -> tuple[int, ...]:
        return tuple(n + 2 * self.nbl for n in self.shape)

    @cached_property
    def grid(self) -> Grid:
        padded = self.padded_shape
        extent = tuple(h * (n - 1) for h, n in zip(self.spacing, padded, strict=True))
        origin = tuple(o - h * self.nbl for o, h in zip(self.origin, self.spacing, strict=True))
        return _grid(padded, extent, origin, self.dtype.str, parallel.topology(self.ndim))

    @cached_property
    def x_rows(self) -> np.ndarray:
        """The padded grid's x indices this rank holds (all of them without MPI)."""
        return np.asarray(self.grid.distributor.glb_numb[0])

    @property
    def local_padded_shape(self) -> tuple[int, ...]:
        """This rank's part of the padded grid (all of it without MPI)."""
        return (len(self.x_rows), *self.padded_shape[1:])

    def slab_rows(self, reach: int) -> slice:
        """The physical rows under this rank's slab and `reach` cells on either side (all
        of them without MPI)."""
        x, last = self.x_rows, self.shape[0] - 1
        return slice(int(np.clip(x[0] - reach - self.nbl, 0, last)),
                     int(np.clip(x[-1] + reach - self.nbl, 0, last)) + 1)

    def slab(self, field: np.ndarray | ArrayRows, reach: int) -> RowBlock:
        """`slab_rows(reach)` of `field`, read once."""
        rows = self.slab_rows(reach)
        return RowBlock(np.asarray(field[rows], dtype=np.float64), rows.start, self.shape)

    def local(self, field: np.ndarray | ArrayRows | RowBlock,
              halo: tuple[tuple[int, int], ...] | None = None) -> np.ndarray:
        """This rank's block of the padded physical-grid array `field` (`pad` of it,
        restricted to `x_rows`), with `halo` more cells per side and axis; only the x
        rows it covers are read from `field`."""
        halo = halo or ((0, 0),) * self.ndim
        (left, right), x = halo[0], self.x_rows
        rows = np.clip(np.arange(x[0] - left, x[-1] + 1 + right) - self.nbl, 0,
                       self.shape[0] - 1)
        first = int(rows[0])
        block = np.asarray(field[first:int(rows[-1]) + 1], dtype=np.float64)[rows - first]
        return np.pad(block, [(0, 0)] + [(self.nbl + lo, self.nbl + hi) for lo, hi in halo[1:]],
                      mode="edge")

    def pad(self, field: np.ndarray) -> np.ndarray:
        """Extend a physical-grid array into the absorbing layer with its edge values."""
        return np.pad(np.asarray(field), self.nbl, mode="edge")

    def crop_adjoint(self, padded: np.ndarray) -> np.ndarray:
        """Adjoint of `pad`: layer values are summed onto the physical edge cells."""
        out = np.asarray(padded, dtype=np.float64).copy()
        nbl = self.nbl
        for axis in range(out.ndim):
            out = np.moveaxis(out, axis, 0)
            out[nbl] += out[:nbl].sum(axis=0)
            out[-nbl - 1] += out[-nbl:].sum(axis=0)
            out = np.moveaxis(out[nbl:-nbl], 0, axis)
        return out

    @cached_property
    def m(self) -> Function:
        """Squared slowness (s^2/km^2) on the padded grid."""
        m = Function(name="m", grid=self.grid, space_order=1)
        m.data_local[:] = 1.0 / self._vp_slab**2
        return m

    @cached_property
    def damp(self) -> Function:
        """Damping coefficient (1/ms in Devito's scaling), zero inside the physical domain."""
        damp = Function(name="damp", grid=self.grid, space_order=1)
        profile = np.zeros(self.local_padded_shape)
        nbl = self.nbl
        coeff = 1.5 * np.log(1.0 / _DAMP_REFLECTION) / nbl
        for axis, (n, h) in enumerate(zip(self.padded_shape, self.spacing, strict=True)):
            idx = self.x_rows if axis == 0 else np.arange(n)
            depth = np.maximum(nbl - idx, idx - (n - 1 - nbl)).clip(0) / nbl
            ramp = coeff * (depth - np.sin(2 * np.pi * depth) / (2 * np.pi)) / h
            shape = [1] * self.ndim
            shape[axis] = len(idx)
            profile = profile + ramp.reshape(shape)
        damp.data_local[:] = profile
        return damp

    def parameters(self) -> dict[str, Function]:
        """The model's Devito functions, by the names the operators use."""
        return {"m": self.m, "damp": self.damp}

    def fastest_velocity(self) -> float:
        """The largest phase velocity anywhere (km/s): what bounds the time step."""
        return self._vp_max

    def critical_dt(self) -> float:
        """Largest stable time step in ms (the CFL bound of Devito's examples)."""
        coeff = _cfl_coefficient(self.space_order, self.ndim)
        return float("%.3e" % (coeff * min(self.spacing) / self.fastest_velocity()))

    def contains(self, points: np.ndarray) -> bool:
        """Whether every point (rows of coordinates in m) lies in the physical domain."""
        points = np.atleast_2d(points)
        lo = np.array(self.origin)
        hi = lo + np.array(self.spacing) * (np.array(self.shape) - 1)
        return bool(np.all((points >= lo - 1e-6) & (points <= hi + 1e-6)))
