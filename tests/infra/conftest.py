"""The app synthesized once per test session (a few seconds: jsii starts node)."""

from __future__ import annotations

import os
from typing import Any

import pytest

os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")


@pytest.fixture(scope="session")
def template_json() -> dict[str, Any]:
    from seisless.local.template import synthesize

    return synthesize()


@pytest.fixture(scope="session")
def template(template_json: dict[str, Any]) -> Any:
    from aws_cdk.assertions import Template

    return Template.from_json(template_json)


def resources(template_json: dict[str, Any], kind: str) -> dict[str, Any]:
    return {k: r for k, r in template_json["Resources"].items() if r["Type"] == kind}
