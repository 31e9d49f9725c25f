"""Init, SelectShots, RecordFailedShots and JudgeTrial handlers: parse the state, call seisless.

Raises the seisless error on anything wrong (e.g. `ConfigError`); Lambda reports the
class name as the error type and the message as its cause, which the state machine's
Fail state shows.
"""

from __future__ import annotations

import os
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from lambdas import observability as obs
from seisless.errors import ConfigError
from seisless.inversion.documents import IterationPlan, RunState
from seisless.inversion.search import judge_trial_step
from seisless.inversion.steps import init_step, record_failed_shots, select_shots_step

logger = Logger(service="seisless-imaging")
metrics = Metrics(namespace=obs.NAMESPACE)


@cache
def _client(service: str) -> Any:
    import boto3

    return boto3.client(service)


def _env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise ConfigError(f"{name} is not set; the stack gives it to this function")
    return value


@metrics.log_metrics
@logger.inject_lambda_context(log_event=False, clear_state=True)
def init(event: dict[str, Any], context: Any) -> dict[str, Any]:
    logger.append_keys(execution_name=event.get("execution_name"))
    state = init_step(_client("s3"), _env("SEISLESS_BUCKET"), event.get("input"),
                      str(event.get("execution_name", "")))
    logger.append_keys(run_id=state.run_id)
    metrics.add_metric(name=obs.RUNS_STARTED, unit=MetricUnit.Count, value=1)
    logger.info("run initialised", extra=state.model_dump())
    return state.model_dump()


@metrics.log_metrics
@logger.inject_lambda_context(log_event=False, clear_state=True)
def select_shots(event: dict[str, Any], context: Any) -> dict[str, Any]:
    state = RunState.model_validate(event)
    logger.append_keys(run_id=state.run_id, iteration=state.iteration)
    plan = select_shots_step(_client("s3"), state)
    metrics.add_metric(name=obs.SHOTS_SELECTED, unit=MetricUnit.Count,
                       value=plan.tree.n_leaves)
    logger.info("shots selected", extra=plan.model_dump(mode="json"))
    return plan.model_dump(mode="json")


@metrics.log_metrics
@logger.inject_lambda_context(log_event=False, clear_state=True)
def record_failed(event: dict[str, Any], context: Any) -> dict[str, Any]:
    state = RunState.model_validate(event["run"])
    plan = IterationPlan.model_validate(event["plan"])
    logger.append_keys(run_id=state.run_id, iteration=plan.iteration)
    result = record_failed_shots(_client("s3"), _client("sqs"), _env("REDUCE_QUEUE_URL"),
                                 state, plan, (event.get("error") or {}).get("Cause"),
                                 batch=_client("batch"))
    metrics.add_metric(name=obs.SHOTS_TOMBSTONED, unit=MetricUnit.Count,
                       value=len(result["tombstoned_shots"]))
    logger.warning("shots tombstoned", extra=result)
    return result


@metrics.log_metrics
@logger.inject_lambda_context(log_event=False, clear_state=True)
def judge_trial(event: dict[str, Any], context: Any) -> dict[str, Any]:
    state = RunState.model_validate(event["run"])
    iteration, trial = int(event["iteration"]), int(event["trial"])
    logger.append_keys(run_id=state.run_id, iteration=iteration, trial=trial)
    verdict = judge_trial_step(_client("s3"), state.bucket, state.run_id, iteration, trial)
    logger.info("trial judged", extra=verdict.model_dump())
    return verdict.model_dump()
