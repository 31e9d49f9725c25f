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


def _topic(template_json: dict[str, Any]) -> str:
    (topic,) = resources(template_json, "AWS::SNS::Topic")
    return topic


def _alarms_on(template_json: dict[str, Any], metric: str) -> list[dict[str, Any]]:
    return [a["Properties"] for a in resources(template_json, "AWS::CloudWatch::Alarm").values()
            if a["Properties"].get("MetricName") == metric]


def _dimension(alarm: dict[str, Any]) -> str:
    (dimension,) = alarm["Dimensions"]
    value = dimension["Value"]
    return value.get("Ref") or value["Fn::GetAtt"][0]


def test_every_alarm_notifies_the_topic(template_json: dict[str, Any]) -> None:
    alarms = resources(template_json, "AWS::CloudWatch::Alarm")
    assert alarms
    for name, alarm in alarms.items():
        assert {"Ref": _topic(template_json)} in alarm["Properties"]["AlarmActions"], name
        assert alarm["Properties"]["AlarmDescription"], name


def test_the_topic_is_encrypted_with_a_rotated_key_and_ssl_only(
        template_json: dict[str, Any]) -> None:
    topic = _topic(template_json)
    key = resources(template_json, "AWS::SNS::Topic")[topic]["Properties"]["KmsMasterKeyId"]
    assert resources(template_json, "AWS::KMS::Key")[key["Fn::GetAtt"][0]]["Properties"][
        "EnableKeyRotation"]
    (policy,) = [p["Properties"] for p in resources(template_json, "AWS::SNS::TopicPolicy").values()
                 if {"Ref": topic} in p["Properties"]["Topics"]]
    assert any(s["Effect"] == "Deny" and "aws:SecureTransport" in json.dumps(s)
               for s in policy["PolicyDocument"]["Statement"])


def test_every_dead_letter_queue_has_an_alarm(template_json: dict[str, Any]) -> None:
    text = json.dumps(template_json["Resources"])
    dead_letters = {q for q in resources(template_json, "AWS::SQS::Queue")
                    if f'"deadLetterTargetArn": {{"Fn::GetAtt": ["{q}"' in text
                    or f'"DeadLetterConfig": {{"Arn": {{"Fn::GetAtt": ["{q}"' in text}
    assert len(dead_letters) >= 2
    depth = _alarms_on(template_json, "ApproximateNumberOfMessagesVisible")
    watched = {_dimension(a) for a in depth}
    assert dead_letters <= watched


def test_every_state_machine_alarms_on_failed_and_timed_out_executions(
        template_json: dict[str, Any]) -> None:
    machines = set(resources(template_json, "AWS::StepFunctions::StateMachine"))
    for metric in ("ExecutionsFailed", "ExecutionsTimedOut"):
        assert {_dimension(a) for a in _alarms_on(template_json, metric)} == machines, metric


def _reducer(template_json: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    functions = resources(template_json, "AWS::Lambda::Function")
    (name,) = [k for k, f in functions.items()
               if f["Properties"]["ImageConfig"]["Command"][0].startswith("lambdas.reducer.")]
    return name, functions[name]["Properties"]


def test_the_reducer_alarms_on_errors_and_has_reserved_concurrency(
        template_json: dict[str, Any]) -> None:
    name, reducer = _reducer(template_json)
    assert name in {_dimension(a) for a in _alarms_on(template_json, "Errors")}
    reserved = reducer["ReservedConcurrentExecutions"]
    for mapping in resources(template_json, "AWS::Lambda::EventSourceMapping").values():
        if mapping["Properties"]["FunctionName"] == {"Ref": name}:
            assert mapping["Properties"]["ScalingConfig"]["MaximumConcurrency"] <= reserved


def test_failed_batch_jobs_of_this_queue_reach_the_topic(template_json: dict[str, Any]) -> None:
    queues = sorted(resources(template_json, "AWS::Batch::JobQueue"))
    rules = [r["Properties"] for r in resources(template_json, "AWS::Events::Rule").values()
             if r["Properties"]["EventPattern"].get("source") == ["aws.batch"]]
    assert rules
    for rule in rules:
        detail = rule["EventPattern"]["detail"]
        assert detail["status"] == ["FAILED"]
        assert sorted(q["Fn::GetAtt"][0] for q in detail["jobQueue"]) == queues
        assert detail["nodeDetails"] == {"nodeIndex": [{"exists": False}]}
        assert [t["Arn"] for t in rule["Targets"]] == [{"Ref": _topic(template_json)}]


def test_one_dashboard_shows_both_workflows(template_json: dict[str, Any]) -> None:
    (dashboard,) = resources(template_json, "AWS::CloudWatch::Dashboard").values()
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    for machine in resources(template_json, "AWS::StepFunctions::StateMachine"):
        assert machine in body
    for metric in ("ExecutionsFailed", "ApproximateNumberOfMessagesVisible", "Errors",
                   "Duration", "TracesScanned", "ServiceIntegrationsFailed"):
        assert metric in body, metric
