"""Fault-injection proof of the exactly-once reduction.

Runs the real reducer handler (`lambdas.reducer.handler.lambda_handler`) against moto's
S3, SQS and Step Functions (in-process `mock_aws`) under randomized schedules:

- every leaf message is sent 1-3 times, some copies only much later;
- leaves are written in random order, so messages often find siblings missing and
  leaves arrive after their siblings' parent was attempted; ~15% are tombstones;
- 2-4 consumer threads receive batches of 1-10; some messages of a batch are made
  visible again at once, so another consumer receives them concurrently (overlapping
  batches, as when a visibility timeout expires mid-invocation);
- crashes through the reducer's checkpoint seam (`seisless.reduce.checkpoints`): in the
  middle of a multipart upload, after the parent's array, after its sidecar, after the
  announcement (i.e. after the parent write, before the ack). A crash kills the whole
  invocation: nothing is acknowledged, and its messages come back (the visibility
  timeout is fast-forwarded to zero);
- the workflow's task token is registered at a random moment, through the queue.

Each run's root is compared with the tree-ordered float32 sum of the leaves computed
directly in memory (bitwise, header included), and its members, tombstones, objective
and the workflow's resumption are checked. The last line printed is `exact: K/R`.
Shared by the tests (tests/reduce) and the benchmark script `bench/reduce_chaos.py`.
"""

from __future__ import annotations

import io
import json
import os
import random
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from botocore.exceptions import ClientError

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from seisless.messages import CallbackRegistered, dump_message
from seisless.reduce import (
    ReduceServices,
    TreeLayout,
    announce_leaf,
    layout_for,
    read_sidecar,
    write_leaf,
    write_tombstone,
)
from seisless.reduce.checkpoints import POINTS

REGION = "us-east-1"
BUCKET = "seisless-chaos"
#: Share of invocations given a crash at one of the reducer's checkpoints.
CRASH_RATE = 0.3


class SimulatedCrash(BaseException):
    """The invocation dies here, like a Lambda timeout or OOM kill: no cleanup, no ack."""


class Faults:
    """The crash plan given to the reducer's checkpoint seam, with what it did.

    Before each invocation a consumer arms a plan for its thread: with probability
    `CRASH_RATE`, die at the n-th time one chosen checkpoint is reached (a batch that
    never reaches it survives). One plan per invocation, as a real Lambda dies once.
    """

    def __init__(self) -> None:
        self._plan = threading.local()
        self._lock = threading.Lock()
        self.crashes: dict[str, int] = {}

    def arm(self, rng: random.Random) -> None:
        crash = rng.random() < CRASH_RATE
        self._plan.point = rng.choice(POINTS) if crash else None
        self._plan.hits_left = rng.randint(0, 2)

    def checkpoint(self, name: str) -> None:
        if getattr(self._plan, "point", None) != name:
            return
        if self._plan.hits_left > 0:
            self._plan.hits_left -= 1
            return
        self._plan.point = None
        with self._lock:
            self.crashes[name] = self.crashes.get(name, 0) + 1
        raise SimulatedCrash(name)


@dataclass
class Resumptions:
    """SendTaskSuccess / SendTaskFailure calls seen on the Step Functions client."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def attach(self, sfn: Any) -> None:
        for op in ("SendTaskSuccess", "SendTaskFailure"):
            sfn.meta.events.register(f"provide-client-params.sfn.{op}",
                                     lambda params, op=op, **_: self._record(op, params))

    def _record(self, op: str, params: dict[str, Any]) -> None:
        with self.lock:
            self.calls.append((op, dict(params)))

    def for_token(self, token: str) -> list[tuple[str, dict[str, Any]]]:
        with self.lock:
            return [(op, p) for op, p in self.calls if p["taskToken"] == token]


class Serialized:
    """A client whose calls run one at a time. moto's SQS backend is not thread-safe
    (a delete rebuilds the queue's message list, so a concurrent send or delete can be
    lost or undone); real SQS is, so the harness serializes SQS calls, not the reducer."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)

        def call(**kwargs: Any) -> Any:
            with self._lock:
                return method(**kwargs)

        return call


def fake_credentials() -> None:
    """moto needs credentials to exist; these never leave the process."""
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": REGION}.items():
        os.environ[name] = value


def allow_small_parts() -> None:
    """Let moto accept multipart parts under 5 MiB, so tiny gradients still exercise
    multipart uploads (and crashes in their middle). Real S3 keeps its 5 MiB minimum;
    the handler refuses smaller parts from its environment."""
    import moto.s3.models

    moto.s3.models.S3_UPLOAD_PART_MIN_SIZE = 1


def sqs_event(messages: list[dict[str, Any]], queue_arn: str) -> dict[str, Any]:
    """The Lambda SQS event for messages received with AttributeNames=["All"]."""
    return {"Records": [{
        "messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
        "attributes": m.get("Attributes", {}), "messageAttributes": {},
        "md5OfBody": m["MD5OfBody"], "eventSource": "aws:sqs", "eventSourceARN": queue_arn,
        "awsRegion": REGION} for m in messages]}


def reference_sum(layout: TreeLayout, leaves: dict[int, np.ndarray | None],
                  objectives: dict[int, float]) -> tuple[np.ndarray | None, float]:
    """The root computed directly in memory, in the tree's fixed order."""
    fan_in = layout.tree.fan_in
    level: list[tuple[np.ndarray | None, float]] = [
        (leaves[i], objectives[i]) for i in range(layout.tree.n_leaves)]
    for _ in range(layout.depth):
        parents = []
        for start in range(0, len(level), fan_in):
            group = level[start:start + fan_in]
            arrays = [a for a, _ in group if a is not None]
            acc = arrays[0].copy() if arrays else None
            for array in arrays[1:]:
                np.add(acc, array, out=acc)
            objective = 0.0
            for _, value in group:
                objective += value
            parents.append((acc, objective))
        level = parents
    return level[0]


def npy_bytes(array: np.ndarray) -> bytes:
    """What `np.save` writes: the root must be exactly this, header included."""
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return buf.getvalue()


def queue_is_drained(sqs: Any, url: str) -> bool:
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return (int(attrs["ApproximateNumberOfMessages"]) == 0 and
            int(attrs["ApproximateNumberOfMessagesNotVisible"]) == 0)


def _stale(err: ClientError) -> bool:
    """Another consumer received the message since: our receipt handle is stale."""
    return err.response.get("Error", {}).get("Code") in {
        "ReceiptHandleIsInvalid", "InvalidParameterValue", "MessageNotInflight"}


def release(sqs: Any, url: str, messages: list[dict[str, Any]]) -> None:
    """Make messages visible again now (an expired visibility timeout, fast-forwarded)."""
    for m in messages:
        try:
            sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"],
                                          VisibilityTimeout=0)
        except ClientError as err:
            if not _stale(err):
                raise


def ack(sqs: Any, url: str, messages: list[dict[str, Any]]) -> None:
    """Delete processed messages (what Lambda does with records not reported failed)."""
    for m in messages:
        try:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        except ClientError as err:
            if not _stale(err):
                raise


@dataclass
class Consumer:
    """What consumer threads of one run share."""

    handler: Any
    sqs: Any
    url: str
    arn: str
    faults: Faults
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    in_flight: list[int] = field(default_factory=lambda: [0])


def consume(c: Consumer, rng: random.Random) -> None:
    """One concurrent consumer: receive, maybe overlap, invoke, ack what succeeded."""
    sqs, url, lock, in_flight = c.sqs, c.url, c.lock, c.in_flight
    while not c.stop.is_set():
        messages = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=rng.randint(1, 10),
            AttributeNames=["All"], VisibilityTimeout=300).get("Messages", [])
        if not messages:
            time.sleep(0.005)
            continue
        with lock:  # received messages stay "not visible" until acked or released
            in_flight[0] += 1
        try:
            release(sqs, url, [m for m in messages if rng.random() < 0.15])
            c.faults.arm(rng)
            try:
                result = c.handler.lambda_handler(sqs_event(messages, c.arn), None)
            except SimulatedCrash:
                release(sqs, url, messages)
                continue
            failed = {f["itemIdentifier"] for f in result["batchItemFailures"]}
            release(sqs, url, [m for m in messages if m["MessageId"] in failed])
            ack(sqs, url, [m for m in messages if m["MessageId"] not in failed])
        finally:
            with lock:
                in_flight[0] -= 1
        time.sleep(rng.random() * 0.002)


@dataclass
class RunResult:
    exact: bool
    line: str
    crashes: dict[str, int]


def random_leaves(rng: random.Random, np_rng: np.random.Generator, n_leaves: int,
                  shape: tuple[int, ...]) -> tuple[dict[int, np.ndarray | None],
                                                  dict[int, float]]:
    """Gradients over 8 decades of scale (None: ~15% tombstones) and their objectives."""
    leaves: dict[int, np.ndarray | None] = {}
    objectives: dict[int, float] = {}
    for i in range(n_leaves):
        tombstone = rng.random() < 0.15
        scale = np.float32(10.0 ** np_rng.uniform(-4, 4))
        leaves[i] = None if tombstone else np_rng.standard_normal(shape).astype("<f4") * scale
        objectives[i] = 0.0 if tombstone else float(np_rng.uniform(0, 10))
    return leaves, objectives


def wait_until_quiet(sqs: Any, url: str, shared: Consumer, timeout_s: float = 60) -> None:
    """Until the queue stayed drained with nothing in flight for three looks in a row."""
    deadline, quiet = time.monotonic() + timeout_s, 0
    while time.monotonic() < deadline and quiet < 3:
        time.sleep(0.02)
        idle = queue_is_drained(sqs, url) and shared.in_flight[0] == 0
        quiet = quiet + 1 if idle else 0


def run_once(clients: dict[str, Any], resumptions: Resumptions, seed: int, run: int, *,
             n_leaves: int, fan_in: int) -> RunResult:
    """One randomized schedule; exact when the root is bitwise the reference."""
    from lambdas.reducer import handler

    s3, sqs = clients["s3"], clients["sqs"]
    rng = random.Random(seed * 1_000_003 + run)
    np_rng = np.random.default_rng([seed, run])
    layout = layout_for(f"chaos-{seed}-{run}", rng.randrange(3), n_leaves, fan_in)
    url = sqs.create_queue(QueueName=f"reduce-{seed}-{run}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
        "Attributes"]["QueueArn"]
    shape = rng.choice([(rng.randint(1, 40),), (rng.randint(1, 9), rng.randint(1, 33))])
    faults = Faults()
    handler.use_services(ReduceServices(
        s3=s3, sqs=sqs, sfn=clients["sfn"], queue_url=url,
        chunk_bytes=rng.choice([12, 52, 256, 4096]), part_bytes=rng.choice([64, 100, 1024]),
        checkpoint=faults.checkpoint))
    leaves, objectives = random_leaves(rng, np_rng, n_leaves, shape)
    token = f"token-{seed}-{run}"
    callback = dump_message(CallbackRegistered(bucket=BUCKET, run_id=layout.run_id,
                                               iteration=layout.iteration,
                                               task_token=token, tree=layout.tree))
    sends = [0]

    def produce() -> None:
        order = [*range(n_leaves), -1]  # -1: the workflow registers its token
        rng.shuffle(order)
        late: list[int] = []
        for i in order:
            if i < 0:
                sqs.send_message(QueueUrl=url, MessageBody=callback)
            elif leaves[i] is None:
                write_tombstone(s3, BUCKET, layout, i, reason="chaos: job failed for good")
            else:
                write_leaf(s3, BUCKET, layout, i, leaves[i], objective=objectives[i])
            if i >= 0:
                copies = rng.randint(1, 3)
                announce_leaf(sqs, url, BUCKET, layout, i)
                late.extend([i] * (copies - 1))
                sends[0] += copies
            time.sleep(rng.random() * 0.003)
        rng.shuffle(late)
        for i in late:
            announce_leaf(sqs, url, BUCKET, layout, i)

    shared = Consumer(handler, sqs, url, arn, faults)
    consumers = [threading.Thread(target=consume, args=(shared, random.Random(rng.random())))
                 for _ in range(rng.randint(2, 4))]
    producer = threading.Thread(target=produce)
    for thread in [producer, *consumers]:
        thread.start()
    producer.join()
    wait_until_quiet(sqs, url, shared)
    shared.stop.set()
    for thread in consumers:
        thread.join()
    verdict = check(s3, layout, leaves, objectives, resumptions.for_token(token))
    crashes = ",".join(f"{k}={v}" for k, v in sorted(faults.crashes.items())) or "none"
    n_dead = sum(a is None for a in leaves.values())
    line = (f"run {run}: {verdict or 'exact'} | N={n_leaves} F={fan_in} shape={shape} "
            f"tombstones={n_dead} leaf-sends={sends[0]} consumers={len(consumers)} "
            f"crashes[{crashes}]")
    sqs.delete_queue(QueueUrl=url)
    return RunResult(verdict == "", line, faults.crashes)


def check(s3: Any, layout: TreeLayout, leaves: dict[int, np.ndarray | None],
          objectives: dict[int, float], calls: list[tuple[str, dict[str, Any]]]) -> str:
    """'' if the root is exactly right and the workflow was resumed, else the reason."""
    expected, objective = reference_sum(layout, leaves, objectives)
    root = read_sidecar(s3, BUCKET, layout.sidecar_key(layout.root))
    if root is None:
        return "STALLED: no root"
    members = tuple(i for i, a in leaves.items() if a is not None)
    tombstones = tuple(i for i, a in leaves.items() if a is None)
    if (root.members, root.tombstones) != (members, tombstones):
        return f"WRONG members {root.members} / tombstones {root.tombstones}"
    if root.objective != objective:
        return f"WRONG objective {root.objective} != {objective}"
    ops = {op for op, _ in calls}
    if expected is None:
        return "" if ops == {"SendTaskFailure"} else f"WRONG resumption {ops}"
    try:
        body = s3.get_object(Bucket=BUCKET, Key=layout.array_key(layout.root))["Body"].read()
    except ClientError as err:
        return f"WRONG root array unreadable: {err}"
    if body != npy_bytes(expected):
        return "WRONG root bytes"
    exact64 = sum(a.astype(np.float64) for a in leaves.values() if a is not None)
    if not np.allclose(expected, exact64, rtol=1e-4, atol=1e-3 * np.abs(exact64).max()):
        return "WRONG reference (tree sum far from the float64 sum)"
    if ops != {"SendTaskSuccess"}:
        return f"WRONG resumption {ops}"
    outputs = {json.loads(p["output"])["n_members"] for _, p in calls}
    return "" if outputs == {len(members)} else f"WRONG resumption output {outputs}"


def run_chaos(runs: int, seed: int, n_leaves: int | None, fan_in: int | None,
              out: Any = sys.stdout) -> int:
    """Run `runs` schedules against an in-process moto (credentials must be set, fake);
    return how many were exact."""
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    import boto3
    from moto import mock_aws

    from lambdas.reducer import handler

    with mock_aws():
        allow_small_parts()
        clients = {name: boto3.client(name, region_name=REGION)
                   for name in ("s3", "sqs", "stepfunctions")}
        clients["sfn"] = clients["stepfunctions"]
        clients["sqs"] = Serialized(clients["sqs"])
        clients["s3"].create_bucket(Bucket=BUCKET)
        resumptions = Resumptions()
        resumptions.attach(clients["sfn"])
        rng = random.Random(seed)
        exact, crashes = 0, dict.fromkeys(POINTS, 0)
        try:
            for run in range(runs):
                result = run_once(clients, resumptions, seed, run,
                                  n_leaves=n_leaves or rng.randint(1, 40),
                                  fan_in=fan_in or rng.randint(2, 6))
                exact += result.exact
                for point, count in result.crashes.items():
                    crashes[point] += count
                print(result.line, file=out, flush=True)
        finally:
            handler.use_services(None)
    print("crashes injected: " + ", ".join(f"{k}={v}" for k, v in crashes.items()), file=out)
    print(f"exact: {exact}/{runs}", file=out, flush=True)
    return exact
