"""Typed, versioned messages that cross process boundaries (SQS bodies).

One model per message, parsed at the edge with `parse_message`; anything that does not
parse is a `MessageError` (a poison message: it goes to the DLQ with this reason).
"""

from __future__ import annotations

import json
from typing import Annotated, Literal

from pydantic import Field, ValidationError

from seisless.documents import Document, describe_errors
from seisless.errors import SeislessError

#: Run ids name bucket folders and default to the execution's name: one rule everywhere
#: (not starting with a dot, so never "." or "..").
RUN_ID_PATTERN = r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}$"


class MessageError(SeislessError):
    """An SQS body that is not a valid seisless message."""


class TreeSpec(Document):
    """The static reduction tree of one iteration: N leaves, fan-in F.

    In a message it is the sender's claim, never trusted: the reducer takes the tree from
    the run's stored shot list and config and refuses a message whose claim differs
    (`ForgedMessageError`, poison). It stays in the contract as that cross-check, so a
    sender that computed another tree is caught at its first message.
    """

    n_leaves: int = Field(ge=1, le=1_000_000)
    fan_in: int = Field(default=10, ge=2, le=1000)


class NodeWritten(Document):
    """"Node X of iteration k of run r is in S3": sent for leaves (by the gradient job,
    including tombstones of shots that failed for good) and for inner nodes (by the
    reducer). Redelivery is harmless: the receiver only ever recomputes fixed keys."""

    kind: Literal["node-written"] = "node-written"
    version: Literal[1] = 1
    bucket: str = Field(min_length=3, max_length=63)
    run_id: str = Field(pattern=RUN_ID_PATTERN)
    iteration: int = Field(ge=0, le=100_000)
    level: int = Field(ge=0, le=64, description="0 for leaves")
    index: int = Field(ge=0, description="position of the node within its level")
    tree: TreeSpec


class CallbackRegistered(Document):
    """The workflow waits on iteration k: the reducer resumes it with this task token."""

    kind: Literal["callback-registered"] = "callback-registered"
    version: Literal[1] = 1
    bucket: str = Field(min_length=3, max_length=63)
    run_id: str = Field(pattern=RUN_ID_PATTERN)
    iteration: int = Field(ge=0, le=100_000)
    task_token: str = Field(min_length=1, max_length=8192)
    tree: TreeSpec


ReductionMessage = Annotated[NodeWritten | CallbackRegistered, Field(discriminator="kind")]


class _Envelope(Document):
    message: ReductionMessage


def parse_message(body: str | bytes) -> NodeWritten | CallbackRegistered:
    """Parse an SQS body; raise `MessageError` naming what is wrong."""
    try:
        data = json.loads(body)
    except (ValueError, TypeError) as err:
        raise MessageError(f"message body is not JSON ({err}); expected a seisless "
                           "node-written or callback-registered message") from None
    try:
        return _Envelope.model_validate({"message": data}).message
    except ValidationError as err:
        problems = describe_errors(err, skip=1, root="body")
        raise MessageError(f"invalid seisless message: {problems}") from None


def dump_message(message: NodeWritten | CallbackRegistered) -> str:
    """Serialize a message for an SQS body."""
    return message.model_dump_json()
