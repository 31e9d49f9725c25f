"""Scan worker handler: one Distributed Map item (a byte range) -> one Parquet part."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from lambdas.scan import _clients
from seisless.scan.documents import RangeTask
from seisless.scan.steps import scan_step

logger = Logger(service="seisless-scan-worker")


@logger.inject_lambda_context(log_event=False)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    task = RangeTask.model_validate(event)
    result = scan_step(_clients.s3(), task)
    logger.info("part written", extra=result)
    return result
