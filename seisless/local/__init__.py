"""The local cloud: the same stack, state machine and handlers, on 127.0.0.1 via moto."""

from __future__ import annotations

from seisless.local.cloud import LocalCloud

__all__ = ["LocalCloud"]
