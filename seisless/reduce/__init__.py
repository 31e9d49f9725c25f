"""Exactly-once, bitwise-reproducible reduction of per-shot gradients in S3.

See `seisless.reduce.reducer` for the protocol and DESIGN.md, "Exactly-once reduction".
"""

from __future__ import annotations

from seisless.reduce.leaves import announce_leaf, layout_for, write_leaf, write_tombstone
from seisless.reduce.reducer import (
    ReduceServices,
    handle,
    on_callback_registered,
    on_node_written,
)
from seisless.reduce.sidecar import Sidecar, read_sidecar
from seisless.reduce.stored import StoredTrees, read_tree
from seisless.reduce.tree import Node, TreeLayout

__all__ = [
    "Node",
    "ReduceServices",
    "Sidecar",
    "StoredTrees",
    "TreeLayout",
    "announce_leaf",
    "handle",
    "layout_for",
    "on_callback_registered",
    "on_node_written",
    "read_sidecar",
    "read_tree",
    "write_leaf",
    "write_tombstone",
]
