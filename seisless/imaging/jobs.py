"""The two Batch jobs of the imaging loop, as library functions (entrypoints are thin).

Keys under `runs/<id>/`::

    config.json                       RunConfig
    iter-<k>/shots.json               ShotList (leaf i is shot shots[i])
    iter-<k>/leaf-<i>.npy, .json      gradient of shot i and its sidecar (seisless.reduce)
    iter-<k>/leaf-<i>.job.json        shot id, timings, peak memory of the job
    iter-<k>/l<L>-0.npy, .json        the root of the reduction tree (the summed gradient)
    iter-<k>/model.npy, .json         FWI velocity of iteration k (k > 0; k = 0: config)
    iter-<k>/image.npy, z.npy         LS-RTM image and Bregman variable (k > 0)
    iter-<k>/history.json             objective history (and LS-RTM threshold) up to k-1
    iter-<k>/model.png                picture of the model/image

Every input is validated before anything is written, so a bad config, a missing object
or an index out of range fails with nothing in the bucket.
"""

from __future__ import annotations

import io
import json
import resource
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow.parquet as pq
from botocore.exceptions import ClientError

from seisless.errors import ConfigError, SeislessError, SourceError
from seisless.imaging import solver, update
from seisless.imaging.config import JobEnv, RunConfig, ShotList, parse
from seisless.imaging.model import Model
from seisless.imaging.segy_shot import read_shot, shot_ranges
from seisless.reduce import TreeLayout, announce_leaf, layout_for, read_sidecar, write_leaf
from seisless.reduce.tree import Node


def prefix(run_id: str, iteration: int) -> str:
    return f"runs/{run_id}/iter-{iteration}/"


def tree_of(config: RunConfig, run_id: str, iteration: int, shots: ShotList) -> TreeLayout:
    """The reduction tree of one iteration (leaf i is shot `shots.shots[i]`)."""
    return layout_for(run_id, iteration, len(shots.shots), config.fan_in)


def root_key(layout: TreeLayout) -> str:
    """Key of the reduced gradient of an iteration (the tree's root array)."""
    return layout.array_key(layout.root)


def _get(s3: Any, bucket: str, key: str) -> bytes:
    try:
        return s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as err:
        code = err.response.get("Error", {}).get("Code")
        raise SourceError(f"s3://{bucket}/{key} cannot be read ({code}); check that the "
                          "run was initialised and earlier steps completed") from None


def get_json(s3: Any, bucket: str, key: str) -> Any:
    try:
        return json.loads(_get(s3, bucket, key))
    except ValueError:
        raise ConfigError(f"s3://{bucket}/{key} is not JSON") from None


def get_array(s3: Any, bucket: str, key: str) -> np.ndarray:
    try:
        return np.load(io.BytesIO(_get(s3, bucket, key)), allow_pickle=False)
    except ValueError as err:
        raise ConfigError(f"s3://{bucket}/{key} is not a .npy array ({err})") from None


def array_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(array, dtype="<f4"), allow_pickle=False)
    return buf.getvalue()


def _put_json(s3: Any, bucket: str, key: str, doc: dict[str, Any]) -> None:
    s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(doc, sort_keys=True).encode())


def load_config(s3: Any, env: JobEnv) -> RunConfig:
    key = f"runs/{env.run_id}/config.json"
    return parse(RunConfig, get_json(s3, env.bucket, key), f"s3://{env.bucket}/{key}")


def load_shots(s3: Any, env: JobEnv, iteration: int) -> ShotList:
    key = prefix(env.run_id, iteration) + "shots.json"
    return parse(ShotList, get_json(s3, env.bucket, key), f"s3://{env.bucket}/{key}")


def _model(config: RunConfig, vp: np.ndarray) -> Model:
    spec = config.model
    if vp.ndim != len(spec.spacing):
        raise ConfigError(f"the model is {vp.ndim}-D but model.spacing has "
                          f"{len(spec.spacing)} values")
    return Model(vp, spec.spacing, spec.origin, nbl=spec.nbl, space_order=spec.space_order)


def current_velocity(s3: Any, env: JobEnv, config: RunConfig, iteration: int) -> np.ndarray:
    if config.objective == "fwi" and iteration > 0:
        return get_array(s3, env.bucket, prefix(env.run_id, iteration) + "model.npy")
    return get_array(s3, env.bucket, config.model.key)


def run_gradient_job(s3: Any, sqs: Any, env: JobEnv) -> dict[str, Any]:
    """Compute and store the gradient of shot `env.index` of iteration `env.iteration`,
    then announce the leaf. A leaf already committed (its sidecar exists: a retried
    job) is only announced again."""
    t_start = time.perf_counter()
    config = load_config(s3, env)
    shots = load_shots(s3, env, env.iteration)
    if env.index >= len(shots.shots):
        n = len(shots.shots)
        raise ConfigError(f"array index {env.index} is out of range: iteration "
                          f"{env.iteration} has {n} shots (indices 0..{n - 1})")
    if env.queue_url is None:
        raise ConfigError("REDUCE_QUEUE_URL is not set; the job must announce its leaf")
    layout = tree_of(config, env.run_id, env.iteration, shots)
    stem = layout.stem(Node(0, env.index))
    if read_sidecar(s3, env.bucket, layout.sidecar_key(Node(0, env.index))) is not None:
        announce_leaf(sqs, env.queue_url, env.bucket, layout, env.index)
        return {"leaf": stem, "recomputed": False}
    field_record = shots.shots[env.index]
    model = _model(config, current_velocity(s3, env, config, env.iteration))
    image = None
    if config.objective == "lsrtm" and env.iteration > 0:
        image = get_array(s3, env.bucket, prefix(env.run_id, env.iteration) + "image.npy")
    gathers = pq.read_table(io.BytesIO(_get(s3, env.bucket, config.data.gathers_key)))
    acq = config.acquisition
    t_read = time.perf_counter()
    shot = read_shot(f"s3://{env.bucket}/{config.data.segy_key}",
                     shot_ranges(gathers, field_record), f0=acq.f0, field_record=field_record,
                     s3_client=s3, source_depth=acq.source_depth,
                     receiver_depth=acq.receiver_depth, origin_x=acq.origin_x)
    t_solve = time.perf_counter()
    mem = config.memory
    options = {"strategy": mem.strategy, "factor": mem.factor, "memory_budget": mem.budget_bytes}
    if config.objective == "rtm":
        phi, grad = 0.0, solver.rtm(model, shot, **options)
    else:
        phi, grad = solver.gradient(model, shot, config.objective, image=image, **options)
    t_done = time.perf_counter()
    # The timings first: the sidecar written by `write_leaf` is the commit marker.
    _put_json(s3, env.bucket, stem + ".job.json", {
        "shot_id": field_record, "objective": phi,
        "seconds": {"setup": t_read - t_start, "read": t_solve - t_read,
                    "solve": t_done - t_solve},
        "peak_memory_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024})
    write_leaf(s3, env.bucket, layout, env.index, grad, objective=phi)
    announce_leaf(sqs, env.queue_url, env.bucket, layout, env.index)
    return {"leaf": stem, "recomputed": True, "objective": phi}


def run_update_job(s3: Any, env: JobEnv) -> dict[str, Any]:
    """model_k + root gradient of iteration k -> model_{k+1} (FWI) or image_{k+1}
    (LS-RTM), with the objective history and a picture."""
    config = load_config(s3, env)
    if config.objective == "rtm":
        raise ConfigError("an RTM run has no update step (it is one iteration)")
    k, here = env.iteration, prefix(env.run_id, env.iteration)
    nxt = prefix(env.run_id, k + 1)
    shots = load_shots(s3, env, k)
    layout = tree_of(config, env.run_id, k, shots)
    grad = get_array(s3, env.bucket, root_key(layout))
    objective = float(get_json(s3, env.bucket, layout.sidecar_key(layout.root))
                      .get("objective", 0.0))
    history = get_json(s3, env.bucket, here + "history.json") if k > 0 else {"objective": []}
    history = {**history, "objective": [*history["objective"], objective]}
    outputs: dict[str, np.ndarray] = {}
    if config.objective == "fwi":
        if config.fwi is None:
            raise ConfigError("an FWI run needs an 'fwi' section (vmin, vmax, max_dv)")
        bounds = update.FwiBounds(config.fwi.vmin, config.fwi.vmax, config.fwi.max_dv)
        vp = current_velocity(s3, env, config, k)
        if grad.shape != vp.shape:
            raise ConfigError(f"the gradient {grad.shape} and the model {vp.shape} differ")
        mask = get_array(s3, env.bucket, config.fwi.mask_key) if config.fwi.mask_key else None
        previous = None
        if k > 0:
            before = tree_of(config, env.run_id, k - 1, load_shots(s3, env, k - 1))
            previous = (current_velocity(s3, env, config, k - 1),
                        get_array(s3, env.bucket, root_key(before)))
        outputs["model"], history["step"] = update.fwi_update(vp, grad, bounds, previous,
                                                               mask)
    else:
        image = (get_array(s3, env.bucket, here + "image.npy") if k > 0
                 else np.zeros(grad.shape, np.float32))
        if config.lsrtm.method == "bregman":
            z = get_array(s3, env.bucket, here + "z.npy") if k > 0 else image
            outputs["z"], outputs["image"], history["lambda"] = update.bregman_update(
                z, grad, objective, history.get("lambda"), config.lsrtm.lam_fraction)
        else:
            outputs["image"] = update.lsrtm_gradient_update(image, grad, objective)
    for name, array in outputs.items():
        s3.put_object(Bucket=env.bucket, Key=f"{nxt}{name}.npy", Body=array_bytes(array))
    picture = outputs.get("model", outputs.get("image"))
    _put_json(s3, env.bucket, nxt + ("model.json" if "model" in outputs else "image.json"), {
        "shape": list(picture.shape), "spacing": list(config.model.spacing),
        "origin": list(config.model.origin or [0.0] * picture.ndim), "dtype": "<f4"})
    s3.put_object(Bucket=env.bucket, Key=nxt + "model.png", Body=_png(picture, config))
    _put_json(s3, env.bucket, nxt + "history.json", history)
    return {"iteration": k + 1, "objective": history["objective"]}


def _png(array: np.ndarray, config: RunConfig) -> bytes:
    """A picture of a 2-D model/image (3-D: its middle y slice), depth down."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    section = array if array.ndim == 2 else array[:, array.shape[1] // 2]
    dx, dz = config.model.spacing[0], config.model.spacing[-1]
    fig = Figure(figsize=(8, 4))
    ax = fig.add_subplot()
    extent = (0, dx * (section.shape[0] - 1), dz * (section.shape[1] - 1), 0)
    shown = ax.imshow(section.T, extent=extent, aspect="auto",
                      cmap="viridis" if config.objective == "fwi" else "gray")
    fig.colorbar(shown, ax=ax, label="vp (km/s)" if config.objective == "fwi" else "image")
    ax.set(xlabel="x (m)", ylabel="depth (m)", title=f"{config.run_id}")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80, metadata={"Software": None})
    return buf.getvalue()


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
