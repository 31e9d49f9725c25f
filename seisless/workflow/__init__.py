"""The serverless scan workflow's steps and the typed documents that cross its states.

The Lambda handlers in `lambdas/scan/` only parse their event and call `plan_step`,
`scan_step` or `merge_step`; everything here runs (and is tested) without AWS.
"""

from __future__ import annotations

from seisless.workflow.models import (
    PlanOutput,
    RangeTask,
    ScanKeys,
    ScanRequest,
    parse_scan_input,
    scan_id_for,
)

__all__ = [
    "PlanOutput",
    "RangeTask",
    "ScanKeys",
    "ScanRequest",
    "parse_scan_input",
    "scan_id_for",
]
