from __future__ import annotations

import pytest

from seisless.messages import (
    CallbackRegistered,
    MessageError,
    NodeWritten,
    TreeSpec,
    dump_message,
    parse_message,
)


def test_round_trip_node_written() -> None:
    msg = NodeWritten(bucket="data-bucket", run_id="run-1", iteration=2, level=0, index=7,
                      tree=TreeSpec(n_leaves=12, fan_in=10))
    assert parse_message(dump_message(msg)) == msg


def test_round_trip_callback() -> None:
    msg = CallbackRegistered(bucket="data-bucket", run_id="run-1", iteration=0,
                             task_token="tok", tree=TreeSpec(n_leaves=3))
    assert parse_message(dump_message(msg).encode()) == msg


@pytest.mark.parametrize("body", ["", "not json", "[]", '{"kind": "other"}',
                                  '{"kind": "node-written", "bucket": "b"}'])
def test_bad_bodies_are_typed_errors(body: str) -> None:
    with pytest.raises(MessageError):
        parse_message(body)
