"""IAM in the local cloud: each principal may do what its role grants and nothing more,
with the error codes AWS gives, and unknown credentials get nowhere.

The narrowed-role tests edit a deployed role's policy through IAM (as an administrator
would) and restore it afterwards: one process holds one local cloud (moto's backends and
`MOTO_PORT` are process-wide), so the session's cloud is reused rather than a second one
deployed from an edited template.
"""

from __future__ import annotations

import contextlib
import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from seisless.local import iam

pytestmark = pytest.mark.integration


def _role_of(cloud: Any, function_prefix: str) -> str:
    functions = cloud.client("lambda").list_functions()["Functions"]
    return next(f["Role"] for f in functions
                if f["FunctionName"].split("-", 1)[1].startswith(function_prefix))


def _denied(call: Any, code: str, action: str) -> str:
    """Run `call`, expecting AWS's refusal `code`; return the message (which names
    `action`)."""
    with pytest.raises(ClientError) as caught:
        call()
    error = caught.value.response["Error"]
    assert error["Code"] == code, error
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert action in error["Message"], error["Message"]
    return str(error["Message"])


def test_merge_role_writes_and_reads_only_its_prefix(cloud: Any) -> None:
    s3 = cloud.client("s3", role_arn=_role_of(cloud, "ScanMerge"))
    cloud.client("s3").put_object(Bucket=cloud.bucket, Key="incoming/iam-probe.bin", Body=b"x")
    s3.put_object(Bucket=cloud.bucket, Key="scans/iam-probe/summary.json", Body=b"{}")
    message = _denied(lambda: s3.put_object(Bucket=cloud.bucket, Key="runs/iam-probe/x",
                                            Body=b"x"), "AccessDenied", "s3:PutObject")
    assert f"arn:aws:s3:::{cloud.bucket}/runs/iam-probe/x" in message
    assert "assumed-role/" in message
    _denied(lambda: s3.get_object(Bucket=cloud.bucket, Key="incoming/iam-probe.bin"),
            "AccessDenied", "s3:GetObject")
    _denied(lambda: s3.copy_object(Bucket=cloud.bucket, Key="scans/iam-probe/copy",
                                   CopySource={"Bucket": cloud.bucket,
                                               "Key": "incoming/iam-probe.bin"}),
            "AccessDenied", "s3:GetObject")


def test_queue_access_follows_the_role(cloud: Any) -> None:
    url = next(u for u in cloud.client("sqs").list_queues()["QueueUrls"]
               if "ReductionQueue" in u)
    select = cloud.client("sqs", role_arn=_role_of(cloud, "ImagingSelectShots"))
    _denied(lambda: select.send_message(QueueUrl=url, MessageBody="{}"),
            "AccessDenied", "sqs:SendMessage")
    record = cloud.client("sqs", role_arn=_role_of(cloud, "ImagingRecordFailed"))
    assert record.get_queue_url(QueueName=url.rsplit("/", 1)[1])["QueueUrl"] == url
    _denied(lambda: record.purge_queue(QueueUrl=url), "AccessDenied", "sqs:PurgeQueue")


def test_json_services_answer_access_denied_exception(cloud: Any) -> None:
    role = _role_of(cloud, "ScanMerge")
    functions = cloud.client("lambda").list_functions()["Functions"]
    plan = next(f["FunctionArn"] for f in functions if "ScanPlan" in f["FunctionName"])
    message = _denied(lambda: cloud.client("lambda", role_arn=role).invoke(
        FunctionName=plan, InvocationType="DryRun"), "AccessDeniedException",
        "lambda:InvokeFunction")
    assert plan in message
    _denied(lambda: cloud.client("stepfunctions", role_arn=role).start_execution(
        stateMachineArn=cloud.scan_state_machine_arn, input="{}"), "AccessDeniedException",
        "states:StartExecution")
    _denied(lambda: cloud.client("batch", role_arn=role).describe_jobs(jobs=["x"]),
            "AccessDeniedException", "batch:DescribeJobs")
    _denied(lambda: cloud.client("events", role_arn=role).put_events(Entries=[
        {"Source": "probe", "DetailType": "probe", "Detail": "{}"}]),
        "AccessDeniedException", "events:PutEvents")


@pytest.mark.parametrize(("service", "call", "code"), [
    ("s3", lambda c, cloud: c.list_objects_v2(Bucket=cloud.bucket), "InvalidAccessKeyId"),
    ("sqs", lambda c, cloud: c.list_queues(), "InvalidClientTokenId"),
    ("stepfunctions", lambda c, cloud: c.list_state_machines(), "UnrecognizedClientException"),
    ("lambda", lambda c, cloud: c.list_functions(), "UnrecognizedClientException"),
    ("cloudformation", lambda c, cloud: c.describe_stacks(), "InvalidClientTokenId"),
])
def test_unknown_credentials_are_refused(cloud: Any, service: str, call: Any,
                                         code: str) -> None:
    client = boto3.client(service, endpoint_url=cloud.endpoint, region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing")
    with pytest.raises(ClientError) as caught:
        call(client, cloud)
    assert caught.value.response["Error"]["Code"] == code


def test_wrong_secret_and_moto_api_are_refused(cloud: Any) -> None:
    key = cloud.admin_credentials["AWS_ACCESS_KEY_ID"]
    forged = boto3.client("s3", endpoint_url=cloud.endpoint, region_name="us-east-1",
                          aws_access_key_id=key, aws_secret_access_key="guessed")
    with pytest.raises(ClientError) as caught:
        forged.list_objects_v2(Bucket=cloud.bucket)
    assert caught.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
    request = urllib.request.Request(f"{cloud.endpoint}/moto-api/reset", method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=5)
    assert refused.value.code == 403


def test_policy_evaluation() -> None:
    allow = {"Statement": [{"Effect": "Allow", "Action": "S3:getobject",
                            "Resource": "arn:aws:s3:::b/scans/*"}]}
    deny = {"Statement": {"Effect": "Deny", "Action": "s3:*", "Resource": "*"}}
    assert iam.evaluate([allow], "s3:GetObject", "arn:aws:s3:::b/scans/x/y") == "allow"
    assert iam.evaluate([allow], "s3:GetObject", "arn:aws:s3:::b/runs/x") == "implicit"
    assert iam.evaluate([allow, deny], "s3:GetObject", "arn:aws:s3:::b/scans/x") == "deny"
    assert iam.evaluate([allow], "s3:GetObject", None) == "allow", "unknown resource"
    conditional = {"Statement": [{**allow["Statement"][0],
                                  "Condition": {"Bool": {"aws:SecureTransport": "true"}}}]}
    assert iam.evaluate([conditional], "s3:GetObject", "arn:aws:s3:::b/scans/x") == "implicit"


# -- the stack narrowed by one permission ------------------------------------------------

@contextlib.contextmanager
def _without(cloud: Any, role_arn: str, action: str, resource_part: str) -> Iterator[None]:
    """`role_arn`'s policy without `action` on resources containing `resource_part`."""
    client = cloud.client("iam")
    name = role_arn.rsplit("/", 1)[1]
    (policy_name,) = client.list_role_policies(RoleName=name)["PolicyNames"]
    original = client.get_role_policy(RoleName=name, PolicyName=policy_name)["PolicyDocument"]
    narrowed = json.loads(json.dumps(original))
    for statement in narrowed["Statement"]:
        actions = [statement["Action"]] if isinstance(statement["Action"], str) \
            else statement["Action"]
        if action in actions and resource_part in json.dumps(statement["Resource"]):
            statement["Action"] = [a for a in actions if a != action] or ["none:None"]
    assert narrowed != original, f"{role_arn} grants no {action} on *{resource_part}*"
    client.put_role_policy(RoleName=name, PolicyName=policy_name,
                           PolicyDocument=json.dumps(narrowed))
    try:
        yield
    finally:
        client.put_role_policy(RoleName=name, PolicyName=policy_name,
                               PolicyDocument=json.dumps(original))


def _scan(cloud: Any, segy: Path, key: str) -> tuple[str, str]:
    """Scan `segy` uploaded as `key`; (final status, the errors and causes of the
    execution's failure events)."""
    cloud.client("s3").upload_file(str(segy), cloud.bucket, key)
    sfn = cloud.client("stepfunctions")
    arn = sfn.start_execution(stateMachineArn=cloud.scan_state_machine_arn,
                              name=key.rsplit("/", 1)[1].replace(".", "-"),
                              input=json.dumps({"bucket": cloud.bucket, "key": key}))[
        "executionArn"]
    deadline = time.monotonic() + 60
    while (desc := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
        assert time.monotonic() < deadline, f"{arn} still running"
        time.sleep(0.2)
    failures = [json.dumps(details) for event in sfn.get_execution_history(
        executionArn=arn, maxResults=1000)["events"]
        for name, details in event.items() if name.endswith("FailedEventDetails")]
    return desc["status"], "\n".join(failures)


def _state_machine_role(cloud: Any) -> str:
    return str(cloud.client("stepfunctions").describe_state_machine(
        stateMachineArn=cloud.scan_state_machine_arn)["roleArn"])


def test_state_machine_without_invoke_fails_like_aws(cloud: Any, segy_dir: Path) -> None:
    with _without(cloud, _state_machine_role(cloud), "lambda:InvokeFunction", "ScanPlan"):
        status, failures = _scan(cloud, segy_dir / "small.sgy", "manual/iam-no-invoke.sgy")
    assert status == "FAILED"
    assert "Lambda.AccessDeniedException" in failures
    assert "lambda:InvokeFunction" in failures


def test_scan_worker_without_part_write_fails_with_access_denied(cloud: Any,
                                                                 segy_dir: Path) -> None:
    """The handler itself runs under its role's session: the Scan worker's role narrowed
    by one permission (writing its Parquet part) fails the workflow as on AWS: the Map
    run exceeds its tolerated failures, and the worker's log says AccessDenied naming
    the action and the key."""
    role = _role_of(cloud, "ScanE")
    logged = cloud.lambda_log.stat().st_size if cloud.lambda_log.exists() else 0
    with _without(cloud, role, "s3:PutObject", "parts"):
        status, failures = _scan(cloud, segy_dir / "small.sgy", "manual/iam-no-part.sgy")
    assert status == "FAILED"
    assert "States.ExceedToleratedFailureThreshold" in failures
    with cloud.lambda_log.open() as log:
        log.seek(logged)
        denial = log.read()
    assert "AccessDenied" in denial and "s3:PutObject" in denial
    assert "/parts/000000.parquet" in denial


def test_state_machine_without_manifest_read_fails_like_aws(
        cloud: Any, segy_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The Distributed Map's ItemReader reads the manifest as the state machine's role.
    moto's Map turns the ItemReader's error into a States.Runtime of its own, so the
    denial is checked in the local cloud's log."""
    role = _state_machine_role(cloud)
    with _without(cloud, role, "s3:GetObject", "manifest.json"), \
            caplog.at_level("WARNING", logger="seisless.local.iam"):
        status, _ = _scan(cloud, segy_dir / "small.sgy", "manual/iam-no-manifest.sgy")
    assert status == "FAILED"
    assert any("s3:GetObject" in r.message and "manifest.json" in r.message
               and role.rsplit("/", 1)[1] in r.message for r in caplog.records)
    status, _ = _scan(cloud, segy_dir / "small.sgy", "manual/iam-restored.sgy")
    assert status == "SUCCEEDED", "the restored role works again"


def test_rule_target_role_must_allow_start_execution(cloud: Any, segy_dir: Path) -> None:
    """EventBridge starts the scan as the rule target's role; without states:StartExecution
    the event goes to the target's dead-letter queue, as on AWS."""
    rule = cloud.client("events").list_rules()["Rules"][0]["Name"]
    (target,) = cloud.client("events").list_targets_by_rule(Rule=rule)["Targets"]
    sqs, sfn = cloud.client("sqs"), cloud.client("stepfunctions")
    dlq = sqs.get_queue_url(QueueName=target["DeadLetterConfig"]["Arn"].rsplit(":", 1)[1])
    before = len(sfn.list_executions(stateMachineArn=cloud.scan_state_machine_arn)["executions"])
    with _without(cloud, target["RoleArn"], "states:StartExecution", ""):
        cloud.client("s3").upload_file(str(segy_dir / "small.sgy"), cloud.bucket,
                                       "incoming/iam-no-trigger.sgy")
        got = sqs.receive_message(QueueUrl=dlq["QueueUrl"], WaitTimeSeconds=5)
    assert "iam-no-trigger.sgy" in got["Messages"][0]["Body"]
    assert len(sfn.list_executions(stateMachineArn=cloud.scan_state_machine_arn)[
        "executions"]) == before


def test_task_tokens_are_authorized_against_their_state_machine(cloud: Any) -> None:
    """The reducer may answer the imaging machine's tokens; an unknown token is then
    InvalidToken (what the reducer treats as spent), while a role without the grant is
    refused first."""
    reducer = cloud.client("stepfunctions", role_arn=_role_of(cloud, "ImagingReductionReducer"))
    with pytest.raises(ClientError) as caught:
        reducer.send_task_success(taskToken="no-such-token", output="{}")
    assert caught.value.response["Error"]["Code"] in ("InvalidToken", "TaskDoesNotExist")
    merge = cloud.client("stepfunctions", role_arn=_role_of(cloud, "ScanMerge"))
    _denied(lambda: merge.send_task_success(taskToken="no-such-token", output="{}"),
            "AccessDeniedException", "states:SendTaskSuccess")


def test_sqs_batch_calls_need_the_single_actions_permission(cloud: Any) -> None:
    """IAM authorizes DeleteMessageBatch by sqs:DeleteMessage (as Lambda's SQS pollers use
    it): the reducer's role may, the SelectShots role may not."""
    url = cloud.outputs.get("ReduceQueueUrl") or next(
        u for u in cloud.client("sqs").list_queues()["QueueUrls"]
        if "ReductionQueue" in u and "Dead" not in u)
    entry = [{"Id": "0", "ReceiptHandle": "not-a-handle"}]
    reducer = cloud.client("sqs", role_arn=_role_of(cloud, "ImagingReductionReducer"))
    answer = reducer.delete_message_batch(QueueUrl=url, Entries=entry)
    assert answer.get("Failed"), "authorized; the made-up receipt handle is what fails"
    selector = cloud.client("sqs", role_arn=_role_of(cloud, "ImagingSelectShots"))
    _denied(lambda: selector.delete_message_batch(QueueUrl=url, Entries=entry),
            "AccessDenied", "sqs:DeleteMessage")
