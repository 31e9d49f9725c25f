"""`LocalCloud`: an embedded moto server on 127.0.0.1 with the app's stack deployed in it.

Start order matters: `MOTO_PORT` is set before moto is imported (its ASL engine calls
`http://localhost:$MOTO_PORT` for service integrations), the patches of
`moto_patches` are installed, the server starts, Step Functions execution is switched
on, and the CDK-synthesized template is created through moto's CloudFormation, so the
bucket, functions, state machine and EventBridge rule are the ones `cdk deploy` creates.

IAM is enforced (`seisless.local.iam`): the server answers only requests signed by the
administrator created at start (`admin_credentials`, used by `client()` and the
executors' control calls) or by a role of the stack assumed through STS
(`role_credentials`), and each role may do what its policies grant, as on AWS.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import tempfile
import threading
import time
import urllib.request
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from seisless.errors import LocalCloudError, PortInUseError
from seisless.local import environments, iam, moto_patches
from seisless.local.batch_executor import Attempt, BatchExecutor, BatchJobRun
from seisless.local.connection import REGION
from seisless.local.environments import ImageEnvironment, Runtime, image_of
from seisless.local.lambda_executor import Invocation, LambdaExecutor
from seisless.local.sqs_poller import Mapping, SqsPoller
from seisless.local.template import for_moto, function_specs, synthesize, synthesize_app
from seisless.names import (
    OUTPUT_BUCKET,
    OUTPUT_IMAGING_STATE_MACHINE,
    OUTPUT_SCAN_STATE_MACHINE,
    STACK_NAME,
)

log = logging.getLogger("seisless.local")
DEFAULT_PORT = 4566
ACCOUNT = "123456789012"  # moto's default account


def _check_port(port: int) -> int:
    """Bind 127.0.0.1:port to learn whether it is free (port 0: pick a free one)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as err:
            raise PortInUseError(
                f"port {port} on 127.0.0.1 is in use ({err.strerror}); stop what listens "
                f"there (`lsof -i :{port}`) or pick another port with --port") from None
        return sock.getsockname()[1]


class LocalCloud:
    """The local cloud as a context manager.

    Parameters
    ----------
    port:
        Port on 127.0.0.1; 0 picks a free one (tests), the CLI's default is 4566.
    workers:
        Lambda sandboxes running at once (default: the CPU count).
    assembly:
        A synthesized cloud assembly (`cdk.out`: the template and the images' build
        contexts; tests synthesize once per session); by default the app is synthesized
        on start.
    template:
        A template to deploy instead of the assembly's (tests narrow a role with it).
    log_dir:
        Where handler output (`lambda.log`) goes; a temporary directory by default.
    say:
        Where start-up progress goes (building image environments takes a minute once).
    """

    def __init__(self, *, port: int = DEFAULT_PORT, workers: int | None = None,
                 assembly: Path | None = None, template: dict[str, Any] | None = None,
                 log_dir: Path | None = None,
                 say: Callable[[str], None] | None = None) -> None:
        self._requested_port = port
        self._say = say or log.info
        self._workers = workers or os.cpu_count() or 2
        self._assembly = assembly
        self._template = template
        self._images: dict[str, ImageEnvironment] = {}
        self._synth_dir: tempfile.TemporaryDirectory[str] | None = None
        self._moto_sfn_config: dict[str, Any] | None = None
        self._log_dir = log_dir
        self._server: Any = None
        self._patched = False
        self._executor: LambdaExecutor | None = None
        self.batch: BatchExecutor | None = None
        self._poller: SqsPoller | None = None
        self.port = 0
        self.outputs: dict[str, str] = {}
        self.admin_credentials: dict[str, str] = {}
        self._roles: dict[str, dict[str, str]] = {}
        self._roles_lock = threading.Lock()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def bucket(self) -> str:
        return self.outputs[OUTPUT_BUCKET]

    @property
    def scan_state_machine_arn(self) -> str:
        return self.outputs[OUTPUT_SCAN_STATE_MACHINE]

    @property
    def imaging_state_machine_arn(self) -> str:
        return self.outputs[OUTPUT_IMAGING_STATE_MACHINE]

    @property
    def lambda_log(self) -> Path:
        return self._log_path

    @property
    def log_dir(self) -> Path:
        """Handler output (`lambda.log`) and Batch job output (`batch/<job>-<attempt>.log`)."""
        return self._log_path.parent

    def client(self, service: str, *, role_arn: str | None = None) -> Any:
        """A boto3 client for `service` pointed at this local cloud, signing as the
        administrator or, given `role_arn`, as that role of the stack."""
        import boto3

        env = self.role_credentials(role_arn) if role_arn else self.admin_credentials
        return boto3.client(service, endpoint_url=self.endpoint, region_name=REGION,
                            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
                            aws_session_token=env.get("AWS_SESSION_TOKEN"))

    def role_credentials(self, role_arn: str) -> dict[str, str]:
        """Environment variables (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
        AWS_SESSION_TOKEN) of a session of `role_arn`, assumed through STS by the
        administrator (standing for the service that assumes it on AWS) for the role's
        maximum session duration. moto never expires sessions, so one per role serves
        the cloud's lifetime; thread-safe."""
        with self._roles_lock:
            if role_arn not in self._roles:
                name = role_arn.rsplit("/", 1)[-1]
                duration = int(self.client("iam").get_role(RoleName=name)["Role"].get(
                    "MaxSessionDuration", 3600))
                got = self.client("sts").assume_role(
                    RoleArn=role_arn, RoleSessionName="seisless-local",
                    DurationSeconds=duration)["Credentials"]
                self._roles[role_arn] = {"AWS_ACCESS_KEY_ID": got["AccessKeyId"],
                                         "AWS_SECRET_ACCESS_KEY": got["SecretAccessKey"],
                                         "AWS_SESSION_TOKEN": got["SessionToken"]}
            return dict(self._roles[role_arn])

    def _credentials_for(self, role_arn: str) -> dict[str, str]:
        """For moto's internal callers: the role's session, or the administrator's
        where a caller names no role."""
        return self.role_credentials(role_arn) if role_arn else dict(self.admin_credentials)

    def __enter__(self) -> LocalCloud:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Start the server and deploy the stack; on any failure, stop what started."""
        self.port = _check_port(self._requested_port)
        os.environ["MOTO_PORT"] = str(self.port)
        try:
            assembly = self._assembly or self._synthesize()
            self._images = environments.prepare(assembly, say=self._say)
            for note in self.image_warnings:
                log.warning("%s", note)
            self._start_server()
            self._deploy(self._template or synthesize(assembly))
        except BaseException:
            self.stop()
            raise
        log.info("local cloud ready at %s (bucket %s)", self.endpoint, self.bucket)

    @property
    def image_warnings(self) -> list[str]:
        """What the images would have that their local environments lack."""
        return [w for image in self._images.values() for w in image.warnings]

    def _synthesize(self) -> Path:
        self._synth_dir = tempfile.TemporaryDirectory(prefix="seisless-assembly-")
        return synthesize_app(Path(self._synth_dir.name))

    def _start_server(self) -> None:
        moto_patches.apply()
        self._patched = True
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self.admin_credentials = iam.create_admin(ACCOUNT)
        self._server = iam.guarded_server(self.port)
        self._server.start()
        from moto.core.config import default_user_config

        # moto keeps its config process-wide: remembered here, given back at stop(), so
        # in-process moto of the same process (tests) does not start executing machines.
        self._moto_sfn_config = dict(default_user_config.get("stepfunctions", {}))
        request = urllib.request.Request(
            f"{self.endpoint}/moto-api/config", method="POST",
            data=json.dumps({"stepfunctions": {"execute_state_machine": True}}).encode(),
            headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as resp:
            if resp.status >= 300:
                raise LocalCloudError(f"moto refused the Step Functions config ({resp.status})")
        iam.close_moto_api()
        iam.register_credentials(self._credentials_for)

    def _deploy(self, template: dict[str, Any]) -> None:
        cfn = self.client("cloudformation")
        # moto warns (in its server thread) for every bucket and queue policy it skips;
        # said once below instead.
        warnings.filterwarnings("ignore", message="Tried to parse AWS::", category=UserWarning)
        logging.getLogger("moto").setLevel(logging.ERROR)
        cfn.create_stack(StackName=STACK_NAME, TemplateBody=json.dumps(for_moto(template)),
                         Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"])
        log.info("stack %s created; bucket and queue policies are not enforced locally",
                 STACK_NAME)
        stack = cfn.describe_stacks(StackName=STACK_NAME)["Stacks"][0]
        if stack["StackStatus"] != "CREATE_COMPLETE":
            raise LocalCloudError(f"the local stack did not deploy: {stack['StackStatus']} "
                                  f"{stack.get('StackStatusReason', '')}")
        self.outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
        physical = {r["LogicalResourceId"]: r["PhysicalResourceId"]
                    for r in cfn.list_stack_resources(StackName=STACK_NAME)
                    ["StackResourceSummaries"]}
        moto_patches.complete_buckets(template, physical, self.client("s3"))
        if self._log_dir is None:  # kept until the user deletes them: a failed job says why
            stamp = time.strftime("%Y%m%d-%H%M%S")
            self._log_dir = environments.CACHE_DIR.parent / "logs" / f"{stamp}-{self.port}"
        self._log_dir.mkdir(parents=True, exist_ok=True)
        self._log_path = self._log_dir / "lambda.log"
        self._executor = LambdaExecutor(workers=self._workers, log_path=self._log_path)
        for logical_id, spec in function_specs(template).items():
            moto_patches.register_lambda(physical[logical_id], self._runner(spec.handler))
        self.batch = BatchExecutor(cores=os.cpu_count() or 2, log_dir=self._log_dir / "batch")
        moto_patches.register_batch_runner(self._run_batch_job)
        self._start_pollers()

    def _service_env(self) -> dict[str, str]:
        """Where a handler or job finds the cloud: this endpoint, this region."""
        return {"AWS_ENDPOINT_URL": self.endpoint, "AWS_DEFAULT_REGION": REGION,
                "AWS_REGION": REGION}

    def _principal_env(self, role_arn: str | None) -> dict[str, str]:
        """The credentials a handler or job runs with: a session of its own role (a
        function's `Role`, a job definition's `jobRoleArn`), as on AWS."""
        if not role_arn:
            raise LocalCloudError("a function or job definition of the stack has no role; "
                                  "the local cloud runs nothing without one")
        return self.role_credentials(role_arn)

    def _runtime(self, image_uri: Any, role_arn: str | None) -> Runtime:
        """A process of the image `image_uri` names, under the role `role_arn`."""
        image = self._images[image_of(image_uri)]
        return image.runtime(self._service_env(), self._principal_env(role_arn))

    def _run_batch_job(self, job: Any) -> None:
        """Run one moto Batch job (or array child) through the local executor."""
        last: list[Attempt] = []

        def ended(attempt: Attempt) -> None:
            last[:] = [attempt]
            moto_patches.batch_attempt_ended(job, attempt.exit_code, attempt.status_reason,
                                             attempt.reason)

        view = moto_patches.batch_job_view(job)
        runtime = self._runtime(view.pop("image"), view.pop("job_role_arn"))
        ok = self.batch.run(BatchJobRun(**view, runtime=runtime),
                            on_start=lambda _n: moto_patches.batch_attempt_started(job),
                            on_attempt=ended)
        moto_patches.batch_job_ended(job, ok, last[0].status_reason if last else "")

    def _start_pollers(self) -> None:
        """Serve the stack's SQS event source mappings (see `sqs_poller`); each polls
        under its function's role, as Lambda's pollers do."""
        sqs, lam, mappings = self.client("sqs"), self.client("lambda"), []
        for esm in lam.list_event_source_mappings()["EventSourceMappings"]:
            arn = esm["EventSourceArn"]
            if arn.split(":")[2] != "sqs":
                continue
            moto_patches.take_event_source_mappings(arn)
            url = sqs.get_queue_url(QueueName=arn.rsplit(":", 1)[1])["QueueUrl"]
            role = lam.get_function(FunctionName=esm["FunctionArn"])["Configuration"]["Role"]
            mappings.append(Mapping.from_api(esm, url, role))
        self._poller = SqsPoller(mappings, self.client, REGION, max_threads=self._workers)
        self._poller.start()

    def _runner(self, handler: str) -> moto_patches.LambdaRunner:
        executor = self._executor

        def run(event: Any, fn: Any) -> tuple[bytes, bool]:
            call = Invocation(function_name=fn.function_name, function_arn=fn.function_arn,
                              handler=handler, timeout_s=int(fn.timeout),
                              memory_mb=int(fn.memory_size),
                              environment=dict(fn.environment_vars or {}))
            runtime = self._runtime(fn.code.get("ImageUri"), fn.role)
            return executor.invoke(call, runtime, event)

        return run

    def stop(self) -> None:
        """Stop the server, the pollers, the Batch jobs and the Lambda workers; safe to
        call twice."""
        iam.unregister_credentials()
        if self._poller is not None:
            self._poller.stop()
            self._poller = None
        moto_patches.unregister_batch_runner()
        if self.batch is not None:
            self.batch.close()
            self.batch = None
        moto_patches.unregister_lambdas()
        if self._executor is not None:
            self._executor.close()
            self._executor = None
        if self._server is not None:
            self._server.stop()
            self._server = None
        if self._patched:
            moto_patches.revert()
            self._patched = False
        if self._moto_sfn_config is not None:
            from moto.core.config import default_user_config

            default_user_config["stepfunctions"] = self._moto_sfn_config
            self._moto_sfn_config = None
        if self._synth_dir is not None:
            self._synth_dir.cleanup()
            self._synth_dir = None
