"""Operating the stack: concurrency limits, alarms and where they go, the dashboard."""

from __future__ import annotations

import json
from typing import Any

from seisless.scan.steps import ENV_MAX_SCAN_CONCURRENCY
from tests.infra.conftest import resources


def _function(template_json: dict[str, Any], handler: str) -> dict[str, Any]:
    (fn,) = [f["Properties"] for f in resources(template_json, "AWS::Lambda::Function").values()
             if f["Properties"]["ImageConfig"]["Command"] == [handler]]
    return fn


def test_the_scan_map_concurrency_is_capped_by_the_plan(template_json: dict[str, Any]) -> None:
    """The cap reaches the Plan function, which clamps any input; the state machine's own
    default is never above it."""
    plan = _function(template_json, "lambdas.scan.plan.handler")
    cap = int(plan["Environment"]["Variables"][ENV_MAX_SCAN_CONCURRENCY])
    assert cap >= 1
    (scan,) = [m["Properties"] for m in
               resources(template_json, "AWS::StepFunctions::StateMachine").values()
               if "segy-scan" in json.dumps(m["Properties"]["StateMachineName"])]
    assert 1 <= int(scan["DefinitionSubstitutions"]["DefaultMaxConcurrency"]) <= cap
    definition = json.loads(scan["DefinitionString"].replace('"${DefaultMaxConcurrency}"', "1"))
    assert definition["States"]["ScanRanges"]["MaxConcurrencyPath"] == "$.max_concurrency"
