"""Choosing how to keep the forward wavefield for the imaging condition.

Full save is fastest and exact; snapshots every `factor` steps divide the memory by
`factor` at a small quadrature error as long as the interval samples the wavefield's
product with the adjoint field (band up to ~2 fmax) without aliasing; optimal
checkpointing (Revolve) is exact in any memory at the price of recomputation.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

from seisless.errors import ImagingError

#: Highest significant frequency of a Ricker wavelet, as a multiple of its peak.
RICKER_FMAX = 3.0


@dataclass(frozen=True)
class Strategy:
    """`kind` is 'full', 'snapshots' (with `factor`) or 'checkpointing' (with
    `n_checkpoints`, None letting Revolve take all it can use)."""

    kind: str
    factor: int = 1
    n_checkpoints: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("full", "snapshots", "checkpointing"):
            raise ImagingError(f"unknown memory strategy {self.kind!r}; use 'full', "
                               "'snapshots' or 'checkpointing' (or 'auto')")
        if self.factor < 1:
            raise ImagingError(f"snapshot factor must be >= 1, got {self.factor}")


def default_budget() -> int:
    """Half of this machine's physical memory, in bytes."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2


def max_snapshot_factor(dt_c: float, f0: float) -> int:
    """Largest snapshot interval (steps) that samples the imaging product without
    aliasing its zero frequency: interval <= 1 / (2 * 2 fmax)."""
    return max(1, int(1.0 / (4.0 * RICKER_FMAX * f0 * dt_c)))


def choose(kind: str, *, field_bytes: int, nt_c: int, dt_c: float, f0: float,
           factor: int | None = None, budget: int | None = None) -> Strategy:
    """The memory strategy for one gradient.

    Parameters
    ----------
    kind : {'auto', 'full', 'snapshots', 'checkpointing'}
        'auto' picks the fastest strategy whose wavefield storage fits `budget`.
    field_bytes : int
        Size of one padded time slice of the wavefield.
    nt_c, dt_c : int, float
        Computational time steps and step (ms).
    f0 : float
        Peak frequency (kHz), bounding the snapshot interval.
    factor : int, optional
        Snapshot interval when `kind='snapshots'` (default: the largest safe one).
    budget : int, optional
        Bytes allowed for stored wavefields (default: half the physical memory).
    """
    safe = max_snapshot_factor(dt_c, f0)
    if kind == "full":
        return Strategy("full")
    if kind == "snapshots":
        return Strategy("snapshots", factor=factor or safe)
    budget = default_budget() if budget is None else int(budget)
    if kind == "checkpointing":
        return Strategy("checkpointing", n_checkpoints=_checkpoints(budget, field_bytes, nt_c))
    if kind != "auto":
        return Strategy(kind)  # raises with the list of valid kinds
    if nt_c * field_bytes <= budget:
        return Strategy("full")
    needed = math.ceil(nt_c * field_bytes / budget)
    if needed <= safe:
        return Strategy("snapshots", factor=needed)
    return Strategy("checkpointing", n_checkpoints=_checkpoints(budget, field_bytes, nt_c))


def _checkpoints(budget: int, field_bytes: int, nt_c: int) -> int:
    """Checkpoints (two time slices each) that fit the budget, at least 2, and no more
    than useful."""
    return int(min(max(2, budget // (2 * field_bytes)), max(2, nt_c - 2)))
