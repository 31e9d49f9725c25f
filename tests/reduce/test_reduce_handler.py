"""The reducer Lambda handler against moto: the whole tree, the callback rendezvous in
both orders, tombstones, and bad records reported as batch item failures."""

from __future__ import annotations

import io
import json
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
from botocore.stub import Stubber

from lambdas.reducer import handler
from seisless.errors import ConfigError, ReductionError
from seisless.messages import CallbackRegistered, NodeWritten, dump_message
from seisless.reduce import (
    ReduceServices,
    TreeLayout,
    announce_leaf,
    layout_for,
    read_sidecar,
    write_leaf,
    write_tombstone,
)
from seisless.reduce.completion import resume_if_ready
from tests.helpers.chaos import store_run_state

if TYPE_CHECKING:
    from tests.reduce.conftest import Aws


def drain(aws: Aws, chaos: ModuleType) -> list[dict[str, Any]]:
    """Deliver the queue to the handler in batches until it is empty (like Lambda)."""
    results = []
    while messages := aws.sqs.receive_message(QueueUrl=aws.queue_url, MaxNumberOfMessages=10,
                                              AttributeNames=["All"]).get("Messages"):
        result = handler.lambda_handler(chaos.sqs_event(messages, aws.queue_arn), None)
        assert result == {"batchItemFailures": []}
        chaos.ack(aws.sqs, aws.queue_url, messages)
        results.append(result)
    return results


def callback(aws: Aws, layout: TreeLayout, token: str = "tok") -> str:
    return dump_message(CallbackRegistered(bucket=aws.bucket, run_id=layout.run_id,
                                           iteration=layout.iteration, task_token=token,
                                           tree=layout.tree))


def write_leaves(aws: Aws, layout: TreeLayout, dead: set[int]) -> dict[int, np.ndarray]:
    """The run's stored state (config, shot list), then every leaf, announced."""
    store_run_state(aws.s3, aws.bucket, layout)
    rng = np.random.default_rng(layout.tree.n_leaves)
    arrays = {}
    for i in range(layout.tree.n_leaves):
        if i in dead:
            write_tombstone(aws.s3, aws.bucket, layout, i, reason="spot gone, 3 retries")
        else:
            arrays[i] = rng.standard_normal((3, 7)).astype("<f4")
            write_leaf(aws.s3, aws.bucket, layout, i, arrays[i], objective=float(i))
        announce_leaf(aws.sqs, aws.queue_url, aws.bucket, layout, i)
    return arrays


def root_array(aws: Aws, layout: TreeLayout) -> bytes:
    return aws.s3.get_object(Bucket=aws.bucket, Key=layout.array_key(layout.root))[
        "Body"].read()


@pytest.mark.parametrize("token_first", [True, False])
def test_whole_tree_then_workflow_resumed(aws: Aws, services: ReduceServices,
                                          resumptions: Any, chaos: ModuleType,
                                          token_first: bool) -> None:
    layout = layout_for("run-a", 2, n_leaves=12, fan_in=5)
    if token_first:
        aws.sqs.send_message(QueueUrl=aws.queue_url, MessageBody=callback(aws, layout))
    arrays = write_leaves(aws, layout, dead={4})
    drain(aws, chaos)
    assert resumptions.for_token("tok") == [] or token_first
    if not token_first:
        aws.sqs.send_message(QueueUrl=aws.queue_url, MessageBody=callback(aws, layout))
        drain(aws, chaos)
    root = read_sidecar(aws.s3, aws.bucket, layout.sidecar_key(layout.root))
    assert root is not None
    assert root.members == tuple(i for i in range(12) if i != 4)
    assert root.tombstones == (4,)
    assert root.objective == sum(float(i) for i in range(12) if i != 4)
    leaves = {i: arrays.get(i) for i in range(12)}
    expected, _ = chaos.reference_sum(layout, leaves, dict.fromkeys(range(12), 0.0))
    assert root_array(aws, layout) == chaos.npy_bytes(expected)
    [(op, params)] = resumptions.for_token("tok")
    assert op == "SendTaskSuccess"
    assert json.loads(params["output"])["n_members"] == 11


def test_one_leaf(aws: Aws, services: ReduceServices, chaos: ModuleType) -> None:
    layout = layout_for("run-1", 0, n_leaves=1)
    arrays = write_leaves(aws, layout, dead=set())
    drain(aws, chaos)
    assert root_array(aws, layout) == chaos.npy_bytes(arrays[0])


def test_every_shot_failed_fails_the_workflow(aws: Aws, services: ReduceServices,
                                              resumptions: Any, chaos: ModuleType) -> None:
    layout = layout_for("run-dead", 0, n_leaves=3, fan_in=2)
    write_leaves(aws, layout, dead={0, 1, 2})
    aws.sqs.send_message(QueueUrl=aws.queue_url, MessageBody=callback(aws, layout))
    drain(aws, chaos)
    [(op, params)] = resumptions.for_token("tok")
    assert (op, params["error"]) == ("SendTaskFailure", "ReductionError")


def test_first_delivery_finding_parent_done_is_silent_redelivery_reannounces(
        aws: Aws, services: ReduceServices, chaos: ModuleType) -> None:
    layout = layout_for("run-dup", 0, n_leaves=4, fan_in=2)
    write_leaves(aws, layout, dead=set())
    drain(aws, chaos)
    leaf = NodeWritten(bucket=aws.bucket, run_id="run-dup", iteration=0, level=0, index=1,
                       tree=layout.tree)
    assert handler.handle(services, leaf, redelivered=False) == "already-done"
    assert "Messages" not in aws.sqs.receive_message(QueueUrl=aws.queue_url)
    assert handler.handle(services, leaf, redelivered=True) == "re-announced"
    [announced] = aws.sqs.receive_message(QueueUrl=aws.queue_url)["Messages"]
    assert json.loads(announced["Body"])["level"] == 1


def test_bad_records_are_batch_item_failures(aws: Aws, services: ReduceServices,
                                             chaos: ModuleType,
                                             caplog: pytest.LogCaptureFixture) -> None:
    layout = layout_for("run-b", 0, n_leaves=2)
    write_leaves(aws, layout, dead=set())
    outside = NodeWritten(bucket=aws.bucket, run_id="run-b", iteration=0, level=0, index=7,
                          tree=layout.tree)
    bad_bodies = ["not json", '{"kind": "node-written", "bucket": "b"}', dump_message(outside)]
    for body in bad_bodies:
        aws.sqs.send_message(QueueUrl=aws.queue_url, MessageBody=body)
    messages: list[dict[str, Any]] = []
    while len(messages) < 5:
        messages += aws.sqs.receive_message(QueueUrl=aws.queue_url, MaxNumberOfMessages=10,
                                            AttributeNames=["All"]).get("Messages", [])
    result = handler.lambda_handler(chaos.sqs_event(messages, aws.queue_arn), None)
    bad = {m["MessageId"] for m in messages if m["Body"] in bad_bodies}
    assert {f["itemIdentifier"] for f in result["batchItemFailures"]} == bad
    reasons = " | ".join(getattr(r, "reason", "") for r in caplog.records)
    assert "not JSON" in reasons and "Field required" in reasons
    assert "outside the run's tree" in reasons
    assert read_sidecar(aws.s3, aws.bucket, layout.sidecar_key(layout.root)) is not None


def test_mismatched_shapes_are_refused(aws: Aws, services: ReduceServices,
                                       chaos: ModuleType) -> None:
    layout = layout_for("run-c", 0, n_leaves=2)
    store_run_state(aws.s3, aws.bucket, layout)
    write_leaf(aws.s3, aws.bucket, layout, 0, np.zeros(3, "<f4"), objective=0.0)
    write_leaf(aws.s3, aws.bucket, layout, 1, np.zeros(4, "<f4"), objective=0.0)
    announce_leaf(aws.sqs, aws.queue_url, aws.bucket, layout, 1)
    messages = aws.sqs.receive_message(QueueUrl=aws.queue_url,
                                       AttributeNames=["All"])["Messages"]
    result = handler.lambda_handler(chaos.sqs_event(messages, aws.queue_arn), None)
    assert len(result["batchItemFailures"]) == 1
    assert read_sidecar(aws.s3, aws.bucket, layout.sidecar_key(layout.root)) is None


def test_tombstone_never_replaces_a_committed_leaf(aws: Aws) -> None:
    layout = layout_for("run-t", 0, n_leaves=2)
    write_leaf(aws.s3, aws.bucket, layout, 0, np.ones(2, "<f4"), objective=1.0)
    assert not write_tombstone(aws.s3, aws.bucket, layout, 0, reason="late failure report")
    sidecar = read_sidecar(aws.s3, aws.bucket, layout.sidecar_key(layout.root).replace(
        "l1-0", "leaf-0"))
    assert sidecar is not None and sidecar.members == (0,)


def test_leaves_are_write_once(aws: Aws) -> None:
    layout = layout_for("run-w", 0, n_leaves=2)
    write_leaf(aws.s3, aws.bucket, layout, 0, np.ones(2, "<f4"), objective=1.0)
    again = write_leaf(aws.s3, aws.bucket, layout, 0, np.zeros(2, "<f4"), objective=5.0)
    assert again.objective == 1.0
    body = aws.s3.get_object(Bucket=aws.bucket, Key="runs/run-w/iter-0/leaf-0.npy")["Body"]
    assert np.load(io.BytesIO(body.read()), allow_pickle=False).tolist() == [1.0, 1.0]
    write_tombstone(aws.s3, aws.bucket, layout, 1, reason="out of retries")
    with pytest.raises(ReductionError, match="already tombstoned"):
        write_leaf(aws.s3, aws.bucket, layout, 1, np.ones(2, "<f4"), objective=1.0)


@pytest.mark.parametrize("code", ["TaskTimedOut", "InvalidToken"])
def test_spent_token_is_not_an_error(aws: Aws, code: str) -> None:
    layout = layout_for("run-s", 0, n_leaves=1)
    store_run_state(aws.s3, aws.bucket, layout)
    write_leaf(aws.s3, aws.bucket, layout, 0, np.ones(2, "<f4"), objective=1.0)
    svc = ReduceServices(s3=aws.s3, sqs=aws.sqs, sfn=aws.sfn, queue_url=aws.queue_url)
    handler.handle(svc, NodeWritten(bucket=aws.bucket, run_id="run-s", iteration=0,
                                    level=0, index=0, tree=layout.tree))
    aws.s3.put_object(Bucket=aws.bucket, Key=layout.callback_key,
                      Body=callback(aws, layout).encode())
    with Stubber(aws.sfn) as stub:
        stub.add_client_error("send_task_success", service_error_code=code)
        assert resume_if_ready(aws.s3, aws.sfn, aws.bucket, layout)


def test_missing_queue_url_is_a_readable_failure(aws_credentials: None, chaos: ModuleType,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.delenv("REDUCE_QUEUE_URL", raising=False)
    handler.use_services(None)
    body = dump_message(CallbackRegistered(bucket="bkt", run_id="r", iteration=0,
                                           task_token="t", tree=layout_for("r", 0, 1).tree))
    message = {"MessageId": "m1", "ReceiptHandle": "r", "Body": body, "MD5OfBody": "x",
               "Attributes": {"ApproximateReceiveCount": "1"}}
    result = handler.lambda_handler(chaos.sqs_event([message], "arn"), None)
    assert result == {"batchItemFailures": [{"itemIdentifier": "m1"}]}
    assert any("REDUCE_QUEUE_URL" in getattr(r, "reason", "") for r in caplog.records)


@pytest.mark.parametrize("value", ["4", "lots"])
def test_bad_part_size_is_a_config_error(aws_credentials: None, value: str,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDUCE_QUEUE_URL", "https://queue")
    monkeypatch.setenv("REDUCE_PART_MIB", value)
    handler.use_services(None)
    with pytest.raises(ConfigError, match="REDUCE_PART_MIB"):
        handler.services()
