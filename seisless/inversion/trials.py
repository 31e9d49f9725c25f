"""The forward-only job of a line-search trial: objectives, no gradient, no reduction.

It runs in the gradient image under the gradient job definition, as one array child per
shot like the gradient job, with `SEISLESS_TRIAL` = t in its environment. Each child
models trial t's velocity P(m_k + alpha_t d) (computed from iterate k, the stored
direction and the plan's step, so no trial model has to be written before the array
starts) and writes the objective of each of its shots that the plan sums; child 0 also
writes the trial model, its sidecar and picture, which the judge copies on acceptance.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from seisless import storage
from seisless.errors import ConfigError, ImagingError
from seisless.inversion.documents import ArrayMeta, JobEnv, RunConfig
from seisless.inversion.jobs import (
    ARRAY_DTYPE,
    build_model,
    current_velocity,
    load_config,
    load_shots,
    read_field_shot,
    shots_of_child,
)
from seisless.inversion.keys import RunKeys, TrialKeys
from seisless.inversion.pictures import model_png
from seisless.inversion.propose import trial_velocity
from seisless.inversion.search import TrialObjective, load_plan, trial_step
from seisless.inversion.update import FwiBounds


def _write_model(s3: Any, env: JobEnv, config: RunConfig, keys: TrialKeys,
                 vp: np.ndarray) -> None:
    storage.put_array(s3, env.bucket, keys.model, vp, ARRAY_DTYPE)
    meta = ArrayMeta(shape=vp.shape, spacing=config.model.spacing,
                     origin=config.model.origin or (0.0,) * vp.ndim)
    storage.put_json(s3, env.bucket, keys.model_meta, meta.model_dump(mode="json"))
    s3.put_object(Bucket=env.bucket, Key=keys.picture, Body=model_png(vp, config))


def objective(model: Any, shot: Any) -> float:
    """0.5 ||F(m) - d||^2 of one shot: the gradient job's objective without its adjoint."""
    from seisless.imaging import forward

    return 0.5 * float(np.sum((forward(model, shot) - shot.data) ** 2))


def run_trial_job(s3: Any, env: JobEnv) -> dict[str, Any]:
    """Trial `env.trial` of iteration `env.iteration`: the objectives of array child
    `env.index`'s shots at the trial velocity. A shot whose objective exists (a retried
    job) is not solved again. A trial is a forward solve of a model that fits one
    machine (the gradient job's): it runs in one process, never under mpirun."""
    from seisless.imaging import parallel

    if parallel.world() is not None:
        raise ConfigError("line-search trial jobs run in one process; start them without "
                          "mpirun (only gradient jobs run over MPI ranks)")
    config = load_config(s3, env)
    if env.trial is None or config.fwi is None or not config.fwi.searches:
        raise ConfigError("a trial job needs SEISLESS_TRIAL and an FWI run whose "
                          "fwi.optimizer is 'lbfgs' or 'cg'")
    plan = load_plan(s3, env.bucket, env.run_id, env.iteration)
    step = trial_step(plan, env.trial)
    shots = load_shots(s3, env, env.iteration)
    mine = [i for i in shots_of_child(env, config, shots) if i in plan.leaves]
    here = RunKeys(env.run_id).iteration(env.iteration)
    keys = here.trial(env.trial)
    direction = storage.get_array(s3, env.bucket, here.direction, what="the search direction")
    vp = trial_velocity(current_velocity(s3, env, config, env.iteration), direction, step,
                        FwiBounds(config.fwi.vmin, config.fwi.vmax, config.fwi.max_dv))
    if env.index == 0:
        _write_model(s3, env, config, keys, vp)
    todo = [i for i in mine if not storage.exists(s3, env.bucket, keys.objective(i))]
    model = build_model(s3, env.bucket, config, vp) if todo else None
    for index in todo:
        t0 = time.perf_counter()
        field_record = shots.shots[index]
        phi = objective(model, read_field_shot(s3, env, config, field_record))
        if not math.isfinite(phi):
            raise ImagingError(f"trial {env.trial}: the solve of shot {field_record} diverged; "
                               "lower fwi.max_dv or acquisition.f0")
        storage.put_json(s3, env.bucket, keys.objective(index), TrialObjective(
            shot_id=field_record, objective=phi, seconds=time.perf_counter() - t0))
    return {"trial": env.trial, "step": step, "solved": todo}
