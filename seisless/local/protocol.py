"""What the local Lambda executor and its sandbox processes agree on."""

from __future__ import annotations

from typing import Any


def error_payload(error_type: str, message: str, trace: list[str] | None = None,
                  ) -> dict[str, Any]:
    """A Lambda error payload, as the service returns it for an unhandled exception."""
    return {"errorType": error_type, "errorMessage": message, "stackTrace": trace or []}
