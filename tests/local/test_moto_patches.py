"""The moto adaptations: these fail loudly when a moto upgrade moves what they patch."""

from __future__ import annotations

import pytest

from seisless.errors import LocalCloudError
from seisless.local import moto_patches


def test_moto_still_has_what_we_patch() -> None:
    moto_patches.verify()


def test_moto_is_the_pinned_version() -> None:
    from importlib.metadata import version

    assert version("moto") == "5.2.5", "re-check seisless/local/moto_patches.py, then re-pin"


def test_apply_and_revert_restore_moto() -> None:
    from moto.awslambda.models import LambdaFunction
    from moto.events.models import Rule
    from moto.stepfunctions.models import StateMachine

    before = (LambdaFunction.invoke, Rule.send_to_targets,
              StateMachine.__dict__["create_from_cloudformation_json"])
    moto_patches.apply()  # nests with a local cloud this session may be running
    try:
        assert LambdaFunction.invoke is moto_patches._invoke
        assert Rule.send_to_targets is moto_patches._send_to_targets
    finally:
        moto_patches.revert()
    assert (LambdaFunction.invoke, Rule.send_to_targets,
            StateMachine.__dict__["create_from_cloudformation_json"]) == before


def test_moto_rules_still_cannot_target_state_machines() -> None:
    """If this starts failing, moto learned Step Functions targets: drop our wrapper."""
    from moto.events.models import EventPattern, Rule

    rule = Rule.__new__(Rule)
    rule.targets = [{"Id": "t", "Arn": "arn:aws:states:us-east-1:123456789012:stateMachine:x"}]
    rule.event_pattern = EventPattern.load(None)
    # moto's own method, even while a local cloud of this session has wrapped it
    send = moto_patches._originals.get("send_to_targets", Rule.send_to_targets)
    with pytest.raises(NotImplementedError):
        send(rule, {"source": "x", "detail": {}}, transform_input=False)


def test_substitute() -> None:
    assert moto_patches.substitute('{"a": "${A}", "b": ${B}}', {"A": "x", "B": 2}) == \
        '{"a": "x", "b": 2}'
    with pytest.raises(LocalCloudError, match="MISSING"):
        moto_patches.substitute("${MISSING}", {})


def test_s3_events_look_like_aws() -> None:
    event = {"id": "same", "time": 0.0, "source": "aws.s3",
             "detail": {"object": {"key": "k", "eTag": "abc"}}}
    out = moto_patches.s3_event_as_aws_sends_it(event)
    assert out["time"] == "1970-01-01T00:00:00Z"
    assert out["detail"]["object"] == {"key": "k", "etag": "abc"}
    assert out["id"] != moto_patches.s3_event_as_aws_sends_it(event)["id"]


@pytest.mark.usefixtures("aws_credentials")
def test_ranged_gets_copy_only_the_range() -> None:
    import boto3
    from moto import mock_aws
    from moto.s3.models import FakeKey
    from moto.s3.responses import S3Response

    before = (S3Response.get_object, FakeKey.__dict__["value"])
    data = bytes(range(256)) * 4096
    moto_patches.apply()
    # In-process moto shares its backends with a local cloud this session may run: no
    # reset on start or stop, and the bucket is this test's own.
    mock = mock_aws()
    mock.start(reset=False)
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="range-test")
    s3.put_object(Bucket="range-test", Key="k", Body=data)
    reads: list[int] = []
    original = moto_patches._originals["key_value"]

    def counting(self: FakeKey) -> bytes:
        reads.append(1)
        return original.fget(self)

    moto_patches._originals["key_value"] = property(counting, original.fset)
    try:
        assert s3.get_object(Bucket="range-test", Key="k", Range="bytes=1000-1999"
                             )["Body"].read() == data[1000:2000]
        assert s3.get_object(Bucket="range-test", Key="k", Range="bytes=1048570-"
                             )["Body"].read() == data[1048570:]
        assert reads == []  # neither copied the whole object
        assert s3.get_object(Bucket="range-test", Key="k", Range="bytes=-10"
                             )["Body"].read() == data[-10:]
        assert reads == [1]  # a suffix range takes moto's own path
        assert s3.get_object(Bucket="range-test", Key="k")["Body"].read() == data
    finally:
        moto_patches._originals["key_value"] = original
        s3.delete_object(Bucket="range-test", Key="k")
        s3.delete_bucket(Bucket="range-test")
        mock.stop(remove_data=False)
        moto_patches.revert()
    assert (S3Response.get_object, FakeKey.__dict__["value"]) == before


def test_apply_and_revert_restore_moto_authorization() -> None:
    import importlib

    from moto.core.authorization import ActionAuthenticatorMixin

    from seisless.local import iam

    def installed() -> list[object]:
        return [ActionAuthenticatorMixin._authenticate_and_authorize_action,
                *(importlib.import_module(m).boto_client_for for m in iam.ASL_CLIENT_MODULES)]

    before = installed()
    moto_patches.apply()
    try:
        assert set(installed()) == {iam._authorize, iam.boto_client_for}
    finally:
        moto_patches.revert()
    assert installed() == before


def test_moto_still_authorizes_too_little() -> None:
    """If these start failing, moto learned resources or AWS's action names: re-measure
    what `seisless.local.iam` adds (its table) and drop what moto now does itself."""
    from moto.batch.responses import BatchResponse
    from moto.events.responses import EventsHandler
    from moto.iam.access_control import IAMPolicyStatement
    from moto.stepfunctions.responses import StepFunctionResponse

    for response in (StepFunctionResponse, EventsHandler, BatchResponse):
        assert not hasattr(response, "_determine_resource"), response
    statement = IAMPolicyStatement({"Effect": "Allow", "Action": "batch:DescribeJobs",
                                    "Resource": "*"})
    assert statement.is_action_permitted("batch:describejobs").name == "NEUTRAL"


def test_map_run_failure_thresholds_follow_aws() -> None:
    from seisless.local.asl_fidelity import exceeds

    assert exceeds(1, 10, 0, 0)  # nothing tolerated by default
    assert not exceeds(0, 10, 0, 0)
    assert not exceeds(2, 10, 2, 0) and exceeds(3, 10, 2, 0)
    assert not exceeds(1, 10, 0, 10) and exceeds(2, 10, 0, 10)
