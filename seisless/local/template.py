"""The CDK app, synthesized for the local cloud: the same template `cdk deploy` uses.

Only what CloudFormation-on-moto cannot take is removed (the bootstrap version
parameter and rule, which name an SSM parameter of a bootstrapped account); the Lambda
functions' container `cmd` is read from the template so the local executor runs the very
handler the image would.
"""

from __future__ import annotations

import functools
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seisless.errors import LocalCloudError
from seisless.names import STACK_NAME

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class FunctionSpec:
    """A Lambda function of the template as the local executor needs it."""

    logical_id: str
    handler: str


def synthesize(stack_name: str = STACK_NAME) -> dict[str, Any]:
    """Synthesize the app's scan stack in-process and return its template (no Docker:
    image assets are only hashed). Synthesized once per process; each call gets a copy."""
    return json.loads(_synthesize_text(stack_name))


@functools.cache
def _synthesize_text(stack_name: str) -> str:
    if not (REPO_ROOT / "app.py").is_file():
        raise LocalCloudError(f"the CDK app is not next to the seisless package ({REPO_ROOT}); "
                              "the local cloud runs from a source checkout of seisless")
    # jsii's banners about an old Node: the end-of-life one takes the major versions to
    # silence ("20"), the deprecation one any value.
    os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION",
                          "18,19,20,21,22,23")
    import sys

    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    import aws_cdk as cdk

    from stacks import SeislessStack

    with tempfile.TemporaryDirectory(prefix="seisless-synth-") as outdir:
        app = cdk.App(outdir=outdir)
        SeislessStack(app, stack_name)
        assembly = app.synth()
        return json.dumps(assembly.get_stack_by_name(stack_name).template)


def for_moto(template: dict[str, Any]) -> dict[str, Any]:
    """A copy of `template` that moto's CloudFormation accepts."""
    out = dict(template)
    out.pop("Rules", None)
    params = {k: v for k, v in out.get("Parameters", {}).items() if k != "BootstrapVersion"}
    if params:
        raise LocalCloudError(f"the template has parameters the local cloud cannot fill: "
                              f"{sorted(params)}")
    out.pop("Parameters", None)
    return out


def function_specs(template: dict[str, Any]) -> dict[str, FunctionSpec]:
    """Every container-image Lambda function of the template, by logical id."""
    specs = {}
    for logical_id, res in template["Resources"].items():
        if res["Type"] != "AWS::Lambda::Function":
            continue
        props = res["Properties"]
        command = props.get("ImageConfig", {}).get("Command") or []
        if props.get("PackageType") != "Image" or len(command) != 1:
            raise LocalCloudError(f"function {logical_id} is not a container image with one "
                                  "handler in its cmd; the local executor cannot run it")
        specs[logical_id] = FunctionSpec(logical_id=logical_id, handler=command[0])
    return specs
