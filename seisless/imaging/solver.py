"""Solves: forward and linearized modelling, FWI and LS-RTM gradients, RTM images.

Compiled operators are cached per (equation, grid, space order, variant), so every shot
of a job and every iteration on the same geometry compiles once. The equation is the
model's: acoustic for a `Model`, pseudo-acoustic TTI for a `TTIModel` (its operators
module names its wavefields, so the passes below are written once for both).
Objectives are computed on the data sampling: phi = 0.5 * ||R F(m) - d||^2 with `R` the
decimation of `geometry.Resampler`, whose transpose injects the residual.
"""

from __future__ import annotations

from functools import lru_cache
from types import ModuleType

import numpy as np
from devito import (
    CheckpointOperator,
    DevitoCheckpoint,
    Function,
    Revolver,
    SparseTimeFunction,
    TimeFunction,
)
from devito import Operator as DevitoOperator
from devito.types import Grid

from seisless.errors import ImagingError
from seisless.imaging import memory, operators, parallel, tti_operators
from seisless.imaging.geometry import Shot, TimeAxes
from seisless.imaging.model import Model

#: The operators module of each `Model.physics`.
_EQUATIONS: dict[str, ModuleType] = {"acoustic": operators, "tti": tti_operators}


@lru_cache(maxsize=32)
def _forward_op(ops: ModuleType, grid: Grid, space_order: int, save: str, factor: int,
                born: bool) -> DevitoOperator:
    return ops.forward_operator(grid, space_order, save, factor, born)


@lru_cache(maxsize=32)
def _gradient_op(ops: ModuleType, grid: Grid, space_order: int, save: str,
                 factor: int) -> DevitoOperator:
    return ops.gradient_operator(grid, space_order, save, factor)


class _Setup:
    """Everything one shot's solves share: axes, sparse points, the source."""

    def __init__(self, model: Model, shot: Shot) -> None:
        if len(shot.src) != model.ndim:
            raise ImagingError(f"shot positions are {len(shot.src)}-D but the model is "
                               f"{model.ndim}-D")
        if not model.contains(np.array(shot.src)) or not model.contains(shot.rec):
            raise ImagingError(f"shot {shot.shot_id}: source or receivers lie outside the "
                               "model's physical domain (positions are in m from the model's "
                               "frame; check origin and coordinate scalars)")
        self.model, self.shot = model, shot
        self.ops = _EQUATIONS[model.physics]
        self.axes = TimeAxes.for_shot(shot, model.critical_dt())
        grid, nt_c = model.grid, self.axes.nt_c
        self.src = SparseTimeFunction(name="src", grid=grid, npoint=1, nt=nt_c,
                                      coordinates=np.array([shot.src]))
        self.src.data[:, 0] = self.axes.source_signature(shot)
        self.rec = SparseTimeFunction(name="rec", grid=grid, npoint=shot.nrec, nt=nt_c,
                                      coordinates=shot.rec)

    @property
    def common(self) -> dict[str, object]:
        return {**self.model.parameters(), "dt": self.axes.dt_c}

    @property
    def forward_range(self) -> dict[str, int]:
        return {"time_m": 1, "time_M": self.axes.nt_c - 2}

    @property
    def adjoint_range(self) -> dict[str, int]:
        return {"time_m": 2, "time_M": self.axes.nt_c - 1}

    def traces(self) -> np.ndarray:
        """The recorded traces on the data sampling: sample n+1 was recorded at step n."""
        fine = np.zeros((self.axes.nt_c, self.shot.nrec))
        fine[2:] = parallel.gather_columns(self.model.comm, np.asarray(self.rec.data))[1:-1]
        return self.axes.resampler.apply(fine)

    def scratch_receivers(self) -> SparseTimeFunction:
        return SparseTimeFunction(name="rec", grid=self.model.grid, npoint=self.shot.nrec,
                                  nt=self.axes.nt_c, coordinates=self.shot.rec)

    def residual_source(self, residual: np.ndarray) -> SparseTimeFunction:
        resid = SparseTimeFunction(name="resid", grid=self.model.grid, npoint=self.shot.nrec,
                                   nt=self.axes.nt_c, coordinates=self.shot.rec)
        resid.data[:] = self.axes.resampler.adjoint(residual)
        return resid

    def fields(self, kind: str, save: int | None = None) -> dict[str, TimeFunction]:
        """New wavefields of `kind` ('forward', 'born' or 'adjoint'), by name."""
        grid, so = self.model.grid, self.model.space_order
        return {name: operators.wavefield(grid, so, name, save)
                for name in getattr(self.ops.FIELDS, kind)}

    def forward_op(self, save: str = "none", factor: int = 1,
                   born: bool = False) -> DevitoOperator:
        return _forward_op(self.ops, self.model.grid, self.model.space_order, save, factor,
                           born)

    def gradient_op(self, save: str, factor: int = 1) -> DevitoOperator:
        return _gradient_op(self.ops, self.model.grid, self.model.space_order, save, factor)

    def field_bytes(self) -> int:
        """One time slice of the forward wavefield, all components, on this rank."""
        return (len(self.ops.FIELDS.forward) * int(np.prod(self.model.local_padded_shape))
                * self.model.dtype.itemsize)


def _padded_image(model: Model, image: np.ndarray) -> Function:
    image = np.asarray(image)
    if image.shape != model.shape:
        raise ImagingError(f"image has shape {image.shape}, expected the model's {model.shape}")
    dm = Function(name="dm", grid=model.grid, space_order=0)
    dm.data[:] = model.pad(image)
    return dm


def forward(model: Model, shot: Shot) -> np.ndarray:
    """Modelled data (nt, nrec) at the shot's sample interval."""
    setup = _Setup(model, shot)
    setup.forward_op().apply(src=setup.src, rec=setup.rec, **setup.fields("forward"),
                             **setup.common, **setup.forward_range)
    return setup.traces()


def born(model: Model, shot: Shot, image: np.ndarray) -> np.ndarray:
    """Linearized data J dm (nt, nrec) for a squared-slowness perturbation `image`."""
    setup = _Setup(model, shot)
    setup.forward_op(born=True).apply(
        **setup.fields("forward"), **setup.fields("born"), dm=_padded_image(model, image),
        src=setup.src, rec=setup.rec, **setup.common, **setup.forward_range)
    return setup.traces()


def gradient(model: Model, shot: Shot, objective: str = "fwi", *,
             image: np.ndarray | None = None, strategy: str = "auto", factor: int | None = None,
             memory_budget: int | None = None) -> tuple[float, np.ndarray | None]:
    """Objective value and its gradient with respect to squared slowness.

    Under MPI every rank takes part and gets phi; the gradient is gathered to rank 0
    (`parallel.ROOT`) and is None on the others.

    Parameters
    ----------
    model : Model
        Current model (FWI) or background model (LS-RTM).
    shot : Shot
        The shot, with observed `data`.
    objective : {'fwi', 'lsrtm'}
        0.5*||F(m) - d||^2, or 0.5*||J dm - d||^2 with `image` as dm.
    image : array_like, optional
        The current LS-RTM image (zeros when omitted).
    strategy : {'auto', 'full', 'snapshots', 'checkpointing'}
        How to keep the forward wavefield (per rank under MPI); 'auto' chooses from
        `memory_budget`.
    factor : int, optional
        Snapshot interval in time steps for 'snapshots'.
    memory_budget : int, optional
        Bytes allowed for stored wavefields (default: half the physical memory).

    Returns
    -------
    phi : float
    g : ndarray or None
        (nx, nz) or (nx, ny, nz) on the physical grid, in the units of phi per s^2/km^2
        (None on MPI ranks other than rank 0).
    """
    if shot.data is None:
        raise ImagingError(f"shot {shot.shot_id} has no observed data to fit")
    if objective not in ("fwi", "lsrtm"):
        raise ImagingError(f"objective must be 'fwi' or 'lsrtm', got {objective!r}")
    setup = _Setup(model, shot)
    axes = setup.axes
    plan = memory.choose(strategy, field_bytes=setup.field_bytes(), nt_c=axes.nt_c,
                         dt_c=axes.dt_c, f0=shot.f0, factor=factor, budget=memory_budget)
    if objective == "lsrtm" and image is None:
        image = np.zeros(model.shape)
    dm = _padded_image(model, image) if objective == "lsrtm" else None
    residual, grad = _imaging(setup, plan, dm, shot.data)
    return 0.5 * float(np.sum(residual**2)), grad


def rtm(model: Model, shot: Shot, *, strategy: str = "auto", factor: int | None = None,
        memory_budget: int | None = None) -> np.ndarray | None:
    """Reverse-time migration image J^T d (physical grid, per s^2/km^2; None on MPI
    ranks other than rank 0).

    Equal to minus the LS-RTM gradient at a zero image: the adjoint of the linearized
    modelling applied to the observed data.
    """
    grad = gradient(model, shot, "lsrtm", strategy=strategy, factor=factor,
                    memory_budget=memory_budget)[1]
    return None if grad is None else -grad


def _mpi_plan(model: Model, plan: memory.Strategy) -> memory.Strategy:
    """The plan as it runs under MPI. Devito 4.8.23 cannot compile the full-save forward
    operator decomposed (the halo update of the saved field its receivers read at t+1 is
    hoisted out of the time loop: 'time undeclared'), so 'full' runs as snapshots of every
    step: the same memory and gradient. Revolve's checkpoints record wrong traces across
    ranks, so checkpointing is refused rather than giving a wrong gradient."""
    if model.comm is None:
        return plan
    if plan.kind == "checkpointing":
        raise ImagingError(f"the checkpointing memory strategy does not run under MPI "
                           f"({model.comm.size} ranks); set memory.strategy to 'full' or "
                           "'snapshots' (each rank keeps only its slab of the wavefield)")
    return memory.Strategy("snapshots", factor=1) if plan.kind == "full" else plan


def _imaging(setup: _Setup, plan: memory.Strategy, dm: Function | None,
             observed: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Run the forward pass keeping the forward wavefield per `plan`, form the residual
    against the observed data, back-propagate it; return the residual and the cropped
    gradient (gathered to rank 0 under MPI, None on the other ranks)."""
    grid, nt_c = setup.model.grid, setup.axes.nt_c
    born = dm is not None
    plan = _mpi_plan(setup.model, plan)
    grad = Function(name="grad", grid=grid, space_order=0)
    adjoint = setup.fields("adjoint")
    resid = setup.residual_source(np.zeros_like(observed))
    run_born = {"dm": dm, **setup.fields("born")} if born else {}
    if plan.kind == "checkpointing":
        if born:  # the linearized data first; Revolve then replays the background field
            setup.forward_op(born=True).apply(
                **setup.fields("forward"), src=setup.src, rec=setup.rec, **run_born,
                **setup.common, **setup.forward_range)
            residual = setup.traces() - observed
        fields = setup.fields("forward")
        recorded = setup.scratch_receivers() if born else setup.rec
        wrap_fw = CheckpointOperator(setup.forward_op(), **fields, src=setup.src,
                                     rec=recorded, **setup.common, **setup.forward_range)
        wrap_rev = CheckpointOperator(setup.gradient_op("none"), **fields, **adjoint,
                                      resid=resid, grad=grad, **setup.common,
                                      **setup.adjoint_range)
        revolver = Revolver(DevitoCheckpoint(list(fields.values())), wrap_fw, wrap_rev,
                            plan.n_checkpoints, nt_c - 2)
        revolver.apply_forward()
        if not born:
            residual = setup.traces() - observed
        resid.data[:] = setup.axes.resampler.adjoint(residual)
        revolver.apply_reverse()
    else:
        if plan.kind == "full":
            kept = setup.fields("forward", save=nt_c)
            fields = kept
        else:
            nsnap = (nt_c - 1) // plan.factor + 1
            kept = {name: operators.snapshot_field(grid, nsnap, plan.factor, name)
                    for name in setup.ops.FIELDS.snapshots}
            fields = {**setup.fields("forward"), **kept}
        setup.forward_op(plan.kind, plan.factor, born).apply(
            src=setup.src, rec=setup.rec, **fields, **run_born, **setup.common,
            **setup.forward_range)
        residual = setup.traces() - observed
        resid.data[:] = setup.axes.resampler.adjoint(residual)
        setup.gradient_op(plan.kind, plan.factor).apply(
            **adjoint, resid=resid, grad=grad, **kept, **setup.common,
            **setup.adjoint_range)
    comm = setup.model.comm
    if comm is None:
        return residual, setup.model.crop_adjoint(grad.data)
    padded = grad.data_gather(rank=parallel.ROOT)
    return residual, setup.model.crop_adjoint(padded) if parallel.is_root(comm) else None
