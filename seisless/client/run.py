"""`seisless run INPUT.json --engine local|aws`: start an imaging run, follow it, fetch it.

While the run goes on, the client says when each iteration starts, how many of its shots
have a committed leaf (a gradient or a tombstone), and each iteration's objective; at
the end it downloads what a person looks at (config, per-iteration models, pictures,
histories), draws the objective and names every tombstoned shot.
"""

from __future__ import annotations

import itertools
import json
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from botocore.exceptions import ClientError

from seisless.client.engine import Target, open_target
from seisless.client.follow import Progress, follow, logs_named
from seisless.client.run_cost import cost_table, prices_of, write_run_cost
from seisless.errors import ConfigError
from seisless.inversion.documents import RunConfig
from seisless.inversion.keys import IterationKeys, RunKeys
from seisless.inversion.pictures import model_png
from seisless.names import STACK_NAME
from seisless.reduce import layout_for
from seisless.storage import get_json, list_keys

if TYPE_CHECKING:
    from seisless.local import LocalCloud

#: The states whose exit the progress reports (statemachines/imaging.asl.json).
SELECT_STATE, UPDATE_STATE, JUDGE_STATE = "SelectShots", "Update", "JudgeTrial"


def _leaf_sidecar(keys: IterationKeys, index: int) -> str:
    """A leaf's commit marker: it exists once the shot's gradient or tombstone does."""
    return keys.node_stem(0, index) + ".json"


class RunProgress:
    """Says each iteration's shot count, its shots done, and its objective."""

    def __init__(self, target: Target, run: RunKeys, say: Progress) -> None:
        self._target, self._run, self._say = target, run, say
        self._iteration: int | None = None
        self._shots = 0
        self._done = -1
        self.events: list[dict[str, Any]] = []  # the history, for the run's cost

    def event(self, event: dict[str, Any]) -> None:
        self.events.append(event)
        if event["type"] != "TaskStateExited":
            return
        details = event["stateExitedEventDetails"]
        if details["name"] == SELECT_STATE:
            plan = json.loads(details["output"])["selected"]["plan"]
            self._iteration, self._done = plan["iteration"], -1
            self._shots = plan["tree"]["n_leaves"]
            self._say(f"iteration {self._iteration}: {self._shots} shots")
        elif details["name"] == JUDGE_STATE and self._iteration is not None:
            search = json.loads(details["output"])["search"]
            verdict = "accepted" if search["accepted"] else "rejected"
            self._say(f"  line search trial {search['trial'] - 1}: objective "
                      f"{search['objective']:.6g} at step {search['step']:.3g}, {verdict}")
            if search["accepted"]:
                self._done_iteration()
        elif details["name"] == UPDATE_STATE and self._iteration is not None and \
                not json.loads(details["output"])["run"].get("line_search"):
            self._done_iteration()

    def _done_iteration(self) -> None:
        """Iteration k's objective, once its update (or accepted trial) wrote k+1's history."""
        history = get_json(self._target.s3, self._target.bucket,
                           self._run.iteration(self._iteration + 1).history,
                           what="the objective history", fix="the Update job writes it")
        accepted = (history.get("accepted") or [True])[-1]
        verdict = "" if accepted else " (it rose: step rejected, a shorter one follows)"
        self._say(f"iteration {self._iteration} done: objective "
                  f"{history['objective'][-1]:.6g}{verdict}")

    def poll(self) -> None:
        if self._iteration is None:
            return
        keys = self._run.iteration(self._iteration)
        listed = set(list_keys(self._target.s3, self._target.bucket, keys.prefix))
        done = sum(_leaf_sidecar(keys, i) in listed for i in range(self._shots))
        if done != self._done:
            self._done = done
            self._say(f"  shots done {done}/{self._shots} "
                      f"[{'#' * done}{'.' * (self._shots - done)}]")


def _start(target: Target, name: str, data: dict[str, Any]) -> str:
    """Start the execution named `name`; a name in use is a readable error."""
    try:
        return target.sfn.start_execution(stateMachineArn=target.imaging_state_machine_arn,
                                          name=name, input=json.dumps(data))["executionArn"]
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") != "ExecutionAlreadyExists":
            raise
    raise ConfigError(f"run id {data['run_id']!r} is already in use; continue it with "
                      f"`seisless run INPUT --resume {data['run_id']}`, or give the input "
                      "another \"run_id\" (or none: a fresh one is picked)")


def load_input(path: str | Path, resume: str | None) -> dict[str, Any]:
    """The run's input document; `resume` (a run id) continues that run."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as err:
        raise ConfigError(f"{path}: cannot read the run input ({err}); give a JSON file "
                          "like the README's example") from None
    if resume:
        data = {**data, "run_id": resume, "resume": True}
    return data


def run_imaging(input_path: str | Path, out_dir: str | Path, *, engine: str = "local",
                resume: str | None = None, stack_name: str = STACK_NAME,
                endpoint: str | None = None, cloud: LocalCloud | None = None,
                say: Progress = print, timeout_s: float = 24 * 3600) -> dict[str, Any]:
    """Start (or resume) an imaging run, follow it and download its results.

    Raises `WorkflowFailedError` with the Fail state's error and cause when it fails.
    """
    data = load_input(input_path, resume)
    name = str(data.get("run_id") or f"run-{uuid.uuid4().hex[:12]}")
    if data.get("resume"):  # from --resume or the input: execution names are unique
        name = f"{name}-resume-{uuid.uuid4().hex[:6]}"
    data.setdefault("run_id", name)
    run = RunKeys(data["run_id"])
    with open_target(engine, stack_name=stack_name, endpoint=endpoint, cloud=cloud) as target:
        arn = _start(target, name, data)
        say(f"run {run.run_id}: execution {arn}")
        progress = RunProgress(target, run, say)
        with logs_named(target):
            follow(target.sfn, arn, progress, what=f"run {run.run_id}", timeout_s=timeout_s)
        cost = write_run_cost(target.s3, target.bucket, run, progress.events, prices_of(data))
        result = download(target.s3, target.bucket, run, Path(out_dir))
    say(cost_table(cost).rstrip())
    for key, reason in result["tombstones"].items():
        say(f"missing shot {key}: {reason}")
    made = f"; result {Path(out_dir) / result['result']}" if "result" in result else ""
    say(f"done: objective {[round(v, 6) for v in result['objective']]}{made}; results in "
        f"{out_dir}")
    return result


def download(s3: Any, bucket: str, run: RunKeys, out: Path) -> dict[str, Any]:
    """Fetch config, per-iteration histories, models and pictures into `out` (laid out
    as under the run's prefix); draw the objective; the result (also `result.json`)."""
    out.mkdir(parents=True, exist_ok=True)
    listed = set(list_keys(s3, bucket, run.prefix))
    iterations = _iterations(run, listed)
    wanted = [run.config, run.cost, *(key for it in iterations for key in (
        it.shots, it.history, it.model, it.model_meta, it.picture, it.image))]
    for key in wanted:
        if key in listed:
            path = _local_path(out, run, key)
            path.parent.mkdir(parents=True, exist_ok=True)
            s3.download_file(bucket, key, str(path))
    histories = [it.history for it in iterations if it.history in listed]
    history = json.loads(_local_path(out, run, histories[-1]).read_text()) \
        if histories else {}
    objective = history.get("objective", [])
    accepted = history.get("accepted") or [True] * len(objective)
    if objective:
        _plot_objective(objective, out / "objective.png")
    result = {"run_id": run.run_id, "objective": objective, "accepted": accepted,
              **_final_result(s3, bucket, run, out, iterations, listed),
              "tombstones": _tombstones(s3, bucket, iterations, listed), "output": str(out)}
    if run.cost in listed:
        result["cost"] = json.loads((out / "cost.json").read_text())
    (out / "result.json").write_text(json.dumps(result, indent=2))
    return result


def _final_result(s3: Any, bucket: str, run: RunKeys, out: Path,
                  iterations: list[IterationKeys], listed: set[str]) -> dict[str, str]:
    """What the run produced, as paths relative to `out`: the last FWI model or LS-RTM
    image with its picture, or the RTM image (the reduced gradient of its one
    iteration), downloaded and pictured here."""
    config = RunConfig.model_validate_json((out / "config.json").read_text())
    if config.objective != "rtm":
        for keys in reversed(iterations):
            array = keys.model if config.objective == "fwi" else keys.image
            if array in listed:
                return {"result": str(_local_path(out, run, array).relative_to(out.resolve())),
                        "picture": str(_local_path(out, run, keys.picture)
                                       .relative_to(out.resolve()))}
        return {}
    shots = json.loads(_local_path(out, run, run.iteration(0).shots).read_text())["shots"]
    layout = layout_for(run.run_id, 0, len(shots), config.fan_in)
    root = layout.array_key(layout.root)
    if root not in listed:
        return {}
    s3.download_file(bucket, root, str(out / "image.npy"))
    image = np.load(out / "image.npy", allow_pickle=False)
    (out / "image.png").write_bytes(model_png(image, config))
    return {"result": "image.npy", "picture": "image.png"}


def _local_path(out: Path, run: RunKeys, key: str) -> Path:
    """Where `key` of the run is downloaded: its path below the run's prefix, which must
    stay inside `out` (keys come from RunKeys, but a bucket is not ours to trust)."""
    if not key.startswith(run.prefix):
        raise ConfigError(f"s3 key {key!r} is not under the run's prefix {run.prefix!r}")
    target = (out / key[len(run.prefix):]).resolve()
    if not target.is_relative_to(out.resolve()):
        raise ConfigError(f"s3 key {key!r} would be written outside {out} ({target}); "
                          "refusing to download it")
    return target


def _iterations(run: RunKeys, listed: set[str]) -> list[IterationKeys]:
    """The run's iterations that hold any object (they are numbered from 0 up)."""
    found: list[IterationKeys] = []
    while any(key.startswith(run.iteration(len(found)).prefix) for key in listed):
        found.append(run.iteration(len(found)))
    return found


def _tombstones(s3: Any, bucket: str, iterations: list[IterationKeys],
                listed: set[str]) -> dict[str, str | None]:
    """Each tombstoned leaf's sidecar key and why its shot's job failed."""
    found: dict[str, str | None] = {}
    for keys in iterations:
        for index in itertools.count():
            sidecar = _leaf_sidecar(keys, index)
            if sidecar not in listed:
                break
            side = get_json(s3, bucket, sidecar, what="a leaf sidecar")
            if side.get("tombstones"):
                found[sidecar] = side.get("reason")
    return found


def _plot_objective(values: list[float], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5, 3.5))
    ax = fig.add_subplot()
    ax.semilogy(range(len(values)), values, "o-")
    ax.set(xlabel="iteration", ylabel="objective (misfit)", title="objective history")
    fig.savefig(path, dpi=80, bbox_inches="tight")
