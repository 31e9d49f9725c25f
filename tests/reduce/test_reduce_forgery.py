"""Messages that lie about the tree, and late messages of stale attempts.

The issue's two attacks on a 20-shot, fan-in-10 iteration: a `node-written` for l1-0
claiming a 10-leaf tree (it used to end the wait with half the gradient), and a leaf-0
message claiming fan-in 2 (it used to commit the real key l1-0 with members (0, 1) and
stall the real reduction). Both must be poison, and the real reduction must complete.
"""

from __future__ import annotations

import io
import json
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest

from lambdas.reducer import handler
from seisless.errors import ForgedMessageError
from seisless.inversion.keys import RunKeys
from seisless.messages import CallbackRegistered, NodeWritten, TreeSpec, dump_message
from seisless.reduce import (
    Node,
    ReduceServices,
    Sidecar,
    TreeLayout,
    announce_leaf,
    layout_for,
    read_sidecar,
    write_leaf,
    write_tombstone,
)
from seisless.reduce.completion import resume_if_ready
from seisless.reduce.sidecar import write_sidecar
from tests.helpers.chaos import store_run_state

if TYPE_CHECKING:
    from tests.reduce.conftest import Aws

N, F = 20, 10


@pytest.fixture
def layout(aws: Aws) -> TreeLayout:
    """20 shots, fan-in 10, with the run's config and shot list stored."""
    tree = layout_for("run-f", 1, N, F)
    store_run_state(aws.s3, aws.bucket, tree)
    return tree


def gradient(i: int) -> np.ndarray:
    return np.full((2, 3), i + 1, dtype="<f4")


def write(aws: Aws, layout: TreeLayout, indices: range) -> None:
    for i in indices:
        write_leaf(aws.s3, aws.bucket, layout, i, gradient(i), objective=float(i))


def deliver(aws: Aws, chaos: ModuleType, *bodies: str) -> set[str]:
    """Send `bodies`, then feed the whole queue to the handler until it is empty; return
    the bodies it reported as batch item failures (each once: those would go to the DLQ)."""
    for body in bodies:
        aws.sqs.send_message(QueueUrl=aws.queue_url, MessageBody=body)
    failed: set[str] = set()
    while messages := aws.sqs.receive_message(QueueUrl=aws.queue_url, MaxNumberOfMessages=10,
                                              AttributeNames=["All"]).get("Messages"):
        result = handler.lambda_handler(chaos.sqs_event(messages, aws.queue_arn), None)
        ids = {f["itemIdentifier"] for f in result["batchItemFailures"]}
        failed |= {m["Body"] for m in messages if m["MessageId"] in ids}
        chaos.ack(aws.sqs, aws.queue_url, messages)  # a failed one: "moved to the DLQ"
    return failed


def node_message(aws: Aws, layout: TreeLayout, level: int, index: int,
                 tree: TreeSpec | None = None, iteration: int | None = None) -> str:
    return dump_message(NodeWritten(
        bucket=aws.bucket, run_id=layout.run_id, level=level, index=index,
        iteration=layout.iteration if iteration is None else iteration,
        tree=tree or layout.tree))


def register(aws: Aws, layout: TreeLayout, token: str = "tok",
             tree: TreeSpec | None = None) -> str:
    return dump_message(CallbackRegistered(bucket=aws.bucket, run_id=layout.run_id,
                                           iteration=layout.iteration, task_token=token,
                                           tree=tree or layout.tree))


def sidecar(aws: Aws, layout: TreeLayout, node: Node) -> Sidecar | None:
    return read_sidecar(aws.s3, aws.bucket, layout.sidecar_key(node))


def announce_all(aws: Aws, layout: TreeLayout, indices: range) -> None:
    for i in indices:
        announce_leaf(aws.sqs, aws.queue_url, aws.bucket, layout, i)


def assert_completed_once(aws: Aws, layout: TreeLayout, resumptions: Any) -> None:
    """The real root holds all 20 shots, summed in tree order, and every answer the
    workflow got was that success."""
    root = sidecar(aws, layout, layout.root)
    assert root is not None and root.members == tuple(range(N))
    body = io.BytesIO(aws.s3.get_object(Bucket=aws.bucket,
                                        Key=layout.array_key(layout.root))["Body"].read())
    expected = sum((gradient(i) for i in range(1, F)), gradient(0))
    expected = expected + sum((gradient(i) for i in range(F + 1, N)), gradient(F))
    assert np.load(body, allow_pickle=False).tobytes() == expected.tobytes()
    calls = resumptions.for_token("tok")
    assert calls and {op for op, _ in calls} == {"SendTaskSuccess"}
    assert {json.loads(p["output"])["n_members"] for _, p in calls} == {N}


def test_forged_root_claim_after_first_group_is_poison_not_success(
        aws: Aws, services: ReduceServices, resumptions: Any, chaos: ModuleType,
        layout: TreeLayout) -> None:
    write(aws, layout, range(F))
    assert deliver(aws, chaos, register(aws, layout)) == set()
    announce_all(aws, layout, range(F))
    assert deliver(aws, chaos) == set()
    assert sidecar(aws, layout, Node(1, 0)) is not None  # leaves 0-9 are summed
    forged = node_message(aws, layout, 1, 0, TreeSpec(n_leaves=F, fan_in=F))
    assert deliver(aws, chaos, forged) == {forged}
    assert resumptions.for_token("tok") == []
    write(aws, layout, range(F, N))
    announce_all(aws, layout, range(F, N))
    assert deliver(aws, chaos) == set()
    assert_completed_once(aws, layout, resumptions)


def test_leaf_claiming_fan_in_two_is_poison_and_writes_nothing(
        aws: Aws, services: ReduceServices, resumptions: Any, chaos: ModuleType,
        layout: TreeLayout) -> None:
    write(aws, layout, range(N))
    forged = node_message(aws, layout, 0, 0, TreeSpec(n_leaves=N, fan_in=2))
    assert deliver(aws, chaos, forged) == {forged}
    assert sidecar(aws, layout, Node(1, 0)) is None  # not committed with members (0, 1)
    announce_all(aws, layout, range(N))
    assert deliver(aws, chaos, register(aws, layout)) == set()
    first = sidecar(aws, layout, Node(1, 0))
    assert first is not None and first.members == tuple(range(F))
    assert_completed_once(aws, layout, resumptions)


def test_rejection_is_a_typed_error_with_a_readable_reason(
        aws: Aws, services: ReduceServices, layout: TreeLayout) -> None:
    message = NodeWritten(bucket=aws.bucket, run_id=layout.run_id,
                          iteration=layout.iteration, level=1, index=0,
                          tree=TreeSpec(n_leaves=F, fan_in=F))
    with pytest.raises(ForgedMessageError, match=r"claims a tree of 10 leaves.*has 20 shots"):
        handler.handle(services, message)


@pytest.mark.parametrize(("level", "index", "iteration", "reason"), [
    (0, N, None, "outside the run's tree"),
    (3, 0, None, "outside the run's tree"),
    (1, 2, None, "outside the run's tree"),
    (0, 0, 2, "no stored state"),
])
def test_nodes_outside_the_stored_tree_or_unplanned_iterations_are_poison(
        aws: Aws, services: ReduceServices, chaos: ModuleType, layout: TreeLayout,
        caplog: pytest.LogCaptureFixture, level: int, index: int, iteration: int | None,
        reason: str) -> None:
    forged = node_message(aws, layout, level, index, iteration=iteration)
    assert deliver(aws, chaos, forged) == {forged}
    logged = [r for r in caplog.records if getattr(r, "code", "") == "ForgedMessageError"]
    assert logged and reason in logged[0].reason


def test_callback_with_another_tree_is_not_stored(
        aws: Aws, services: ReduceServices, resumptions: Any, chaos: ModuleType,
        layout: TreeLayout) -> None:
    assert deliver(aws, chaos, register(aws, layout)) == set()
    forged = register(aws, layout, token="evil", tree=TreeSpec(n_leaves=F, fan_in=F))
    assert deliver(aws, chaos, forged) == {forged}
    stored = aws.s3.get_object(Bucket=aws.bucket, Key=layout.callback_key)["Body"].read()
    assert json.loads(stored)["task_token"] == "tok"
    write(aws, layout, range(N))
    announce_all(aws, layout, range(N))
    assert deliver(aws, chaos) == set()
    assert resumptions.for_token("evil") == []
    assert_completed_once(aws, layout, resumptions)


@pytest.mark.parametrize(("members", "tombstones", "cause"), [
    (tuple(range(F)), (), "missing [10, 11"),
    (tuple(range(N)), (3,), "both summed and tombstoned"),
    ((*range(N), 5), (), "not each of the 20 shots once"),
])
def test_root_not_covering_exactly_every_shot_fails_the_workflow(
        aws: Aws, resumptions: Any, layout: TreeLayout, members: tuple[int, ...],
        tombstones: tuple[int, ...], cause: str) -> None:
    root = Sidecar(level=layout.root.level, index=0, shape=(2, 3), members=members,
                   tombstones=tombstones)
    write_sidecar(aws.s3, aws.bucket, layout.sidecar_key(layout.root), root)
    aws.s3.put_object(Bucket=aws.bucket, Key=layout.callback_key,
                      Body=register(aws, layout).encode())
    assert resume_if_ready(aws.s3, resumptions, aws.bucket, layout)
    [(op, params)] = resumptions.for_token("tok")
    assert (op, params["error"]) == ("SendTaskFailure", "ReductionError")
    assert cause in params["cause"]


def test_stale_attempt_after_the_root_changes_nothing(
        aws: Aws, services: ReduceServices, resumptions: Any, chaos: ModuleType,
        layout: TreeLayout) -> None:
    write(aws, layout, range(N - 1))
    write_tombstone(aws.s3, aws.bucket, layout, N - 1, reason="spot instance reclaimed")
    announce_all(aws, layout, range(N))
    assert deliver(aws, chaos, register(aws, layout)) == set()
    key = layout.array_key(layout.root)
    before = aws.s3.get_object(Bucket=aws.bucket, Key=key)["Body"].read()
    # An earlier attempt's job for shot 3 finishes late with another gradient: the first
    # committed leaf stays, and its announcement (and every duplicate) is harmless.
    late = write_leaf(aws.s3, aws.bucket, layout, 3, np.zeros((2, 3), "<f4"), objective=9.0)
    assert late.objective == 3.0
    announce_all(aws, layout, range(3, 4))
    root_message = node_message(aws, layout, layout.root.level, layout.root.index)
    duplicates = [node_message(aws, layout, 1, 0), root_message, register(aws, layout)]
    assert deliver(aws, chaos, *duplicates, *duplicates) == set()
    # Redelivered duplicates re-announce the parents up to the root: answered again,
    # identically, and refused by Step Functions since the token is closed.
    for level, index in [(0, 3), (1, 1)]:
        message = NodeWritten.model_validate_json(node_message(aws, layout, level, index))
        assert handler.handle(services, message, redelivered=True) == "re-announced"
    assert deliver(aws, chaos) == set()
    assert aws.s3.get_object(Bucket=aws.bucket, Key=key)["Body"].read() == before
    root = sidecar(aws, layout, layout.root)
    assert root is not None and root.tombstones == (N - 1,)
    calls = resumptions.for_token("tok")
    assert len(calls) > 1 and {op for op, _ in calls} == {"SendTaskSuccess"}
    assert {json.loads(p["output"])["n_members"] for _, p in calls} == {N - 1}


def test_stored_tree_is_read_once_per_invocation(
        aws: Aws, services: ReduceServices, chaos: ModuleType, layout: TreeLayout) -> None:
    write(aws, layout, range(F))
    announce_all(aws, layout, range(F))
    reads: list[str] = []
    aws.s3.meta.events.register("provide-client-params.s3.GetObject",
                                lambda params, **_: reads.append(params["Key"]))
    messages = aws.sqs.receive_message(QueueUrl=aws.queue_url, MaxNumberOfMessages=F,
                                       AttributeNames=["All"])["Messages"]
    assert len(messages) == F
    result = handler.lambda_handler(chaos.sqs_event(messages, aws.queue_arn), None)
    assert result == {"batchItemFailures": []}
    keys = RunKeys(layout.run_id)
    assert reads.count(keys.iteration(layout.iteration).shots) == 1
    assert reads.count(keys.config) == 1
