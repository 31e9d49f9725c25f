"""The static fan-in tree of one iteration: which node sums which, and where each lives.

Every node has a fixed key derived only from (run, iteration, level, index), so any
writer of a node writes the same object, and retries or duplicates can never create a
second copy. Level 0 holds the N leaves; node `l<L>-<p>` sums children `[F*p, F*p+F)` of
level L-1. The root is the single node of the top level, and it is always an inner node
(level >= 1, even for N = 1) so the workflow always finds the gradient at the same kind
of key, written by the reducer with the sidecar that lists every member.
"""

from __future__ import annotations

from dataclasses import dataclass

from seisless.errors import ReductionError
from seisless.inversion.keys import IterationKeys, RunKeys
from seisless.messages import TreeSpec


@dataclass(frozen=True)
class Node:
    """One node of the tree: `level` 0 are leaves, `index` its position in the level."""

    level: int
    index: int


@dataclass(frozen=True)
class TreeLayout:
    """Keys and shape of the reduction tree of iteration `iteration` of run `run_id`."""

    run_id: str
    iteration: int
    tree: TreeSpec

    @property
    def keys(self) -> IterationKeys:
        return RunKeys(self.run_id).iteration(self.iteration)

    @property
    def prefix(self) -> str:
        return self.keys.prefix

    @property
    def depth(self) -> int:
        """Level of the root: the smallest L >= 1 with a single node."""
        level, size = 1, self.level_size(1)
        while size > 1:
            level += 1
            size = self.level_size(level)
        return level

    @property
    def root(self) -> Node:
        return Node(self.depth, 0)

    @property
    def callback_key(self) -> str:
        """Where the workflow's task token for this iteration is stored."""
        return self.keys.callback

    def level_size(self, level: int) -> int:
        """Number of nodes at `level` (ceil(N / F**level))."""
        span = self.tree.fan_in**level
        return -(-self.tree.n_leaves // span)

    def contains(self, node: Node) -> bool:
        return 0 <= node.level <= self.depth and 0 <= node.index < self.level_size(node.level)

    def check(self, node: Node) -> None:
        """Raise `ReductionError` if `node` is not part of this tree."""
        if not self.contains(node):
            raise ReductionError(
                f"node level {node.level} index {node.index} is outside the tree of "
                f"{self.tree.n_leaves} leaves with fan-in {self.tree.fan_in} (depth "
                f"{self.depth}); the sender used a different tree for run {self.run_id} "
                f"iteration {self.iteration}"
            )

    def is_root(self, node: Node) -> bool:
        return node == self.root

    def parent(self, node: Node) -> Node:
        if self.is_root(node):
            raise ReductionError("the root has no parent")
        return Node(node.level + 1, node.index // self.tree.fan_in)

    def children(self, node: Node) -> list[Node]:
        """Children of an inner node, in summation order."""
        if node.level == 0:
            raise ReductionError("a leaf has no children")
        first = node.index * self.tree.fan_in
        last = min(first + self.tree.fan_in, self.level_size(node.level - 1))
        return [Node(node.level - 1, i) for i in range(first, last)]

    def leaf_range(self, node: Node) -> range:
        """Shot indices a node covers (its members plus its tombstones)."""
        span = self.tree.fan_in**node.level
        return range(node.index * span, min((node.index + 1) * span, self.tree.n_leaves))

    def stem(self, node: Node) -> str:
        return self.keys.node_stem(node.level, node.index)

    def array_key(self, node: Node) -> str:
        return self.stem(node) + ".npy"

    def sidecar_key(self, node: Node) -> str:
        """The sidecar is the node's commit marker: written last, after the array."""
        return self.stem(node) + ".json"
