"""Fixtures for the reduction tests: fake AWS credentials and an in-process moto.

moto normally refuses multipart parts under 5 MiB like S3 does; the `aws` fixture lowers
that limit  so that arrays of a few
hundred bytes exercise multipart uploads and their part boundaries.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import boto3
import pytest
from moto import mock_aws

from seisless.reduce import ReduceServices

REGION = "us-east-1"
BUCKET = "seisless-test"


@pytest.fixture(scope="session")
def chaos() -> ModuleType:
    """The fault-injection harness (tests/helpers/chaos.py), shared with bench/."""
    from tests.helpers import chaos

    return chaos


@pytest.fixture
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@dataclass
class Aws:
    s3: Any
    sqs: Any
    sfn: Any
    queue_url: str
    queue_arn: str
    bucket: str = BUCKET


@pytest.fixture
def aws(aws_credentials: None, chaos: ModuleType,
        monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    import moto.s3.models

    with mock_aws():
        monkeypatch.setattr(moto.s3.models, "S3_UPLOAD_PART_MIN_SIZE", 1)
        s3 = boto3.client("s3", region_name=REGION)
        sqs = boto3.client("sqs", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET)
        url = sqs.create_queue(QueueName="reduce")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
            "Attributes"]["QueueArn"]
        yield Aws(s3, sqs, boto3.client("stepfunctions", region_name=REGION), url, arn)


@pytest.fixture
def resumptions(chaos: ModuleType) -> Any:
    """Step Functions' answers to task tokens, recorded (the first one closes a token)."""
    return chaos.StepFunctionsTokens()


@pytest.fixture
def services(aws: Aws, resumptions: Any) -> Iterator[ReduceServices]:
    """The reducer handler's clients: moto S3 and SQS, the recording Step Functions."""
    from lambdas.reducer import handler

    svc = ReduceServices(s3=aws.s3, sqs=aws.sqs, sfn=resumptions, queue_url=aws.queue_url,
                         chunk_bytes=40, part_bytes=64)
    handler.use_services(svc)
    yield svc
    handler.use_services(None)
