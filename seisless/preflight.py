"""Preflight: the checks a cloud assembly must pass before `cdk deploy`.

`make preflight` synthesizes the app with the pinned CDK CLI (`npx cdk synth`, which
also runs cdk-nag inside the app) and then runs `python -m seisless.preflight`, which
checks what that synthesis wrote into `cdk.out/`:

- cdk-nag's validation report holds no unacknowledged finding (the synthesis fails on
  one already; an assembly written otherwise is checked again here);
- cfn-lint finds nothing in the templates (rules ignored only in `.cfnlintrc`, each
  with its reason);
- statelint accepts every state machine as deployed: the ASL text with each
  `${Placeholder}` filled from its `DefinitionSubstitutions` by a plausible value;
- every Lambda handler and Batch job command imports in its own image, read from the
  image asset the assembly names (the staged build context and its Dockerfile);
- and it prints, per IAM role, what its policies allow, so a reviewer reads the
  permissions a deployment grants without reading CloudFormation JSON.

Deploying takes minutes and fails late (a state machine CloudFormation refuses, a
handler that cannot import); every check here takes seconds and needs no AWS account.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cfnlint.config import ConfigMixIn
from cfnlint.runner import Runner
from rich.console import Console
from rich.table import Table
from statelint.config import Config as StatelintConfig
from statelint.linter import Linter
from statelint.problem import ProblemType

from seisless.local.images import check_imports, read_image
from seisless.local.template import VALIDATION_REPORT, unacknowledged_findings

REPO_ROOT = Path(__file__).resolve().parents[1]
CFNLINT_CONFIG = REPO_ROOT / ".cfnlintrc"
#: Stand-ins for the pseudo parameters when a definition is filled in as deployed.
PSEUDO_VALUES = {"AWS::Region": "us-east-1", "AWS::AccountId": "123456789012",
                 "AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com",
                 "AWS::StackName": "Seisless", "AWS::NoValue": ""}
#: Resource types whose Ref is their ARN (for the others it is a name, or a URL for a queue).
REF_IS_ARN = frozenset({"AWS::Batch::JobDefinition", "AWS::Batch::JobQueue",
                        "AWS::SNS::Topic", "AWS::StepFunctions::StateMachine"})
_PLACEHOLDER = re.compile(r"\$\{([^}]+)\}")
#: statelint problem types not reported, with the reason.
STATELINT_IGNORED = {
    ProblemType.FLOAT: "BackoffRate 2 rather than 2.0: JSON has one number type and Step "
                       "Functions accepts any number >= 1 (statelint's own README offers "
                       "--ignore=FLOAT for this)",
}
#: statelint messages that are wrong about current Step Functions, with the reason.
STATELINT_FALSE_POSITIVES = {
    re.compile(r'Field "(InputType|CSVHeaderLocation|CSVHeaders|CSVDelimiter|ManifestType)" '
               r"not allowed in .*\.ItemReader\.ReaderConfig$"):
        "Distributed Map ItemReader ReaderConfig fields (Step Functions developer guide); "
        "statelint 3.1 knows only MaxItems and MaxItemsPath there",
}

Template = dict[str, Any]
#: Renders a reference: (logical id or pseudo parameter, attribute or None) -> text.
Leaf = Callable[[str, str | None], str]


# --- intrinsic functions as text -------------------------------------------------------

def render(value: Any, leaf: Leaf) -> Any:
    """`value` with every Ref, Fn::GetAtt, Fn::Join and Fn::Sub turned into text by
    `leaf`; other functions are kept as `<Fn::Name>`, lists and mappings recursively."""
    if isinstance(value, list):
        return [render(v, leaf) for v in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        (key, arg), = value.items()
        if key == "Ref":
            return leaf(arg, None)
        if key == "Fn::GetAtt":
            name, attr = arg if isinstance(arg, list) else arg.split(".", 1)
            return leaf(name, attr)
        if key == "Fn::Join":
            separator, parts = arg
            return separator.join(str(render(p, leaf)) for p in parts)
        if key == "Fn::Sub":
            return _render_sub(arg, leaf)
        if key.startswith("Fn::"):
            return f"<{key}>"
    return {k: render(v, leaf) for k, v in value.items()}


def _render_sub(arg: str | list[Any], leaf: Leaf) -> str:
    text, variables = (arg, {}) if isinstance(arg, str) else arg

    def one(match: re.Match[str]) -> str:
        name = match[1]
        if name in variables:
            return str(render(variables[name], leaf))
        ref, _, attr = name.partition(".")
        return leaf(ref, attr or None)

    return _PLACEHOLDER.sub(one, text)


def readable_leaf(name: str, attr: str | None) -> str:
    """A reference as cdk-nag writes it: `<LogicalId.Attr>`, `<LogicalId>`, `<AWS::Region>`."""
    return f"<{name}.{attr}>" if attr else f"<{name}>"


def plausible_leaf(template: Template) -> Leaf:
    """A reference as CloudFormation would resolve it, near enough for a linter: an ARN
    for an attribute (or the Ref of a resource whose Ref is its ARN), a URL for a queue,
    the name otherwise."""
    region, account = PSEUDO_VALUES["AWS::Region"], PSEUDO_VALUES["AWS::AccountId"]

    def leaf(name: str, attr: str | None) -> str:
        if name in PSEUDO_VALUES:
            return PSEUDO_VALUES[name]
        kind = template["Resources"].get(name, {}).get("Type", "AWS::Unknown::Resource")
        service, _, resource = kind.removeprefix("AWS::").lower().partition("::")
        if kind == "AWS::SQS::Queue" and attr is None:
            return f"https://sqs.{region}.amazonaws.com/{account}/{name}"
        if kind == "AWS::Lambda::Function":
            return f"arn:aws:lambda:{region}:{account}:function:{name}"
        if attr is None and kind not in REF_IS_ARN:
            return name
        return f"arn:aws:{service}:{region}:{account}:{resource}/{name}"

    return leaf


# --- the assembly -----------------------------------------------------------------------

def resources(template: Template, kind: str) -> dict[str, Any]:
    """The resources of type `kind`, by logical id."""
    return {k: r for k, r in template["Resources"].items() if r["Type"] == kind}


def stack_template_files(cdk_out: Path) -> dict[str, Path]:
    """Every stack template file of the assembly, by stack name (from its manifest)."""
    manifest = json.loads((cdk_out / "manifest.json").read_text())
    return {name: cdk_out / artifact["properties"]["templateFile"]
            for name, artifact in manifest["artifacts"].items()
            if artifact["type"] == "aws:cloudformation:stack"}


def stack_templates(cdk_out: Path) -> dict[str, Template]:
    """Every stack template of the assembly, by stack name."""
    return {name: json.loads(path.read_text())
            for name, path in stack_template_files(cdk_out).items()}


# --- cdk-nag ----------------------------------------------------------------------------

def nag_findings(cdk_out: Path) -> list[str]:
    """Unacknowledged cdk-nag findings in the assembly's validation report; a missing
    report is one too, since then cdk-nag did not run."""
    report = cdk_out / VALIDATION_REPORT
    if not report.is_file():
        return [f"{report} is missing: the synthesis did not run cdk-nag (app.py applies it)"]
    return unacknowledged_findings(report)


# --- cfn-lint ---------------------------------------------------------------------------

def cfn_lint_findings(templates: list[Path], config: Path = CFNLINT_CONFIG) -> list[str]:
    """Every cfn-lint match (any severity) in `templates`, with the rules `config`
    ignores left out: an ignored rule must say why there, not vanish here."""
    runner = Runner(ConfigMixIn(["--config-file", str(config), *map(str, templates)]))
    return [f"{m.rule.id} {m.message} ({m.filename}:{m.linenumber})" for m in runner.run()]


# --- statelint --------------------------------------------------------------------------

def deployed_definitions(template: Template) -> dict[str, str]:
    """Each state machine's definition as Step Functions receives it, by logical id:
    its substitutions resolved to plausible values and filled into the ASL text."""
    leaf = plausible_leaf(template)
    out = {}
    for logical_id, machine in resources(template, "AWS::StepFunctions::StateMachine").items():
        props = machine["Properties"]
        text = str(render(props["DefinitionString"], leaf))
        values = {k: str(render(v, leaf))
                  for k, v in props.get("DefinitionSubstitutions", {}).items()}
        out[logical_id] = _PLACEHOLDER.sub(lambda m, v=values: v.get(m[1], m[0]), text)
    return out


def statelint_findings(definitions: dict[str, str]) -> list[str]:
    """statelint's problems with each definition, and every placeholder left unfilled
    (Step Functions would take `${X}` literally and fail at run time)."""
    problems = []
    for logical_id, text in definitions.items():
        problems += [f"{logical_id}: placeholder ${{{name}}} has no substitution"
                     for name in sorted(set(_PLACEHOLDER.findall(text)))]
        config = StatelintConfig(ignored_problem_types=set(STATELINT_IGNORED))
        problems += [f"{logical_id}: {p}" for p in Linter.validate(json.loads(text), config)
                     if not any(known.search(p) for known in STATELINT_FALSE_POSITIVES)]
    return problems


# --- images -----------------------------------------------------------------------------

@dataclass(frozen=True)
class ImageCheck:
    """The modules one image asset must import: its staged build context, its
    Dockerfile there, and each `module:attribute` (handler) or `module` (job command)."""

    context: Path
    dockerfile: str
    targets: tuple[str, ...]


def _image_tag(image: Any) -> str:
    """The asset hash an image URI ends with (`...container-assets-...:<hash>`)."""
    return str(render(image, readable_leaf)).rpartition(":")[2]


def _job_module(command: list[str]) -> str | None:
    """The module a Batch job command runs (`python -m X`), or None for another command."""
    return command[2] if command[:2] == ["python", "-m"] and len(command) > 2 else None


def _entry_points(template: Template) -> Iterator[tuple[str, str, str | None]]:
    """(logical id, image tag, import target or None) of every Lambda handler and Batch
    job; None for a job whose command names no module."""
    for logical_id, function in resources(template, "AWS::Lambda::Function").items():
        props = function["Properties"]
        for handler in props.get("ImageConfig", {}).get("Command", []):
            module, _, attr = handler.rpartition(".")
            yield logical_id, _image_tag(props["Code"]["ImageUri"]), f"{module}:{attr}"
    for logical_id, job in resources(template, "AWS::Batch::JobDefinition").items():
        for container in job_containers(job):
            yield (logical_id, _image_tag(container["Image"]),
                   _job_module(container.get("Command", [])))


def job_containers(job: dict[str, Any]) -> list[dict[str, Any]]:
    """The containers of a job definition resource: its one, or each node range's."""
    props = job["Properties"]
    if "ContainerProperties" in props:
        return [props["ContainerProperties"]]
    return [r["Container"] for r in props["NodeProperties"]["NodeRangeProperties"]]


def image_checks(cdk_out: Path, stack: str, template: Template) -> tuple[list[ImageCheck],
                                                                         list[str]]:
    """What each image asset of `stack` must import, from the asset manifest; and the
    entry points that cannot be checked (no image asset of the assembly, no module)."""
    assets = json.loads((cdk_out / f"{stack}.assets.json").read_text())["dockerImages"]
    targets: dict[str, list[str]] = {tag: [] for tag in assets}
    problems = []
    for logical_id, tag, target in _entry_points(template):
        if tag not in targets:
            problems.append(f"{logical_id}: its image {tag} is not an image asset of {stack}")
        elif target is None:
            problems.append(f"{logical_id}: its command is not `python -m <module>`")
        else:
            targets[tag].append(target)
    checks = [ImageCheck(context=cdk_out / assets[tag]["source"]["directory"],
                         dockerfile=assets[tag]["source"].get("dockerFile", "Dockerfile"),
                         targets=tuple(sorted(set(found))))
              for tag, found in targets.items() if found]
    return checks, problems


def import_findings(check: ImageCheck) -> list[str]:
    """The targets of `check` that fail to import with only what the image holds."""
    spec = read_image(check.context / check.dockerfile, check.context)
    errors = check_imports(spec, check.context, list(check.targets))
    return [f"{target} in {check.dockerfile}: {error}"
            for target, error in errors.items() if error]


# --- the role table ---------------------------------------------------------------------

@dataclass(frozen=True)
class Grant:
    """One statement of a role's permissions, as text."""

    source: str
    effect: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _grants(source: str, document: dict[str, Any]) -> list[Grant]:
    out = []
    for statement in _as_list(render(document, readable_leaf).get("Statement", [])):
        actions = [*_as_list(statement.get("Action", [])),
                   *(f"NOT {a}" for a in _as_list(statement.get("NotAction", [])))]
        targets = [*_as_list(statement.get("Resource", [])),
                   *(f"NOT {r}" for r in _as_list(statement.get("NotResource", [])))]
        if "Condition" in statement:
            targets.append(f"if {json.dumps(statement['Condition'])}")
        out.append(Grant(source=source, effect=statement.get("Effect", "Allow"),
                         actions=tuple(actions), resources=tuple(map(str, targets))))
    return out


def _attached_to(policy: dict[str, Any], role: str) -> bool:
    return {"Ref": role} in policy["Properties"].get("Roles", [])


def role_grants(template: Template) -> dict[str, list[Grant]]:
    """Every statement of every IAM role, by role logical id: inline policies, attached
    AWS::IAM::Policy and AWS::IAM::ManagedPolicy resources, and managed policy ARNs
    (shown as such: their statements live in IAM, not in the template)."""
    policies = {**resources(template, "AWS::IAM::Policy"),
                **resources(template, "AWS::IAM::ManagedPolicy")}
    out = {}
    for role_id, role in resources(template, "AWS::IAM::Role").items():
        props = role["Properties"]
        grants = [g for inline in props.get("Policies", [])
                  for g in _grants(f"inline {inline['PolicyName']}", inline["PolicyDocument"])]
        grants += [g for policy_id, policy in policies.items() if _attached_to(policy, role_id)
                   for g in _grants(policy_id, policy["Properties"]["PolicyDocument"])]
        for arn in props.get("ManagedPolicyArns", []):
            ref = arn.get("Ref") if isinstance(arn, dict) else None
            if ref in policies:
                continue  # a ManagedPolicy of the template: listed above by its Roles
            grants.append(Grant(source="managed policy", effect="Allow",
                                actions=("(as the managed policy says)",),
                                resources=(str(render(arn, readable_leaf)),)))
        out[role_id] = grants
    return out


def assumed_by(role: dict[str, Any]) -> str:
    """Who may assume `role` (its trust policy's principals), as text."""
    document = role["Properties"].get("AssumeRolePolicyDocument", {})
    principals = [p for s in _as_list(document.get("Statement", []))
                  for values in s.get("Principal", {}).values() for p in _as_list(values)]
    return ", ".join(str(render(p, readable_leaf)) for p in principals)


def role_table(template: Template) -> Table:
    """One table of every role's statements, a section per role; the role and the
    policy are named on the first of their rows only."""
    table = Table(title="IAM roles: what each may do")
    for column in ("Role (assumed by)", "Policy"):
        table.add_column(column, overflow="fold", max_width=40)
    for column in ("Effect", "Actions", "Resources"):
        table.add_column(column, overflow="fold")
    roles = resources(template, "AWS::IAM::Role")
    for role_id, grants in role_grants(template).items():
        rows = grants or [Grant(source="(no policy)", effect="", actions=(), resources=())]
        for i, grant in enumerate(rows):
            new_source = i == 0 or rows[i - 1].source != grant.source
            table.add_row(f"{role_id}\n({assumed_by(roles[role_id])})" if i == 0 else "",
                          grant.source if new_source else "", grant.effect,
                          "\n".join(grant.actions), "\n".join(grant.resources),
                          end_section=i == len(rows) - 1)
    return table


# --- the command ------------------------------------------------------------------------

def run_checks(cdk_out: Path) -> dict[str, list[str]]:
    """Every check on the assembly `cdk_out`: {check name: its findings}."""
    files = stack_template_files(cdk_out)
    findings = {"cdk-nag": nag_findings(cdk_out),
                "cfn-lint": cfn_lint_findings(list(files.values())),
                "statelint": [], "image imports": []}
    for stack, template in stack_templates(cdk_out).items():
        findings["statelint"] += statelint_findings(deployed_definitions(template))
        checks, unchecked = image_checks(cdk_out, stack, template)
        findings["image imports"] += unchecked
        for check in checks:
            findings["image imports"] += import_findings(check)
    return findings


def main(argv: list[str] | None = None) -> int:
    """Print the role table and each check's findings; 1 if any check found anything."""
    parser = argparse.ArgumentParser(prog="python -m seisless.preflight",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--cdk-out", type=Path, default=Path("cdk.out"),
                        help="the cloud assembly `cdk synth` wrote (default: cdk.out)")
    args = parser.parse_args(argv)
    # Outside a terminal (CI logs) rich would fold the role table into 80 columns.
    console = Console(width=None if sys.stdout.isatty() else 160)
    if not (args.cdk_out / "manifest.json").is_file():
        console.print(f"[red]{args.cdk_out} is no cloud assembly: run `npx cdk synth` first")
        return 1
    for template in stack_templates(args.cdk_out).values():
        console.print(role_table(template))
    findings = run_checks(args.cdk_out)
    for check, found in findings.items():
        status = "[green]ok" if not found else f"[red]{len(found)} finding(s)"
        console.print(f"{check}: {status}")
        for line in found:
            console.print(f"  {line}", markup=False)
    return 1 if any(findings.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
