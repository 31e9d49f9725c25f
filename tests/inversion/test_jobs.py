"""The gradient and update jobs against moto: happy path, retries, and failures that
must leave the bucket untouched."""

from __future__ import annotations

import io
import json

import boto3
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from moto import mock_aws

from containers.gradient import entrypoint as gradient_entry
from containers.update import entrypoint as update_entry
from seisless.imaging import Shot, forward
from seisless.messages import parse_message
from seisless.storage import array_bytes
from tests.helpers.models import layered
from tests.helpers.shots import NREC, NX, NZ, shot_gather_segy

BUCKET, RUN = "imaging-test", "run-1"
@pytest.fixture
def aws(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        s3, sqs = boto3.client("s3"), boto3.client("sqs")
        s3.create_bucket(Bucket=BUCKET)
        queue = sqs.create_queue(QueueName="reduce")["QueueUrl"]
        from seisless.imaging import Model

        true = Model(layered(), (10.0, 10.0), nbl=20, space_order=4)
        rec = np.stack([60.0 * np.arange(NREC), np.zeros(NREC)], axis=1)
        sources = [200.0, 400.0]
        data = [forward(true, Shot((sx, 0.0), rec, 400.0, 4.0, 0.015)) for sx in sources]
        s3.put_object(Bucket=BUCKET, Key="incoming/line.sgy", Body=shot_gather_segy(data, sources))
        length = 240 + 4 * data[0].shape[0]
        ranges = [[{"start": 3600 + s * NREC * length, "stop": 3600 + (s + 1) * NREC * length}]
                  for s in range(2)]
        buf = io.BytesIO()
        pq.write_table(pa.table({"kind": ["shot", "shot"], "key": pa.array([100, 101]),
                                 "byte_ranges": ranges}), buf)
        s3.put_object(Bucket=BUCKET, Key="scans/s1/gathers.parquet", Body=buf.getvalue())
        s3.put_object(Bucket=BUCKET, Key="models/start.npy",
                      Body=array_bytes(np.full((NX, NZ), 1.5), "<f4"))
        config = {"run_id": RUN, "objective": "fwi", "iterations": 2, "fan_in": 10,
                  "model": {"key": "models/start.npy", "spacing": [10.0, 10.0], "nbl": 20,
                            "space_order": 4},
                  "data": {"segy_key": "incoming/line.sgy",
                           "gathers_key": "scans/s1/gathers.parquet"},
                  "acquisition": {"f0": 0.015},
                  "fwi": {"vmin": 1.4, "vmax": 2.5, "max_dv": 0.05}}
        s3.put_object(Bucket=BUCKET, Key=f"runs/{RUN}/config.json", Body=json.dumps(config))
        s3.put_object(Bucket=BUCKET, Key=f"runs/{RUN}/iter-0/shots.json",
                      Body=json.dumps({"shots": [101, 100]}))
        for name, value in {"SEISLESS_BUCKET": BUCKET, "SEISLESS_RUN_ID": RUN,
                            "SEISLESS_ITERATION": "0", "AWS_BATCH_JOB_ARRAY_INDEX": "0",
                            "REDUCE_QUEUE_URL": queue, "OMP_NUM_THREADS": "1"}.items():
            monkeypatch.setenv(name, value)
        yield s3, sqs, queue


def _keys(s3) -> set[str]:
    return {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])}


def test_gradient_job_writes_leaf_and_announces_it(aws) -> None:
    s3, sqs, queue = aws
    assert gradient_entry.main() == 0
    prefix = f"runs/{RUN}/iter-0/leaf-0"
    leaf = np.load(io.BytesIO(s3.get_object(Bucket=BUCKET, Key=prefix + ".npy")["Body"].read()))
    sidecar = json.loads(s3.get_object(Bucket=BUCKET, Key=prefix + ".json")["Body"].read())
    job = json.loads(s3.get_object(Bucket=BUCKET, Key=prefix + ".job.json")["Body"].read())
    assert leaf.shape == (NX, NZ) and leaf.dtype == np.float32 and np.abs(leaf).max() > 0
    assert sidecar["members"] == [0] and sidecar["objective"] > 0
    assert job["shot_id"] == 101 and job["peak_memory_bytes"] > 0
    body = sqs.receive_message(QueueUrl=queue)["Messages"][0]["Body"]
    message = parse_message(body)
    assert (message.level, message.index, message.tree.n_leaves) == (0, 0, 2)
    before = s3.get_object(Bucket=BUCKET, Key=prefix + ".npy")["Body"].read()
    assert gradient_entry.main() == 0  # a retried child: same leaf, announced again
    assert s3.get_object(Bucket=BUCKET, Key=prefix + ".npy")["Body"].read() == before
    assert len(sqs.receive_message(QueueUrl=queue)["Messages"]) == 1


def test_update_job_moves_the_model_within_bounds(aws) -> None:
    s3, _, _ = aws
    assert gradient_entry.main() == 0
    root = f"runs/{RUN}/iter-0/l1-0"
    s3.copy_object(Bucket=BUCKET, Key=root + ".npy",
                   CopySource={"Bucket": BUCKET, "Key": f"runs/{RUN}/iter-0/leaf-0.npy"})
    s3.copy_object(Bucket=BUCKET, Key=root + ".json",
                   CopySource={"Bucket": BUCKET, "Key": f"runs/{RUN}/iter-0/leaf-0.json"})
    assert update_entry.main() == 0
    new = np.load(io.BytesIO(s3.get_object(
        Bucket=BUCKET, Key=f"runs/{RUN}/iter-1/model.npy")["Body"].read()))
    change = np.abs(new - 1.5)
    assert 0.04 < change.max() <= 0.0501 and new.min() >= 1.4
    history = json.loads(s3.get_object(
        Bucket=BUCKET, Key=f"runs/{RUN}/iter-1/history.json")["Body"].read())
    assert len(history["objective"]) == 1
    assert f"runs/{RUN}/iter-1/model.png" in _keys(s3)


@pytest.mark.parametrize(("breakage", "code"), [
    ("config", "ConfigError"), ("index", "ConfigError"), ("segy", "SourceError")])
def test_gradient_job_failures_write_nothing(aws, monkeypatch, capsys, breakage, code) -> None:
    s3, _, _ = aws
    if breakage == "config":
        s3.put_object(Bucket=BUCKET, Key=f"runs/{RUN}/config.json",
                      Body=json.dumps({"run_id": RUN, "objective": "fwi"}))
    elif breakage == "index":
        monkeypatch.setenv("AWS_BATCH_JOB_ARRAY_INDEX", "2")
    else:
        s3.delete_object(Bucket=BUCKET, Key="incoming/line.sgy")
    before = _keys(s3)
    assert gradient_entry.main() == 2
    written = sorted(set(_keys(s3)) - set(before))
    err = capsys.readouterr().err
    assert err.startswith(code)
    if breakage == "segy":  # the shot failed for good: tombstoned, with why
        assert written == [f"runs/{RUN}/iter-0/leaf-0.json"]
        tombstone = json.loads(s3.get_object(Bucket=BUCKET, Key=written[0])["Body"].read())
        assert tombstone["tombstones"] == [0] and "SourceError" in tombstone["reason"]
    else:  # nothing is known about a shot: nothing written
        assert written == []
    if breakage == "index":
        assert "out of range" in err and "2 shots" in err
