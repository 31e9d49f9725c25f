"""The update job of the "lbfgs" and "cg" FWI optimizers: a direction and its trial steps.

From iterate k (its velocity, its reduced gradient, what earlier iterations left in the
bucket) the job writes `iter-<k>/direction.npy` and the line search's `SearchPlan`; the
trials then run as forward-only Batch arrays (`seisless.inversion.trials`) and the judge
(`seisless.inversion.search`) accepts one. The unknowns are squared slowness m = 1/vp^2
with the gradient masked as BB's is (frozen acquisition cells, `fwi.mask_key`) and where
a bound holds a cell; the box is [1/vmax^2, 1/vmin^2]; every trial step is at most the
one whose largest velocity change is `fwi.max_dv`.

- L-BFGS: iteration k stores the pair (m_k - m_{k-1}, g_k - g_{k-1}) as
  `iter-<k>/lbfgs-s.npy|y.npy` when both gradients sum the same shots and its curvature
  is positive; the memory is the unbroken run of stored pairs ending at k, at most
  `fwi.memory` long (a missing pair restarts it). The first step of a search is the
  quasi-Newton unit step; without memory, the max_dv step.
- CG (PR+): the previous direction is `iter-<k-1>/direction.npy`; the first step is
  Nocedal & Wright's (3.60), alpha_{k-1} (g_{k-1}.d_{k-1}) / (g_k.d_k); after a restart,
  the max_dv step.
Everything read is in the bucket, so re-running the job gives the same bytes.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from seisless import storage
from seisless.inversion import optimizers
from seisless.inversion.documents import History, JobEnv, RunConfig, ShotList
from seisless.inversion.keys import IterationKeys, RunKeys
from seisless.inversion.search import SearchPlan
from seisless.inversion.update import FwiBounds, scaled_step

#: Directions and pairs are stored like gradients: little-endian float32.
ARRAY_DTYPE = "<f4"


class RunArrays(Protocol):
    """What the proposal reads of iteration j (the update job's reader)."""

    s3: Any
    env: JobEnv
    config: RunConfig

    def gradient(self, j: int) -> np.ndarray: ...
    def velocity(self, j: int) -> np.ndarray: ...
    def objective(self, j: int) -> float: ...
    def summed_shots(self, j: int) -> frozenset[int]: ...


def squared_slowness(vp: np.ndarray) -> np.ndarray:
    return 1.0 / np.asarray(vp, np.float64) ** 2


def trial_velocity(vp: np.ndarray, direction: np.ndarray, alpha: float,
                   bounds: FwiBounds) -> np.ndarray:
    """The velocity (float32) of the trial point P(m + alpha d): what a trial job models
    and what the judge accepts, bit for bit."""
    m = optimizers.trial_point(squared_slowness(vp), direction, alpha,
                               1.0 / bounds.vmax**2, 1.0 / bounds.vmin**2)
    return (1.0 / np.sqrt(m)).astype(np.float32)


def _store(data: RunArrays, key: str, array: np.ndarray) -> np.ndarray:
    """Write `array` as float32 and return what was written (what later reads see)."""
    stored = np.asarray(array, np.float32)
    storage.put_array(data.s3, data.env.bucket, key, stored, ARRAY_DTYPE)
    return stored


def _comparable(data: RunArrays, k: int) -> bool:
    """Iterates k-1 and k were measured on the same shots (their gradients compare)."""
    return k > 0 and data.summed_shots(k) == data.summed_shots(k - 1)


def _lbfgs(data: RunArrays, mask: np.ndarray, k: int) -> tuple[np.ndarray, float | None,
                                                                bool]:
    """The L-BFGS direction at k, its first step (None: the max_dv step), whether the
    memory was empty; stores iteration k's pair when usable."""
    run = RunKeys(data.env.run_id)
    g = data.gradient(k) * mask
    if _comparable(data, k):
        s = squared_slowness(data.velocity(k)) - squared_slowness(data.velocity(k - 1))
        y = g - data.gradient(k - 1) * mask
        if optimizers.usable_pair(s, y):
            _store(data, run.iteration(k).lbfgs_s, s)
            _store(data, run.iteration(k).lbfgs_y, y)
    pairs: list[tuple[np.ndarray, np.ndarray]] = []
    for j in range(k, max(0, k - data.config.fwi.memory), -1):
        keys = run.iteration(j)
        if not storage.exists(data.s3, data.env.bucket, keys.lbfgs_s):
            break
        pairs.insert(0, (storage.get_array(data.s3, data.env.bucket, keys.lbfgs_s),
                         storage.get_array(data.s3, data.env.bucket, keys.lbfgs_y)))
    return optimizers.lbfgs_direction(g, pairs), 1.0 if pairs else None, not pairs


def _cg(data: RunArrays, mask: np.ndarray, k: int, history: History
        ) -> tuple[np.ndarray, float | None, bool]:
    """The PR+ direction at k, its first step (None: the max_dv step), whether it
    restarted."""
    g = data.gradient(k) * mask
    if not _comparable(data, k) or history.step is None:
        return -np.asarray(g, np.float64), None, True
    before: IterationKeys = RunKeys(data.env.run_id).iteration(k - 1)
    d_prev = storage.get_array(data.s3, data.env.bucket, before.direction)
    d, restarted = optimizers.cg_direction(g, data.gradient(k - 1) * mask, d_prev)
    if restarted:
        return d, None, True
    previous = storage.get_document(data.s3, data.env.bucket, before.search, SearchPlan,
                                    "the previous line search plan")
    return d, history.step * previous.slope / optimizers.dot(g, d), False


def _summed_leaves(data: RunArrays, k: int) -> tuple[int, ...]:
    shots = storage.get_document(data.s3, data.env.bucket,
                                 RunKeys(data.env.run_id).iteration(k).shots, ShotList,
                                 "the shot list")
    summed = data.summed_shots(k)
    return tuple(i for i, record in enumerate(shots.shots) if record in summed)


def propose_search(data: RunArrays, history: History, bounds: FwiBounds,
                   mask: np.ndarray) -> dict[str, Any]:
    """Write iteration k's direction and `SearchPlan`; `history` is iteration k's (the
    objectives of iterates 0..k-1). Returns a summary for the job's log."""
    fwi, k = data.config.fwi, data.env.iteration
    keys = RunKeys(data.env.run_id).iteration(k)
    vp, g = data.velocity(k), data.gradient(k)
    m0 = squared_slowness(vp)
    mask = mask * optimizers.free_variables(m0, g, 1.0 / bounds.vmax**2, 1.0 / bounds.vmin**2)
    if fwi.optimizer == "lbfgs":
        direction, guess, restarted = _lbfgs(data, mask, k)
    else:
        direction, guess, restarted = _cg(data, mask, k, history)
    d = _store(data, keys.direction, direction * mask)
    cap = scaled_step(vp, d, fwi.max_dv)
    alpha0 = cap if guess is None or not guess > 0 else min(guess, cap)
    steps = optimizers.trial_steps(alpha0, fwi.line_search.shrink, fwi.line_search.max_trials)
    decrease = tuple(optimizers.dot(g, squared_slowness(trial_velocity(vp, d, a, bounds)) - m0)
                     for a in steps)
    objective = data.objective(k)
    plan = SearchPlan(
        optimizer=fwi.optimizer, objective=objective, leaves=_summed_leaves(data, k),
        steps=steps, decrease=decrease, slope=optimizers.dot(g * mask, d),
        c1=fwi.line_search.c1, restarted=restarted,
        history=history.model_copy(update={"objective": (*history.objective, objective),
                                           "accepted": (*history.accepted, True)}))
    storage.put_json(data.s3, data.env.bucket, keys.search, plan)
    return {"iteration": k, "optimizer": fwi.optimizer, "steps": list(steps),
            "restarted": restarted}
