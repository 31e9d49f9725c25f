"""Two places where moto's ASL engine does what AWS does not; adaptations used by
`moto_patches` (found by running a workflow under a narrowed role).

- moto 5.2.5 counts the failed items of a Distributed Map run but never compares them
  with the Map's tolerated failure threshold, so a run whose every item failed
  "succeeds" and the workflow goes on with missing results. On AWS the run fails with
  `States.ExceedToleratedFailureThreshold` once more items fail than the Map tolerates
  (none, by default), and the Map's Catch takes over. The run is wrapped to check.
- A Fail state whose ErrorPath names a `States.*` error (a caught service error passed
  on) ends the execution with that error on AWS; moto refuses to make a custom error of
  it and fails with a `States.Runtime` ValueError instead, hiding the real error.
"""

from __future__ import annotations

from typing import Any

_MAP_RUN = ("moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration."
            "distributed_iteration_component.DistributedIterationComponent")
_FAIL_STATE = "moto.stepfunctions.parser.asl.component.state.fail.state_fail"
EXPECTED = {f"{_MAP_RUN}._map_run": ["self", "env", "eval_input"],
            f"{_FAIL_STATE}.CustomErrorName": ["error_name"]}
ERROR = "States.ExceedToleratedFailureThreshold"
_originals: dict[str, Any] = {}


def exceeds(failed: int, total: int, count: int, percentage: float) -> bool:
    """Whether `failed` of `total` items is more than the Map tolerates. Unset
    thresholds are 0, so by default one failed item fails the run."""
    return failed > count and failed * 100 > percentage * total


def _failure(env: Any, cause: str) -> Exception:
    from moto.stepfunctions.parser.api import ExecutionFailedEventDetails, HistoryEventType
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
        FailureEvent,
        FailureEventException,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import (
        StatesErrorName,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
        StatesErrorNameType,
    )
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

    return FailureEventException(failure_event=FailureEvent(
        env=env,
        error_name=StatesErrorName(typ=StatesErrorNameType.StatesExceedToleratedFailureThreshold),
        event_type=HistoryEventType.ExecutionFailed,
        event_details=EventDetails(executionFailedEventDetails=ExecutionFailedEventDetails(
            error=ERROR, cause=cause))))


def _map_run(self: Any, env: Any, eval_input: Any) -> None:
    _originals["map_run"](self, env, eval_input)
    items = eval_input.map_run_record.item_counter
    failed, total = items.failed.get() + items.timed_out.get(), items.total.get()
    count = int(eval_input.tolerated_failure_count or 0)
    percentage = float(eval_input.tolerated_failure_percentage or 0)
    if exceeds(failed, total, count, percentage):
        raise _failure(env, f"{failed} of {total} items of the Map run failed, more than it "
                            f"tolerates ({count} items, {percentage:g}%); each item's "
                            "error is in its child execution and its function's log")


def _fail_state_error(error_name: str) -> Any:
    """The error a Fail state raises: AWS's own `States.*` names stay what they are."""
    if error_name.startswith("States."):
        from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import (
            StatesErrorName,
        )

        return StatesErrorName.from_name(error_name)
    return _originals["custom_error_name"](error_name)


def apply() -> None:
    import importlib

    module, _, name = _MAP_RUN.rpartition(".")
    component = getattr(importlib.import_module(module), name)
    _originals["map_run"] = component._map_run
    component._map_run = _map_run
    fail_state = importlib.import_module(_FAIL_STATE)
    _originals["custom_error_name"] = fail_state.CustomErrorName
    fail_state.CustomErrorName = _fail_state_error


def revert() -> None:
    import importlib

    module, _, name = _MAP_RUN.rpartition(".")
    getattr(importlib.import_module(module), name)._map_run = _originals.pop("map_run")
    importlib.import_module(_FAIL_STATE).CustomErrorName = _originals.pop("custom_error_name")
