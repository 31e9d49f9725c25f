"""Merge handler: the Plan output (after the Map) -> the scan's outputs under scans/<id>/."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from lambdas.scan import _clients
from seisless.scan.documents import PlanOutput
from seisless.scan.steps import merge_step

logger = Logger(service="seisless-scan-merge")


@logger.inject_lambda_context(log_event=False)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    result = merge_step(_clients.s3(), PlanOutput.model_validate(event))
    logger.info("merged", extra=result)
    return result
