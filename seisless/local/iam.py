"""IAM in the local cloud: only known principals reach it, each limited by its policies.

On AWS every handler, job and state machine acts under its own role, so a role lacking a
permission (or granting too much) shows at once. moto can authenticate and authorize
requests (its `INITIAL_NO_AUTH_ACTION_COUNT` mode), but measured on moto 5.2.5 against
the deployed stack's roles (assumed through STS), for the calls our principals make:

==========================  =========================================  ======================
what                        moto natively                              here
==========================  =========================================  ======================
unknown access key          refused (InvalidAccessKeyId / Invalid-      same codes, per service
                            ClientTokenId, XML even for JSON services)  protocol (JSON: Unrecog-
                                                                        nizedClientException)
wrong session token         refused (InvalidToken)                      same
no Authorization header     500 (KeyError)                              refused (AccessDenied /
                                                                        MissingAuthenticationToken)
signature (SigV4)           checked; wrong for bodiless non-S3 calls    checked over the raw
                            (Lambda GET/DryRun: SignatureDoesNotMatch)  body
AWS::IAM::Policy of a role  attached (inline role policy)               used as is
S3 object/bucket resources  evaluated (arn:...:bucket/key); codes       same, message names
                            AccessDenied                                action and resource;
                                                                        CopyObject also needs
                                                                        GetObject on the source
SQS queue resources         evaluated, except GetQueueUrl ("*")         GetQueueUrl: its queue
SQS batch calls             "sqs:DeleteMessageBatch" etc., which IAM    the single action
                            has no name for (always denied)             (sqs:DeleteMessage)
Step Functions resources    none ("*": scoped grants never match)       stateMachine/execution
                                                                        ARN; task tokens: their
                                                                        execution's machine
Lambda                      action "lambda:Invoke" (IAM has Invoke-     lambda:InvokeFunction on
                            Function), resource "*"                     the function ARN
Batch                       action lower-cased ("batch:submitjob"),     botocore's names; Submit-
                            resource "*"                                Job: queue and job
                                                                        definition ARNs
EventBridge                 resource "*"                                event bus / rule ARNs
action names                matched case-sensitively                    case-insensitively (IAM)
error format, JSON services XML AccessDenied (botocore reads "403")     AccessDeniedException
                                                                        (SQS: AccessDenied)
sts:AssumeRole, service     500 (TypeError in the trust check)          the administrator may
trust principal                                                         assume any role (it
                                                                        stands for the services)
Condition elements          ignored except in trust policies            statements with one are
                                                                        skipped, with a warning
session expiry              never checked                               never checked
/moto-api/* (reset, config) open to anyone                              refused once started
internal calls of the ASL   keys "ak"/"sk"                              the state machine's role
engine (Lambda, Batch, SQS,
S3 ItemReader)
==========================  =========================================  ======================

The guard applies only to requests that reach the local cloud's server (`GuardedApp`
marks them), so in-process `mock_aws` tests are untouched and moto's global settings stay
as they are. Resource-based policies (bucket and queue policies) are not evaluated: moto's
CloudFormation skips them, and the bucket's TLS-only statement could not hold over
plain HTTP anyway.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import unquote, urlsplit

log = logging.getLogger("seisless.local.iam")

ADMIN_USER = "seisless-admin"
ADMIN_POLICY = {"Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}

#: role ARN (or "" for none) -> {"AWS_ACCESS_KEY_ID": ..., ...}; set by the local cloud
CredentialsProvider = Callable[[str], dict[str, str]]
_provider: dict[str, CredentialsProvider] = {}
_via_server = threading.local()
_guard = {"moto_api_open": True}
_warned: set[str] = set()

#: modules of moto's ASL engine that call services through `boto_client_for`
ASL_CLIENT_MODULES = tuple(
    "moto.stepfunctions.parser.asl.component." + name for name in (
        "state.exec.state_map.result_writer.resource_eval.resource_eval_s3",
        "state.exec.state_map.item_reader.eval.resource_eval_s3",
        "state.exec.state_task.lambda_eval_utils",
        "state.exec.state_task.service.state_task_service_unsupported",
        "state.exec.state_task.service.state_task_service_glue",
        "state.exec.state_task.service.state_task_service_events",
        "state.exec.state_task.service.state_task_service_ecs",
        "state.exec.state_task.service.state_task_service_sqs",
        "state.exec.state_task.service.state_task_service_sfn",
        "state.exec.state_task.service.state_task_service_dynamodb",
        "state.exec.state_task.service.state_task_service_batch",
        "state.exec.state_task.service.state_task_service_sns",
        "state.exec.state_task.service.state_task_service_aws_sdk"))


# -- the server ---------------------------------------------------------------------

class GuardedApp:
    """WSGI wrapper of moto's app: marks requests as coming through the local cloud's
    endpoint (so they are authenticated) and closes `/moto-api/` (reset, auth switches,
    config) once the cloud has started."""

    def __init__(self, app: Any) -> None:
        self._app = app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("PATH_INFO", "").startswith("/moto-api") and not _guard["moto_api_open"]:
            start_response("403 Forbidden", [("Content-Type", "text/plain")])
            return [b"the local cloud's moto-api is closed\n"]
        _via_server.active = True
        try:  # moto (Flask) computes the whole response in this call
            return self._app(environ, start_response)
        finally:
            _via_server.active = False


def guarded_server(port: int) -> Any:
    """A moto server on 127.0.0.1:`port` serving `GuardedApp`."""
    from moto.moto_server.threaded_moto_server import ThreadedMotoServer
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    class _Server(ThreadedMotoServer):
        def _server_entry(self) -> None:
            app = GuardedApp(DomainDispatcherApplication(create_backend_app))
            self._server = make_server(self._ip_address, self._port, app, True,
                                       request_handler=MotoRequestHandler)
            self._server_ready_event.set()
            self._server.serve_forever()

    return _Server(ip_address="127.0.0.1", port=port, verbose=False)


def close_moto_api() -> None:
    _guard["moto_api_open"] = False


def create_admin(account_id: str) -> dict[str, str]:
    """The administrator user with an admin policy and an access key (in-process: the
    endpoint accepts no request before a principal exists)."""
    from moto.iam.models import iam_backends

    iam = iam_backends[account_id]["aws"]
    iam.create_user(region_name="us-east-1", user_name=ADMIN_USER, path="/", tags=None)
    iam.put_user_policy(ADMIN_USER, "administrator", json.dumps(ADMIN_POLICY))
    key = iam.create_access_key(ADMIN_USER)
    return {"AWS_ACCESS_KEY_ID": key.access_key_id,
            "AWS_SECRET_ACCESS_KEY": key.secret_access_key}


def register_credentials(provider: CredentialsProvider) -> None:
    """Where the ASL engine and EventBridge targets get a role's credentials."""
    _provider["role"] = provider


def unregister_credentials() -> None:
    _provider.clear()


def guarded() -> bool:
    """Whether a local cloud is enforcing IAM (it registered its credentials)."""
    return bool(_provider)


# -- policy evaluation ------------------------------------------------------------------

def _glob(pattern: str, value: str, *, fold: bool) -> bool:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.IGNORECASE if fold else 0) is not None


def _listed(element: Any) -> list[str]:
    return [element] if isinstance(element, str) else list(element or [])


def _statement_applies(statement: dict[str, Any], action: str, resource: str | None) -> bool:
    if "Action" in statement:
        if not any(_glob(p, action, fold=True) for p in _listed(statement["Action"])):
            return False
    elif any(_glob(p, action, fold=True) for p in _listed(statement.get("NotAction"))):
        return False
    if "Condition" in statement:
        if action not in _warned:
            _warned.add(action)
            log.warning("a policy statement for %s has a Condition, which the local cloud "
                        "does not evaluate: the statement is ignored", action)
        return False
    if resource is None:  # the resource cannot be known: any resource of the statement
        return True
    if "Resource" in statement:
        return any(_glob(p, resource, fold=False) for p in _listed(statement["Resource"]))
    return not any(_glob(p, resource, fold=False) for p in _listed(statement.get("NotResource")))


def evaluate(documents: list[dict[str, Any]], action: str, resource: str | None) -> str:
    """"allow", "deny" (an explicit Deny) or "implicit" (nothing allows it)."""
    allowed = False
    for document in documents:
        for statement in _listed_statements(document):
            if _statement_applies(statement, action, resource):
                if statement.get("Effect") == "Deny":
                    return "deny"
                allowed = True
    return "allow" if allowed else "implicit"


def _listed_statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    statements = document.get("Statement", [])
    return [statements] if isinstance(statements, dict) else list(statements)


def _documents(policies: list[Any]) -> list[dict[str, Any]]:
    from moto.iam.access_control import IAMPolicy

    return [IAMPolicy(policy)._policy_json for policy in policies]


def role_documents(account_id: str, role_arn: str) -> list[dict[str, Any]]:
    """The identity policies (inline and attached) of a role."""
    from moto.iam.models import iam_backends

    iam = iam_backends[account_id]["aws"]
    name = role_arn.rsplit("/", 1)[-1]
    inline = [iam.get_role_policy(name, n)[1] for n in iam.list_role_policies(name)]
    attached, _ = iam.list_attached_role_policies(name)
    return _documents([*inline, *attached])


def role_allows(role_arn: str, action: str, resource: str) -> bool:
    """Whether `role_arn`'s policies allow `action` on `resource` (in-process callers:
    EventBridge targets)."""
    account = role_arn.split(":")[4]
    return evaluate(role_documents(account, role_arn), action, resource) == "allow"


def denial(principal: str, action: str, resource: str | None, verdict: str) -> str:
    """AWS's wording of an authorization failure."""
    why = ("with an explicit deny in an identity-based policy" if verdict == "deny" else
           f"because no identity-based policy allows the {action} action")
    return (f"User: {principal} is not authorized to perform: {action} on resource: "
            f"{resource or '*'} {why}")


# -- requests ---------------------------------------------------------------------------

def _protocol(service: str) -> str:
    import botocore.session

    name = {"states": "stepfunctions"}.get(service, service)
    try:
        model = botocore.session.get_session().get_service_model(name)
    except Exception:  # an unknown signing name: answer as the query services do
        return "query"
    return "sqs" if name == "sqs" else str(model.metadata["protocol"])


def _error(service: str, kind: str, message: str) -> Exception:
    """The exception moto serializes as AWS answers `kind` ("denied", "unknown-key",
    "signature", "anonymous") for `service`."""
    from moto.core.exceptions import JsonRESTError
    from moto.core.exceptions import _RESTError as RESTError
    from moto.s3.exceptions import S3ClientError

    protocol = _protocol(service)
    if protocol == "rest-xml":
        code = {"denied": "AccessDenied", "anonymous": "AccessDenied",
                "unknown-key": "InvalidAccessKeyId", "signature": "SignatureDoesNotMatch"}[kind]
        if kind == "unknown-key":
            message = "The AWS Access Key Id you provided does not exist in our records."
        return S3ClientError(code, message)
    if protocol in ("json", "rest-json"):
        code = {"denied": "AccessDeniedException",
                "anonymous": "MissingAuthenticationTokenException",
                "unknown-key": "UnrecognizedClientException",
                "signature": "InvalidSignatureException"}[kind]
        error: Exception = JsonRESTError(code, message)
    else:  # query, and SQS's query-compatible JSON (botocore reads the code as given)
        code = {"denied": "AccessDenied", "anonymous": "MissingAuthenticationToken",
                "unknown-key": "InvalidClientTokenId", "signature": "SignatureDoesNotMatch"}[kind]
        error = JsonRESTError(code, message) if protocol == "sqs" else RESTError(code, message)
    error.code = 403
    return error


_MESSAGES = {"unknown-key": "The security token included in the request is invalid.",
             "signature": "The request signature we calculated does not match the signature "
                          "you provided.",
             "anonymous": "Request is missing Authentication Token"}


def _caller(response: Any, service: str) -> Any:
    """moto's view of the request's access key (user or assumed role), signature checked."""
    from moto.iam.access_control import IAMRequest, S3IAMRequest

    base = S3IAMRequest if service == "s3" else IAMRequest

    class _Request(base):  # type: ignore[misc, valid-type]
        def _raise_invalid_access_key(self, _reason: str) -> None:
            raise _error(service, "unknown-key", _MESSAGES["unknown-key"])

        def _raise_signature_does_not_match(self) -> None:
            raise _error(service, "signature", _MESSAGES["signature"])

    path = response.raw_path
    query = urlsplit(response.uri).query
    # moto signs `body or data` again; its data is the headers when a request has no
    # body and no form, which only S3 (signing a payload hash header) gets away with
    signed_data = response.data if service == "s3" or response.form_data else {}
    request = _Request(account_id=response.current_account, method=response.method,
                       path=f"{path}?{query}" if query else path, data=signed_data,
                       body=response.raw_body, headers=response.headers,
                       action=response._get_action() or "")
    request.check_signature()
    return request._access_key


def _authorize(self: Any, iam_request_cls: type, resource: str = "*") -> None:
    """Replaces `ActionAuthenticatorMixin._authenticate_and_authorize_action`: requests
    through the guarded server are authenticated and authorized here; any other (an
    in-process `mock_aws`) goes to moto's own."""
    if not getattr(_via_server, "active", False):
        _originals["authorize"](self, iam_request_cls, resource)
        return
    from moto.iam.access_control import IAMUserAccessKey

    authorization = self.headers.get("Authorization", "")
    scope = authorization.partition("Credential=")[2].partition(",")[0].split("/")
    if len(scope) < 4:
        raise _error(_service_of(self), "anonymous", _MESSAGES["anonymous"])
    service = scope[3]
    caller = _caller(self, service)
    documents = _documents(caller.collect_policies())
    is_admin = isinstance(caller, IAMUserAccessKey) and caller._owner_user_name == ADMIN_USER
    for action, target in _checks(self, service, resource):
        verdict = evaluate(documents, action, target)
        if verdict == "allow" and action.lower() == "sts:assumerole" and not is_admin:
            verdict = "allow" if _trusts(self.current_account, target, caller.arn) \
                else "implicit"
        if verdict != "allow":  # logged too: moto's ASL engine may lose the error
            message = denial(caller.arn, action, target, verdict)
            log.warning("denied: %s", message)
            raise _error(service, "denied", message)


def _service_of(response: Any) -> str:
    return str(getattr(response, "service_name", "") or "s3")


def _trusts(account_id: str, role_arn: str | None, principal_arn: str) -> bool:
    """Whether the role's trust policy names `principal_arn` (or its account): needed by
    every principal but the administrator, which stands for the AWS services."""
    from moto.iam.models import iam_backends

    try:
        role = iam_backends[account_id]["aws"].get_role_by_arn(role_arn or "")
    except Exception:
        return False
    root = f"arn:aws:iam::{principal_arn.split(':')[4]}:root"
    for statement in _listed_statements(json.loads(role.assume_role_policy_document)):
        named = _listed((statement.get("Principal") or {}).get("AWS"))
        if statement.get("Effect") == "Allow" and {"*", root, principal_arn} & set(named):
            return True
    return False


# -- what a request is: IAM action and resources ---------------------------------------

def _params(response: Any) -> dict[str, Any]:
    body = response.body
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if body and body.lstrip().startswith("{"):
        try:
            return json.loads(body)
        except ValueError:
            pass
    return {k: v[0] if isinstance(v, list) and v else v
            for k, v in (response.querystring or {}).items()}


def _operation(service: str, raw: str) -> str:
    """botocore's operation name for moto's action name (Batch gives a lower-cased path
    segment, Lambda the API name), as IAM names it."""
    if service == "lambda":
        return {"Invoke": "InvokeFunction",
                "InvokeWithResponseStream": "InvokeFunction"}.get(raw, raw)
    if service == "batch":
        import botocore.session

        names = botocore.session.get_session().get_service_model("batch").operation_names
        return next((n for n in names if n.lower() == raw.lower()), raw)
    if service == "sqs" and raw in _SQS_BATCH_ACTIONS:
        # IAM has no sqs:*Batch actions: a batch call needs the single action's permission
        return raw.removesuffix("Batch")
    return raw


_SQS_BATCH_ACTIONS = frozenset({"SendMessageBatch", "DeleteMessageBatch",
                                "ChangeMessageVisibilityBatch"})


def _checks(response: Any, service: str, resource: str) -> Iterator[tuple[str, str | None]]:
    """(IAM action, resource ARN or None when unknowable) pairs the request needs."""
    raw = response._get_action() or ""
    action = _operation(service, raw)
    arn = _ArnMaker(response, service)
    finder = _RESOURCES.get(service)
    targets = finder(arn, action, _params(response), response) if finder else None
    for target in targets or [resource]:
        yield f"{service}:{action}", target
    source = response.headers.get("x-amz-copy-source") if service == "s3" else None
    if source and action == "PutObject":
        bucket_key = unquote(source.lstrip("/").split("?versionId=")[0])
        yield "s3:GetObject", f"arn:aws:s3:::{bucket_key}"


class _ArnMaker:
    def __init__(self, response: Any, service: str) -> None:
        self.prefix = f"arn:aws:{service}:{response.region}:{response.current_account}"

    def __call__(self, rest: str) -> str:
        return f"{self.prefix}:{rest}"


def _sqs(arn: _ArnMaker, action: str, params: dict[str, Any], _r: Any) -> list[str] | None:
    if action == "GetQueueUrl" and params.get("QueueName"):
        return [arn(str(params["QueueName"]))]
    return None


def _token_machine(token: str, response: Any) -> str | None:
    """The state machine whose execution handed out `token` (None: no execution did)."""
    from moto.stepfunctions.responses import get_backend

    backend = get_backend(response.current_account, response.region)
    for machine in list(backend.state_machines):
        for execution in list(getattr(machine, "executions", [])):
            worker = getattr(execution, "exec_worker", None)
            env = getattr(worker, "env", None)
            if env is not None and env.callback_pool_manager.get(token) is not None:
                return machine.arn
    return None


def _states(arn: _ArnMaker, action: str, params: dict[str, Any],
            response: Any) -> list[str | None] | None:
    for key in ("stateMachineArn", "executionArn", "mapRunArn", "activityArn"):
        if params.get(key):
            return [str(params[key])]
    if params.get("taskToken"):
        return [_token_machine(str(params["taskToken"]), response)]
    return None


def _lambda(arn: _ArnMaker, action: str, params: dict[str, Any],
            response: Any) -> list[str] | None:
    parts = urlsplit(response.uri).path.strip("/").split("/")
    if len(parts) < 3 or parts[1] != "functions":
        return None
    name = unquote(parts[2])
    if not name.startswith("arn:"):
        name = arn(f"function:{name}")
    qualifier = params.get("Qualifier")
    return [f"{name}:{qualifier}" if qualifier and name.count(":") == 6 else name]


def _batch(arn: _ArnMaker, action: str, params: dict[str, Any],
           response: Any) -> list[str] | None:
    if action == "SubmitJob":
        queue, definition = str(params.get("jobQueue", "")), str(params.get("jobDefinition", ""))
        if not queue.startswith("arn:"):
            queue = arn(f"job-queue/{queue}")
        if not definition.startswith("arn:"):
            definition = arn(f"job-definition/{definition}")
        return [queue, definition]
    if action in ("TerminateJob", "CancelJob") and params.get("jobId"):
        return [arn(f"job/{params['jobId']}")]
    return None


def _events(arn: _ArnMaker, action: str, params: dict[str, Any],
            _r: Any) -> list[str] | None:
    if action == "PutEvents":
        buses = {str(e.get("EventBusName") or "default") for e in params.get("Entries", [])}
        return [b if b.startswith("arn:") else arn(f"event-bus/{b}") for b in sorted(buses)]
    rule = params.get("Name") or params.get("Rule")
    if rule:
        bus = params.get("EventBusName") or "default"
        return [arn(f"rule/{rule}" if bus == "default" else f"rule/{bus}/{rule}")]
    return None


_RESOURCES: dict[str, Callable[..., Any]] = {
    "sqs": _sqs, "states": _states, "lambda": _lambda, "batch": _batch, "events": _events}


# -- the ASL engine's service calls ------------------------------------------------------

def boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
    """moto's `boto_client_for`, signing with the state machine's role (as Step
    Functions does on AWS) instead of the keys "ak"/"sk"."""
    import boto3
    from botocore.config import Config
    from moto.settings import moto_server_port
    from moto.stepfunctions.parser.asl.component.common.timeouts.timeout import (
        TimeoutSeconds,
    )

    role_arn = getattr(state_credentials, "role_arn", "") or ""
    provider = _provider.get("role")
    credentials = provider(role_arn) if provider else {}
    return boto3.client(
        service, region_name=region, endpoint_url=f"http://localhost:{moto_server_port()}",
        aws_access_key_id=credentials.get("AWS_ACCESS_KEY_ID", "ak"),
        aws_secret_access_key=credentials.get("AWS_SECRET_ACCESS_KEY", "sk"),
        aws_session_token=credentials.get("AWS_SESSION_TOKEN"),
        config=Config(parameter_validation=False,
                      retries={"max_attempts": 0, "total_max_attempts": 1},
                      connect_timeout=TimeoutSeconds.DEFAULT_TIMEOUT_SECONDS,
                      read_timeout=TimeoutSeconds.DEFAULT_TIMEOUT_SECONDS))


# -- install ---------------------------------------------------------------------------

_originals: dict[str, Any] = {}
EXPECTED = {
    "moto.core.authorization.ActionAuthenticatorMixin._authenticate_and_authorize_action":
        ["self", "iam_request_cls", "resource"],
    "moto.iam.access_control.IAMRequest.__init__":
        ["self", "account_id", "method", "path", "data", "body", "headers", "action"],
    "moto.iam.access_control.IAMRequest.check_signature": ["self"],
    "moto.iam.access_control.IAMRequestBase._raise_invalid_access_key": ["self", "reason"],
    "moto.iam.access_control.IAMPolicy.__init__": ["self", "policy"],
    "moto.moto_server.threaded_moto_server.ThreadedMotoServer._server_entry": ["self"],
    "moto.moto_server.threaded_moto_server.ThreadedMotoServer.__init__":
        ["self", "ip_address", "port", "verbose"],
    "moto.stepfunctions.parser.asl.eval.callback.callback.CallbackPoolManager.get":
        ["self", "callback_id"],
    "moto.stepfunctions.parser.asl.utils.boto_client.boto_client_for":
        ["region", "service", "state_credentials"],
}


def verify_modules() -> list[str]:
    """Names of ASL engine modules that no longer import `boto_client_for`."""
    import importlib

    return [name for name in ASL_CLIENT_MODULES
            if not hasattr(importlib.import_module(name), "boto_client_for")]


def apply() -> None:
    import importlib

    from moto.core.authorization import ActionAuthenticatorMixin

    _originals["authorize"] = ActionAuthenticatorMixin._authenticate_and_authorize_action
    ActionAuthenticatorMixin._authenticate_and_authorize_action = _authorize
    for name in ASL_CLIENT_MODULES:
        module = importlib.import_module(name)
        _originals[name] = module.boto_client_for
        module.boto_client_for = boto_client_for


def revert() -> None:
    import importlib

    from moto.core.authorization import ActionAuthenticatorMixin

    ActionAuthenticatorMixin._authenticate_and_authorize_action = _originals.pop("authorize")
    for name in ASL_CLIENT_MODULES:
        importlib.import_module(name).boto_client_for = _originals.pop(name)
    _provider.clear()
    _guard["moto_api_open"] = True
