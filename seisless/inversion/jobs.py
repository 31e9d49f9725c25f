"""The two Batch jobs of the imaging loop, as library functions (entrypoints are thin).

The gradient job solves one shot with Devito (imported only when it runs, so the update
job and every Lambda load without it); the update job applies the NumPy update rules.
Keys come from `RunKeys` (see `seisless.inversion.keys` for the layout). Every input is
validated before anything is written, so a bad config, a missing object or an index out
of range fails with nothing in the bucket.
"""

from __future__ import annotations

import io
import math
import resource
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from seisless import anisotropy, storage
from seisless.errors import ConfigError, ImagingError, SeislessError
from seisless.inversion import jitcache, update
from seisless.inversion.documents import (
    ArrayMeta,
    History,
    JobEnv,
    RunConfig,
    ShotList,
    shots_per_job,
)
from seisless.inversion.keys import IterationKeys, RunKeys
from seisless.inversion.pictures import model_png
from seisless.inversion.propose import propose_search
from seisless.inversion.sparsity import make_frame
from seisless.reduce import (
    Node,
    Sidecar,
    TreeLayout,
    announce_leaf,
    layout_for,
    read_sidecar,
    write_leaf,
    write_tombstone,
)

#: Models, images and gradients are little-endian float32 `.npy`.
ARRAY_DTYPE = "<f4"
#: Longest failure reason kept in a tombstone (a state payload carries them).
MAX_REASON = 1000


def load_config(s3: Any, env: JobEnv) -> RunConfig:
    return storage.get_document(s3, env.bucket, RunKeys(env.run_id).config, RunConfig,
                                "the run config", fix="check that the run was initialised")


def load_shots(s3: Any, env: JobEnv, iteration: int) -> ShotList:
    return storage.get_document(s3, env.bucket, RunKeys(env.run_id).iteration(iteration).shots,
                                ShotList, "the shot list", fix="run SelectShots first")


def tree_of(config: RunConfig, run_id: str, iteration: int, shots: ShotList) -> TreeLayout:
    """The reduction tree of one iteration (leaf i is shot `shots.shots[i]`)."""
    return layout_for(run_id, iteration, len(shots.shots), config.fan_in)


def velocity_key(env: JobEnv, config: RunConfig, iteration: int) -> tuple[str, str]:
    """(key, description) of vp of `iteration`: FWI's updated model after iteration 0,
    else the starting one."""
    if config.objective == "fwi" and iteration > 0:
        return RunKeys(env.run_id).iteration(iteration).model, "the iteration's model"
    return config.model.key, "the starting model"


def current_velocity(s3: Any, env: JobEnv, config: RunConfig, iteration: int) -> np.ndarray:
    """vp of `iteration` (see `velocity_key`)."""
    key, what = velocity_key(env, config, iteration)
    return storage.get_array(s3, env.bucket, key, what=what)


def shots_of_child(env: JobEnv, config: RunConfig, shots: ShotList) -> range:
    """The positions in `shots` array child `env.index` solves (see `shots_per_job`)."""
    n = len(shots.shots)
    per = shots_per_job(n, config.shots_per_job)
    n_jobs = -(-n // per)
    if env.index >= n_jobs:
        raise ConfigError(f"array index {env.index} is out of range: iteration "
                          f"{env.iteration} has {n} shots in {n_jobs} jobs "
                          f"(indices 0..{n_jobs - 1})")
    return range(env.index * per, min((env.index + 1) * per, n))


def leaves_of_job(env: JobEnv, config: RunConfig, shots: ShotList) -> range:
    """The leaves gradient child `env.index` computes and announces."""
    leaves = shots_of_child(env, config, shots)
    if env.queue_url is None:
        raise ConfigError("REDUCE_QUEUE_URL is not set; the job must announce its leaf")
    return leaves


def build_model(s3: Any, bucket: str, config: RunConfig, vp: np.ndarray | storage.ArrayRows
                ) -> Any:
    """The Devito model of velocity `vp` on the run's grid, TTI where the run names
    anisotropy arrays (Devito imported here); read by rows like `vp` when `vp` is (the
    arrays' dtypes were checked by Init)."""
    from seisless.imaging import Model, TTIModel

    spec = config.model
    if len(vp.shape) != len(spec.spacing):
        raise ConfigError(f"the model is {len(vp.shape)}-D but model.spacing has "
                          f"{len(spec.spacing)} values")
    if isinstance(vp, storage.ArrayRows):  # under MPI: every array read by rows
        tti = {name: storage.ArrayRows(s3, bucket, key, what=f"model.{name}_key's array")
               for name, key in spec.anisotropy_keys.items()}
    else:
        tti = anisotropy.read(s3, bucket, spec.anisotropy_keys)  # empty: acoustic
    return (TTIModel if tti else Model)(vp, spec.spacing, spec.origin, nbl=spec.nbl,
                                        space_order=spec.space_order, **tti)


def read_field_shot(s3: Any, env: JobEnv, config: RunConfig, field_record: int) -> Any:
    """Shot `field_record` with its observed data, read from the SEG-Y by byte ranges
    (x and y positions for a 3-D model)."""
    from seisless.imaging.segy_shot import read_shot, shot_ranges

    gathers = pq.read_table(io.BytesIO(storage.get_bytes(
        s3, env.bucket, config.data.gathers_key, what="the scan's gathers index")))
    acq = config.acquisition
    return read_shot(f"s3://{env.bucket}/{config.data.segy_key}",
                     shot_ranges(gathers, field_record), f0=acq.f0, field_record=field_record,
                     s3_client=s3, source_depth=acq.source_depth,
                     receiver_depth=acq.receiver_depth, origin_x=acq.origin_x,
                     origin_y=acq.origin_y if len(config.model.spacing) == 3 else None)


def _job_velocity(s3: Any, env: JobEnv, config: RunConfig, comm: Any | None
                  ) -> np.ndarray | storage.ArrayRows:
    """vp for the gradient job: under MPI read by rows, each rank only its x-slab by
    ranged GETs (no rank holds the whole model); else the whole array."""
    if comm is None:
        return current_velocity(s3, env, config, env.iteration)
    key, what = velocity_key(env, config, env.iteration)
    return storage.ArrayRows(s3, env.bucket, key, what=what)


def _solve_shot(s3: Any, env: JobEnv, config: RunConfig, field_record: int,
                comm: Any | None = None) -> tuple[float, np.ndarray | None, dict[str, float]]:
    """Read the shot by byte ranges and solve it with Devito: (objective, gradient,
    seconds per phase). The only place the inversion loop touches the physics. Under
    MPI (`comm`) every rank solves its slab; the gradient is None except on rank 0."""
    from seisless.imaging import solver

    t0 = time.perf_counter()
    model = build_model(s3, env.bucket, config, _job_velocity(s3, env, config, comm))
    image = None
    if config.objective == "lsrtm" and env.iteration > 0:
        here = RunKeys(env.run_id).iteration(env.iteration)
        image = storage.get_array(s3, env.bucket, here.image)
    t_read = time.perf_counter()
    shot = read_field_shot(s3, env, config, field_record)
    t_solve = time.perf_counter()
    mem = config.memory
    options = {"strategy": mem.strategy, "factor": mem.factor, "memory_budget": mem.budget_bytes}
    if config.objective == "rtm":
        phi, grad = 0.0, solver.rtm(model, shot, **options)
    else:
        phi, grad = solver.gradient(model, shot, config.objective, image=image, **options)
    seconds = {"setup": t_read - t0, "read": t_solve - t_read,
               "solve": time.perf_counter() - t_solve}
    return phi, grad, seconds


def _gradient_leaf(s3: Any, sqs: Any, env: JobEnv, config: RunConfig, shots: ShotList,
                   index: int, comm: Any | None = None) -> dict[str, Any]:
    """Compute, store and announce leaf `index`; a leaf already committed (its sidecar
    exists: a retried job) is only announced again. Under MPI (`comm`) every rank takes
    part in the solve and rank 0 alone writes and announces (its answer on the sidecar
    is every rank's)."""
    from seisless.imaging import parallel

    root = parallel.is_root(comm)
    layout = tree_of(config, env.run_id, env.iteration, shots)
    leaf = Node(0, index)
    committed = root and read_sidecar(s3, env.bucket, layout.sidecar_key(leaf)) is not None
    if comm is not None:
        committed = comm.bcast(committed, root=parallel.ROOT)
    if committed:
        if root:
            announce_leaf(sqs, env.queue_url, env.bucket, layout, index)
        return {"leaf": layout.stem(leaf), "recomputed": False}
    field_record = shots.shots[index]
    try:
        phi, grad, seconds = _solve_shot(s3, env, config, field_record, comm)
        if not (math.isfinite(phi) and (grad is None or np.all(np.isfinite(grad)))):
            raise ImagingError(f"the solve of shot {field_record} diverged (objective "
                               f"{phi}); check the model's velocities against the data's "
                               "frequency, or lower acquisition.f0")
    except SeislessError as err:
        # A typed error is final (Batch does not retry it): the shot is tombstoned with
        # its reason, so the reduction completes and the run says why the shot is missing.
        if root:
            write_tombstone(s3, env.bucket, layout, index,
                            f"shot {field_record}: {err.code}: {err}"[:MAX_REASON])
            announce_leaf(sqs, env.queue_url, env.bucket, layout, index)
        raise
    if not root:
        return {"leaf": layout.stem(leaf), "recomputed": True, "objective": phi}
    # The record first: the sidecar written by `write_leaf` is the commit marker.
    storage.put_json(s3, env.bucket, layout.keys.leaf_record(index), {
        "shot_id": field_record, "objective": phi, "seconds": seconds,
        "peak_memory_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024})
    write_leaf(s3, env.bucket, layout, index, grad, objective=phi)
    announce_leaf(sqs, env.queue_url, env.bucket, layout, index)
    return {"leaf": layout.stem(leaf), "recomputed": True, "objective": phi}


def run_gradient_job(s3: Any, sqs: Any, env: JobEnv) -> dict[str, Any]:
    """Compute the gradients of the shots of array child `env.index` of iteration
    `env.iteration` (see `leaves_of_job`), one leaf at a time. In one process the run's
    compiled operators are fetched first and the ones compiled here shared after
    (`jitcache`); MPI ranks compile their own (each node has its own folder). A shot
    failing with a typed error is tombstoned and the others are computed; the job then
    fails with the first such error (Batch does not retry it)."""
    from seisless.imaging import parallel

    config = load_config(s3, env)
    shots = load_shots(s3, env, env.iteration)
    comm = parallel.world()
    todo = leaves_of_job(env, config, shots)
    cache = jitcache.jit_dir() if comm is None else None
    if cache is not None:
        known = jitcache.fetch(s3, env.bucket, env.run_id, cache) | jitcache.compiled(cache)
    leaves, failed = [], []
    for index in todo:
        # A shot's typed error is its tombstone: the job's other shots still count.
        try:
            leaves.append(_gradient_leaf(s3, sqs, env, config, shots, index, comm))
        except SeislessError as err:
            failed.append(err)
    if cache is not None:
        jitcache.publish(s3, env.bucket, env.run_id, cache, known)
    if failed:
        raise failed[0]
    return leaves[0] if len(leaves) == 1 else {"leaves": leaves}


class _Iterations:
    """What the update job reads of any iteration j of the run: its summed gradient,
    objective and shots (from its reduction root), and its model, image or Bregman
    variable; each read at most once."""

    def __init__(self, s3: Any, env: JobEnv, config: RunConfig) -> None:
        self.s3, self.env, self.config = s3, env, config
        self._roots: dict[int, tuple[np.ndarray, Sidecar, ShotList]] = {}

    def _root(self, j: int) -> tuple[np.ndarray, Sidecar, ShotList]:
        if j not in self._roots:
            shots = load_shots(self.s3, self.env, j)
            layout = tree_of(self.config, self.env.run_id, j, shots)
            grad = storage.get_array(self.s3, self.env.bucket, layout.array_key(layout.root),
                                     what="the reduced gradient")
            sidecar = storage.get_document(self.s3, self.env.bucket,
                                           layout.sidecar_key(layout.root), Sidecar,
                                           "the reduced gradient's sidecar")
            self._roots[j] = grad, sidecar, shots
        return self._roots[j]

    def gradient(self, j: int) -> np.ndarray:
        return self._root(j)[0]

    def objective(self, j: int) -> float:
        return self._root(j)[1].objective

    def summed_shots(self, j: int) -> frozenset[int]:
        """The field records whose misfit the objective of iteration j adds up."""
        _, sidecar, shots = self._root(j)
        return frozenset(shots.shots[i] for i in sidecar.members
                         if i not in sidecar.tombstones)

    def velocity(self, j: int) -> np.ndarray:
        return current_velocity(self.s3, self.env, self.config, j)

    def lsrtm_state(self, j: int) -> tuple[np.ndarray, np.ndarray]:
        """(image, Bregman z) of iteration j: zeros at the start; z is the image for
        plain gradient steps."""
        if j == 0:
            zero = np.zeros(self.gradient(0).shape, np.float32)
            return zero, zero
        keys = RunKeys(self.env.run_id).iteration(j)
        image = storage.get_array(self.s3, self.env.bucket, keys.image)
        if self.config.lsrtm.method != "bregman":
            return image, image
        return image, storage.get_array(self.s3, self.env.bucket, keys.bregman_z)


def fwi_bounds_and_mask(data: _Iterations, vp: np.ndarray, grad: np.ndarray
                        ) -> tuple[update.FwiBounds, np.ndarray]:
    """The FWI bounds and the gradient's mask: the acquisition's cells frozen, times the
    user's `fwi.mask_key` if given."""
    config = data.config
    if config.fwi is None:
        raise ConfigError("an FWI run needs an 'fwi' section (vmin, vmax, max_dv)")
    if grad.shape != vp.shape:
        raise ConfigError(f"the gradient {grad.shape} and the model {vp.shape} differ")
    bounds = update.FwiBounds(config.fwi.vmin, config.fwi.vmax, config.fwi.max_dv)
    acq, spec = config.acquisition, config.model
    mask = update.acquisition_mask(vp.shape, spec.spacing[-1],
                                   spec.origin[-1] if spec.origin else 0.0,
                                   min(acq.source_depth, acq.receiver_depth))
    if config.fwi.mask_key:
        user = storage.get_array(data.s3, data.env.bucket, config.fwi.mask_key,
                                 what="the FWI mask")
        if user.shape != vp.shape:
            raise ConfigError(f"fwi.mask_key's array is {user.shape} but the model is "
                              f"{vp.shape}")
        mask = mask * user
    return bounds, mask


def _fwi_step(data: _Iterations, history: History, check: update.StepCheck,
              previous: int | None) -> tuple[dict[str, np.ndarray], float]:
    """FWI: a BB step from the accepted iterate (previous = the accepted one before it),
    or half the rejected step from the base."""
    vp, grad = data.velocity(check.base), data.gradient(check.base)
    bounds, mask = fwi_bounds_and_mask(data, vp, grad)
    if not check.accepted:
        model, step = update.fwi_retry(vp, grad, history.step, bounds, mask)
    else:
        before = None if previous is None else (data.velocity(previous),
                                                data.gradient(previous))
        model, step = update.fwi_update(vp, grad, bounds, before, mask)
    return {"model": model}, step


def _lsrtm_step(data: _Iterations, history: History, check: update.StepCheck,
                previous: int | None) -> tuple[dict[str, np.ndarray], float, float | None]:
    """LS-RTM: from the accepted iterate, the exact step of the last step's curvature;
    after a rejection, the quadratic's minimiser along the rejected step, from the base.
    The last step (previous -> k) and the objectives at its ends give its curvature."""
    k, base = len(history.objective) - 1, check.base
    grad = data.gradient(base)
    measured = None
    if previous is not None:
        dx = data.lsrtm_state(k)[0] - data.lsrtm_state(previous)[0]
        measured = dx, update.quadratic_curvature(
            data.objective(previous), data.gradient(previous), dx, data.objective(k))
    if check.accepted:
        step = update.lsrtm_next_step(data.objective(base), grad, measured)
    else:  # rejected: previous is the base, history.step the step that was taken from it
        step = update.lsrtm_retry_step(history.step, grad, *measured)
    image, z = data.lsrtm_state(base)
    if data.config.lsrtm.method != "bregman":
        return {"image": update.lsrtm_gradient_update(image, grad, step)}, step, None
    spec = data.config.lsrtm
    frame = make_frame(spec.transform, grad.shape, wavelet=spec.wavelet, levels=spec.levels)
    lam = None if base == 0 else history.lam  # set by the first step from the start
    z, image, lam = update.bregman_update(z, grad, step, lam, spec.lam_fraction, frame)
    return {"z": z, "image": image}, step, lam


def _write_update(s3: Any, env: JobEnv, config: RunConfig, outputs: dict[str, np.ndarray],
                  history: History) -> None:
    """The next iteration's arrays, their sidecar and picture, then its history (last:
    it marks the iteration done)."""
    nxt: IterationKeys = RunKeys(env.run_id).iteration(env.iteration + 1)
    keys = {"model": nxt.model, "image": nxt.image, "z": nxt.bregman_z}
    for name, array in outputs.items():
        storage.put_array(s3, env.bucket, keys[name], array, ARRAY_DTYPE)
    picture = outputs.get("model", outputs.get("image"))
    meta = ArrayMeta(shape=picture.shape, spacing=config.model.spacing,
                     origin=config.model.origin or (0.0,) * picture.ndim)
    storage.put_json(s3, env.bucket, nxt.model_meta if "model" in outputs else nxt.image_meta,
                     meta.model_dump(mode="json"))
    s3.put_object(Bucket=env.bucket, Key=nxt.picture, Body=model_png(picture, config))
    storage.put_json(s3, env.bucket, nxt.history, history.dump())


def run_update_job(s3: Any, env: JobEnv) -> dict[str, Any]:
    """model_k + root gradient of iteration k -> model_{k+1} (FWI) or image_{k+1}
    (LS-RTM), with the objective history (and which iterates were rejected) and a
    picture. A rejected iterate (its objective above the last accepted one's, on the
    same shots) is replaced by a shorter step from the last accepted one. FWI with
    `fwi.optimizer` "lbfgs" or "cg" writes the search direction and the line search's
    plan instead (`propose_search`); its accepted trial makes iteration k+1."""
    config = load_config(s3, env)
    if config.objective == "rtm":
        raise ConfigError("an RTM run has no update step (it is one iteration)")
    k = env.iteration
    data = _Iterations(s3, env, config)
    history = (storage.get_document(s3, env.bucket, RunKeys(env.run_id).iteration(k).history,
                                    History, "the history") if k > 0 else History())
    if config.objective == "fwi" and config.fwi is not None and config.fwi.searches:
        vp = data.velocity(k)
        return propose_search(data, history, *fwi_bounds_and_mask(data, vp, data.gradient(k)))
    objective = (*history.objective, data.objective(k))
    previous = history.last_accepted
    # A step is checked when its objective adds up the same shots as the base's and
    # the step taken is known (histories written before steps were recorded lack it).
    checkable = previous is None or (history.step is not None and
                                     data.summed_shots(k) == data.summed_shots(previous))
    check = update.check_step(objective, history.accepted, comparable=checkable,
                              what=f"run {env.run_id}")
    history = history.model_copy(update={"objective": objective,
                                         "accepted": (*history.accepted, check.accepted)})
    if config.objective == "fwi":
        outputs, step = _fwi_step(data, history, check, previous)
        history = history.model_copy(update={"step": step})
    else:
        outputs, step, lam = _lsrtm_step(data, history, check, previous)
        history = history.model_copy(update={"step": step, "lam": lam})
    _write_update(s3, env, config, outputs, history)
    return {"iteration": k + 1, "objective": list(history.objective),
            "accepted": list(history.accepted)}


def run_entrypoint(job: Callable[[JobEnv], dict[str, Any]]) -> int:
    """A Batch entrypoint's body: run `job` on the environment's JobEnv; a SeislessError
    is one line on stderr and its exit code (Batch then does not retry it)."""
    try:
        result = job(JobEnv.from_environ())
    except SeislessError as err:
        print(f"{err.code}: {err}", file=sys.stderr)
        return err.exit_code
    print(result)
    return 0
