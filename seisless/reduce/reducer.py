"""The reducer: what one `NodeWritten` or `CallbackRegistered` message does.

Exactly-once without coordination: every node has a fixed key and is a pure function of
its children, so computing it twice writes the same bytes. A node counts once its
sidecar (written last) exists. On "node X written" the reducer looks at X's parent: if
it is committed there is nothing to do; if any sibling is missing, a later sibling's
message will find them all (its sidecar was written before its message was sent);
otherwise it computes the parent, commits it, and announces it (or, for the root,
resumes the workflow). A message is acknowledged only after all of that, so a crash at
any point leaves a redelivery that redoes the rest. The tree comes from the run's stored
state (`seisless.reduce.stored`), never from the message, which is only checked against
it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from seisless.errors import ReductionError
from seisless.messages import CallbackRegistered, NodeWritten, dump_message
from seisless.reduce.checkpoints import Checkpoint, no_checkpoint
from seisless.reduce.completion import heartbeat, resume_if_ready, store_callback
from seisless.reduce.sidecar import Sidecar, read_sidecar, write_sidecar
from seisless.reduce.stored import StoredTrees
from seisless.reduce.stream import open_npy, stream_sum
from seisless.reduce.tree import Node, TreeLayout

Outcome = Literal["waiting", "computed", "already-done", "re-announced", "root", "registered"]

MiB = 1024 * 1024


@dataclass(frozen=True)
class ReduceServices:
    """Everything the reducer talks to, passed in (no clients at import time)."""

    s3: Any
    sqs: Any
    sfn: Any
    queue_url: str
    chunk_bytes: int = 8 * MiB
    part_bytes: int = 8 * MiB
    checkpoint: Checkpoint = field(default=no_checkpoint)


def parent_sidecar(layout: TreeLayout, parent: Node, children: list[Sidecar]) -> Sidecar:
    """The parent's sidecar from its children's, after checking they tile its shots."""
    shapes = {c.shape for c in children if c.has_array}
    if len(shapes) > 1:
        raise ReductionError(f"children of {layout.stem(parent)} have different shapes "
                             f"{sorted(shapes)}; every gradient of an iteration must match")
    for node, child in zip(layout.children(parent), children, strict=True):
        covered = sorted(child.members + child.tombstones)
        if (child.level, child.index) != (node.level, node.index) or \
                covered != list(layout.leaf_range(node)):
            raise ReductionError(f"{layout.sidecar_key(node)} covers shots {covered[:5]}..., "
                                 f"not {layout.leaf_range(node)}; it was written for "
                                 "another node or another tree")
    objective = 0.0
    for child in children:  # fixed order: the objective is reproducible too
        objective += child.objective
    return Sidecar(level=parent.level, index=parent.index,
                   shape=next(iter(shapes)) if shapes else None,
                   members=tuple(m for c in children for m in c.members),
                   tombstones=tuple(t for c in children for t in c.tombstones),
                   objective=objective)


def compute_parent(svc: ReduceServices, bucket: str, layout: TreeLayout, parent: Node,
                   children: list[Sidecar]) -> Sidecar:
    """Write the parent's array (if any child has one), then its sidecar (the commit)."""
    sidecar = parent_sidecar(layout, parent, children)
    if sidecar.shape is not None:
        sources = [open_npy(svc.s3, bucket, layout.array_key(node), sidecar.shape)
                   for node, child in zip(layout.children(parent), children, strict=True)
                   if child.has_array]
        stream_sum(svc.s3, sources, bucket, layout.array_key(parent),
                   chunk_bytes=svc.chunk_bytes, part_bytes=svc.part_bytes,
                   checkpoint=svc.checkpoint)
    svc.checkpoint("parent-array-written")
    write_sidecar(svc.s3, bucket, layout.sidecar_key(parent), sidecar)
    svc.checkpoint("parent-committed")
    return sidecar


def announce(svc: ReduceServices, bucket: str, layout: TreeLayout, node: Node) -> None:
    """Send "node written" for an inner node, or resume the workflow for the root."""
    if layout.is_root(node):
        resume_if_ready(svc.s3, svc.sfn, bucket, layout)
    else:
        heartbeat(svc.s3, svc.sfn, bucket, layout)
        message = NodeWritten(bucket=bucket, run_id=layout.run_id,
                              iteration=layout.iteration, level=node.level,
                              index=node.index, tree=layout.tree)
        svc.sqs.send_message(QueueUrl=svc.queue_url, MessageBody=dump_message(message))
    svc.checkpoint("parent-announced")


def on_node_written(svc: ReduceServices, message: NodeWritten, *,
                    redelivered: bool = False, trees: StoredTrees | None = None) -> Outcome:
    """Handle "node written"; idempotent, safe under duplicates and concurrency.

    `redelivered` (SQS ApproximateReceiveCount > 1) means an earlier attempt may have
    committed the parent and died before announcing it, so an existing parent is
    announced again; a first delivery that finds the parent committed does nothing,
    since the parent's writer has not acknowledged its own message before announcing.
    The tree is the run's stored one (`trees`); a message that disagrees with it is a
    `ForgedMessageError` before anything is read or written.
    """
    layout = (trees or StoredTrees()).verified(svc.s3, message)
    node = Node(message.level, message.index)
    bucket = message.bucket
    if layout.is_root(node):
        resume_if_ready(svc.s3, svc.sfn, bucket, layout)
        return "root"
    parent = layout.parent(node)
    if read_sidecar(svc.s3, bucket, layout.sidecar_key(parent)) is not None:
        if not redelivered:
            return "already-done"
        announce(svc, bucket, layout, parent)
        return "re-announced"
    children = []
    for child in layout.children(parent):
        sidecar = read_sidecar(svc.s3, bucket, layout.sidecar_key(child))
        if sidecar is None:
            return "waiting"
        children.append(sidecar)
    compute_parent(svc, bucket, layout, parent, children)
    announce(svc, bucket, layout, parent)
    return "computed"


def on_callback_registered(svc: ReduceServices, message: CallbackRegistered, *,
                           trees: StoredTrees | None = None) -> Outcome:
    """Store the workflow's token; resume it now if the root already exists. A
    registration whose tree is not the run's stored one is a `ForgedMessageError` and is
    not stored (it would replace the real token)."""
    layout = (trees or StoredTrees()).verified(svc.s3, message)
    store_callback(svc.s3, layout, message)
    resume_if_ready(svc.s3, svc.sfn, message.bucket, layout)
    return "registered"


def handle(svc: ReduceServices, message: NodeWritten | CallbackRegistered, *,
           redelivered: bool = False, trees: StoredTrees | None = None) -> Outcome:
    """Dispatch one parsed reduction message. `trees` caches the stored trees across the
    messages of one invocation (a fresh cache when None)."""
    if isinstance(message, CallbackRegistered):
        return on_callback_registered(svc, message, trees=trees)
    return on_node_written(svc, message, redelivered=redelivered, trees=trees)
