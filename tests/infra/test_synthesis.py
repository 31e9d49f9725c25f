"""The one synthesis path (`python app.py` as `cdk synth` runs it) and its cdk-nag check."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from seisless.errors import LocalCloudError
from seisless.local.template import VALIDATION_REPORT, synthesize, synthesize_app


def test_app_applies_cdk_nag_and_its_assembly_is_the_template(tmp_path: Path) -> None:
    """The AwsSolutions pack ran in the app itself and left no finding unacknowledged
    (any would have failed the synthesis); an assembly written by the app reads back as
    the template the other tests and the local cloud use."""
    report = json.loads((synthesize_app(tmp_path) / VALIDATION_REPORT).read_text())
    assert [(p["pluginName"], p["conclusion"], p["violations"])
            for p in report["pluginReports"]] == [("AwsSolutions", "success", [])]
    assert synthesize(cdk_out=tmp_path) == synthesize()


def test_an_assembly_without_the_stack_is_refused(tmp_path: Path) -> None:
    with pytest.raises(LocalCloudError, match="cdk synth"):
        synthesize(cdk_out=tmp_path)


def test_unacknowledged_findings_are_named_with_the_fix(tmp_path: Path) -> None:
    """A nag failure names each rule and construct and how to acknowledge it, rather than
    the end of a jsii traceback."""
    from seisless.local.template import _synthesis_error

    (tmp_path / VALIDATION_REPORT).write_text(json.dumps({"pluginReports": [{
        "pluginName": "AwsSolutions", "conclusion": "failure", "violations": [{
            "ruleName": "AwsSolutions-SQS3",
            "violatingConstructs": [{"constructPath": "Seisless/Scan/Queue/Resource"}]}]}]}))
    message = str(_synthesis_error(1, "Traceback ...\nRuntimeError: ValidationFailed", tmp_path))
    assert "AwsSolutions-SQS3 at Seisless/Scan/Queue/Resource" in message
    assert "stacks.nag.acknowledge" in message
