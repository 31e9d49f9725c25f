"""The clients the scan handlers share, created on first use (never at import time).

Its pool is sized for the engine's parallel ranged GETs. The endpoint, region and
credentials come from the environment, which is how the local cloud points the very
same handlers at its moto server.
"""

from __future__ import annotations

from functools import cache
from typing import Any

MAX_POOL_CONNECTIONS = 32


@cache
def s3() -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client("s3", config=Config(max_pool_connections=MAX_POOL_CONNECTIONS,
                                            retries={"mode": "adaptive", "max_attempts": 8}))


@cache
def stepfunctions() -> Any:
    import boto3

    return boto3.client("stepfunctions")
