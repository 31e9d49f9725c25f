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
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    from seisless.local import LocalCloud
    from seisless.local.template import synthesize

    with LocalCloud(port=0, workers=2, template=synthesize(),
                    log_dir=tmp_path_factory.mktemp("local-cloud")) as running:
        yield running
