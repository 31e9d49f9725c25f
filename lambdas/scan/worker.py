"""Scan worker handler: one Distributed Map item (a byte range) -> one Parquet part."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from lambdas import observability as obs
from lambdas.scan import _clients
from seisless.scan.documents import RangeTask
from seisless.scan.steps import scan_step

logger = Logger(service="seisless-scan-worker")
metrics = Metrics(namespace=obs.NAMESPACE)


@metrics.log_metrics
@logger.inject_lambda_context(log_event=False, clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    task = RangeTask.model_validate(event)
    logger.append_keys(scan_id=task.scan_id, item=task.index)
    result = scan_step(_clients.s3(), task)
    metrics.add_metric(name=obs.TRACES_SCANNED, unit=MetricUnit.Count, value=result["rows"])
    metrics.add_metric(name=obs.BYTES_READ, unit=MetricUnit.Bytes,
                       value=int(task.item["byte_stop"]) - int(task.item["byte_start"]))
    logger.info("part written", extra=result)
    return result
