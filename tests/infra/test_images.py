"""Every handler and job command of the template imports with only what its image holds.

The developer's environment has every extra installed; these checks run each module in
an interpreter that sees only the folders its Dockerfile copies and the dependency
closure of what the Dockerfile pip-installs (seisless.local.images), so a handler that
needs Devito in the Lambda image fails here as it would on AWS.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from seisless.local.images import blocked_modules, check_imports, read_image
from seisless.preflight import job_containers
from tests.infra.conftest import resources

ROOT = Path(__file__).resolve().parents[2]


def _lambda_handlers(template_json: dict[str, Any]) -> list[str]:
    handlers = []
    for function in resources(template_json, "AWS::Lambda::Function").values():
        module, _, attr = function["Properties"]["ImageConfig"]["Command"][0].rpartition(".")
        handlers.append(f"{module}:{attr}")
    return handlers


def _job_modules(template_json: dict[str, Any]) -> list[str]:
    modules = []
    for job in resources(template_json, "AWS::Batch::JobDefinition").values():
        for container in job_containers(job):
            command = container["Command"]
            assert command[:2] == ["python", "-m"], command
            modules.append(command[2])
    return modules


def test_lambda_image_has_no_devito() -> None:
    blocked = blocked_modules(read_image(ROOT / "lambdas" / "Dockerfile", ROOT))
    assert {"devito", "sympy", "moto", "aws_cdk"} <= set(blocked)


def test_every_lambda_handler_imports_in_the_lambda_image(template_json: dict[str, Any]) -> None:
    handlers = _lambda_handlers(template_json)
    assert "lambdas.imaging.steps:init" in handlers
    spec = read_image(ROOT / "lambdas" / "Dockerfile", ROOT)
    failures = {t: e for t, e in check_imports(spec, ROOT, handlers).items() if e}
    assert not failures


@pytest.mark.parametrize("image", ["gradient", "update"])
def test_every_job_command_imports_in_its_image(template_json: dict[str, Any],
                                                image: str) -> None:
    module = f"containers.{image}.entrypoint"
    assert module in _job_modules(template_json)
    spec = read_image(ROOT / "containers" / image / "Dockerfile", ROOT)
    assert not check_imports(spec, ROOT, [module])[module]
    if image == "update":  # the update is NumPy only: its image has no compiler stack
        assert "devito" in blocked_modules(spec)
        assert not check_imports(spec, ROOT, ["seisless.inversion.update"])[
            "seisless.inversion.update"]


def test_a_handler_needing_devito_fails_in_the_lambda_image() -> None:
    spec = read_image(ROOT / "lambdas" / "Dockerfile", ROOT)
    error = check_imports(spec, ROOT, ["seisless.imaging"])["seisless.imaging"]
    assert (error is not None and "devito" in error) or "sympy" in error


def test_dockerfiles_are_read_as_written() -> None:
    gradient = read_image(ROOT / "containers" / "gradient" / "Dockerfile", ROOT)
    assert gradient.copied == ("seisless", "containers")
    assert gradient.project_extras == ("imaging",)
    assert gradient.requirements == ("devito==4.8.23", "pyrevolve==2.2.8", "mpi4py==4.1.2")
    assert gradient.workdir == "/app" and gradient.env["DEVITO_ARCH"] == "gcc"
    lambdas = read_image(ROOT / "lambdas" / "Dockerfile", ROOT)
    assert (lambdas.copied, lambdas.project_extras) == (("seisless", "lambdas"), ("lambda",))
