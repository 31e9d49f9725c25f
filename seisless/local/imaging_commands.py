"""`seisless run INPUT.json --engine local|aws`: start an imaging run, follow it, fetch it.

The CLI follows an execution the way a person at the console would: it polls the
execution's history (there is nothing to subscribe to from a laptop) and counts the
committed leaves of the current iteration; the workflow itself never polls.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

from seisless.errors import ConfigError, WorkflowFailedError
from seisless.local.commands import POLL_S, Progress
from seisless.names import OUTPUT_BUCKET, OUTPUT_IMAGING_STATE_MACHINE

LOCAL_ENDPOINT = "http://127.0.0.1:4566"


def stack_target(stack_name: str, endpoint: str | None) -> tuple[Any, Any, str, str]:
    """(s3, stepfunctions, bucket, imaging state machine ARN) of a deployed stack: on
    AWS, or in a running local cloud (`seisless up`) when `endpoint` is given."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    extra: dict[str, Any] = {}
    if endpoint:
        extra = {"endpoint_url": endpoint, "region_name": "us-east-1",
                 "aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    try:
        stack = boto3.client("cloudformation", **extra).describe_stacks(StackName=stack_name)
    except (ClientError, BotoCoreError) as err:
        where = f"the local cloud at {endpoint} (start it with `seisless up`)" if endpoint \
            else "your AWS account (deploy it with `cdk deploy`)"
        raise ConfigError(f"cannot find the stack {stack_name!r} in {where}: {err}") from None
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Stacks"][0]["Outputs"]}
    return (boto3.client("s3", **extra), boto3.client("stepfunctions", **extra),
            outputs[OUTPUT_BUCKET], outputs[OUTPUT_IMAGING_STATE_MACHINE])


def load_input(path: str | Path, resume: str | None) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as err:
        raise ConfigError(f"{path}: cannot read the run input ({err}); give a JSON file "
                          "like the README's example") from None
    if resume:
        data = {**data, "run_id": resume, "resume": True}
    return data


def _count(s3: Any, bucket: str, prefix: str, suffix: str) -> int:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return sum(1 for page in pages for o in page.get("Contents", [])
               if o["Key"].endswith(suffix) and o["Key"][len(prefix):].startswith("leaf-"))


def _json(s3: Any, bucket: str, key: str) -> Any:
    return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())


def follow(s3: Any, sfn: Any, arn: str, bucket: str, run_id: str, say: Progress,
           timeout_s: float) -> dict[str, Any]:
    """Report states, shots done and objective values until the execution ends."""
    reported, iteration, shots, done = 0, None, 0, -1
    deadline = time.monotonic() + timeout_s
    while True:
        desc = sfn.describe_execution(executionArn=arn)
        events = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
        for event in events[reported:]:
            if event["type"] == "TaskStateExited" and \
                    event["stateExitedEventDetails"]["name"] == "SelectShots":
                plan = json.loads(event["stateExitedEventDetails"]["output"])["selected"]["plan"]
                iteration, shots, done = plan["iteration"], plan["array_size"], -1
                say(f"iteration {iteration}: {shots} shots")
            elif event["type"] == "TaskStateExited" and \
                    event["stateExitedEventDetails"]["name"] == "Update" and iteration is not None:
                history = _json(s3, bucket, f"runs/{run_id}/iter-{iteration + 1}/history.json")
                say(f"iteration {iteration} done: objective {history['objective'][-1]:.6g}")
        reported = len(events)
        if iteration is not None:
            now = _count(s3, bucket, f"runs/{run_id}/iter-{iteration}/", ".json")
            now -= _count(s3, bucket, f"runs/{run_id}/iter-{iteration}/", ".job.json")
            if now != done:
                done = now
                say(f"  shots done {done}/{shots} [{'#' * done}{'.' * (shots - done)}]")
        if desc["status"] != "RUNNING":
            return desc
        if time.monotonic() > deadline:
            raise WorkflowFailedError(f"run {run_id} still running after {timeout_s:.0f} s "
                                      f"(execution {arn}); it goes on: follow it in the console")
        time.sleep(POLL_S)


def download(s3: Any, bucket: str, run_id: str, out: Path) -> dict[str, Any]:
    """Fetch config, per-iteration histories, models and pictures; draw the objective."""
    out.mkdir(parents=True, exist_ok=True)
    prefix = f"runs/{run_id}/"
    wanted = ("config.json", "history.json", "model.npy", "model.png", "model.json",
              "shots.json", "image.npy")
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    keys = [o["Key"] for page in pages for o in page.get("Contents", [])]
    for key in keys:
        if key.rsplit("/", 1)[-1] in wanted:
            target = out / key[len(prefix):]
            target.parent.mkdir(parents=True, exist_ok=True)
            s3.download_file(bucket, key, str(target))
    histories = sorted(out.glob("iter-*/history.json"),
                       key=lambda p: int(p.parent.name.split("-")[1]))
    objective = json.loads(histories[-1].read_text())["objective"] if histories else []
    tombstones = {}
    for key in keys:
        name = key.rsplit("/", 1)[-1]
        if name.startswith("leaf-") and name.endswith(".json") and not name.endswith(".job.json"):
            side = _json(s3, bucket, key)
            if side.get("tombstones"):
                tombstones[key] = side.get("reason")
    if objective:
        _plot_objective(objective, out / "objective.png")
    result = {"run_id": run_id, "objective": objective, "tombstones": tombstones,
              "output": str(out)}
    (out / "result.json").write_text(json.dumps(result, indent=2))
    return result


def _plot_objective(values: list[float], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5, 3.5))
    ax = fig.add_subplot()
    ax.semilogy(range(len(values)), values, "o-")
    ax.set(xlabel="iteration", ylabel="objective (misfit)", title="objective history")
    fig.savefig(path, dpi=80, bbox_inches="tight")


def run_imaging(input_path: str | Path, out_dir: str | Path, *, engine: str = "local",
                resume: str | None = None, stack_name: str = "SeislessScan",
                endpoint: str | None = None, cloud: Any = None, say: Progress = print,
                timeout_s: float = 24 * 3600) -> dict[str, Any]:
    """Start (or resume) an imaging run, follow it and download its results.

    Raises `WorkflowFailedError` with the Fail state's error and cause when it fails.
    """
    data = load_input(input_path, resume)
    if cloud is not None:
        s3, sfn, bucket = cloud.client("s3"), cloud.client("stepfunctions"), cloud.bucket
        sm_arn = cloud.outputs[OUTPUT_IMAGING_STATE_MACHINE]
    elif engine in ("local", "aws"):
        s3, sfn, bucket, sm_arn = stack_target(
            stack_name, (endpoint or LOCAL_ENDPOINT) if engine == "local" else None)
    else:
        raise ConfigError(f"engine must be local or aws, got {engine!r}")
    name = str(data.get("run_id") or f"run-{uuid.uuid4().hex[:12]}")
    if data.get("resume"):  # from --resume or the input: execution names are unique
        name = f"{name}-resume-{uuid.uuid4().hex[:6]}"
    data.setdefault("run_id", name)
    arn = sfn.start_execution(stateMachineArn=sm_arn, name=name,
                              input=json.dumps(data))["executionArn"]
    say(f"run {data['run_id']}: execution {arn}")
    desc = follow(s3, sfn, arn, bucket, data["run_id"], say, timeout_s)
    if desc["status"] != "SUCCEEDED":
        error, cause = desc.get("error", desc["status"]), desc.get("cause", "")
        raise WorkflowFailedError(f"run {data['run_id']} ended {desc['status']}: {error}: "
                                  f"{cause}", error=error, cause=cause)
    result = download(s3, bucket, data["run_id"], Path(out_dir))
    for key, reason in result["tombstones"].items():
        say(f"missing shot {key}: {reason}")
    say(f"done: objective {[round(v, 6) for v in result['objective']]}; results in {out_dir}")
    return result
