from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
#: segyio's public test corpus, shared beside the repository (see its README.md).
SEGY_DATA = REPO.parent / "shared" / "data" / "segy"


@pytest.fixture(scope="session")
def segy_data() -> Path:
    if not SEGY_DATA.is_dir():
        pytest.fail(f"test data missing: {SEGY_DATA} (shared/ must sit beside the repo)")
    return SEGY_DATA


@pytest.fixture
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials so boto3 never reaches a real account."""
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": "us-east-1"
                        }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    os.environ.pop("AWS_ENDPOINT_URL", None)
