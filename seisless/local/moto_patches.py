"""Every adaptation of moto's internals, in one place (moto is pinned: see pyproject.toml).

moto 5.2.5 runs CloudFormation, S3, SQS, EventBridge and the Step Functions ASL engine,
but (1) its docker-free Lambda does not run code, (2) its EventBridge rules cannot
target a state machine (`Rule.send_to_targets` raises NotImplementedError, which S3's
event sender swallows), and (3) its CloudFormation creates state machines in the
non-executing Step Functions backend and ignores `DefinitionSubstitutions`.
`apply()` replaces `LambdaFunction.invoke` with a call to our executor for the
functions registered with it; wraps `Rule.send_to_targets` so
`arn:aws:states:...:stateMachine:...` targets start an execution with the event as
input (and send the event to the target's DLQ if that fails), as EventBridge does; and
replaces `StateMachine.create_from_cloudformation_json` with one that substitutes
`${Name}` placeholders and creates the machine in the backend that executes ASL.
Finally, (4) moto's CloudFormation creates a bucket with its encryption and tags only:
`complete_buckets()` applies the rest of each `AWS::S3::Bucket` the local run depends
on (versioning, EventBridge notifications, public access block) through the ordinary S3
API. (5) moto answers every ranged GET by copying the whole object and slicing it, so
scanning a 2 GB file with 8 MiB GETs copies a terabyte: `apply()` makes `get_object`
hand a simple `bytes=a-b` request a reader that copies just the range (`_RangeReader`).
(6) moto's CloudFormation requires a Batch compute environment's `ServiceRole`, which
AWS makes optional (the service-linked role), and an upper-case `Type` (CDK writes
"managed"): `apply()` supplies that role when the template omits it and upper-cases the
type; moto's Batch resources answer no `Fn::GetAtt`, so they get the `...Arn`
attributes CloudFormation documents (`_batch_cfn_attribute`). (7) moto's Step Functions
leaves `_normalise_parameters` /
`_normalise_response` of the Batch service task as no-ops, so `batch:submitJob.sync`
fails with `KeyError: 'JobName'`; `apply()` gives the Batch task both methods, mapping
ASL's PascalCase to botocore's shapes as the engine's origin does. (8) moto's
docker-free Batch runs nothing: `Job.run` (each job's thread) hands the job to the
runner registered with `register_batch_runner` (the local Batch executor), and an array
job's parent is marked FAILED when all children ended and one failed, as AWS does.
(9) moto invokes an SQS event source's function inside `SendMessage` and deletes all or
none of the batch; `take_event_source_mappings` hides a queue's mappings from moto so
the local poller (`seisless.local.sqs_poller`) serves them with real batching.
Multi-node jobs (definitions, `nodeOverrides`): see `seisless.local.moto_multinode`.
(10) moto authorizes little of what our roles grant (its IAM mode gives Step Functions,
Lambda, Batch and EventBridge calls no resource, names Batch actions in lower case, and
answers JSON services in XML) and its ASL engine signs its service calls with made-up
keys: `apply()` installs `seisless.local.iam` (see its table), which authenticates and
authorizes every request reaching the local cloud's server, signs the ASL engine's calls
with the state machine's role, and `_start_execution` checks the rule target's role.
Not reproduced: bucket and queue policies (moto skips them) and lifecycle rules (no time
passes in a local run).

`verify()` checks that every moto name used here still exists with the signature we
rely on; `tests/local/test_moto_patches.py` calls it, so a moto upgrade that moves them
fails loudly instead of silently running nothing.
"""

from __future__ import annotations

import copy
import datetime as dt
import inspect
import json
import logging
import re
import threading
import uuid
from collections.abc import Callable
from typing import Any

from seisless.errors import LocalCloudError
from seisless.local import asl_fidelity, iam, moto_multinode

log = logging.getLogger("seisless.local.events")

# name -> the parameters we call it with (checked by verify()).
_EXPECTED = {
    "moto.awslambda.models.LambdaFunction.invoke":
        ["self", "body", "request_headers", "response_headers"],
    "moto.events.models.Rule.send_to_targets": ["self", "original_event", "transform_input"],
    "moto.stepfunctions.responses.get_backend": ["account", "region"],
    "moto.sqs.models.SQSBackend.send_message": ["self", "queue_name", "message_body"],
    "moto.stepfunctions.models.StateMachine.create_from_cloudformation_json":
        ["resource_name", "cloudformation_json", "account_id", "region_name"],
    "moto.stepfunctions.models.StepFunctionBackend.create_state_machine":
        ["self", "name", "definition", "roleArn", "tags"],
    "moto.s3.responses.S3Response.get_object": ["self"],
    "moto.s3.responses.S3Response._handle_range_header":
        ["self", "request", "response_headers", "response_content"],
    "moto.batch.models.ComputeEnvironment.create_from_cloudformation_json":
        ["resource_name", "cloudformation_json", "account_id", "region_name"],
    "moto.batch.models.Job.run": ["self"],
    "moto.batch.models.Job._start_attempt": ["self"],
    "moto.batch.models.Job._mark_stopped": ["self", "success"],
    "moto.batch.models.Job._get_container_property": ["self", "p", "default"],
    "moto.batch.models.Job._add_parameters_to_command": ["self", "command"],
    "moto.batch.models.Job._get_attempt_duration": ["self"],
    "moto.iam.models.IAMBackend.create_role": ["self", "role_name",
                                               "assume_role_policy_document", "path"],
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service."
    "state_task_service_batch.StateTaskServiceBatch._build_sync_resolver":
        ["self", "env", "resource_runtime_part", "normalised_parameters"],
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service."
    "state_task_service.StateTaskService._to_boto_request":
        ["self", "parameters", "structure_shape"],
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service."
    "state_task_service.StateTaskService._from_boto_response":
        ["self", "response", "structure_shape"],
}
_BATCH_TASK = ("moto.stepfunctions.parser.asl.component.state.exec.state_task.service."
               "state_task_service_batch")
#: FakeKey internals the range reader uses (checked by verify()).
_FAKE_KEY_ATTRIBUTES = ("_value_buffer", "lock", "size")

# function name -> callable(body: dict, function) -> (payload bytes, is_error)
LambdaRunner = Callable[[Any, Any], tuple[bytes, bool]]
_runners: dict[str, LambdaRunner] = {}
_originals: dict[str, Any] = {}


def _resolve(dotted: str) -> Any:
    import importlib

    module_name, cls_name, attr = dotted.rsplit(".", 2)
    try:
        module = importlib.import_module(module_name)
        owner = getattr(module, cls_name)
    except (ImportError, AttributeError):
        # a module-level function: "pkg.module.func"
        module = importlib.import_module(f"{module_name}.{cls_name}")
        return getattr(module, attr)
    return getattr(owner, attr)


def verify() -> None:
    """Raise `LocalCloudError` if moto no longer has what the patches rely on."""
    for dotted, params in {**_EXPECTED, **iam.EXPECTED, **asl_fidelity.EXPECTED,
                           **moto_multinode.EXPECTED}.items():
        try:
            target = _resolve(dotted)
        except (ImportError, AttributeError) as err:
            raise LocalCloudError(f"moto changed: {dotted} is gone ({err}); update "
                                  "seisless/local/moto_patches.py for this moto version") from None
        have = list(inspect.signature(target).parameters)
        if have[:len(params)] != params:
            raise LocalCloudError(f"moto changed: {dotted}{tuple(have)} no longer takes "
                                  f"{tuple(params)}; update seisless/local/moto_patches.py")
    stale = iam.verify_modules()
    if stale:
        raise LocalCloudError(f"moto changed: {stale} no longer call boto_client_for; "
                              "update seisless/local/iam.py")
    from moto.s3.models import FakeKey

    key = FakeKey("probe", b"probe", account_id="123456789012", region_name="us-east-1")
    missing = [a for a in _FAKE_KEY_ATTRIBUTES if not hasattr(key, a)]
    if missing or not isinstance(inspect.getattr_static(FakeKey, "value"), property):
        raise LocalCloudError(f"moto changed: FakeKey lacks {missing or 'the value property'}; "
                              "update seisless/local/moto_patches.py")


_SIMPLE_RANGE = re.compile(r"^bytes=\d+-\d*$")
_ranged_get = threading.local()


class _RangeReader:
    """`len()` and `[a:b]` of a moto object, copying only the bytes asked for."""

    def __init__(self, key: Any) -> None:
        self._key = key

    def __len__(self) -> int:
        return int(self._key.size)

    def __getitem__(self, span: slice) -> bytes:
        with self._key.lock:
            self._key._value_buffer.seek(span.start)
            return bytes(self._key._value_buffer.read(span.stop - span.start))


def _get_object(self: Any) -> Any:
    _ranged_get.active = bool(_SIMPLE_RANGE.match(self.headers.get("range", "") or ""))
    try:
        return _originals["get_object"](self)
    finally:
        _ranged_get.active = False


def _key_value(self: Any) -> Any:
    if getattr(_ranged_get, "active", False):
        return _RangeReader(self)
    return _originals["key_value"].fget(self)


# -- Batch ---------------------------------------------------------------------------

#: runner(job) -> None: runs one moto `Job` (see `register_batch_runner`).
BatchRunner = Callable[[Any], None]
_batch_runner: dict[str, BatchRunner] = {}
SERVICE_LINKED_BATCH_ROLE = "AWSServiceRoleForBatch"


def register_batch_runner(runner: BatchRunner) -> None:
    """Run every Batch job submitted from now on with `runner` instead of Docker."""
    _batch_runner["run"] = runner


def unregister_batch_runner() -> None:
    _batch_runner.clear()


def _job_run(self: Any) -> None:
    runner = _batch_runner.get("run")
    if runner is None:
        _originals["job_run"](self)
        return
    try:
        runner(self)
    finally:
        _settle_array_parent(self)


def _settle_array_parent(child: Any) -> None:
    """AWS fails an array job when its children have all ended and one failed (moto
    only ever reports SUCCEEDED, when all did)."""
    if "index" not in child.array_properties:
        return
    parent = child.backend._jobs.get(child.job_id.rsplit(":", 1)[0])
    children = getattr(parent, "_child_jobs", None) or []
    if parent is None or not all(c.job_stopped for c in children):
        return
    if any(c.status == "FAILED" for c in children):
        parent.job_stopped_reason = "Array Child Job failed"
        parent._mark_stopped(success=False)


def batch_job_view(job: Any) -> dict[str, Any]:
    """What the local executor needs of a moto `Job`, in its own words."""
    definition = job.job_definition
    if definition.type == "multinode":
        return moto_multinode.job_view(job)
    own = definition.container_properties or {}
    command = job._add_parameters_to_command(list(own.get("command", [])))
    override = job.container_overrides.get("command")
    environment = {e["name"]: e["value"]
                   for e in job._get_container_property("environment", [])}
    return {"job_id": job.job_id, "command": list(command), "environment": environment,
            "command_override": list(override) if override is not None else None,
            "image": own.get("image"), "job_role_arn": own.get("jobRoleArn"),
            "vcpus": int(job._get_container_property("vcpus", 1)),
            "timeout_s": job._get_attempt_duration(),
            "retry_strategy": dict(definition.retry_strategy or {}),
            "array_index": job.array_properties.get("index")}


def batch_job_role(job: Any) -> str | None:
    """The role a job's container runs under: its job definition's `jobRoleArn`."""
    return job._get_container_property("jobRoleArn", None) or None


def batch_attempt_started(job: Any) -> None:
    """Job status RUNNING, with a new entry in `attempts`."""
    import datetime as _dt

    job.job_started_at = _dt.datetime.now()
    job.status = "RUNNING"
    job._start_attempt()


def batch_attempt_ended(job: Any, exit_code: int | None, status_reason: str,
                        reason: str) -> None:
    """Record how the latest attempt ended (AWS's `attempts[].container` fields)."""
    from moto.core.utils import unix_time_millis

    if job.latest_attempt is not None:
        job.latest_attempt["container"].update({"exitCode": exit_code, "reason": reason})
        job.latest_attempt["statusReason"] = status_reason
        job.latest_attempt["stoppedAt"] = int(unix_time_millis())
    job.exit_code = exit_code


def batch_job_ended(job: Any, success: bool, status_reason: str) -> None:
    if not success:
        job.job_stopped_reason = status_reason
    job._mark_stopped(success=success)


def _create_compute_environment(cls: Any, resource_name: str, cloudformation_json: Any,
                                account_id: str, region_name: str, **kwargs: Any) -> Any:
    # CloudFormation takes the type in any case (CDK writes "managed"); moto only upper.
    props = {**cloudformation_json["Properties"]}
    props["Type"] = str(props.get("Type", "MANAGED")).upper()
    cloudformation_json = {**cloudformation_json, "Properties": props}
    if not props.get("ServiceRole"):
        from moto.iam.exceptions import NotFoundException
        from moto.iam.models import iam_backends

        iam = iam_backends[account_id]["global"]
        try:
            role = iam.get_role(SERVICE_LINKED_BATCH_ROLE)
        except NotFoundException:  # create it, as AWS does on first use
            role = iam.create_role(
                role_name=SERVICE_LINKED_BATCH_ROLE, assume_role_policy_document=json.dumps({
                    "Version": "2012-10-17", "Statement": [{
                        "Effect": "Allow", "Action": "sts:AssumeRole",
                        "Principal": {"Service": "batch.amazonaws.com"}}]}),
                path="/aws-service-role/batch.amazonaws.com/", permissions_boundary=None,
                description="service-linked role", tags=[], max_session_duration="3600",
                linked_service="batch")
        cloudformation_json = {**cloudformation_json,
                               "Properties": {**props, "ServiceRole": role.arn}}
    return _originals["create_compute_environment"].__func__(
        cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)


_BATCH_ARN_ATTRIBUTES = {"ComputeEnvironmentArn", "JobQueueArn", "JobDefinitionArn"}


def _batch_cfn_attribute(self: Any, attribute_name: str) -> str:
    from moto.cloudformation.exceptions import UnformattedGetAttTemplateException

    if attribute_name in _BATCH_ARN_ATTRIBUTES:
        return self.arn
    raise UnformattedGetAttTemplateException()


def _batch_operation(name: str) -> Any:
    import botocore.session

    pascal = "".join(part[:1].upper() + part[1:] for part in name.split("_"))
    return botocore.session.get_session().get_service_model("batch").operation_model(pascal)


def _batch_normalise_parameters(self: Any, parameters: dict, boto_service_name: str | None = None,
                                service_action_name: str | None = None) -> None:
    operation = _batch_operation(service_action_name or self.resource.api_action)
    self._to_boto_request(parameters, operation.input_shape)


def _batch_normalise_response(self: Any, response: Any, boto_service_name: str | None = None,
                              service_action_name: str | None = None) -> None:
    operation = _batch_operation(service_action_name or self.resource.api_action)
    self._from_boto_response(response, operation.output_shape)


# -- SQS event sources ------------------------------------------------------------------

def take_event_source_mappings(queue_arn: str) -> None:
    """Stop moto from invoking `queue_arn`'s functions itself (see the module doc)."""
    from moto.sqs.models import sqs_backends

    _, _, _, region, account, name = queue_arn.split(":")
    sqs_backends[account][region].get_queue(name).lambda_event_source_mappings = {}


# -- Lambda -------------------------------------------------------------------------------

def register_lambda(function_name: str, runner: LambdaRunner) -> None:
    """Run `runner` instead of moto's echo when `function_name` is invoked."""
    _runners[function_name] = runner


def unregister_lambdas() -> None:
    _runners.clear()


def _invoke(self: Any, body: Any, request_headers: Any, response_headers: Any) -> Any:
    runner = _runners.get(self.function_name)
    if runner is None:
        return _originals["invoke"](self, body, request_headers, response_headers)
    event = json.loads(body) if body else {}
    payload, errored = runner(event, self)
    if errored:
        response_headers["x-amz-function-error"] = "Unhandled"
    return payload


def s3_event_as_aws_sends_it(event: dict[str, Any]) -> dict[str, Any]:
    """moto's S3 events reuse one id, carry a float time and spell `eTag`; AWS's do not."""
    out = copy.deepcopy(event)
    out["id"] = str(uuid.uuid4())
    if isinstance(out.get("time"), (int, float)):
        out["time"] = dt.datetime.fromtimestamp(out["time"], dt.timezone.utc).strftime(
            "%Y-%m-%dT%H:%M:%SZ")
    obj = out.get("detail", {}).get("object", {})
    if "eTag" in obj:
        obj["etag"] = obj.pop("eTag")
    return out


def _start_execution(rule: Any, target: dict[str, Any], event: dict[str, Any]) -> None:
    from moto.stepfunctions.responses import get_backend

    arn = target["Arn"]
    try:
        role = target.get("RoleArn")
        if role and iam.guarded() and not iam.role_allows(role, "states:StartExecution", arn):
            raise LocalCloudError(iam.denial(role, "states:StartExecution", arn, "implicit"))
        backend = get_backend(rule.account_id, rule.region_name)
        execution_input = target.get("Input") or json.dumps(event)
        # EventBridge names executions itself; moto would name them all "None".
        execution = backend.start_execution(arn, name=str(uuid.uuid4()),
                                            execution_input=execution_input)
        log.info("rule %s started %s", rule.name, execution.execution_arn)
    except Exception as err:  # any failure goes to the DLQ, as EventBridge does
        log.error("rule %s could not start %s: %s", rule.name, arn, err)
        dlq = target.get("DeadLetterConfig", {}).get("Arn")
        if dlq:
            from moto.sqs.models import sqs_backends

            account, region, name = dlq.split(":")[4], dlq.split(":")[3], dlq.split(":")[5]
            sqs_backends[account][region].send_message(queue_name=name,
                                                       message_body=json.dumps(event))


def _send_to_targets(self: Any, original_event: Any, transform_input: bool = True) -> None:
    states = [t for t in self.targets if t["Arn"].split(":")[2] == "states"]
    if states and self.event_pattern.matches_event(original_event):
        event = (s3_event_as_aws_sends_it(original_event)
                 if original_event.get("source") == "aws.s3" else original_event)
        for target in states:
            _start_execution(self, target, event)
    if len(states) < len(self.targets):
        others = copy.copy(self)
        others.targets = [t for t in self.targets if t not in states]
        _originals["send_to_targets"](others, original_event, transform_input)


def substitute(definition: str, substitutions: dict[str, Any]) -> str:
    """Apply CloudFormation `DefinitionSubstitutions` to an ASL string; an unknown
    placeholder is an error, as it is for CloudFormation."""

    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in substitutions:
            raise LocalCloudError(f"state machine definition uses ${{{name}}} but the "
                                  "template gives no DefinitionSubstitutions for it")
        return str(substitutions[name])

    return re.sub(r"\$\{([A-Za-z0-9_]+)\}", one, definition)


def _create_state_machine(cls: Any, resource_name: str, cloudformation_json: Any,
                          account_id: str, region_name: str, **kwargs: Any) -> Any:
    from moto.stepfunctions.responses import get_backend

    props = cloudformation_json["Properties"]
    definition = props.get("DefinitionString", "")
    if not isinstance(definition, str):
        definition = json.dumps(definition)
    definition = substitute(definition, props.get("DefinitionSubstitutions") or {})
    tags = [{"key": t["Key"], "value": t["Value"]} for t in props.get("Tags", [])]
    return get_backend(account_id, region_name).create_state_machine(
        props.get("StateMachineName", resource_name), definition, props.get("RoleArn", ""),
        tags=tags)


def complete_buckets(template: dict[str, Any], physical_ids: dict[str, str], s3: Any) -> None:
    """Apply what moto's CloudFormation skipped of the template's buckets (see above)."""
    for logical_id, res in template["Resources"].items():
        if res["Type"] != "AWS::S3::Bucket":
            continue
        props, bucket = res.get("Properties", {}), physical_ids[logical_id]
        if "VersioningConfiguration" in props:
            s3.put_bucket_versioning(Bucket=bucket,
                                     VersioningConfiguration=props["VersioningConfiguration"])
        if "PublicAccessBlockConfiguration" in props:
            s3.put_public_access_block(
                Bucket=bucket,
                PublicAccessBlockConfiguration=props["PublicAccessBlockConfiguration"])
        notifications = props.get("NotificationConfiguration", {})
        if notifications.get("EventBridgeConfiguration", {}).get("EventBridgeEnabled"):
            s3.put_bucket_notification_configuration(
                Bucket=bucket, NotificationConfiguration={"EventBridgeConfiguration": {}})


#: apply() calls not yet matched by revert(): a running cloud and a test may nest
_users = {"count": 0}


def apply() -> None:
    """Install the adaptations; nested calls only count (each needs its `revert()`)."""
    _users["count"] += 1
    if _originals:
        return
    verify()
    from moto.awslambda.models import LambdaFunction
    from moto.events.models import Rule
    from moto.s3.models import FakeKey
    from moto.s3.responses import S3Response
    from moto.stepfunctions.models import StateMachine

    _originals["get_object"] = S3Response.get_object
    _originals["key_value"] = inspect.getattr_static(FakeKey, "value")
    S3Response.get_object = _get_object
    FakeKey.value = property(_key_value, _originals["key_value"].fset)
    _originals["invoke"] = LambdaFunction.invoke
    _originals["send_to_targets"] = Rule.send_to_targets
    _originals["create_state_machine"] = StateMachine.__dict__["create_from_cloudformation_json"]
    LambdaFunction.invoke = _invoke
    Rule.send_to_targets = _send_to_targets
    StateMachine.create_from_cloudformation_json = classmethod(_create_state_machine)

    import importlib

    from moto.batch.models import ComputeEnvironment, Job, JobDefinition, JobQueue

    batch_task = importlib.import_module(_BATCH_TASK).StateTaskServiceBatch
    _originals["create_compute_environment"] = \
        ComputeEnvironment.__dict__["create_from_cloudformation_json"]
    _originals["job_run"] = Job.run
    ComputeEnvironment.create_from_cloudformation_json = classmethod(
        _create_compute_environment)
    Job.run = _job_run
    for resource in (ComputeEnvironment, JobQueue, JobDefinition):
        resource.get_cfn_attribute = _batch_cfn_attribute
    batch_task._normalise_parameters = _batch_normalise_parameters
    batch_task._normalise_response = _batch_normalise_response
    iam.apply()
    asl_fidelity.apply()
    moto_multinode.apply()


def revert() -> None:
    """Put moto back as it was once the last `apply()` is matched."""
    _users["count"] = max(0, _users["count"] - 1)
    if _users["count"] or not _originals:
        return
    from moto.awslambda.models import LambdaFunction
    from moto.events.models import Rule
    from moto.s3.models import FakeKey
    from moto.s3.responses import S3Response
    from moto.stepfunctions.models import StateMachine

    S3Response.get_object = _originals.pop("get_object")
    FakeKey.value = _originals.pop("key_value")
    LambdaFunction.invoke = _originals.pop("invoke")
    Rule.send_to_targets = _originals.pop("send_to_targets")
    StateMachine.create_from_cloudformation_json = _originals.pop("create_state_machine")
    import importlib

    from moto.batch.models import ComputeEnvironment, Job, JobDefinition, JobQueue

    ComputeEnvironment.create_from_cloudformation_json = _originals.pop(
        "create_compute_environment")
    Job.run = _originals.pop("job_run")
    for resource in (ComputeEnvironment, JobQueue, JobDefinition):
        del resource.get_cfn_attribute
    batch_task = importlib.import_module(_BATCH_TASK).StateTaskServiceBatch
    del batch_task._normalise_parameters
    del batch_task._normalise_response
    iam.revert()
    asl_fidelity.revert()
    moto_multinode.revert()
    _runners.clear()
    _batch_runner.clear()
