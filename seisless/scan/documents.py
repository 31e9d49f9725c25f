"""Typed documents of the scan state machine, and the object -> scan id rule.

EventBridge delivers at least once, so the scan id is a pure function of the object
(its key and its version id, or its ETag in an unversioned bucket): a duplicated event
names the same `scans/<id>/` prefix, and the Plan step finds the finished
`summary.json` there and ends the second execution without rescanning.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from pydantic import Field, ValidationError

from seisless.documents import Document, describe_errors
from seisless.errors import ConfigError
from seisless.names import SCANS_PREFIX

_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


class ScanRequest(Document):
    """What to scan: one S3 object, identified as precisely as the caller knows it."""

    bucket: str = Field(min_length=3, max_length=63)
    key: str = Field(min_length=1, max_length=1024)
    version_id: str | None = None
    etag: str | None = None
    max_concurrency: int | None = Field(default=None, ge=1, le=10_000)
    options: dict[str, Any] = Field(default_factory=dict)


class PlanOutput(Document):
    """The Plan step's result: the state that flows through the Map into Merge."""

    version: int = 1
    scan_id: str
    bucket: str
    key: str
    manifest_key: str
    plan_key: str
    output_prefix: str
    n_items: int = Field(ge=0)
    max_concurrency: int = Field(ge=1)
    already_scanned: bool = False
    already_scanning: bool = Field(
        default=False, description="another execution is scanning this object version")


class RangeTask(Document):
    """One Distributed Map item as the worker receives it (the ASL's ItemSelector)."""

    scan_id: str
    bucket: str
    index: int = Field(ge=0)
    item: dict[str, Any]


class ScanKeys:
    """Where one scan keeps its files in the bucket; every key is fixed by the scan id."""

    def __init__(self, scan_id: str) -> None:
        self.scan_id = scan_id
        self.prefix = f"{SCANS_PREFIX}{scan_id}/"
        self.manifest = f"{self.prefix}manifest.json"
        self.plan = f"{self.prefix}plan.json"
        self.summary = f"{self.prefix}summary.json"
        self.parts_prefix = f"{self.prefix}parts/"
        #: who scans this object version: written once, by the first execution's Plan
        self.claim = f"{self.prefix}claim.json"
        self.gathers = f"{self.prefix}gathers.parquet"

    def part(self, index: int) -> str:
        return f"{self.parts_prefix}{index:06d}.parquet"


def scan_id_for(key: str, version_id: str | None, etag: str | None) -> str:
    """The scan id of one object version: `<file stem>-<16 hex digits>`.

    The version id identifies the bytes in a versioned bucket; the ETag does otherwise.
    The readable stem is for people; the digest makes the id unique.
    """
    tag = version_id if version_id and version_id != "null" else (etag or "").strip('"')
    if not tag:
        raise ConfigError(f"cannot name a scan of s3 key {key!r} without its version id "
                          "or ETag; pass them, or let the Plan step read them with HeadObject")
    stem = _SAFE.sub("_", key.rsplit("/", 1)[-1].rsplit(".", 1)[0])[:40].strip("._") or "scan"
    digest = hashlib.sha256(f"{key}\0{tag}".encode()).hexdigest()[:16]
    return f"{stem}-{digest}"


def parse_scan_input(data: Any) -> ScanRequest:
    """Parse a state machine input: an S3 `Object Created` event from EventBridge, or a
    hand-written `{"bucket": ..., "key": ..., "max_concurrency"?: n, "options"?: {...}}`.
    """
    if not isinstance(data, dict):
        raise ConfigError(f"scan input must be a JSON object, got {type(data).__name__}")
    if data.get("source") == "aws.s3" and "detail" in data:
        detail = data["detail"] or {}
        obj = detail.get("object") or {}
        data = {
            "bucket": (detail.get("bucket") or {}).get("name"),
            "key": obj.get("key"),
            "version_id": obj.get("version-id"),
            "etag": obj.get("etag") or obj.get("eTag"),
        }
    try:
        return ScanRequest.model_validate(data)
    except ValidationError as err:
        problems = describe_errors(err, root="input")
        raise ConfigError(f"invalid scan input ({problems}); expected an S3 Object Created "
                          'event or {"bucket": ..., "key": ...}') from None
