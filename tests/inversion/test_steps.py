"""Init, SelectShots and RecordFailedShots against moto: what they write, what they
refuse (with nothing written), and that they are safe to repeat."""

from __future__ import annotations

import io
import json
from typing import Any

import boto3
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from moto import mock_aws

from seisless.errors import ConfigError, SourceError
from seisless.inversion.documents import IterationPlan, RunState
from seisless.inversion.keys import RunKeys
from seisless.inversion.steps import (
    init_step,
    record_failed_shots,
    select_shots_step,
)
from seisless.messages import parse_message
from seisless.reduce import Node, layout_for, read_sidecar, write_leaf
from seisless.scan.documents import ScanKeys
from seisless.storage import array_bytes

BUCKET, SCAN = "imaging-steps", "line-0123456789abcdef"
SHOTS = [101, 102, 103, 104, 105]


@pytest.fixture
def aws(aws_credentials: None):
    with mock_aws():
        s3, sqs = boto3.client("s3"), boto3.client("sqs")
        s3.create_bucket(Bucket=BUCKET)
        keys = ScanKeys(SCAN)
        s3.put_object(Bucket=BUCKET, Key=keys.summary,
                      Body=json.dumps({"source": f"s3://{BUCKET}/incoming/line.sgy"}))
        s3.put_object(Bucket=BUCKET, Key=keys.gathers,
                      Body=_gathers([*SHOTS[::-1], 1], kinds=["shot"] * 5 + ["inline"]))
        s3.put_object(Bucket=BUCKET, Key="models/start.npy",
                      Body=array_bytes(np.full((11, 7), 2.0), "<f4"))
        yield s3, sqs, sqs.create_queue(QueueName="reduce")["QueueUrl"]


def _gathers(keys: list[int], *, kinds: list[str] | None = None, spread: float = 0.0,
             receivers: int = 11) -> bytes:
    """A gathers index (the columns Init and SelectShots read) as Parquet bytes."""
    n = len(keys)
    table = pa.table({"kind": kinds or ["shot"] * n, "key": keys, "n_traces": [receivers] * n,
                      "n_receivers": [receivers] * n, "source_spread": [spread] * n})
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


def _input(**changes: Any) -> dict[str, Any]:
    data = {"scan_id": SCAN, "objective": "fwi", "iterations": 3,
            "model": {"key": "models/start.npy", "spacing": [10.0, 10.0]},
            "acquisition": {"f0": 0.01}, "fwi": {"vmin": 1.4, "vmax": 4.5},
            "shots": {"per_iteration": 3, "seed": 4}, "fan_in": 2}
    return {**data, **changes}


def _keys(s3) -> list[str]:
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", []))


def test_init_writes_the_config_and_starts_at_zero(aws) -> None:
    s3, _, _ = aws
    state = init_step(s3, BUCKET, _input(), "exec-1")
    assert (state.run_id, state.iteration, state.iterations) == ("exec-1", 0, 3)
    config = json.loads(s3.get_object(Bucket=BUCKET, Key=RunKeys("exec-1").config)["Body"]
                        .read())
    assert config["data"] == {"segy_key": "incoming/line.sgy",
                              "gathers_key": ScanKeys(SCAN).gathers}


@pytest.mark.parametrize(("changes", "error", "words"), [
    ({"objective": "rtm"}, ConfigError, "iterations to 1"),
    ({"scan_id": "nope"}, SourceError, "check scan_id"),
    ({"model": {"key": "models/none.npy", "spacing": [10.0, 10.0]}}, SourceError,
     "starting model"),
    ({"model": {"key": "models/start.npy", "spacing": [10.0, 10.0, 10.0]}}, ConfigError,
     "one spacing per axis"),
    ({"fwi": {"vmin": 2.5, "vmax": 4.5}}, ConfigError, "widen the bounds"),
    ({"shots": {"per_iteration": 9}}, ConfigError, "at most 5"),
    ({"unknown": 1}, ConfigError, "unknown"),
    *[({"model": {"key": "models/start.npy", "spacing": [bad, 10.0]}}, ConfigError,
       "spacing") for bad in (-10.0, 0.0, float("nan"), float("inf"))],
    ({"model": {"key": "models/start.npy", "spacing": [10.0, 10.0],
                "origin": [float("nan"), 0.0]}}, ConfigError, "origin"),
    ({"model": {"key": "models/start.npy", "spacing": [10.0, 10.0], "origin": [0.0]}},
     ConfigError, "one value per axis"),
    ({"model": {"key": "models/start.npy", "spacing": [10.0, 10.0], "space_order": 3}},
     ConfigError, "even"),
    ({"acquisition": {"f0": 0.01, "source_depth": float("inf")}}, ConfigError,
     "source_depth"),
    ({"fwi": {"vmin": 1.4, "vmax": float("inf")}}, ConfigError, "vmax"),
    ({"fwi": {"vmin": 1.4, "vmax": 4.5, "max_dv": float("inf")}}, ConfigError, "max_dv"),
    ({"memory": {"budget_bytes": 1}}, ConfigError, "budget_bytes"),
    ({"memory": {"budget_bytes": 1e30}}, ConfigError, "budget_bytes"),
    ({"reduction_timeout_s": 1e12}, ConfigError, "reduction_timeout_s"),
    ({"reduction_timeout_s": 600, "reduction_heartbeat_s": 600}, ConfigError,
     "below reduction_timeout_s"),
    *[({"fwi": {"vmin": 1.4, "vmax": 4.5, "mask_key": key}}, ConfigError,
       "not a usable key") for key in ("../../etc/passwd", "models/../runs/x.npy",
                                       "/models/m.npy", "models//m.npy", "scans/m.npy")],
    ({"fwi": {"vmin": 1.4, "vmax": 4.5, "mask_key": "models/none.npy"}}, SourceError,
     "FWI mask"),
    *[({"run_id": bad}, ConfigError, "run_id") for bad in (".", "..", "a/b", "x" * 65)],
])
def test_init_refuses_with_nothing_written(aws, changes, error, words) -> None:
    s3, _, _ = aws
    before = _keys(s3)
    with pytest.raises(error, match=words):
        init_step(s3, BUCKET, _input(**changes), "exec-1")
    assert _keys(s3) == before


@pytest.mark.parametrize("name", ["run+1", "rün", "x y", ".."])
def test_an_execution_name_that_cannot_name_a_run_is_a_config_error(aws, name) -> None:
    s3, _, _ = aws
    before = _keys(s3)
    with pytest.raises(ConfigError, match="cannot be a run id"):
        init_step(s3, BUCKET, _input(), name)
    assert _keys(s3) == before


def test_a_mask_of_another_shape_is_refused(aws) -> None:
    s3, _, _ = aws
    s3.put_object(Bucket=BUCKET, Key="models/mask.npy", Body=array_bytes(np.ones((3, 3))))
    with pytest.raises(ConfigError, match="one weight per model cell"):
        init_step(s3, BUCKET, _input(fwi={"vmin": 1.4, "vmax": 4.5,
                                          "mask_key": "models/mask.npy"}), "exec-1")


def test_more_shots_than_an_array_job_may_have_share_jobs(aws) -> None:
    s3, _, _ = aws
    s3.put_object(Bucket=BUCKET, Key=ScanKeys(SCAN).gathers, Body=_gathers(list(range(10_001))))
    state = init_step(s3, BUCKET, _input(shots={"per_iteration": "all"}), "exec-1")
    plan = select_shots_step(s3, state)
    assert (plan.tree.n_leaves, plan.array_size) == (10_001, 5_001)


@pytest.mark.parametrize(("requested", "n_shots", "per", "array_size"), [
    (3, 5, 3, 2), (1, 10_001, 2, 5_001), (3, 10_001, 3, 3_334), (1000, 10_001, 1000, 11)])
def test_shots_per_job_is_the_larger_of_the_request_and_the_array_limit(
        aws, requested, n_shots, per, array_size) -> None:
    s3, _, _ = aws
    s3.put_object(Bucket=BUCKET, Key=ScanKeys(SCAN).gathers,
                  Body=_gathers(list(range(n_shots))))
    state = init_step(s3, BUCKET, _input(shots={"per_iteration": "all"},
                                         shots_per_job=requested), "exec-1")
    plan = select_shots_step(s3, state)
    assert (plan.tree.n_leaves, plan.array_size) == (n_shots, array_size)
    assert plan.shots_per_job == per


@pytest.mark.parametrize("per", [0, 1001, 2.5, "3x"])
def test_shots_per_job_is_a_whole_number_from_1_to_1000(aws, per) -> None:
    s3, _, _ = aws
    before = _keys(s3)
    with pytest.raises(ConfigError, match="shots_per_job"):
        init_step(s3, BUCKET, _input(shots_per_job=per), "exec-1")
    assert _keys(s3) == before


@pytest.mark.parametrize(("spread", "receivers"), [(425.0, 1), (0.0, 1), (30.0, 18)])
def test_data_that_is_not_shot_gathers_is_refused_at_init(aws, spread, receivers) -> None:
    """Post-stack data (f3.sgy: a field record per inline, one trace per CDP) fails at
    Init with what is wrong, before any gradient job starts."""
    s3, _, _ = aws
    s3.put_object(Bucket=BUCKET, Key=ScanKeys(SCAN).gathers,
                  Body=_gathers(SHOTS, spread=spread, receivers=receivers))
    before = _keys(s3)
    with pytest.raises(ConfigError, match="does not hold shot gathers"):
        init_step(s3, BUCKET, _input(), "exec-1")
    assert _keys(s3) == before


def test_init_refuses_an_existing_run_and_resumes_only_the_same_settings(aws) -> None:
    s3, _, _ = aws
    init_step(s3, BUCKET, _input(run_id="r1"), "exec-1")
    with pytest.raises(ConfigError, match="already exists"):
        init_step(s3, BUCKET, _input(run_id="r1"), "exec-2")
    with pytest.raises(ConfigError, match="different settings"):
        init_step(s3, BUCKET, _input(run_id="r1", resume=True, fan_in=3), "exec-2")
    resumed = init_step(s3, BUCKET, _input(run_id="r1", resume=True, iterations=5,
                                           shots_per_job=2), "exec-3")
    assert (resumed.iteration, resumed.iterations) == (0, 5)
    assert select_shots_step(s3, resumed).shots_per_job == 2


def test_select_shots_draws_a_reproducible_subset_and_keeps_it(aws) -> None:
    s3, _, _ = aws
    state = init_step(s3, BUCKET, _input(), "exec-1")
    plan = select_shots_step(s3, state)
    shots_key = RunKeys("exec-1").iteration(0).shots
    chosen = json.loads(s3.get_object(Bucket=BUCKET, Key=shots_key)["Body"].read())["shots"]
    assert len(chosen) == 3 and set(chosen) <= set(SHOTS) and chosen == sorted(chosen)
    assert (plan.array_size, plan.tree.n_leaves, plan.tree.fan_in) == (3, 3, 2)
    assert plan.gradient_job_name == "exec-1-gradient-0"
    assert select_shots_step(s3, state) == plan
    later = select_shots_step(s3, state.model_copy(update={"iteration": 1}))
    assert later.iteration == 1


def test_multi_node_runs_plan_one_node_job_per_array_child(aws) -> None:
    """nodes_per_shot > 1: the plan lists a multi-node job per gradient job (Batch has no
    multi-node arrays); with 1, none, and the iteration is one array job as before."""
    s3, _, _ = aws
    state = init_step(s3, BUCKET, _input(nodes_per_shot=2), "exec-1")
    assert state.nodes_per_shot == 2
    plan = select_shots_step(s3, state)
    assert plan.node_jobs == ("0", "1", "2") and plan.array_size == 3
    single = select_shots_step(s3, state.model_copy(update={"nodes_per_shot": 1}))
    assert single.node_jobs == () and single.array_size == 3


@pytest.mark.parametrize("nodes", [0, 17, 2.5])
def test_nodes_per_shot_is_a_whole_number_from_1_to_16(aws, nodes) -> None:
    s3, _, _ = aws
    with pytest.raises(ConfigError, match="nodes_per_shot"):
        init_step(s3, BUCKET, _input(nodes_per_shot=nodes), "exec-1")


def test_record_failed_tombstones_only_missing_leaves_and_announces_all(aws) -> None:
    s3, sqs, queue = aws
    state: RunState = init_step(s3, BUCKET, _input(), "exec-1")
    plan: IterationPlan = select_shots_step(s3, state)
    layout = layout_for("exec-1", 0, plan.tree.n_leaves, plan.tree.fan_in)
    write_leaf(s3, BUCKET, layout, 1, np.ones((11, 7)), objective=2.0)
    result = record_failed_shots(s3, sqs, queue, state, plan,
                                 json.dumps({"StatusReason": "Essential container exited"}))
    assert len(result["tombstoned_shots"]) == 2
    assert "Essential container exited" in result["reason"]
    assert read_sidecar(s3, BUCKET, layout.sidecar_key(Node(0, 1))).members == (1,)
    assert read_sidecar(s3, BUCKET, layout.sidecar_key(Node(0, 0))).tombstones == (0,)
    messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    assert sorted(parse_message(m["Body"]).index for m in messages) == [0, 1, 2]
    again = record_failed_shots(s3, sqs, queue, state, plan, None)
    assert again["tombstoned_shots"] == []
