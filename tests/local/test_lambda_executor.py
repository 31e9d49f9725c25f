"""The local Lambda sandboxes: errors keep their type, timeouts kill and replace."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from seisless.local.environments import Runtime
from seisless.local.lambda_executor import Invocation, LambdaExecutor

REPO = Path(__file__).resolve().parents[2]

HANDLERS = '''
import time

def ok(event, context):
    return {"echo": event, "remaining_ms": context.get_remaining_time_in_millis() > 0}

def fail(event, context):
    from seisless.errors import TruncatedSegyError
    raise TruncatedSegyError("cut short")

def slow(event, context):
    time.sleep(30)
'''


@pytest.fixture
def executor(tmp_path: Path):
    (tmp_path / "sandbox_handlers.py").write_text(HANDLERS)
    ex = LambdaExecutor(workers=1, log_path=tmp_path / "lambda.log")
    yield ex
    ex.close()


@pytest.fixture
def runtime(tmp_path: Path) -> Runtime:
    """This interpreter, the handlers' folder as the image root (seisless beside it)."""
    path = os.pathsep.join([str(tmp_path), str(REPO)])
    return Runtime(python=Path(sys.executable), cwd=tmp_path,
                   env={"PATH": os.environ["PATH"], "PYTHONPATH": path})


def _call(handler: str, timeout_s: int = 30) -> Invocation:
    return Invocation(function_name="f", function_arn="arn:aws:lambda:us-east-1:1:function:f",
                      handler=f"sandbox_handlers.{handler}", timeout_s=timeout_s,
                      memory_mb=512, environment={})


def test_result_error_and_timeout(executor: LambdaExecutor, runtime: Runtime) -> None:
    payload, errored = executor.invoke(_call("ok"), runtime, {"a": 1})
    assert not errored and json.loads(payload) == {"echo": {"a": 1}, "remaining_ms": True}
    payload, errored = executor.invoke(_call("fail"), runtime, {})
    assert errored and json.loads(payload)["errorType"] == "TruncatedSegyError"
    payload, errored = executor.invoke(_call("slow", timeout_s=1), runtime, {})
    assert errored and json.loads(payload)["errorType"] == "Sandbox.Timedout"
    payload, errored = executor.invoke(_call("ok"), runtime, {"after": "timeout"})
    assert not errored, "a fresh sandbox replaces the killed one"
