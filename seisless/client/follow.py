"""Following an execution from a command line: one loop for every workflow.

Nothing can be subscribed to from a laptop, so the client polls the execution and its
history the way a person at the console would (the workflows themselves never poll).
Each workflow only says what its events mean (an `Observer`); how an execution is
followed, and the two ways following ends badly (`WorkflowFailedError` with the Fail
state's error and cause, `WorkflowTimeoutError`), are the same for the scan and the
imaging run.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any, Protocol

from seisless.errors import WorkflowFailedError, WorkflowTimeoutError

POLL_S = 0.5
#: Where a command's progress lines go (print, a rich console, a list in tests).
Progress = Callable[[str], None]


class Observer(Protocol):
    """What one workflow reports while it is followed."""

    def event(self, event: dict[str, Any]) -> None:
        """One history event, each exactly once, oldest first."""

    def poll(self) -> None:
        """Once per poll, after the new events: progress read from the bucket."""


def history(sfn: Any, arn: str) -> list[dict[str, Any]]:
    """Every event of the execution so far, oldest first (all pages)."""
    pages = sfn.get_paginator("get_execution_history").paginate(executionArn=arn)
    return [event for page in pages for event in page["events"]]


def follow(sfn: Any, arn: str, observer: Observer, *, what: str, timeout_s: float,
           poll_s: float = POLL_S) -> dict[str, Any]:
    """Report `arn`'s events to `observer` until it ends; its description if it succeeded.

    The description is read before the history, so the events of the last poll include
    everything up to the end. `what` names the work in the errors ("run fwi-1").
    """
    reported = 0
    deadline = time.monotonic() + timeout_s
    while True:
        desc = sfn.describe_execution(executionArn=arn)
        events = history(sfn, arn)
        for event in events[reported:]:
            observer.event(event)
        reported = len(events)
        observer.poll()
        if desc["status"] != "RUNNING":
            return _succeeded(desc, what)
        if time.monotonic() > deadline:
            raise WorkflowTimeoutError(f"{what} still running after {timeout_s:.0f} s "
                                       f"(execution {arn}); it goes on: follow it in the "
                                       "Step Functions console")
        time.sleep(poll_s)


def _succeeded(desc: dict[str, Any], what: str) -> dict[str, Any]:
    if desc["status"] == "SUCCEEDED":
        return desc
    error, cause = desc.get("error", desc["status"]), desc.get("cause", "")
    raise WorkflowFailedError(f"{what} ended {desc['status']}: {error}: {cause}",
                              error=error, cause=cause)


@contextlib.contextmanager
def logs_named(target: Any) -> Iterator[None]:
    """A failed execution's error also says where its handlers' and jobs' output is."""
    try:
        yield
    except WorkflowFailedError as err:
        if not target.logs:
            raise
        raise WorkflowFailedError(f"{err} (logs: {target.logs})", error=err.error,
                                  cause=err.cause) from None
