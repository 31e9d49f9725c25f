"""Node sidecars: the small JSON next to each node's `.npy`, and its commit marker.

A node exists for the reduction only once its sidecar exists: writers put the array
first and the sidecar last, so a reader that sees a sidecar always finds a complete
array. The sidecar also carries what the array cannot: which shots it contains, which
shots were tombstoned (their job failed for good), and the sum of their objective values.
"""

from __future__ import annotations

import json
from typing import Any, Literal, TypeVar

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from seisless.errors import ReductionError

DocumentT = TypeVar("DocumentT", bound=BaseModel)

#: The only array format leaves and nodes may use: little-endian float32, C order.
DTYPE = "<f4"


class Sidecar(BaseModel):
    """What a node contains. `shape` is None when every member is tombstoned (no array)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

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


def _is_missing(err: ClientError) -> bool:
    return err.response.get("Error", {}).get("Code") in {"NoSuchKey", "404", "NotFound"}


def read_json(s3: Any, bucket: str, key: str) -> dict[str, Any] | None:
    """GET a small JSON object; None if it does not exist (S3 is strongly consistent)."""
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as err:
        if _is_missing(err):
            return None
        raise
    try:
        return json.loads(body)
    except ValueError as err:
        raise ReductionError(f"s3://{bucket}/{key} is not JSON ({err}); delete or "
                             "rewrite it") from None


def read_document(s3: Any, bucket: str, key: str, model: type[DocumentT], what: str
                  ) -> DocumentT | None:
    """A small JSON object parsed as `model`, or None if it does not exist yet; a
    malformed one is a `ReductionError` naming `what` it should have been."""
    data = read_json(s3, bucket, key)
    if data is None:
        return None
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise ReductionError(f"s3://{bucket}/{key} is not a valid {what}: "
                             f"{err.errors()[0]['msg']}") from None


def read_sidecar(s3: Any, bucket: str, key: str) -> Sidecar | None:
    """The node's sidecar, or None if the node is not committed yet."""
    return read_document(s3, bucket, key, Sidecar, "node sidecar")


def write_sidecar(s3: Any, bucket: str, key: str, sidecar: Sidecar, *,
                  only_if_absent: bool = False) -> bool:
    """PUT the sidecar (the commit). With `only_if_absent`, never replace an existing one
    and return False when one was already there."""
    extra = {"IfNoneMatch": "*"} if only_if_absent else {}
    try:
        s3.put_object(Bucket=bucket, Key=key, Body=sidecar.model_dump_json().encode(),
                      ContentType="application/json", **extra)
    except ClientError as err:
        if only_if_absent and err.response.get("Error", {}).get("Code") in {
                "PreconditionFailed", "ConditionalRequestConflict"}:
            return False
        raise
    return True
