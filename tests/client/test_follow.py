"""The one loop that follows an execution: events once each, the two ways it ends badly.

Step Functions is a stub here: what matters is the loop's contract with the API
(describe first, then the whole history, paginated), not moto's ASL engine, which the
workflow tests in tests/local exercise end to end.
"""

from __future__ import annotations

from typing import Any

import pytest

from seisless.client.follow import follow
from seisless.errors import WorkflowFailedError, WorkflowTimeoutError

ARN = "arn:aws:states:us-east-1:123456789012:execution:sm:one"


class FakeStepFunctions:
    """An execution that is RUNNING for `polls - 1` describes, then ends as `final`;
    one new event per describe, in pages of two."""

    def __init__(self, polls: int, final: dict[str, Any]) -> None:
        self._statuses = [{"status": "RUNNING"}] * (polls - 1) + [final]
        self._events: list[dict[str, Any]] = []

    def describe_execution(self, executionArn: str) -> dict[str, Any]:
        assert executionArn == ARN
        self._events.append({"id": len(self._events) + 1, "type": "PassStateEntered"})
        return self._statuses.pop(0) if len(self._statuses) > 1 else self._statuses[0]

    def get_paginator(self, name: str) -> FakeStepFunctions:
        assert name == "get_execution_history"
        return self

    def paginate(self, executionArn: str) -> list[dict[str, Any]]:
        return [{"events": self._events[i:i + 2]} for i in range(0, len(self._events), 2)]


class Recorder:
    def __init__(self) -> None:
        self.events: list[int] = []
        self.polls = 0

    def event(self, event: dict[str, Any]) -> None:
        self.events.append(event["id"])

    def poll(self) -> None:
        self.polls += 1


def test_reports_every_event_once_in_order_and_polls_each_round() -> None:
    observer = Recorder()
    desc = follow(FakeStepFunctions(5, {"status": "SUCCEEDED"}), ARN, observer, what="job",
                  timeout_s=60, poll_s=0)
    assert desc["status"] == "SUCCEEDED"
    assert observer.events == [1, 2, 3, 4, 5], "events of all pages, each once"
    assert observer.polls == 5


def test_a_failed_execution_raises_its_error_and_cause() -> None:
    final = {"status": "FAILED", "error": "SegyFormatError", "cause": "bad header"}
    with pytest.raises(WorkflowFailedError, match="run r1 ended FAILED: SegyFormatError: "
                                                  "bad header") as failed:
        follow(FakeStepFunctions(2, final), ARN, Recorder(), what="run r1", timeout_s=60,
               poll_s=0)
    assert (failed.value.error, failed.value.cause) == ("SegyFormatError", "bad header")


def test_an_aborted_execution_without_error_names_its_status() -> None:
    with pytest.raises(WorkflowFailedError) as failed:
        follow(FakeStepFunctions(1, {"status": "ABORTED"}), ARN, Recorder(), what="x",
               timeout_s=60, poll_s=0)
    assert failed.value.error == "ABORTED"


def test_gives_up_after_the_timeout_and_says_the_execution_goes_on() -> None:
    observer = Recorder()
    with pytest.raises(WorkflowTimeoutError, match=r"still running .* it goes on"):
        follow(FakeStepFunctions(10**6, {"status": "SUCCEEDED"}), ARN, observer,
               what="run r2", timeout_s=0.05, poll_s=0.01)
    assert observer.polls >= 1


def test_downloads_stay_inside_the_output_folder(tmp_path) -> None:
    from seisless.client.run import _local_path
    from seisless.errors import ConfigError
    from seisless.inversion.keys import RunKeys

    run = RunKeys("r1")
    assert _local_path(tmp_path, run, run.iteration(2).model) == \
        (tmp_path / "iter-2" / "model.npy").resolve()
    for key in ("runs/r1/../../../etc/passwd", "runs/r1//etc/passwd", "runs/other/x.npy"):
        with pytest.raises(ConfigError):
            _local_path(tmp_path, run, key)
