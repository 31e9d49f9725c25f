"""How a gradient job hands its result to the reduction: a leaf, or a tombstone.

A leaf is `leaf-<i>.npy` (C-order float32, numpy's format) then `leaf-<i>.json`, its
sidecar, written last as the commit marker; then the job sends `NodeWritten(level=0,
index=i)`. A shot whose job failed for good gets a tombstone instead: a sidecar with
`tombstones=[i]` and no array, so the tree still completes and the root says the shot
was left out. The message is the same either way.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from seisless import storage
from seisless.errors import ReductionError
from seisless.messages import NodeWritten, TreeSpec, dump_message
from seisless.reduce.sidecar import DTYPE, Sidecar, read_sidecar, write_sidecar
from seisless.reduce.tree import Node, TreeLayout


def write_leaf(s3: Any, bucket: str, layout: TreeLayout, index: int,
               gradient: np.ndarray, *, objective: float) -> Sidecar:
    """Store shot `index`'s gradient and objective value as leaf `index`.

    Leaves are write-once: a retried job finding its leaf committed keeps the first
    version (a parent may already have summed it), and a shot already tombstoned stays
    tombstoned (`ReductionError`). Does not announce the leaf; see `announce_leaf`.
    """
    node = Node(0, index)
    layout.check(node)
    key = layout.sidecar_key(node)
    existing = read_sidecar(s3, bucket, key)
    if existing is None:
        array = np.ascontiguousarray(gradient, dtype=DTYPE)
        storage.put_array(s3, bucket, layout.array_key(node), array)
        sidecar = Sidecar(level=0, index=index, shape=array.shape, members=(index,),
                          objective=float(objective))
        if write_sidecar(s3, bucket, key, sidecar, only_if_absent=True):
            return sidecar
        existing = read_sidecar(s3, bucket, key)
    if existing is None or existing.tombstones:
        raise ReductionError(f"shot {index} of run {layout.run_id} iteration "
                             f"{layout.iteration} is already tombstoned; its late gradient "
                             "is not used")
    return existing


def write_tombstone(s3: Any, bucket: str, layout: TreeLayout, index: int,
                    reason: str) -> bool:
    """Record that shot `index` failed for good: it counts, and adds zero.

    Never replaces a real leaf (conditional PUT): if the job did commit its gradient
    after all, that gradient wins. Returns False when a leaf sidecar was already there.
    Announce the leaf (`announce_leaf`) whatever this returns: the job may have died
    between committing its leaf and announcing it.
    """
    node = Node(0, index)
    layout.check(node)
    if not reason:
        raise ReductionError("a tombstone needs a reason (why the shot's job failed)")
    sidecar = Sidecar(level=0, index=index, shape=None, tombstones=(index,), reason=reason)
    return write_sidecar(s3, bucket, layout.sidecar_key(node), sidecar, only_if_absent=True)


def announce_leaf(sqs: Any, queue_url: str, bucket: str, layout: TreeLayout,
                  index: int) -> None:
    """Tell the reducer that leaf `index` (gradient or tombstone) is committed."""
    message = NodeWritten(bucket=bucket, run_id=layout.run_id, iteration=layout.iteration,
                          level=0, index=index, tree=layout.tree)
    sqs.send_message(QueueUrl=queue_url, MessageBody=dump_message(message))


def layout_for(run_id: str, iteration: int, n_leaves: int, fan_in: int = 10) -> TreeLayout:
    """The tree of iteration `iteration` of `run_id` over `n_leaves` shots."""
    return TreeLayout(run_id, iteration, TreeSpec(n_leaves=n_leaves, fan_in=fan_in))
