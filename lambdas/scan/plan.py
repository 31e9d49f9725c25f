"""Plan handler: S3 event (or hand-written input) -> manifest of byte ranges in S3.

Raises the seisless error on a malformed file; Lambda reports the exception's class name
as the error type, which the state machine's Fail state shows as its error.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from lambdas.scan import _clients
from seisless.scan.documents import parse_scan_input
from seisless.scan.steps import plan_step

logger = Logger(service="seisless-scan-plan")


@logger.inject_lambda_context(log_event=False)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = parse_scan_input(event.get("input"))
    logger.info("planning", extra={"bucket": request.bucket, "key": request.key})
    out = plan_step(_clients.s3(), request,
                    default_max_concurrency=int(event.get("default_max_concurrency", 1000)))
    logger.info("planned", extra=out.model_dump())
    return out.model_dump()
