"""Engine selection: the deployed stack by its outputs (moto), a local cloud in this
process, and a local cloud started for the command when nothing answers at the endpoint.
The path "a local cloud answers at the endpoint" runs in tests/local (it needs one)."""

from __future__ import annotations

import json
import socket
from typing import Any, ClassVar

import pytest

from seisless.client.engine import open_target
from seisless.errors import ConfigError
from seisless.names import OUTPUT_BUCKET, OUTPUT_IMAGING_STATE_MACHINE, OUTPUT_SCAN_STATE_MACHINE

SCAN_ARN = "arn:aws:states:us-east-1:123456789012:stateMachine:scan"
IMAGING_ARN = "arn:aws:states:us-east-1:123456789012:stateMachine:imaging"


def _template(outputs: dict[str, Any]) -> str:
    return json.dumps({"Resources": {"Data": {"Type": "AWS::S3::Bucket"}},
                       "Outputs": {name: {"Value": value} for name, value in outputs.items()}})


@pytest.fixture
def deployed(aws_credentials: None) -> Any:
    from moto import mock_aws

    with mock_aws():
        import boto3

        cfn = boto3.client("cloudformation")
        cfn.create_stack(StackName="Deployed", TemplateBody=_template({
            OUTPUT_BUCKET: {"Ref": "Data"}, OUTPUT_SCAN_STATE_MACHINE: SCAN_ARN,
            OUTPUT_IMAGING_STATE_MACHINE: IMAGING_ARN}))
        cfn.create_stack(StackName="Other", TemplateBody=_template({OUTPUT_BUCKET: "x"}))
        yield cfn


def test_aws_finds_the_stack_by_its_outputs(deployed: Any) -> None:
    with open_target("aws", stack_name="Deployed") as target:
        assert target.bucket.startswith("deployed-data")
        assert (target.scan_state_machine_arn, target.imaging_state_machine_arn) == \
            (SCAN_ARN, IMAGING_ARN)
        target.s3.head_bucket(Bucket=target.bucket)


@pytest.mark.parametrize(("stack", "says"), [("Missing", "deploy it with `cdk deploy`"),
                                              ("Other", "no output ScanStateMachineArn")])
def test_aws_without_a_usable_stack_is_a_config_error(deployed: Any, stack: str,
                                                     says: str) -> None:
    with pytest.raises(ConfigError, match=says), open_target("aws", stack_name=stack):
        pass


def test_an_unknown_engine_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="local or aws"), open_target("direct"):
        pass


class FakeCloud:
    """Stands in for `LocalCloud`: records whether it was started and stopped."""

    instances: ClassVar[list[FakeCloud]] = []

    def __init__(self, **kwargs: Any) -> None:
        self.kwargs, self.running = kwargs, False
        self.log_dir = "/tmp/fake-cloud-logs"
        self.outputs = {OUTPUT_BUCKET: "local-bucket", OUTPUT_SCAN_STATE_MACHINE: SCAN_ARN,
                        OUTPUT_IMAGING_STATE_MACHINE: IMAGING_ARN}
        FakeCloud.instances.append(self)

    def client(self, service: str) -> str:
        return f"{service} client"

    def __enter__(self) -> FakeCloud:
        self.running = True
        return self

    def __exit__(self, *exc: object) -> None:
        self.running = False


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_local_starts_a_cloud_for_the_command_when_none_answers(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("seisless.local.LocalCloud", FakeCloud)
    FakeCloud.instances.clear()
    with open_target("local", endpoint=f"http://127.0.0.1:{_closed_port()}") as target:
        [started] = FakeCloud.instances
        assert started.running and started.kwargs == {"port": 0}
        assert (target.s3, target.sfn, target.bucket) == \
            ("s3 client", "stepfunctions client", "local-bucket")
    assert not started.running, "the command's cloud stops with the command"


def test_a_cloud_passed_in_is_used_as_it_is() -> None:
    cloud = FakeCloud()
    with open_target("local", cloud=cloud) as target:  # type: ignore[arg-type]
        assert target.imaging_state_machine_arn == IMAGING_ARN
    assert not cloud.running, "neither started nor stopped by the client"
