"""Node sidecars: the small JSON next to each node's `.npy`, and its commit marker.

A node exists for the reduction only once its sidecar exists: writers put the array
first and the sidecar last, so a reader that sees a sidecar always finds a complete
array. The sidecar also carries what the array cannot: which shots it contains, which
shots were tombstoned (their job failed for good), and the sum of their objective values.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from seisless import storage
from seisless.documents import Document
from seisless.errors import ReductionError

#: The only array format leaves and nodes may use: little-endian float32, C order.
DTYPE = "<f4"


class Sidecar(Document):
    """What a node contains. `shape` is None when every member is tombstoned (no array)."""

    kind: Literal["seisless-node"] = "seisless-node"
    version: Literal[1] = 1
    level: int = Field(ge=0)
    index: int = Field(ge=0)
    shape: tuple[int, ...] | None
    dtype: Literal["<f4"] = DTYPE
    members: tuple[int, ...] = ()
    tombstones: tuple[int, ...] = ()
    objective: float = 0.0
    reason: str | None = Field(default=None, description="why a tombstoned leaf failed")

    @property
    def has_array(self) -> bool:
        return self.shape is not None


def read_sidecar(s3: Any, bucket: str, key: str) -> Sidecar | None:
    """The node's sidecar, or None if the node is not committed yet; a malformed one is
    a `ReductionError` (poison: retrying cannot fix it)."""
    return storage.find_document(s3, bucket, key, Sidecar, "node sidecar",
                                 error=ReductionError)


def write_sidecar(s3: Any, bucket: str, key: str, sidecar: Sidecar, *,
                  only_if_absent: bool = False) -> bool:
    """PUT the sidecar (the commit). With `only_if_absent`, never replace an existing one
    and return False when one was already there."""
    return storage.put_json(s3, bucket, key, sidecar, if_absent=only_if_absent)
