"""How other processes reach a running `seisless up`: its endpoint and administrator
credentials, in a file only the user can read.

The local cloud refuses every request not signed by its administrator, so a command in
another terminal (`seisless scan|run --engine local`) needs the credentials `seisless up`
created. They are printed once and kept in `~/.config/seisless/local-cloud.json` (mode
0600; `SEISLESS_CONFIG_DIR` moves it) until the cloud stops. Dependency-free, so the
client can read it without importing the emulator.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

REGION = "us-east-1"


def connection_file() -> Path:
    base = os.environ.get("SEISLESS_CONFIG_DIR") or Path.home() / ".config" / "seisless"
    return Path(base) / "local-cloud.json"


def write_connection(details: dict[str, Any]) -> Path:
    """Write `details` (endpoint, credentials, names) readable by this user only."""
    path = connection_file()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.unlink(missing_ok=True)  # a file left by another user's umask must not be reused
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(details, handle, indent=2)
    return path


def read_connection(endpoint: str) -> dict[str, Any] | None:
    """The details `seisless up` wrote for `endpoint`; None when it wrote none for it."""
    try:
        details = json.loads(connection_file().read_text())
    except (OSError, ValueError):
        return None
    return details if details.get("endpoint") == endpoint.rstrip("/") else None


def remove_connection(endpoint: str) -> None:
    """Forget the file if it still describes `endpoint` (another cloud may own it now)."""
    if read_connection(endpoint) is not None:
        connection_file().unlink(missing_ok=True)
