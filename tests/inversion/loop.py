"""The imaging loop in one process: the real gradient and update jobs against moto, the
reduction driven by draining its queue, an FWI line search's trial jobs and judge run
the way the state machine runs them, no state machine (the local cloud's run of the
same jobs is covered elsewhere; this keeps many-iteration checks under a minute)."""

from __future__ import annotations

import io
import json
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pyarrow.parquet as pq
import pytest
from moto import mock_aws
from moto.moto_server.threaded_moto_server import ThreadedMotoServer

from seisless.errors import ImagingError
from seisless.imaging import Shot, survey
from seisless.inversion.documents import History, JobEnv, shots_per_job
from seisless.inversion.jobs import run_gradient_job, run_update_job
from seisless.inversion.keys import RunKeys
from seisless.inversion.search import judge_trial_step
from seisless.inversion.trials import run_trial_job
from seisless.messages import parse_message
from seisless.reduce import ReduceServices, handle
from seisless.scan import run_direct
from seisless.storage import array_bytes

SEGY_KEY, GATHERS_KEY = "incoming/line.sgy", "scans/line/gathers.parquet"
START_KEY, MASK_KEY = "models/start.npy", "models/mask.npy"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
               "AWS_DEFAULT_REGION": "us-east-1"}


@dataclass(frozen=True)
class Cloud:
    """The moto clients and the names the jobs are given."""

    s3: Any
    sqs: Any
    sfn: Any
    bucket: str
    queue_url: str


@contextmanager
def moto_cloud(bucket: str) -> Iterator[Cloud]:
    """moto's S3, SQS and Step Functions with fake credentials, a bucket and a queue (for
    module fixtures, which cannot take the function-scoped `aws_credentials`)."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in CREDENTIALS.items():
            patch.setenv(name, value)
        patch.delenv("AWS_ENDPOINT_URL", raising=False)
        with mock_aws():
            s3, sqs = boto3.client("s3"), boto3.client("sqs")
            s3.create_bucket(Bucket=bucket)
            yield Cloud(s3, sqs, boto3.client("stepfunctions"), bucket,
                        sqs.create_queue(QueueName="reduce")["QueueUrl"])


@contextmanager
def moto_server(bucket: str) -> Iterator[tuple[Cloud, str]]:
    """A moto server that job processes reach over HTTP, with a bucket and a queue: the
    cloud (clients of the server) and its endpoint."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    try:
        with pytest.MonkeyPatch.context() as patch:
            for name, value in CREDENTIALS.items():
                patch.setenv(name, value)
            s3 = boto3.client("s3", endpoint_url=endpoint)
            sqs = boto3.client("sqs", endpoint_url=endpoint)
            s3.create_bucket(Bucket=bucket)
            yield Cloud(s3, sqs, None, bucket,
                        sqs.create_queue(QueueName="reduce")["QueueUrl"]), endpoint
    finally:
        server.stop()


def upload_line(cloud: Cloud, spec: survey.LineSpec, start: np.ndarray, folder: Path,
                modelled: list[Shot] | None = None) -> None:
    """Model the line on its true earth (or take its `modelled` shots), write and scan
    its SEG-Y, upload the SEG-Y, the gathers index, the starting model and the water
    mask."""
    path = folder / "line.sgy"
    survey.write_segy(path, spec, modelled or survey.model_shots(spec,
                                                                 survey.true_velocity(spec)))
    buf = io.BytesIO()
    pq.write_table(run_direct(str(path), workers=1).gathers, buf)
    put = {SEGY_KEY: path.read_bytes(), GATHERS_KEY: buf.getvalue(),
           START_KEY: array_bytes(start, "<f4"),
           MASK_KEY: array_bytes(survey.water_mask(spec), "<f4")}
    for key, body in put.items():
        cloud.s3.put_object(Bucket=cloud.bucket, Key=key, Body=body)


def run_config(spec: survey.LineSpec, run_id: str, objective: str,
               **sections: dict[str, Any]) -> dict[str, Any]:
    """A `RunConfig` of the line, with defaults everywhere the user may leave them."""
    return {"run_id": run_id, "objective": objective, "iterations": 1, "fan_in": 4,
            "model": {"key": START_KEY, "spacing": [spec.spacing, spec.spacing],
                      "nbl": spec.nbl, "space_order": spec.space_order},
            "data": {"segy_key": SEGY_KEY, "gathers_key": GATHERS_KEY},
            "acquisition": {"f0": spec.f0, "source_depth": spec.source_depth,
                            "receiver_depth": spec.receiver_depth, "origin_x": spec.easting},
            "memory": {"strategy": "full"}, **sections}


def _reduce(cloud: Cloud) -> None:
    """Hand every queued reduction message to the reducer until the queue is empty."""
    services = ReduceServices(s3=cloud.s3, sqs=cloud.sqs, sfn=cloud.sfn,
                              queue_url=cloud.queue_url)
    while messages := cloud.sqs.receive_message(QueueUrl=cloud.queue_url,
                                                MaxNumberOfMessages=10).get("Messages"):
        for message in messages:
            handle(services, parse_message(message["Body"]))
            cloud.sqs.delete_message(QueueUrl=cloud.queue_url,
                                     ReceiptHandle=message["ReceiptHandle"])


def _line_search(cloud: Cloud, config: dict[str, Any], k: int, n_shots: int) -> None:
    """Trials of iteration k (one forward-only job per shot, then the judge) until one
    is accepted, as the state machine's line-search loop runs them."""
    max_trials = config["fwi"].get("line_search", {}).get("max_trials", 5)
    for trial in range(max_trials):
        for index in range(n_shots):
            run_trial_job(cloud.s3, JobEnv(bucket=cloud.bucket, run_id=config["run_id"],
                                           iteration=k, index=index, trial=trial))
        if judge_trial_step(cloud.s3, cloud.bucket, config["run_id"], k, trial).accepted:
            return
    raise ImagingError(f"iteration {k}: no trial accepted in {max_trials}")


def run_loop(cloud: Cloud, config: dict[str, Any], shots: list[int], iterations: int
             ) -> History:
    """`iterations` iterations of the run on all `shots` (as many gradient jobs as the
    array job would have children); the last history."""
    run = RunKeys(config["run_id"])
    cloud.s3.put_object(Bucket=cloud.bucket, Key=run.config,
                        Body=json.dumps({**config, "iterations": iterations}))
    for k in range(iterations):
        cloud.s3.put_object(Bucket=cloud.bucket, Key=run.iteration(k).shots,
                            Body=json.dumps({"shots": shots}))
        for index in range(-(-len(shots) // shots_per_job(len(shots),
                                                          config.get("shots_per_job")))):
            run_gradient_job(cloud.s3, cloud.sqs, JobEnv(
                bucket=cloud.bucket, run_id=config["run_id"], iteration=k, index=index,
                queue_url=cloud.queue_url))
        _reduce(cloud)
        run_update_job(cloud.s3, JobEnv(bucket=cloud.bucket, run_id=config["run_id"],
                                        iteration=k))
        if config.get("fwi", {}).get("optimizer", "bb") != "bb":
            _line_search(cloud, config, k, len(shots))
    body = cloud.s3.get_object(Bucket=cloud.bucket, Key=run.iteration(iterations).history)
    return History.model_validate_json(body["Body"].read())
