"""The true reduction tree of an iteration, from the run's stored state, never a message.

Node keys depend only on (run, iteration, level, index), so a message that names the
wrong tree would make the reducer sum or announce real keys under a different shape:
one `node-written` claiming a 10-leaf tree could end a 20-shot reduction with half the
gradient. The tree is therefore read from what the workflow itself wrote before any
gradient job ran: `runs/<id>/iter-<k>/shots.json` (N = its length, written by
SelectShots) and `runs/<id>/config.json` (fan-in F, written by Init). A message is only a
claim, checked against that; any disagreement is a `ForgedMessageError` (poison, DLQ).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from seisless import storage
from seisless.errors import ForgedMessageError, ReductionError
from seisless.inversion.documents import RunConfig, ShotList
from seisless.inversion.keys import RunKeys
from seisless.messages import CallbackRegistered, NodeWritten, TreeSpec
from seisless.reduce.tree import Node, TreeLayout


def read_tree(s3: Any, bucket: str, run_id: str, iteration: int) -> TreeSpec:
    """N and F of iteration `iteration` of `run_id` as the run stored them.

    A missing shot list or config means the run or iteration was never planned, so no
    legitimate message can name it (both are written before the first gradient job
    starts, and S3 is strongly consistent): `ForgedMessageError`. A malformed one is a
    `ReductionError`; either way retrying cannot help.
    """
    keys = RunKeys(run_id)
    shots_key = keys.iteration(iteration).shots
    shots = storage.find_document(s3, bucket, shots_key, ShotList, "the shot list",
                                  error=ReductionError)
    config = storage.find_document(s3, bucket, keys.config, RunConfig, "the run config",
                                   error=ReductionError)
    if shots is None or config is None:
        missing = storage.uri(bucket, shots_key if shots is None else keys.config)
        raise ForgedMessageError(f"run {run_id!r} iteration {iteration} has no stored state "
                                 f"({missing} does not exist): no such run or iteration was "
                                 "planned, so no reduction message can be about it")
    return TreeSpec(n_leaves=len(shots.shots), fan_in=config.fan_in)


@dataclass
class StoredTrees:
    """The true trees met during one invocation, each read once (a batch usually carries
    many messages of one iteration). Not shared across invocations: a run id reused after
    its files were deleted gets its new tree on the next invocation."""

    _trees: dict[tuple[str, str, int], TreeLayout] = field(default_factory=dict)

    def layout(self, s3: Any, bucket: str, run_id: str, iteration: int) -> TreeLayout:
        key = (bucket, run_id, iteration)
        if key not in self._trees:
            self._trees[key] = TreeLayout(run_id, iteration,
                                          read_tree(s3, bucket, run_id, iteration))
        return self._trees[key]

    def verified(self, s3: Any, message: NodeWritten | CallbackRegistered) -> TreeLayout:
        """The true layout of the message's iteration, once the message agrees with it.

        The message's `tree` is kept in the contract as a cross-check: a sender that
        computed another tree (a bug, a stale attempt, a forgery) is caught here, at the
        first message, before it can touch a node.
        """
        layout = self.layout(s3, message.bucket, message.run_id, message.iteration)
        what = f"{message.kind} message for run {message.run_id!r} iteration " \
               f"{message.iteration}"
        if message.tree != layout.tree:
            raise ForgedMessageError(
                f"{what} claims a tree of {message.tree.n_leaves} leaves with fan-in "
                f"{message.tree.fan_in}, but the run's shot list has {layout.tree.n_leaves} "
                f"shots and its config fan-in {layout.tree.fan_in}; refused (a bug, a stale "
                "attempt or a forged message), nothing was written")
        if isinstance(message, NodeWritten) and \
                not layout.contains(Node(message.level, message.index)):
            raise ForgedMessageError(
                f"{what} names node level {message.level} index {message.index}, outside "
                f"the run's tree of {layout.tree.n_leaves} leaves with fan-in "
                f"{layout.tree.fan_in} (depth {layout.depth}); refused")
        return layout
