"""The CDK app, synthesized for the local cloud: the same template `cdk deploy` uses.

The app runs as `cdk synth` runs it: `python app.py` in a subprocess, with `cdk.json`'s
context, writing a cloud assembly; seisless itself never imports the CDK app or the
CDK (the app depends on seisless, not the other way round). Only what
CloudFormation-on-moto cannot take is removed (the bootstrap version parameter and rule,
which name an SSM parameter of a bootstrapped account; placement groups, which moto does
not model and a machine without instances has nothing to place in); the Lambda functions' container
`cmd` is read from the template so the local executor runs the very handler the image
would.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seisless.errors import LocalCloudError
from seisless.names import OUTPUT_BUCKET, STACK_NAME

REPO_ROOT = Path(__file__).resolve().parents[2]
#: How much of a failed synthesis's stderr an error shows (the traceback's end names it).
STDERR_TAIL_LINES = 15
#: What CDK's policy validation (here: cdk-nag) writes into the cloud assembly.
VALIDATION_REPORT = "validation-report.json"


@dataclass(frozen=True)
class FunctionSpec:
    """A Lambda function of the template as the local executor needs it."""

    logical_id: str
    handler: str


def synthesize(cdk_out: Path | None = None) -> dict[str, Any]:
    """The stack's template, read from the cloud assembly `cdk_out` (e.g. `cdk synth`'s
    `cdk.out/`) or, by default, from a fresh synthesis of the app (no Docker: image
    assets are only hashed). The app is synthesized once per process, since jsii starts
    node each time; each call gets its own copy."""
    text = _template_text(Path(cdk_out)) if cdk_out is not None else _synthesized_text()
    return json.loads(text)


@functools.cache
def _synthesized_text() -> str:
    with tempfile.TemporaryDirectory(prefix="seisless-synth-") as outdir:
        return _template_text(synthesize_app(Path(outdir)))


def synthesize_app(outdir: Path) -> Path:
    """Run the CDK app (`python app.py` next to the package) into `outdir`, as `cdk synth`
    would, and return `outdir`.

    The CDK CLI hands an app its output directory in `CDK_OUTDIR` and its context in
    `CDK_CONTEXT_JSON`; passing `cdk.json`'s context the same way makes this template
    the one `cdk synth` writes (the CLI's own metadata switches aside: path and asset
    metadata, version reporting). The app applies cdk-nag, so an unacknowledged finding
    fails here as it fails `cdk synth`.
    """
    if not (REPO_ROOT / "app.py").is_file():
        raise LocalCloudError(f"the CDK app is not next to the seisless package ({REPO_ROOT}); "
                              "the local cloud runs from a source checkout of seisless")
    env = {**os.environ, "CDK_OUTDIR": str(outdir),
           "CDK_CONTEXT_JSON": json.dumps(_cdk_json_context())}
    # jsii's banners about an old Node: the end-of-life one takes the major versions to
    # silence, the deprecation one any value.
    env.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
    env.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "18,19,20,21,22,23")
    done = subprocess.run([sys.executable, "app.py"], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise _synthesis_error(done.returncode, done.stderr, outdir)
    return outdir


def _cdk_json_context() -> dict[str, Any]:
    path = REPO_ROOT / "cdk.json"
    try:
        return json.loads(path.read_text()).get("context", {})
    except (OSError, json.JSONDecodeError) as err:
        raise LocalCloudError(f"cannot read the CDK context from {path} ({err}); restore "
                              "cdk.json from the seisless checkout") from None


def _synthesis_error(returncode: int, stderr: str, outdir: Path) -> LocalCloudError:
    """The cdk-nag findings nobody acknowledged, else the end of the app's stderr."""
    findings = unacknowledged_findings(outdir / VALIDATION_REPORT)
    if findings:
        return LocalCloudError(
            "cdk-nag findings nobody acknowledged:\n  " + "\n  ".join(findings) +
            "\nfix the resource, or acknowledge the finding with its reason in stacks/ "
            "(stacks.nag.acknowledge(construct, {'AwsSolutions::<rule>': reason}))")
    tail = "\n".join(stderr.strip().splitlines()[-STDERR_TAIL_LINES:])
    return LocalCloudError(f"synthesizing the CDK app ({REPO_ROOT / 'app.py'}) failed with exit "
                           f"code {returncode}:\n{tail}\nfix the app; `cdk synth` in "
                           f"{REPO_ROOT} shows the whole error")


def unacknowledged_findings(report: Path) -> list[str]:
    """cdk-nag's findings nobody acknowledged, from a cloud assembly's validation report."""
    if not report.is_file():
        return []
    plugins = json.loads(report.read_text())["pluginReports"]
    return [f"{violation['ruleName']} at {construct['constructPath']}"
            for plugin in plugins for violation in plugin["violations"]
            for construct in violation["violatingConstructs"]]


def _template_text(cdk_out: Path) -> str:
    path = cdk_out / f"{STACK_NAME}.template.json"
    if not path.is_file():
        raise LocalCloudError(f"{cdk_out} holds no template of the stack {STACK_NAME} ({path}); "
                              f"run `cdk synth` in {REPO_ROOT}, or synthesize the app afresh")
    return path.read_text()


def for_moto(template: dict[str, Any]) -> dict[str, Any]:
    """A copy of `template` that moto's CloudFormation accepts."""
    out = dict(template)
    out.pop("Rules", None)
    params = {k: v for k, v in out.get("Parameters", {}).items() if k != "BootstrapVersion"}
    if params:
        raise LocalCloudError(f"the template has parameters the local cloud cannot fill: "
                              f"{sorted(params)}")
    out.pop("Parameters", None)
    _name_data_bucket(out)
    _drop_placement_groups(out)
    return out


def _drop_placement_groups(template: dict[str, Any]) -> None:
    """Remove `AWS::EC2::PlacementGroup`s and the compute environments' references to
    them (moto's CloudFormation has no such resource to `Fn::GetAtt`)."""
    resources = template.get("Resources", {})
    groups = {k for k, r in resources.items() if r["Type"] == "AWS::EC2::PlacementGroup"}
    if not groups:
        return
    kept = {k: r for k, r in resources.items() if k not in groups}
    for logical_id, resource in kept.items():
        compute = resource.get("Properties", {}).get("ComputeResources", {})
        if resource["Type"] == "AWS::Batch::ComputeEnvironment" and "PlacementGroup" in compute:
            compute = {k: v for k, v in compute.items() if k != "PlacementGroup"}
            kept[logical_id] = {**resource, "Properties": {**resource["Properties"],
                                                           "ComputeResources": compute}}
    template["Resources"] = kept


#: The local data bucket's name: the same at every start, so a user's commands and
#: inputs keep working after `seisless up` restarts (its contents do not survive).
LOCAL_BUCKET = "seisless-data-local"


def _name_data_bucket(template: dict[str, Any]) -> None:
    """Give the bucket behind the stack's bucket output a fixed name (on AWS,
    CloudFormation names it; moto's generated names change at every start)."""
    ref = template.get("Outputs", {}).get(OUTPUT_BUCKET, {}).get("Value", {})
    logical_id = ref.get("Ref") if isinstance(ref, dict) else None
    if logical_id in template.get("Resources", {}):
        resource = dict(template["Resources"][logical_id])
        resource["Properties"] = {**resource.get("Properties", {}), "BucketName": LOCAL_BUCKET}
        template["Resources"] = {**template["Resources"], logical_id: resource}


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
