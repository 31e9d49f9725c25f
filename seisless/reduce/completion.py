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
from seisless.reduce.tree import TreeLayout

log = logging.getLogger(__name__)

#: Answers meaning "this token was already used or has expired": nobody is waiting.
_SPENT_TOKEN = {"TaskTimedOut", "InvalidToken", "TaskDoesNotExist"}


def store_callback(s3: Any, message: CallbackRegistered) -> TreeLayout:
    """Keep the workflow's token where the root's writer will look for it."""
    layout = TreeLayout(message.run_id, message.iteration, message.tree)
    storage.put_json(s3, message.bucket, layout.callback_key, message)
    return layout


def read_callback(s3: Any, bucket: str, layout: TreeLayout) -> CallbackRegistered | None:
    return storage.find_document(s3, bucket, layout.callback_key, CallbackRegistered,
                                 "callback registration", error=ReductionError)


def root_summary(bucket: str, layout: TreeLayout, root: Sidecar) -> dict[str, Any]:
    """The state machine's view of the reduced gradient (small: fits a task output)."""
    return {
        "gradient": f"s3://{bucket}/{layout.array_key(layout.root)}",
        "sidecar": f"s3://{bucket}/{layout.sidecar_key(layout.root)}",
        "shape": list(root.shape or ()),
        "n_members": len(root.members),
        "tombstones": list(root.tombstones),
        "n_tombstones": len(root.tombstones),
        "objective": root.objective,
    }


def resume_if_ready(s3: Any, sfn: Any, bucket: str, layout: TreeLayout) -> bool:
    """Resume the workflow if both the root and the token exist; True if it was called.

    The root of a tree whose every shot was tombstoned has no gradient: the workflow is
    failed (`SendTaskFailure`, error `ReductionError`) instead of updating with nothing.
    """
    callback = read_callback(s3, bucket, layout)
    if callback is None:
        return False
    root = read_sidecar(s3, bucket, layout.sidecar_key(layout.root))
    if root is None:
        return False
    try:
        if root.members:
            sfn.send_task_success(taskToken=callback.task_token,
                                  output=json.dumps(root_summary(bucket, layout, root)))
        else:
            sfn.send_task_failure(
                taskToken=callback.task_token, error=ReductionError.__name__,
                cause=f"every shot of run {layout.run_id} iteration {layout.iteration} "
                      f"failed (tombstones {list(root.tombstones)}); no gradient to use")
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
