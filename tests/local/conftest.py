"""One local cloud per test session, deployed from the app synthesized once."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
SEGY = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "segy"


@pytest.fixture(scope="session")
def segy_dir() -> Path:
    if not SEGY.is_dir():
        pytest.fail(f"test data missing: {SEGY} (shared/ must sit beside the repo)")
    return SEGY


@pytest.fixture(scope="session")
def assembly(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The app synthesized once per session (template and image build contexts)."""
    from seisless.local.template import synthesize_app

    return synthesize_app(tmp_path_factory.mktemp("cdk.out"))


@pytest.fixture(scope="session")
def cloud(tmp_path_factory: pytest.TempPathFactory, assembly: Path) -> Iterator[object]:
    from seisless.local import LocalCloud

    with LocalCloud(port=0, workers=2, assembly=assembly,
                    log_dir=tmp_path_factory.mktemp("local-cloud")) as running:
        yield running
