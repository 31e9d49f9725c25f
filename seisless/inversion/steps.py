"""The Lambda steps of the imaging state machine, as plain functions of AWS clients.

`init_step` validates the execution input and everything it names before anything is
written, then writes `runs/<id>/config.json`; `select_shots_step` writes an iteration's
`shots.json`; `record_failed_shots` tombstones the shots whose gradient job failed for
good, so the reduction still completes and says which shots are missing. Handlers in
`lambdas/imaging/` only parse their event and call these.
"""

from __future__ import annotations

import io
import json
import math
import re
from typing import Any

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq

from seisless import anisotropy, storage
from seisless.errors import ConfigError
from seisless.inversion.documents import (
    DataSpec,
    ImagingInput,
    IterationPlan,
    RunConfig,
    RunState,
    ShotList,
    job_name,
    parse_imaging_input,
    shots_per_job,
)
from seisless.inversion.keys import RunKeys
from seisless.messages import RUN_ID_PATTERN, TreeSpec
from seisless.reduce import Node, announce_leaf, layout_for, read_sidecar, write_tombstone
from seisless.scan.documents import ScanKeys

_SCAN_FIX = ("check scan_id: it is the folder name under scans/ of a finished scan "
             "(upload the SEG-Y under incoming/ and wait for its scan to succeed)")


#: Source positions of one shot gather may differ by this much (m), as in `Shot`.
SOURCE_TOLERANCE_M = 1e-3


def _shot_gathers(s3: Any, bucket: str, gathers_key: str) -> Any:
    body = storage.get_bytes(s3, bucket, gathers_key, what="the scan's gathers index",
                             fix="scan the SEG-Y file first (upload it under incoming/)")
    table = pq.read_table(io.BytesIO(body))
    return table.filter(pc.equal(table["kind"], "shot"))


def shot_ids(s3: Any, bucket: str, gathers_key: str) -> list[int]:
    """Field records of every shot gather of a scan, in ascending order."""
    return sorted(int(s) for s in _shot_gathers(s3, bucket, gathers_key)["key"].to_pylist())


def _check_shot_gathers(scan_id: str, shots: Any) -> None:
    """Imaging needs one source and many receivers per field record: refuse anything else
    (post-stack data, CDP-sorted traces) before a single gradient job starts."""
    if "source_spread" not in shots.column_names:
        raise ConfigError(f"scan {scan_id!r} was made by an older seisless without the "
                          "gathers' source spread; scan the file again")
    for shot in shots.to_pylist():
        if shot["source_spread"] > SOURCE_TOLERANCE_M or shot["n_receivers"] < 2:
            raise ConfigError(
                f"scan {scan_id!r} does not hold shot gathers: field record {shot['key']} "
                f"has {shot['n_traces']} traces from sources up to "
                f"{shot['source_spread']:.1f} m apart and {shot['n_receivers']} receiver "
                "position(s); imaging needs one source position and several receivers per "
                "field record (post-stack or CDP-sorted data cannot be migrated shot by shot)")


def _check_scan(s3: Any, bucket: str, request: ImagingInput) -> DataSpec:
    keys = ScanKeys(request.scan_id)
    summary = storage.get_json(s3, bucket, keys.summary,
                               what=f"scan {request.scan_id!r}: its summary", fix=_SCAN_FIX)
    source = str(summary.get("source", ""))
    if not source.startswith(f"s3://{bucket}/"):
        raise ConfigError(f"scan {request.scan_id!r} is of {source!r}, not an object of "
                          f"this bucket ({bucket}); scan the file in this bucket")
    shots = _shot_gathers(s3, bucket, keys.gathers)
    n_shots = shots.num_rows
    if n_shots == 0:
        raise ConfigError(f"scan {request.scan_id!r} found no shot gathers (its traces have "
                          "no field record numbers); imaging needs shot records")
    _check_shot_gathers(request.scan_id, shots)
    per = request.shots.per_iteration
    if per != "all" and per > n_shots:
        raise ConfigError(f"shots.per_iteration is {per} but scan {request.scan_id!r} has "
                          f"{n_shots} shots; use at most {n_shots} or 'all'")
    return DataSpec(segy_key=source[len(f"s3://{bucket}/"):], gathers_key=keys.gathers)


def _check_mask(s3: Any, bucket: str, request: ImagingInput, shape: tuple[int, ...]) -> None:
    """The FWI mask the update job will read: there, the model's shape, values in 0..1."""
    key = request.fwi.mask_key if request.fwi is not None else None
    if key is None:
        return
    mask = storage.get_array(s3, bucket, key, what="the FWI mask (fwi.mask_key)",
                             fix="upload it (a .npy of 0..1 weights, 0 where the model "
                                 "must not change) or remove fwi.mask_key")
    if mask.shape != shape:
        raise ConfigError(f"the FWI mask has shape {mask.shape} but the starting model "
                          f"{shape}; make one weight per model cell")
    if not np.all(np.isfinite(mask)) or mask.min() < 0 or mask.max() > 1:
        raise ConfigError("the FWI mask must hold finite weights between 0 and 1")


def _check_model(s3: Any, bucket: str, request: ImagingInput) -> None:
    spec = request.model
    vp = storage.get_array(s3, bucket, spec.key, what="the starting model",
                           fix="upload it (a float32 .npy of vp in km/s) or fix model.key")
    if vp.dtype.kind != "f" or vp.size == 0:
        raise ConfigError(f"the starting model holds {vp.dtype} values of shape {vp.shape}; "
                          "save vp in km/s as a float32 array with numpy.save")
    if vp.ndim != len(spec.spacing):
        raise ConfigError(f"the starting model is {vp.ndim}-D (shape {vp.shape}) but "
                          f"model.spacing has {len(spec.spacing)} values; give one spacing "
                          "per axis")
    if not np.all(np.isfinite(vp)) or vp.min() <= 0:
        raise ConfigError("the starting model has non-finite or non-positive velocities; "
                          "vp must be positive km/s everywhere")
    bounds = request.fwi
    if bounds is not None and (vp.min() < bounds.vmin or vp.max() > bounds.vmax):
        raise ConfigError(f"the starting model spans {vp.min():.3f}..{vp.max():.3f} km/s, "
                          f"outside fwi.vmin..vmax = {bounds.vmin}..{bounds.vmax}; widen the "
                          "bounds (they are km/s) or fix the model")
    _check_mask(s3, bucket, request, vp.shape)
    anisotropy.anisotropy(vp.shape, **anisotropy.read(s3, bucket, spec.anisotropy_keys))


def run_config(request: ImagingInput, run_id: str, data: DataSpec) -> RunConfig:
    return RunConfig(run_id=run_id, objective=request.objective,
                     iterations=request.iterations, fan_in=request.fan_in, model=request.model,
                     data=data, acquisition=request.acquisition, memory=request.memory,
                     fwi=request.fwi, lsrtm=request.lsrtm, shots=request.shots,
                     shots_per_job=request.shots_per_job)


def load_run_config(s3: Any, bucket: str, run_id: str) -> RunConfig:
    return storage.get_document(s3, bucket, RunKeys(run_id).config, RunConfig,
                                f"run {run_id!r}: its config", fix="check the run id")


def find_shot_list(s3: Any, bucket: str, run_id: str, iteration: int) -> ShotList | None:
    return storage.find_document(s3, bucket, RunKeys(run_id).iteration(iteration).shots,
                                 ShotList, "the shot list")


def _iteration_done(s3: Any, bucket: str, config: RunConfig, k: int) -> bool:
    """Iteration k is done once the update wrote `iter-<k+1>/history.json` (its last
    object); an RTM iteration once its root exists."""
    if config.objective != "rtm":
        return storage.exists(s3, bucket, RunKeys(config.run_id).iteration(k + 1).history)
    shots = find_shot_list(s3, bucket, config.run_id, k)
    if shots is None:
        return False
    layout = layout_for(config.run_id, k, len(shots.shots), config.fan_in)
    return read_sidecar(s3, bucket, layout.sidecar_key(layout.root)) is not None


def completed_iterations(s3: Any, bucket: str, config: RunConfig) -> int:
    """How many iterations of the run are done (they are done in order)."""
    done = 0
    while done < config.iterations and _iteration_done(s3, bucket, config, done):
        done += 1
    return done


def _resume_from(s3: Any, bucket: str, config: RunConfig) -> int:
    stored = load_run_config(s3, bucket, config.run_id)
    # Leaves are per shot whichever job computed them: shots_per_job may change too.
    free = {"iterations": config.iterations, "shots_per_job": config.shots_per_job}
    if stored.model_copy(update=free) != config:
        key = RunKeys(config.run_id).config
        raise ConfigError(f"run {config.run_id!r} was started with different settings; "
                          f"resume with the input it was started with (s3://{bucket}/{key}), "
                          "changing at most 'iterations' and 'shots_per_job'")
    return completed_iterations(s3, bucket, config)


def _run_id_of(execution_name: str) -> str:
    """The execution's name as the run id, when it can name the run's folder."""
    if not re.fullmatch(RUN_ID_PATTERN, execution_name):
        raise ConfigError(f"the execution name {execution_name!r} cannot be a run id (letters, "
                          "digits, '.', '_' and '-', at most 64, not starting with '.'); "
                          'give "run_id" in the input or rename the execution')
    return execution_name


def init_step(s3: Any, bucket: str, data: Any, execution_name: str) -> RunState:
    """Validate the execution input and what it names; write the run's config.

    Raises `ConfigError` / `SourceError` with the fix in the message; nothing is written
    unless everything is valid.
    """
    request = parse_imaging_input(data)
    run_id = request.run_id or _run_id_of(execution_name)
    data_spec = _check_scan(s3, bucket, request)
    _check_model(s3, bucket, request)
    config = run_config(request, run_id, data_spec)
    key = RunKeys(run_id).config
    start = 0
    if request.resume:
        start = _resume_from(s3, bucket, config)
    elif storage.exists(s3, bucket, key):
        raise ConfigError(f"run {run_id!r} already exists (s3://{bucket}/{key}); choose "
                          "another run_id, or set \"resume\": true to continue it")
    storage.put_json(s3, bucket, key, config.model_dump(mode="json"))
    searches = config.objective == "fwi" and config.fwi is not None and config.fwi.searches
    return RunState(bucket=bucket, run_id=run_id, objective=config.objective,
                    iteration=start, iterations=config.iterations,
                    reduction_timeout_s=request.reduction_timeout_s,
                    reduction_heartbeat_s=request.reduction_heartbeat_s,
                    line_search=searches,
                    max_trials=config.fwi.line_search.max_trials if searches else 1,
                    nodes_per_shot=request.nodes_per_shot)


def choose_shots(all_shots: list[int], config: RunConfig, iteration: int) -> list[int]:
    """All shots, or a random subset drawn from (seed, iteration): reproducible, so a
    resumed iteration uses the shots it started with."""
    per = config.shots.per_iteration
    if per == "all" or per >= len(all_shots):
        return list(all_shots)
    rng = np.random.default_rng([config.shots.seed, iteration])
    return sorted(int(s) for s in rng.choice(all_shots, size=per, replace=False))


def select_shots_step(s3: Any, state: RunState) -> IterationPlan:
    """Write `iter-<k>/shots.json` (kept if it exists: a resumed iteration) and plan
    the iteration's gradient jobs (one array job, or with `nodes_per_shot` > 1 as many
    multi-node jobs as the array would have children: Batch has no multi-node arrays)
    and reduction tree."""
    config = load_run_config(s3, state.bucket, state.run_id)
    k = state.iteration
    shots = find_shot_list(s3, state.bucket, state.run_id, k)
    if shots is None:
        chosen = choose_shots(shot_ids(s3, state.bucket, config.data.gathers_key), config, k)
        shots = ShotList(shots=tuple(chosen))
        storage.put_json(s3, state.bucket, RunKeys(state.run_id).iteration(k).shots,
                         shots.model_dump(mode="json"))
    n = len(shots.shots)
    per = shots_per_job(n, config.shots_per_job)
    n_jobs = math.ceil(n / per)
    return IterationPlan(
        iteration=k, iteration_str=str(k), array_size=n_jobs, shots_per_job=per,
        node_jobs=tuple(str(i) for i in range(n_jobs)) if state.nodes_per_shot > 1 else (),
        tree=TreeSpec(n_leaves=n, fan_in=config.fan_in),
        max_missing=math.floor(config.shots.missing_tolerance * n),
        gradient_job_name=job_name(state.run_id, "gradient", k),
        update_job_name=job_name(state.run_id, "update", k),
        trial_job_name=job_name(state.run_id, "trial", k))


def failure_reason(cause: str | None) -> str:
    """A readable reason from the cause of a failed `batch:submitJob.sync` (the job's
    description as JSON on AWS)."""
    job = _failed_job(cause)
    if job is None:
        return (cause or "the gradient job failed")[:500]
    reason = job.get("StatusReason") or job.get("statusReason")
    return f"gradient job failed after its retries: {reason or 'see its Batch job log'}"


def _failed_job(cause: str | None) -> dict[str, Any] | None:
    try:
        job = json.loads(cause or "")
    except ValueError:
        return None
    return job if isinstance(job, dict) else None


def child_reasons(batch: Any, cause: str | None, children: list[int]) -> dict[int, str]:
    """Why each array child failed, from Batch itself: its status reason, its container's
    reason and the log stream holding its output (what a user needs to look at)."""
    job = _failed_job(cause) or {}
    parent = job.get("JobId") or job.get("jobId")
    if not parent or batch is None or not children:
        return {}
    reasons: dict[int, str] = {}
    for first in range(0, len(children), 100):  # DescribeJobs takes 100 ids at most
        ids = [f"{parent}:{child}" for child in children[first:first + 100]]
        for described in batch.describe_jobs(jobs=ids).get("jobs", []):
            child = int(str(described["jobId"]).rsplit(":", 1)[1])
            container = described.get("container") or {}
            parts = [described.get("statusReason"), container.get("reason"),
                     f"log stream {container['logStreamName']}"
                     if container.get("logStreamName") else None]
            reasons[child] = "gradient job failed: " + "; ".join(p for p in parts if p)
    return reasons


def record_failed_shots(s3: Any, sqs: Any, queue_url: str, state: RunState,
                        plan: IterationPlan, cause: str | None,
                        batch: Any = None) -> dict[str, Any]:
    """After the array job ended with failed children: tombstone every shot without a
    committed leaf, and announce every leaf (a job may have died between committing
    its leaf and announcing it; duplicates are harmless). Safe to repeat; a real leaf
    always wins over a tombstone."""
    shots = find_shot_list(s3, state.bucket, state.run_id, plan.iteration)
    if shots is None or len(shots.shots) != plan.tree.n_leaves:
        raise ConfigError(f"iteration {plan.iteration} of run {state.run_id} has no shot "
                          "list matching its plan; the run's files were changed")
    layout = layout_for(state.run_id, plan.iteration, plan.tree.n_leaves, plan.tree.fan_in)
    reason = failure_reason(cause)
    missing = [i for i in range(plan.tree.n_leaves)
               if read_sidecar(s3, state.bucket, layout.sidecar_key(Node(0, i))) is None]
    per = plan.shots_per_job or shots_per_job(plan.tree.n_leaves)
    by_child = child_reasons(batch, cause, sorted({i // per for i in missing}))
    for index in missing:
        write_tombstone(s3, state.bucket, layout, index, by_child.get(index // per, reason))
    for index in range(plan.tree.n_leaves):
        announce_leaf(sqs, queue_url, state.bucket, layout, index)
    return {"tombstoned_shots": [shots.shots[i] for i in missing], "reason": reason}
