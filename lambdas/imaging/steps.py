"""Init, SelectShots and RecordFailedShots handlers: parse the state, call seisless.

Raises the seisless error on anything wrong (e.g. `ConfigError`); Lambda reports the
class name as the error type and the message as its cause, which the state machine's
Fail state shows.
"""

from __future__ import annotations

import os
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger

from seisless.errors import ConfigError
from seisless.inversion.documents import IterationPlan, RunState
from seisless.inversion.steps import init_step, record_failed_shots, select_shots_step

logger = Logger(service="seisless-imaging")


@cache
def _client(service: str) -> Any:
    import boto3

    return boto3.client(service)


def _env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise ConfigError(f"{name} is not set; the stack gives it to this function")
    return value


@logger.inject_lambda_context(log_event=False)
def init(event: dict[str, Any], context: Any) -> dict[str, Any]:
    state = init_step(_client("s3"), _env("SEISLESS_BUCKET"), event.get("input"),
                      str(event.get("execution_name", "")))
    logger.info("run initialised", extra=state.model_dump())
    return state.model_dump()


@logger.inject_lambda_context(log_event=False)
def select_shots(event: dict[str, Any], context: Any) -> dict[str, Any]:
    plan = select_shots_step(_client("s3"), RunState.model_validate(event))
    logger.info("shots selected", extra=plan.model_dump(mode="json"))
    return plan.model_dump(mode="json")


@logger.inject_lambda_context(log_event=False)
def record_failed(event: dict[str, Any], context: Any) -> dict[str, Any]:
    result = record_failed_shots(
        _client("s3"), _client("sqs"), _env("REDUCE_QUEUE_URL"),
        RunState.model_validate(event["run"]), IterationPlan.model_validate(event["plan"]),
        (event.get("error") or {}).get("Cause"))
    logger.warning("shots tombstoned", extra=result)
    return result
