"""Resuming the workflow when the root exists: the task-token rendezvous.

The workflow registers a task token for iteration k (`CallbackRegistered`, stored at
`runs/<id>/iter-<k>/callback.json`) and the reducer writes the root; either may come
first. Each side writes its own object and then looks for the other's, so whichever
comes second sees both (S3 is strongly consistent) and resumes the workflow. When both
see both, the workflow gets two identical answers; Step Functions refuses the second
(TaskTimedOut / InvalidToken), which is harmless.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from botocore.exceptions import ClientError

from seisless import storage
from seisless.errors import ReductionError
from seisless.messages import CallbackRegistered
from seisless.reduce.sidecar import Sidecar, read_sidecar
from seisless.reduce.tree import Node, TreeLayout

log = logging.getLogger(__name__)

#: Answers meaning "this token was already used or has expired": nobody is waiting.
_SPENT_TOKEN = {"TaskTimedOut", "InvalidToken", "TaskDoesNotExist"}


def store_callback(s3: Any, layout: TreeLayout, message: CallbackRegistered) -> None:
    """Keep the workflow's token where the root's writer will look for it. `layout` is
    the stored tree the message was verified against (`StoredTrees.verified`): a
    registration claiming another tree must not replace the real one's token."""
    storage.put_json(s3, message.bucket, layout.callback_key, message)


def read_callback(s3: Any, bucket: str, layout: TreeLayout) -> CallbackRegistered | None:
    return storage.find_document(s3, bucket, layout.callback_key, CallbackRegistered,
                                 "callback registration", error=ReductionError)


def first_failure(s3: Any, bucket: str, layout: TreeLayout, root: Sidecar) -> str:
    """Why the first tombstoned shot failed (its leaf's reason), or "" with none: the
    run's Fail state and `seisless run` show it, so nobody has to find the job's log."""
    if not root.tombstones:
        return ""
    leaf = read_sidecar(s3, bucket, layout.sidecar_key(Node(0, root.tombstones[0])))
    reason = (leaf.reason if leaf is not None else None) or "no reason recorded"
    return f"shot index {root.tombstones[0]}: {reason}"


def root_summary(bucket: str, layout: TreeLayout, root: Sidecar, why: str = ""
                 ) -> dict[str, Any]:
    """The state machine's view of the reduced gradient (small: fits a task output)."""
    return {
        "gradient": f"s3://{bucket}/{layout.array_key(layout.root)}",
        "sidecar": f"s3://{bucket}/{layout.sidecar_key(layout.root)}",
        "shape": list(root.shape or ()),
        "n_members": len(root.members),
        "tombstones": list(root.tombstones),
        "n_tombstones": len(root.tombstones),
        "objective": root.objective,
        "first_failure": why,
    }


def root_problem(layout: TreeLayout, root: Sidecar) -> str | None:
    """Why `root` must not resume the workflow with success, or None if it may.

    The root may only stand for the whole iteration: its members and tombstones must be
    exactly the shots 0..N-1 of the stored tree, each once, with at least one member.
    The tree's own checks make anything else impossible when every sidecar was written
    by seisless; this is the last line against a node written by anyone else.
    """
    members, tombstones = set(root.members), set(root.tombstones)
    n = layout.tree.n_leaves
    where = f"run {layout.run_id} iteration {layout.iteration}"
    if (root.level, root.index) != (layout.root.level, layout.root.index):
        return (f"the root sidecar of {where} says it is level {root.level} index "
                f"{root.index}, not the root {layout.stem(layout.root)} of the {n}-shot tree")
    if members & tombstones:
        return f"shots {sorted(members & tombstones)} of {where} are both summed and tombstoned"
    if len(members) + len(tombstones) != len(root.members) + len(root.tombstones) or \
            members | tombstones != set(range(n)):
        missing = sorted(set(range(n)) - members - tombstones)
        return (f"the root of {where} covers {len(root.members)} members and "
                f"{len(root.tombstones)} tombstones, not each of the {n} shots once "
                f"(missing {missing[:10]}); it is not the whole iteration's gradient")
    if not members:
        return (f"every shot of {where} failed (tombstones {list(root.tombstones)}); "
                "no gradient to use")
    return None


def resume_if_ready(s3: Any, sfn: Any, bucket: str, layout: TreeLayout) -> bool:
    """Resume the workflow if both the root and the token exist; True if it was called.

    `layout` is the iteration's stored tree. Success is sent only for a root that holds
    the whole iteration (`root_problem`); any other root, including one whose every shot
    was tombstoned, fails the workflow (`SendTaskFailure`, error `ReductionError`, the
    reason as cause) rather than letting it update with part of a gradient or nothing.
    """
    callback = read_callback(s3, bucket, layout)
    if callback is None:
        return False
    root = read_sidecar(s3, bucket, layout.sidecar_key(layout.root))
    if root is None:
        return False
    problem = root_problem(layout, root)
    why = first_failure(s3, bucket, layout, root)
    try:
        if problem is None:
            sfn.send_task_success(taskToken=callback.task_token,
                                  output=json.dumps(root_summary(bucket, layout, root, why)))
        else:
            problem = f"{problem}; {why}" if why else problem
            log.error("failing the workflow of %s: %s", layout.prefix, problem)
            sfn.send_task_failure(taskToken=callback.task_token,
                                  error=ReductionError.__name__, cause=problem)
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") not in _SPENT_TOKEN:
            raise
        log.info("task token of %s already used: %s", layout.prefix, err)
    return True


def heartbeat(s3: Any, sfn: Any, bucket: str, layout: TreeLayout) -> None:
    """Tell the waiting workflow that the reduction progresses (an inner node was
    written), so its HeartbeatSeconds only ends a reduction that has stalled."""
    callback = read_callback(s3, bucket, layout)
    if callback is None:
        return
    try:
        sfn.send_task_heartbeat(taskToken=callback.task_token)
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") not in _SPENT_TOKEN:
            raise
