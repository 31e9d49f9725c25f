"""Fault-injection proof of the exactly-once reduction, under crashes and forgeries.

Runs the real reducer handler (`lambdas.reducer.handler.lambda_handler`) against moto's
S3 and SQS (in-process `mock_aws`) and a recording Step Functions stand-in, under
randomized schedules:

- the run's config and the iteration's shot list are written first, as Init and
  SelectShots do: the reducer's only source of the tree;
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
- the workflow's task token is registered at a random moment, through the queue;
- forged messages at random moments, before and after the root exists: a wrong number
  of leaves, a wrong fan-in, a node outside the tree, a smaller tree claimed after its
  leaves were summed (the half-gradient attack), an iteration never planned, and a
  callback registration with a wrong tree and another token. A record the handler
  reports failed is dead-lettered after `MAX_RECEIVES` receives, as SQS's redrive does;
- stale attempts: an earlier attempt's job writing its shot's leaf (another gradient)
  after the real one and announcing it, during the reduction and after the root; and
  duplicates of real messages (leaves, inner nodes, the root, the callback) after it.

Each run's root is compared with the tree-ordered float32 sum of the leaves computed
directly in memory (bitwise, header included), and its members, tombstones, objective
and the workflow's resumption are checked; so are the adversary's effects: every forged
message dead-lettered and nothing else, no answer ever sent to a forged token, the real
token still registered, and every node under the iteration's prefix a node of the true
tree covering exactly its shots. The last line printed is `exact: K/R`.
Shared by the tests (tests/reduce) and the benchmark script `bench/reduce_chaos.py`.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import random
import re
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from botocore.exceptions import ClientError

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from seisless import storage
from seisless.errors import ReductionError
from seisless.inversion.documents import (
    Acquisition,
    DataSpec,
    ModelSpec,
    RunConfig,
    ShotList,
)
from seisless.inversion.keys import RunKeys
from seisless.messages import CallbackRegistered, NodeWritten, TreeSpec, dump_message
from seisless.reduce import (
    Node,
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
#: The queue's maxReceiveCount: a record failed this many times goes to the DLQ.
MAX_RECEIVES = 3


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




class StepFunctionsTokens:
    """Step Functions' task-token answers, recorded. Like AWS, the first answer to a
    token closes it and later ones (and heartbeats) are refused with `TaskTimedOut`, so
    the reducer sees real duplicate answers refused; every call is kept, refused or not,
    so a check can see any success a forged or stale message would have caused."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._closed: set[str] = set()
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def _answer(self, op: str, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self.calls.append((op, params))
            closed = params["taskToken"] in self._closed
            self._closed.add(params["taskToken"])
        if closed:
            raise ClientError({"Error": {"Code": "TaskTimedOut", "Message": "closed"}}, op)
        return {}

    def send_task_success(self, **params: Any) -> dict[str, Any]:
        return self._answer("SendTaskSuccess", params)

    def send_task_failure(self, **params: Any) -> dict[str, Any]:
        return self._answer("SendTaskFailure", params)

    def send_task_heartbeat(self, *, taskToken: str) -> dict[str, Any]:
        with self._lock:
            closed = taskToken in self._closed
        if closed:
            raise ClientError({"Error": {"Code": "TaskTimedOut", "Message": "closed"}},
                              "SendTaskHeartbeat")
        return {}

    def for_token(self, token: str) -> list[tuple[str, dict[str, Any]]]:
        """Every answer (success or failure) sent for `token`, accepted or refused."""
        with self._lock:
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
    """What consumer threads of one run share, and the bodies they dead-lettered."""

    handler: Any
    sqs: Any
    url: str
    arn: str
    faults: Faults
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    in_flight: list[int] = field(default_factory=lambda: [0])
    dead_letters: set[str] = field(default_factory=set)


def settle(c: Consumer, messages: list[dict[str, Any]], failed: set[str]) -> None:
    """Ack what succeeded; a failed record comes back, or after `MAX_RECEIVES` receives
    goes to the dead letters (SQS's redrive policy, which Lambda leaves to the queue)."""
    def receives(m: dict[str, Any]) -> int:
        return int(m.get("Attributes", {}).get("ApproximateReceiveCount", "1"))

    dead = [m for m in messages if m["MessageId"] in failed and receives(m) >= MAX_RECEIVES]
    with c.lock:
        c.dead_letters.update(m["Body"] for m in dead)
    release(c.sqs, c.url, [m for m in messages if m["MessageId"] in failed and m not in dead])
    ack(c.sqs, c.url, [m for m in messages if m["MessageId"] not in failed or m in dead])


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
            settle(c, messages, {f["itemIdentifier"] for f in result["batchItemFailures"]})
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


def store_run_state(s3: Any, bucket: str, layout: TreeLayout) -> None:
    """What Init and SelectShots write before any gradient job runs, with the tree of
    `layout`: the run's config (its fan-in) and the iteration's shot list (its length)."""
    keys = RunKeys(layout.run_id)
    config = RunConfig(run_id=layout.run_id, objective="lsrtm",
                       iterations=layout.iteration + 1, fan_in=layout.tree.fan_in,
                       model=ModelSpec(key="models/chaos.npy", spacing=(10.0, 10.0)),
                       data=DataSpec(segy_key="incoming/chaos.sgy",
                                     gathers_key="scans/chaos/gathers.parquet"),
                       acquisition=Acquisition(f0=0.01))
    storage.put_json(s3, bucket, keys.config, config)
    shots = ShotList(shots=tuple(1000 + i for i in range(layout.tree.n_leaves)))
    storage.put_json(s3, bucket, keys.iteration(layout.iteration).shots, shots)


def _other(rng: random.Random, true: int, low: int, high: int) -> int:
    """A value in [low, high] that is not `true`."""
    return rng.choice([v for v in range(low, high + 1) if v != true])


def _node_message(layout: TreeLayout, level: int, index: int,
                  tree: TreeSpec | None = None, iteration: int | None = None) -> str:
    return dump_message(NodeWritten(
        bucket=BUCKET, run_id=layout.run_id, level=level, index=index,
        iteration=layout.iteration if iteration is None else iteration,
        tree=layout.tree if tree is None else tree))


def forge(rng: random.Random, layout: TreeLayout, token: str) -> str:
    """One forged message for `layout`'s iteration: every kind must be poison."""
    n, fan_in = layout.tree.n_leaves, layout.tree.fan_in
    kind = rng.choice(["n-leaves", "fan-in", "outside", "smaller", "unplanned", "callback"])
    if kind == "smaller" and n > 1:  # the half-gradient attack: claim a tree of k < N
        small = TreeLayout(layout.run_id, layout.iteration, TreeSpec(
            n_leaves=rng.randint(1, n - 1), fan_in=fan_in))
        level = rng.choice([0, small.depth])
        return _node_message(layout, level, rng.randrange(small.level_size(level)),
                             small.tree)
    if kind == "fan-in":
        return _node_message(layout, 0, rng.randrange(n), TreeSpec(
            n_leaves=n, fan_in=_other(rng, fan_in, 2, 12)))
    if kind == "outside":
        level = rng.randint(0, layout.depth + 1)
        size = layout.level_size(level) if level <= layout.depth else 0
        return _node_message(layout, level, size + rng.randint(0, 3))
    if kind == "unplanned":
        return _node_message(layout, 0, 0, iteration=layout.iteration + 1)
    wrong = TreeSpec(n_leaves=_other(rng, n, 1, n + 20), fan_in=fan_in)
    if kind == "callback":
        return dump_message(CallbackRegistered(
            bucket=BUCKET, run_id=layout.run_id, iteration=layout.iteration,
            task_token=f"forged-{token}", tree=wrong))
    return _node_message(layout, 0, rng.randrange(min(n, wrong.n_leaves)), wrong)


@dataclass
class Schedule:
    """One run's inputs and what the producer sends, in order, before and after the
    root exists: ("leaf", i), ("callback", -1), ("stale-leaf", i), ("body", -1) with a
    message in `bodies` (forged ones also in `forged`)."""

    layout: TreeLayout
    leaves: dict[int, np.ndarray | None]
    objectives: dict[int, float]
    stale: dict[int, np.ndarray]
    token: str
    callback: str
    before: list[tuple[str, int, str]] = field(default_factory=list)
    after: list[tuple[str, int, str]] = field(default_factory=list)
    forged: set[str] = field(default_factory=set)


def plan(rng: random.Random, np_rng: np.random.Generator, layout: TreeLayout,
         shape: tuple[int, ...], token: str) -> Schedule:
    """Leaves in random order with the callback among them; forgeries and late leaves of
    an earlier attempt at random moments; duplicates of real messages after the root."""
    leaves, objectives = random_leaves(rng, np_rng, layout.tree.n_leaves, shape)
    callback = dump_message(CallbackRegistered(bucket=BUCKET, run_id=layout.run_id,
                                               iteration=layout.iteration,
                                               task_token=token, tree=layout.tree))
    stale = {i: np_rng.standard_normal(shape).astype("<f4")
             for i in rng.sample(range(layout.tree.n_leaves), min(3, layout.tree.n_leaves))}
    s = Schedule(layout, leaves, objectives, stale, token, callback)
    s.before = [("leaf", i, "") for i in range(layout.tree.n_leaves)] + [("callback", -1, "")]
    rng.shuffle(s.before)
    for i in stale:
        if rng.random() < 0.5:
            written = s.before.index(("leaf", i, ""))
            s.before.insert(rng.randint(written + 1, len(s.before)), ("stale-leaf", i, ""))
        else:
            s.after.append(("stale-leaf", i, ""))
    nodes = [(level, index) for level in range(layout.depth + 1)
             for index in range(layout.level_size(level))]
    s.after += [("body", -1, _node_message(layout, *rng.choice(nodes)))
                for _ in range(rng.randint(1, 4))] + [("body", -1, callback)]
    for _ in range(rng.randint(1, 4)):
        body = forge(rng, layout, token)
        s.forged.add(body)
        events = rng.choice([s.before, s.after])
        events.insert(rng.randint(0, len(events)), ("body", -1, body))
    return s


def send(s3: Any, sqs: Any, url: str, s: Schedule, event: tuple[str, int, str]) -> int:
    """Carry out one event; the number of leaf messages it sent."""
    kind, i, body = event
    if kind == "body":
        sqs.send_message(QueueUrl=url, MessageBody=body)
        return 0
    if kind == "callback":
        sqs.send_message(QueueUrl=url, MessageBody=s.callback)
        return 0
    if kind == "stale-leaf":
        # An earlier attempt's job, late: its gradient must never be used. A tombstoned
        # shot refuses it (ReductionError, the job fails); it announces anyway here.
        with contextlib.suppress(ReductionError):
            write_leaf(s3, BUCKET, s.layout, i, s.stale[i], objective=-1.0)
        announce_leaf(sqs, url, BUCKET, s.layout, i)
        return 1
    if s.leaves[i] is None:
        write_tombstone(s3, BUCKET, s.layout, i, reason="chaos: job failed for good")
    else:
        write_leaf(s3, BUCKET, s.layout, i, s.leaves[i], objective=s.objectives[i])
    announce_leaf(sqs, url, BUCKET, s.layout, i)
    return 1


def produce(s3: Any, sqs: Any, url: str, s: Schedule, rng: random.Random,
            sends: list[int]) -> None:
    """Send `s.before` in order with small pauses, then 0-2 more copies of each leaf
    message in random order (late duplicates)."""
    late: list[int] = []
    for event in s.before:
        sends[0] += send(s3, sqs, url, s, event)
        if event[0] == "leaf":
            late.extend([event[1]] * rng.randint(0, 2))
        time.sleep(rng.random() * 0.003)
    rng.shuffle(late)
    for i in late:
        announce_leaf(sqs, url, BUCKET, s.layout, i)
        sends[0] += 1


def run_once(clients: dict[str, Any], seed: int, run: int, *,
             n_leaves: int, fan_in: int) -> RunResult:
    """One randomized schedule; exact when the root is bitwise the reference and the
    adversary changed nothing."""
    from lambdas.reducer import handler

    s3, sqs = clients["s3"], clients["sqs"]
    rng = random.Random(seed * 1_000_003 + run)
    np_rng = np.random.default_rng([seed, run])
    layout = layout_for(f"chaos-{seed}-{run}", rng.randrange(3), n_leaves, fan_in)
    store_run_state(s3, BUCKET, layout)
    url = sqs.create_queue(QueueName=f"reduce-{seed}-{run}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
        "Attributes"]["QueueArn"]
    shape = rng.choice([(rng.randint(1, 40),), (rng.randint(1, 9), rng.randint(1, 33))])
    faults = Faults()
    handler.use_services(ReduceServices(
        s3=s3, sqs=sqs, sfn=clients["sfn"], queue_url=url,
        chunk_bytes=rng.choice([12, 52, 256, 4096]), part_bytes=rng.choice([64, 100, 1024]),
        checkpoint=faults.checkpoint))
    s = plan(rng, np_rng, layout, shape, f"token-{seed}-{run}")
    sends = [0]
    shared = Consumer(handler, sqs, url, arn, faults)
    consumers = [threading.Thread(target=consume, args=(shared, random.Random(rng.random())))
                 for _ in range(rng.randint(2, 4))]
    producer = threading.Thread(target=produce, args=(s3, sqs, url, s, rng, sends))
    for thread in [producer, *consumers]:
        thread.start()
    producer.join()
    wait_until_quiet(sqs, url, shared)
    for event in s.after:  # the root exists (or the run already failed its check)
        sends[0] += send(s3, sqs, url, s, event)
    wait_until_quiet(sqs, url, shared)
    shared.stop.set()
    for thread in consumers:
        thread.join()
    verdict = check(s3, s, clients["sfn"]) or check_adversary(s3, s, clients["sfn"],
                                                          shared.dead_letters)
    crashes = ",".join(f"{k}={v}" for k, v in sorted(faults.crashes.items())) or "none"
    line = (f"run {run}: {verdict or 'exact'} | N={n_leaves} F={fan_in} shape={shape} "
            f"tombstones={sum(a is None for a in s.leaves.values())} leaf-sends={sends[0]} "
            f"forged={len(s.forged)} stale={len(s.stale)} consumers={len(consumers)} "
            f"crashes[{crashes}]")
    sqs.delete_queue(QueueUrl=url)
    return RunResult(verdict == "", line, faults.crashes)


def check(s3: Any, s: Schedule, sfn: StepFunctionsTokens) -> str:
    """'' if the root is exactly right and the workflow was resumed, with the right
    answer every time it was answered, else the reason."""
    layout, leaves = s.layout, s.leaves
    expected, objective = reference_sum(layout, leaves, s.objectives)
    root = read_sidecar(s3, BUCKET, layout.sidecar_key(layout.root))
    if root is None:
        return "STALLED: no root"
    members = tuple(i for i, a in leaves.items() if a is not None)
    tombstones = tuple(i for i, a in leaves.items() if a is None)
    if (root.members, root.tombstones) != (members, tombstones):
        return f"WRONG members {root.members} / tombstones {root.tombstones}"
    if root.objective != objective:
        return f"WRONG objective {root.objective} != {objective}"
    calls = sfn.for_token(s.token)
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


#: Node objects of the tree under an iteration's prefix (not shots, callback, job records).
_NODE_SIDECAR = re.compile(r"(?:leaf-(\d+)|l(\d+)-(\d+))\.json$")


def check_adversary(s3: Any, s: Schedule, sfn: StepFunctionsTokens,
                    dead_letters: set[str]) -> str:
    """'' if forged and stale messages changed nothing, else what they changed."""
    layout = s.layout
    if dead_letters != s.forged:
        return (f"WRONG dead letters: {len(s.forged - dead_letters)} forged not refused, "
                f"{len(dead_letters - s.forged)} real ones refused")
    if sfn.for_token(f"forged-{s.token}"):
        return "WRONG answer sent to a forged token"
    registered = storage.find_json(s3, BUCKET, layout.callback_key)
    if registered is None or registered["task_token"] != s.token:
        return f"WRONG callback registered: {registered}"
    for key in storage.list_keys(s3, BUCKET, layout.prefix):
        found = _NODE_SIDECAR.search(key)
        if not found:
            continue
        leaf, level, index = found.groups()
        node = Node(0, int(leaf)) if leaf else Node(int(level), int(index))
        sidecar = read_sidecar(s3, BUCKET, key)
        covered = sorted(sidecar.members + sidecar.tombstones) if sidecar else []
        if not layout.contains(node) or covered != list(layout.leaf_range(node)):
            return f"WRONG node {key} covers {covered[:8]}"
    ghost = RunKeys(layout.run_id).iteration(layout.iteration + 1).prefix
    return f"WRONG objects under {ghost}" if storage.list_keys(s3, BUCKET, ghost) else ""


def run_chaos(runs: int, seed: int, n_leaves: int | None, fan_in: int | None,
              out: Any = sys.stdout) -> int:
    """Run `runs` schedules against an in-process moto (credentials must be set, fake);
    return how many were exact."""
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    import boto3
    from moto import mock_aws

    from lambdas.reducer import handler

    level = handler.logger.log_level
    handler.logger.setLevel(logging.CRITICAL)  # every forged message is logged as rejected
    with mock_aws():
        allow_small_parts()
        clients: dict[str, Any] = {name: boto3.client(name, region_name=REGION)
                                   for name in ("s3", "sqs")}
        clients["sfn"] = StepFunctionsTokens()
        clients["sqs"] = Serialized(clients["sqs"])
        clients["s3"].create_bucket(Bucket=BUCKET)
        rng = random.Random(seed)
        exact, crashes = 0, dict.fromkeys(POINTS, 0)
        try:
            for run in range(runs):
                result = run_once(clients, seed, run,
                                  n_leaves=n_leaves or rng.randint(1, 40),
                                  fan_in=fan_in or rng.randint(2, 6))
                exact += result.exact
                for point, count in result.crashes.items():
                    crashes[point] += count
                print(result.line, file=out, flush=True)
        finally:
            handler.use_services(None)
            handler.logger.setLevel(level)
    print("crashes injected: " + ", ".join(f"{k}={v}" for k, v in crashes.items()), file=out)
    print(f"exact: {exact}/{runs}", file=out, flush=True)
    return exact
