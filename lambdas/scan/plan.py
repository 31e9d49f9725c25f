"""Plan handler: S3 event (or hand-written input) -> manifest of byte ranges in S3.

Raises the seisless error on a malformed file; Lambda reports the exception's class name
as the error type, which the state machine's Fail state shows as its error.
"""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools import Logger

from lambdas.scan import _clients
from seisless.errors import ConfigError
from seisless.scan.documents import parse_scan_input
from seisless.scan.steps import ENV_MAX_SCAN_CONCURRENCY, plan_step

logger = Logger(service="seisless-scan-plan")


def _concurrency_cap() -> int:
    """The stack's cap on the Map's workers (context seisless:maxScanConcurrency)."""
    value = os.environ.get(ENV_MAX_SCAN_CONCURRENCY, "")
    if not value.isdigit() or int(value) < 1:
        raise ConfigError(f"{ENV_MAX_SCAN_CONCURRENCY}={value!r}: the stack gives this "
                          "function a whole number >= 1 (seisless:maxScanConcurrency)")
    return int(value)


@logger.inject_lambda_context(log_event=False, clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = parse_scan_input(event.get("input"))
    logger.info("planning", extra={"bucket": request.bucket, "key": request.key})
    out = plan_step(_clients.s3(), request,
                    default_max_concurrency=int(event.get("default_max_concurrency", 1000)),
                    concurrency_cap=_concurrency_cap(), execution=event.get("execution"),
                    sfn=_clients.stepfunctions())
    logger.append_keys(scan_id=out.scan_id)
    if request.max_concurrency and out.max_concurrency < request.max_concurrency:
        logger.warning("max_concurrency capped", extra={
            "asked": request.max_concurrency, "used": out.max_concurrency})
    logger.info("planned", extra=out.model_dump())
    return out.model_dump()
