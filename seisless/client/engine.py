"""Which cloud a command talks to: one `Target`, whatever the engine.

`seisless scan --engine local|aws` and `seisless run` both open their engine here, so
"local" means the same for both: the local cloud at `endpoint` if one answers there
(`seisless up`), otherwise one started for the duration of the command. "aws" is the
stack `cdk deploy` created, found by its CloudFormation outputs, so a command needs no
resource name beyond the stack's. `seisless.local` is imported only by the local engine:
a command against AWS never loads the emulator.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import socket
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from seisless.errors import ConfigError
from seisless.names import (
    OUTPUT_BUCKET,
    OUTPUT_IMAGING_STATE_MACHINE,
    OUTPUT_SCAN_STATE_MACHINE,
    STACK_NAME,
)

if TYPE_CHECKING:
    from seisless.local import LocalCloud

log = logging.getLogger("seisless.client")
ENGINES = ("local", "aws")
LOCAL_ENDPOINT = "http://127.0.0.1:4566"
#: The outputs a stack must have for a command to use it.
REQUIRED_OUTPUTS = (OUTPUT_BUCKET, OUTPUT_SCAN_STATE_MACHINE, OUTPUT_IMAGING_STATE_MACHINE)
ClientFactory = Callable[[str], Any]
AWS_LOGS = ("CloudWatch Logs: the stack's Lambda log groups and its Batch job log group "
            "(each failed shot's tombstone names its log stream)")
#: What the local cloud answers to credentials it did not issue.
REFUSED_CREDENTIALS = frozenset({"InvalidClientTokenId", "SignatureDoesNotMatch",
                                 "InvalidToken", "UnrecognizedClientException"})


@dataclass(frozen=True)
class Target:
    """What a command needs of a deployed stack: clients, the bucket, both workflows."""

    s3: Any
    sfn: Any
    bucket: str
    scan_state_machine_arn: str
    imaging_state_machine_arn: str
    #: where the handlers' and jobs' output is, for a user whose run failed
    logs: str = ""

    @classmethod
    def from_outputs(cls, client: ClientFactory, outputs: dict[str, str],
                     logs: str = AWS_LOGS) -> Target:
        return cls(client("s3"), client("stepfunctions"), outputs[OUTPUT_BUCKET],
                   outputs[OUTPUT_SCAN_STATE_MACHINE], outputs[OUTPUT_IMAGING_STATE_MACHINE],
                   logs)


@contextlib.contextmanager
def open_target(engine: str, *, stack_name: str = STACK_NAME, endpoint: str | None = None,
                cloud: LocalCloud | None = None) -> Iterator[Target]:
    """The target of `engine` for the duration of the `with` block.

    `cloud`, a `LocalCloud` already running in this process (tests, the demo), is the
    local engine as it is. A local cloud started here is stopped when the block ends,
    so everything the command downloads must happen inside it.
    """
    if engine not in ENGINES:
        raise ConfigError(f"engine must be local or aws, got {engine!r}")
    if engine == "aws":
        yield _deployed(stack_name)
    elif cloud is not None:
        yield Target.from_outputs(cloud.client, cloud.outputs, str(cloud.log_dir))
    else:
        with _local(endpoint or LOCAL_ENDPOINT) as target:
            yield target


def local_client(endpoint: str, service: str, **kwargs: Any) -> Any:
    """A boto3 client of the local cloud at `endpoint`, signed with the administrator
    credentials `seisless up` wrote for it, or else those of the environment (the
    exported keys it printed)."""
    import boto3

    from seisless.local.connection import REGION, read_connection

    details = read_connection(endpoint)
    keys = {} if details is None else {
        "aws_access_key_id": details["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": details["AWS_SECRET_ACCESS_KEY"]}
    return boto3.client(service, endpoint_url=endpoint, region_name=REGION, **keys, **kwargs)


@contextlib.contextmanager
def _local(endpoint: str) -> Iterator[Target]:
    from seisless.local.connection import read_connection

    outputs = _running_local_stack(endpoint)
    if outputs is not None:
        details = read_connection(endpoint) or {}
        yield Target.from_outputs(functools.partial(local_client, endpoint), outputs,
                                  str(details.get("log_dir", "the log folder `seisless up` "
                                                              "printed")))
        return
    from seisless.local import LocalCloud

    log.info("no local cloud answers at %s: starting one for this command", endpoint)
    with LocalCloud(port=0) as started:
        yield Target.from_outputs(started.client, started.outputs, str(started.log_dir))


def _listening(endpoint: str) -> bool:
    """Whether anything accepts connections at `endpoint` (asked before any credentials
    are needed: with nothing there, the command starts its own cloud)."""
    url = urllib.parse.urlsplit(endpoint)
    try:
        with socket.create_connection((url.hostname or "127.0.0.1", url.port or 80),
                                      timeout=1):
            return True
    except OSError:
        return False


def _running_local_stack(endpoint: str) -> dict[str, str] | None:
    """The outputs of the seisless stack of the local cloud at `endpoint`; None when
    nothing listens there. A local cloud deploys one stack, so it is found by its
    outputs whatever its name."""
    from botocore.config import Config
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        EndpointConnectionError,
        NoCredentialsError,
    )

    if not _listening(endpoint):
        return None
    probe = Config(connect_timeout=1, read_timeout=30, retries={"total_max_attempts": 1})
    try:
        stacks = local_client(endpoint, "cloudformation", config=probe).describe_stacks()
    except EndpointConnectionError:
        return None
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") in REFUSED_CREDENTIALS:
            raise ConfigError(f"the local cloud at {endpoint} refuses these credentials; "
                              "run the command as the user who started `seisless up` (it "
                              "writes them to ~/.config/seisless/local-cloud.json) or export "
                              "the AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY it printed"
                              ) from None
        raise ConfigError(f"{endpoint} answers but is not a seisless local cloud ({err}); "
                          "stop what listens there or pass another --endpoint") from None
    except NoCredentialsError:
        raise ConfigError(f"the local cloud at {endpoint} needs the credentials `seisless up` "
                          "wrote to ~/.config/seisless/local-cloud.json (or the ones it "
                          "printed, exported); none were found") from None
    except BotoCoreError as err:
        raise ConfigError(f"{endpoint} answers but is not a seisless local cloud ({err}); "
                          "stop what listens there or pass another --endpoint") from None
    for stack in stacks["Stacks"]:
        outputs = _outputs(stack)
        if all(name in outputs for name in REQUIRED_OUTPUTS):
            return outputs
    raise ConfigError(f"the local cloud at {endpoint} holds no seisless stack; restart it "
                      "with `seisless up`")


def _deployed(stack_name: str) -> Target:
    """The stack deployed on AWS, with the credentials and region of the environment."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        stack = boto3.client("cloudformation").describe_stacks(StackName=stack_name)
    except (ClientError, BotoCoreError) as err:
        raise ConfigError(f"cannot find the deployed stack {stack_name!r} ({err}); deploy "
                          "it with `cdk deploy` or check your AWS credentials and region"
                          ) from None
    outputs = _outputs(stack["Stacks"][0])
    missing = [name for name in REQUIRED_OUTPUTS if name not in outputs]
    if missing:
        raise ConfigError(f"the stack {stack_name!r} has no output {', '.join(missing)}: it "
                          "is not a seisless stack, or an older one; redeploy it with "
                          "`cdk deploy`")
    return Target.from_outputs(boto3.client, outputs)


def _outputs(stack: dict[str, Any]) -> dict[str, str]:
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
