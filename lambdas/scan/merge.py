"""Merge handler: the Plan output (after the Map) -> the scan's outputs under scans/<id>/."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from lambdas import observability as obs
from lambdas.scan import _clients
from seisless.scan.documents import PlanOutput
from seisless.scan.steps import merge_step

logger = Logger(service="seisless-scan-merge")
metrics = Metrics(namespace=obs.NAMESPACE)


@metrics.log_metrics
@logger.inject_lambda_context(log_event=False, clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    plan = PlanOutput.model_validate(event)
    logger.append_keys(scan_id=plan.scan_id)
    result = merge_step(_clients.s3(), plan)
    metrics.add_metric(name=obs.SCANS_COMPLETED, unit=MetricUnit.Count, value=1)
    logger.info("merged", extra=result)
    return result
